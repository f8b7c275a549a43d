// Package sequencer is the heart of the node: the signed, hash-chained log
// (SPEC §2), the ticket and nonce state machine derived from it (SPEC §3),
// the append pipeline with group commit, durable storage in LevelDB, and the
// offline checker used by `sequencer verify` and by every storage test.
//
// Where things are: the step function is Core (core.go): Step turns one op
// into one chained, unsigned entry on the primary, Follow checks and applies
// one signed entry on a replica or in Verify; the rules it applies are
// State's (state.go); Cache (cache.go) bounds the records a State keeps in
// memory over the store; the pipeline is Sequencer (sequencer.go), the
// replica's write side Mirror (mirror.go), the store LevelStore (store*.go).
//
// What it promises:
//   - Entry hashes are EIP-712 hashes bit for bit (go-ethereum's apitypes and
//     ethers' TypedDataEncoder give the same value), signatures are 65 bytes
//     r‖s‖v with v in {27,28}.
//   - A Receipt is handed out only after its entry and every earlier one are
//     on disk (one synced LevelDB batch per group).
//   - The ticket state is a pure function of the log: Replay(log) gives the
//     same State on every node, every time.
//   - A seq is never reused and never signed twice: entries are signed before
//     they are written, but nothing signed leaves the node before it is durable.
package sequencer
