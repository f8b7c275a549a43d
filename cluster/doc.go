// Package cluster runs a log's writer as a cluster of 3 or 5 voters on
// hashicorp/raft (SPEC §8), so that writes go on while any minority of
// them is down, and the log still never holds two entries at one seq.
//
// What it promises:
//
//   - Nothing is signed before it is committed. A voter signs only in its
//     state machine (fsm.go), which Raft hands committed commands in log
//     order; a command carries everything that makes its entries
//     deterministic (the ops, the leader's clock and --max-in-flight, the
//     log's identity), and signatures are deterministic (RFC 6979), so every
//     voter stores byte-identical entries at every seq.
//   - A receipt means committed by a majority and durable on the voter that
//     answered, whichever voter took the write (propose.go, forward.go).
//     A write that cannot reach a leader in time, or meets a leadership
//     change, is answered NoQuorum (4010), never with a receipt.
//   - The log is the state: entries and the Raft index they complete are
//     written in one synced batch; a snapshot holds the head, not the log,
//     and a voter behind one fetches the signed entries from peers.
//
// docs/cluster.md explains the design and the failures it survives, and is
// the operator's runbook.
package cluster
