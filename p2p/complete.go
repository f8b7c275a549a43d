package p2p

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/seqnode/sequencer/logtree"
	"github.com/seqnode/sequencer/sequencer"
)

// A checkpoint that contradicts the replica's tree is first kept as
// {checkpoint, root}. To make it a proof a contract can check
// (SequencerAccountability.slashInclusion, SPEC §10), the replica asks its
// peers for leaves of the tree the checkpoint signs (sync request type 3):
// a peer that holds that tree (the primary that signed it) proves each
// leaf against the signed root, and a binary search finds the first leaf
// whose entry hash differs from ours (logs that fork differ from one leaf
// on). Bounded: maxCompleteConns peers, 66 requests each, completeTimeout
// in all.
const (
	maxCompleteConns = 16
	completeTimeout  = 30 * time.Second
)

// fetchLeafVia asks the host at the other end of conn for the entry hash
// at seq in its tree of size and its audit path; ok is false when it does
// not hold them.
func (c *syncClient) fetchLeafVia(ctx context.Context, conn network.Conn, seq, size uint64) (leaf [32]byte, path []logtree.Hash, ok bool, err error) {
	r, done, err := c.requestVia(ctx, conn, reqLeaf, seq, size)
	if err != nil {
		return leaf, nil, false, err
	}
	defer done()
	l, err := binary.ReadUvarint(r)
	if err != nil || l == 0 {
		return leaf, nil, false, err
	}
	if l%32 != 0 || l > 32*(1+maxLeafPath) {
		return leaf, nil, false, fmt.Errorf("%w: leaf answer of %d bytes", errMalformed, l)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return leaf, nil, false, err
	}
	copy(leaf[:], b)
	for i := 32; i < len(b); i += 32 {
		path = append(path, logtree.Hash(b[i:i+32]))
	}
	return leaf, path, true, nil
}

// completeCheckpointProofs completes the stored tree-form checkpoint
// proofs it can, from the connected peers.
func (f *Follower) completeCheckpointProofs(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	proofs, err := f.mirror.Store().CheckpointProofs()
	if err != nil {
		f.log.Warn("read checkpoint proofs", "err", err)
		return
	}
	for _, p := range proofs {
		if p.Other != nil || p.Entry != nil {
			continue
		}
		q, ok := f.completeProof(ctx, p)
		if !ok {
			f.log.Warn("checkpoint equivocation proof kept as {checkpoint, root}: no peer proved a leaf of the signed tree", "size", p.Checkpoint.Size)
			continue
		}
		if err := f.mirror.CompleteCheckpointProof(q); err != nil {
			f.log.Warn("complete checkpoint proof", "size", p.Checkpoint.Size, "err", err)
		}
	}
}

// completeProof looks for a peer that proves leaves of the tree p's
// checkpoint signs, and in it for a leaf that differs from ours.
func (f *Follower) completeProof(ctx context.Context, p sequencer.CheckpointProof) (sequencer.CheckpointProof, bool) {
	st, cp := f.mirror.Store(), p.Checkpoint
	if cp.Size == 0 || cp.Size > st.Head().Seq {
		return p, false
	}
	conns := f.node.host.Network().Conns()
	if len(conns) > maxCompleteConns {
		conns = conns[:maxCompleteConns]
	}
	ours := func(seq uint64) ([32]byte, bool) {
		e, err := st.Entry(seq)
		if err != nil {
			return [32]byte{}, false
		}
		return e.Hash, true
	}
	for _, c := range conns {
		// ask gives the peer's leaf at seq, proved against the signed root.
		ask := func(seq uint64) ([32]byte, []logtree.Hash, bool) {
			leaf, path, ok, err := f.node.sync.fetchLeafVia(ctx, c, seq, cp.Size)
			if err != nil || !ok || logtree.VerifyInclusion(path, int64(seq-1), int64(cp.Size), leaf, cp.Root) != nil {
				return leaf, nil, false
			}
			return leaf, path, true
		}
		if _, _, ok := ask(cp.Size); !ok {
			continue // not the signed tree
		}
		lo, hi := uint64(1), cp.Size
		held := true
		for lo < hi && held { // at most 64 halvings
			mid := lo + (hi-lo)/2
			leaf, _, ok := ask(mid)
			mine, ok2 := ours(mid)
			switch {
			case !ok || !ok2:
				held = false
			case leaf == mine:
				lo = mid + 1
			default:
				hi = mid
			}
		}
		if !held {
			continue
		}
		leaf, path, ok := ask(lo)
		mine, ok2 := ours(lo)
		if !ok || !ok2 || leaf == mine {
			continue
		}
		e, err := st.Entry(lo)
		if err != nil {
			return p, false
		}
		p.Entry, p.LeafEntryHash = e, leaf
		p.Proof = make([][32]byte, len(path))
		for i, h := range path {
			p.Proof[i] = h
		}
		return p, true
	}
	return p, false
}
