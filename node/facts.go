package node

import (
	"github.com/seqnode/sequencer/cluster"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/rpc"
)

// Facts is what a node says of itself to rpc: its peers and addresses
// from p2p; on a replica, the primary's head and whether it follows; on a
// cluster voter, the cluster as it sees it.
type Facts struct {
	P2P      *p2p.Node
	Follower *p2p.Follower    // nil on a primary
	Voter    *cluster.Cluster // nil unless a cluster voter
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

// Health is a replica's Follower.Health, a voter's Cluster.Health; a
// primary says it is halted through its sequencer instead.
func (f Facts) Health() error {
	switch {
	case f.Follower != nil:
		return f.Follower.Health()
	case f.Voter != nil:
		return f.Voter.Health()
	}
	return nil
}

// Cluster is sequencer_info's cluster object on a voter (SPEC §8).
func (f Facts) Cluster() *rpc.ClusterJSON {
	if f.Voter == nil {
		return nil
	}
	in := f.Voter.Info()
	out := &rpc.ClusterJSON{NodeID: in.NodeID, Leader: in.Leader, Term: in.Term, Voters: []rpc.VoterJSON{}}
	for _, v := range in.Voters {
		out.Voters = append(out.Voters, rpc.VoterJSON{ID: v.ID, Address: v.Addr})
	}
	return out
}
