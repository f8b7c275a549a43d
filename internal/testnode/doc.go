// Package testnode runs real sequencer nodes for tests and examples, in
// one of two ways:
//
//   - Start: a primary in-process (LevelDB in a directory, the pipeline,
//     the JSON-RPC server on 127.0.0.1), for clients and examples;
//   - Spawn, Launch, StartNode: a node as a child process (the test
//     binary re-executed as the sequencer command, see ServeChild), for
//     tests that kill it with SIGKILL or run several nodes over libp2p.
//
// What the tests know of the API lives in the wire subpackage, which does
// not import the rpc package, so that rpc's own tests can use it.
package testnode
