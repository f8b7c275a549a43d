package node

import (
	"context"
	"fmt"
	"time"

	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/sequencer"
)

// RecoverPrimary runs before a primary writes (SPEC §6): it waits up to
// wait for a configured peer, asks every connected peer for its head, and
// fetches any entries of this log that peers hold beyond the local head.
// It fails — the primary must not write — when peers were configured but
// none answered, or when a peer holds a different entry at a seq we hold.
func RecoverPrimary(ctx context.Context, n *p2p.Node, m *sequencer.Mirror, wait time.Duration) error {
	if n.ConfiguredPeers() == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	for n.PeerCount() == 0 && time.Now().Before(deadline) {
		ctx2, cancel := context.WithTimeout(ctx, time.Second)
		n.DialPeers(ctx2)
		cancel()
		if n.PeerCount() == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	if n.PeerCount() == 0 {
		return fmt.Errorf("none of the %d --peers answered within %s: cannot tell whether they hold entries of this log that the datadir lacks", n.ConfiguredPeers(), wait)
	}
	peersHead, err := p2p.FetchMissing(ctx, n, m)
	if err != nil {
		return err
	}
	if head := m.Store().Head().Seq; peersHead > head {
		return fmt.Errorf("peers hold the log up to seq %d but only %d could be recovered", peersHead, head)
	}
	return nil
}

// GuardPrimary watches the primary's peers while it writes: a peer holding
// an entry signed by this primary beyond our head, or a different one at a
// seq we hold, means this datadir lost entries (a wipe or an old backup),
// so writing on would equivocate: writes halt at once (4009).
func GuardPrimary(ctx context.Context, n *p2p.Node, s *sequencer.Sequencer) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	h := sequencer.NewHasher(s.Config().Domain)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.Halted() != nil {
			return
		}
		halted := false
		n.EachHead(ctx, func(p string, e *sequencer.Entry) bool {
			if e == nil || sequencer.CheckSigned(h, s.Address(), e) != nil {
				return true
			}
			st := s.Store()
			if e.Seq > st.Head().Seq {
				s.Halt(fmt.Errorf("%w: peer %s holds entry %d signed by this primary, beyond our head %d: the datadir lost entries; restart to recover them from peers", sequencer.ErrHalted, p, e.Seq, st.Head().Seq))
				halted = true
			} else if ours, err := st.Entry(e.Seq); err == nil && ours.Hash != e.Hash {
				s.Halt(fmt.Errorf("%w: peer %s holds a different entry %d signed by this primary: equivocation", sequencer.ErrHalted, p, e.Seq))
				halted = true
			}
			return !halted
		})
		if halted {
			return
		}
	}
}
