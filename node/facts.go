package node

import (
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/rpc"
)

// Facts is what a node says of itself to rpc: its peers and addresses
// from p2p, and, on a replica, the primary's head and whether it follows.
type Facts struct {
	P2P      *p2p.Node
	Follower *p2p.Follower // nil on a primary
}

var _ rpc.Node = Facts{}

func (f Facts) Peers() int         { return f.P2P.PeerCount() }
func (f Facts) P2PAddrs() []string { return f.P2P.Addrs() }

// PrimaryHead is known to a replica only: it watches for it.
func (f Facts) PrimaryHead() (uint64, bool) {
	if f.Follower == nil {
		return 0, false
	}
	return f.P2P.PrimaryHead(), true
}

// Health is a replica's Follower.Health; a primary says it is halted
// through its sequencer instead.
func (f Facts) Health() error {
	if f.Follower == nil {
		return nil
	}
	return f.Follower.Health()
}
