// Package node holds a node's policy, between the wiring in cmd/sequencer
// and the mechanisms of p2p (which hides libp2p) and sequencer: the role a
// node runs in, what a primary does before it writes (recover from its
// peers, SPEC §6) and while it writes (guard against a datadir that lost
// entries), the gate that holds writes until then, how a cluster voter
// catches up to a Raft snapshot from its peers (voter.go), and the facts
// rpc shows of a node.
package node
