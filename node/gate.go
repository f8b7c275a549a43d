package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

// peerRetry is the pause between two failed peer checks.
const peerRetry = 2 * time.Second

// Gate is a primary's rpc backend: until its peer check passes (SPEC §6)
// it answers writes with 4009 and the reason, and waits on the mirror's
// head; then the sequencer takes over. Reads go to the store throughout.
type Gate struct {
	mirror *sequencer.Mirror

	mu     sync.RWMutex
	seq    *sequencer.Sequencer
	reason error // why writes are refused before seq is set
	closed bool
}

var _ rpc.Backend = (*Gate)(nil)

// NewGate holds writes until Open; m serves the head meanwhile.
func NewGate(m *sequencer.Mirror) *Gate { return &Gate{mirror: m} }

func (g *Gate) current() (*sequencer.Sequencer, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.seq, g.reason
}

func (g *Gate) Enqueue(op sequencer.Op) *sequencer.Future {
	if s, why := g.current(); s != nil {
		return s.Enqueue(op)
	} else {
		return sequencer.Refused(why)
	}
}

func (g *Gate) Halted() error {
	if s, why := g.current(); s != nil {
		return s.Halted()
	} else {
		return why
	}
}

func (g *Gate) Head() (sequencer.Head, <-chan struct{}) {
	if s, _ := g.current(); s != nil {
		return s.Head()
	}
	return g.mirror.Head()
}

// Refuse sets why writes are refused (wrapping ErrHalted: 4009).
func (g *Gate) Refuse(format string, args ...any) {
	err := fmt.Errorf("%w: "+format, append([]any{sequencer.ErrHalted}, args...)...)
	g.mu.Lock()
	g.reason = err
	g.mu.Unlock()
}

// Open hands writes to s; false (and s closed) when the node is stopping.
func (g *Gate) Open(s *sequencer.Sequencer) bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		s.Close()
		return false
	}
	g.seq = s
	g.mu.Unlock()
	g.mirror.Wake() // subscribers waiting on the mirror's head look again
	return true
}

// Close stops the sequencer, if any; a later Open is refused.
func (g *Gate) Close() {
	g.mu.Lock()
	s := g.seq
	g.closed = true
	g.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// PeerCheck runs a primary's start-up recovery (SPEC §6) while the RPC
// listener already serves reads: it asks --peers for entries this datadir
// lacks and recovers them, then calls start. When no peer answers within
// --peer-wait it keeps refusing writes (4009, /healthz 503, the reason in
// both) and tries again, so the primary starts writing as soon as a peer
// is back; a conflict (a peer holds a different entry this primary
// signed) refuses writes for good: it needs an operator.
func PeerCheck(ctx context.Context, node *p2p.Node, mirror *sequencer.Mirror, g *Gate, wait time.Duration, log *slog.Logger, start func() error) {
	peers := node.ConfiguredPeers()
	g.Refuse("waiting for the peer check: asking the %d --peers for entries of this log that the datadir lacks (up to --peer-wait %s)", peers, wait)
	log.Info("peer check: reads are served, writes wait until the --peers answer", "peers", peers, "peerWait", wait)
	for attempt := 1; ctx.Err() == nil; attempt++ {
		before := mirror.Store().Head().Seq
		err := RecoverPrimary(ctx, node, mirror, wait)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			head := mirror.Store().Head()
			log.Info("peer check passed: no peer holds entries of this log that the datadir lacks; writing",
				"head", head.Seq, "recovered", head.Seq-before, "peers", node.PeerCount())
			if err := start(); err != nil {
				g.Refuse("start the sequencer: %v", err)
				log.Error("cannot start writing", "err", err)
			}
			return
		}
		if mirror.Halted() != nil {
			g.Refuse("the peer check failed: %v; restart after fixing it (or with --unsafe-skip-peer-check if this datadir is known to be complete)", err)
			log.Error("REFUSING TO WRITE: the peer check failed; reads are still served", "err", err)
			return
		}
		g.Refuse("the peer check has not passed: %v; still trying (attempt %d); reads are served", err, attempt)
		log.Error("REFUSING TO WRITE until the peer check passes: reads are served, /healthz answers 503; still trying", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
		case <-time.After(peerRetry):
		}
	}
}
