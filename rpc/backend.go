package rpc

import (
	"github.com/seqnode/sequencer/logtree"
	"github.com/seqnode/sequencer/sequencer"
)

// The API's three boundaries: what it writes to, what it reads from, and
// what the node says of itself. Static facts (role, primary, domain,
// version) are in Config; the role is read there only (precheck).

// Backend is the write side of the log: a primary's *sequencer.Sequencer
// (or whatever gates it). A replica's Enqueue is never called: precheck
// answers 4002 first.
type Backend interface {
	// Enqueue fixes op's place in the log; the future resolves once its
	// entry is durable.
	Enqueue(op sequencer.Op) *sequencer.Future
	// Halted is why writes stopped, or nil.
	Halted() error
	// Head is the durable head and a channel closed when it moves.
	Head() (sequencer.Head, <-chan struct{})
}

// Reader is what the API reads of the log: a read-only view of its store.
type Reader interface {
	Head() sequencer.Head
	Range(from uint64, limit int) ([]*sequencer.Entry, error)
	LineageRange(lineage string, from uint64, limit int) ([]*sequencer.Entry, error)
	Ticket(lineage, externalID string) (*sequencer.Ticket, error)
	Lineage(name string) (*sequencer.Lineage, error)
	LineageCount() (int, error)
	Equivocations() ([]sequencer.Equivocation, error)
	PrimaryCheckpoint() (*sequencer.Checkpoint, error)
	CheckpointProofs() ([]sequencer.CheckpointProof, error)
	Root(size uint64) (logtree.Hash, error)
	ReadTile(id logtree.TileID) ([]byte, error)
	InclusionProof(seq, size uint64) ([]logtree.Hash, error)
	ConsistencyProof(from, to uint64) ([]logtree.Hash, error)
}

var _ Reader = sequencer.Store(nil)

// Node is what a node with peers says of itself: sequencer_info, /healthz
// and the status page show it.
type Node interface {
	// Peers is the number of connected peers.
	Peers() int
	// P2PAddrs are the node's listen multiaddrs.
	P2PAddrs() []string
	// PrimaryHead is the highest seq seen signed by the primary (ok:
	// a replica, which watches for it).
	PrimaryHead() (seq uint64, ok bool)
	// Health is nil while the node is healthy, else the reason /healthz
	// answers 503 (a replica that does not follow, SPEC §6; a cluster
	// voter that knows no leader, SPEC §8).
	Health() error
	// Cluster describes the cluster of a voter (SPEC §8), nil elsewhere.
	Cluster() *ClusterJSON
}
