package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/sequencer"
)

// CatchUpTimeout bounds one attempt of a cluster voter to fetch the
// entries up to a snapshot's head; Raft retries a failed install.
const CatchUpTimeout = 2 * time.Minute

// SnapshotCatchUp returns how a cluster voter behind a Raft snapshot gets
// the entries up to its head (SPEC §8): not from Raft, which does not copy
// the log, but from peers over the sync protocol — the snapshot's own
// peers and any connected ones — checked as a replica checks them
// (signed by the log's key, chained, allowed by the rules), and not one
// past the snapshot's head, where Raft's log takes over.
func SnapshotCatchUp(n *p2p.Node, store sequencer.Store, primary common.Address, d sequencer.Domain, log *slog.Logger) func(context.Context, sequencer.Head, []string) error {
	return func(ctx context.Context, to sequencer.Head, addrs []string) error {
		ctx, cancel := context.WithTimeout(ctx, CatchUpTimeout)
		defer cancel()
		m, err := sequencer.NewMirror(store, primary, d, log, nil)
		if err != nil {
			return err
		}
		m.Limit(to.Seq)
		log.Info("catching up to a cluster snapshot from peers", "head", store.Head().Seq, "target", to.Seq)
		for store.Head().Seq < to.Seq {
			if err := n.DialAddrs(ctx, addrs); err != nil {
				log.Warn("snapshot peers", "err", err)
			}
			n.DialPeers(ctx)
			if _, err := p2p.FetchMissing(ctx, n, m); err != nil {
				return err
			}
			if store.Head().Seq >= to.Seq {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("reached %d of %d: %w", store.Head().Seq, to.Seq, ctx.Err())
			case <-time.After(500 * time.Millisecond):
			}
		}
		if h := store.Head(); h.Seq != to.Seq || h.Hash != to.Hash {
			return fmt.Errorf("caught up to seq %d hash %s, the snapshot has seq %d hash %s", h.Seq, h.Hash, to.Seq, to.Hash)
		}
		return nil
	}
}
