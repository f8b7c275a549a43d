package p2p

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/sequencer"
)

// fetcher is the network side of following: it asks peers for their
// heads and ranges, checks what they send, and hands it to the mirror's
// owner (own). Its methods run in the loop's jobs, or in a primary's
// recovery, never on the loop itself: a slow peer must not hold up gossip.
type fetcher struct {
	node   *Node
	mirror *sequencer.Mirror // read here; applied to only through own
	log    *slog.Logger
	// own runs fn where the mirror's owner runs, and says whether it ran
	// (false: ctx ended first). Run's loop sets it to hand fn to itself;
	// without a loop (a primary's recovery) the caller owns the mirror
	// and fn runs at once.
	own           func(ctx context.Context, fn func()) bool
	handle        func(error) // reacts to an Apply error
	equivocations prometheus.Counter
	// checkpoint hands a checkpoint to the follower (on its loop, through
	// own); nil without a follower. lastAsk is when askCheckpoint last asked.
	checkpoint func(context.Context, *sequencer.Checkpoint)
	lastAsk    time.Time
}

// apply applies es where the mirror's owner runs. verified says their
// signatures were checked already (ApplyVerified); else Apply checks them.
func (s *fetcher) apply(ctx context.Context, es []*sequencer.Entry, verified bool) (n int, err error) {
	apply := s.mirror.Apply
	if verified {
		apply = s.mirror.ApplyVerified
	}
	if !s.own(ctx, func() { n, err = apply(es) }) {
		return 0, ctx.Err()
	}
	return n, err
}

// catchUp asks every connected host for its head and fetches what it
// lacks from the one with the highest, verifying every entry.
func (s *fetcher) catchUp(ctx context.Context) {
	if s.mirror.Halted() != nil {
		return
	}
	best, bestHead := s.bestSource(ctx)
	if bestHead == nil {
		return
	}
	p := best.RemotePeer()
	defer s.askCheckpoint(ctx, best) // once caught up (runs after the drain below)
	// A goroutine keeps the next range coming (and verified) while the owner
	// applies the current one; it has returned when catchUp does.
	fctx, stop := context.WithCancel(ctx)
	ranges := make(chan fetched, 2)
	go s.fetchRanges(fctx, best, s.mirror.Store().Head().Seq+1, bestHead.Seq, ranges)
	defer func() {
		stop()
		for range ranges {
		}
	}()
	for fr := range ranges {
		if ctx.Err() != nil || s.mirror.Halted() != nil {
			return
		}
		head := s.mirror.Store().Head()
		es, err := fr.entries, fr.err
		if len(es) == 0 {
			if err != nil {
				s.log.Debug("sync fetch", "peer", p, "from", head.Seq+1, "err", err)
			}
			return
		}
		if fr.unsigned != nil {
			s.log.Warn("sync: peer sent an entry the primary did not sign", "peer", p, "err", fr.unsigned)
			return
		}
		n, err := s.apply(ctx, es, true)
		if errors.Is(err, sequencer.ErrForkSuspected) && head.Seq > 0 {
			// The peer's entry head+1 does not chain onto ours: fetch its
			// entry at our head; Apply compares and keeps the proof.
			other, ferr := s.node.sync.fetchRangeVia(ctx, best, head.Seq, 1)
			if ferr == nil && len(other) == 1 {
				if _, aerr := s.apply(ctx, other, false); aerr != nil {
					err = aerr
				}
			}
		}
		if err != nil {
			// No kick here: the same peer would send the same entries
			// again at once. A proof stops the mirror; anything else is
			// retried at the next poll.
			if errors.Is(err, sequencer.ErrEquivocation) {
				s.equivocations.Inc()
			} else if ctx.Err() == nil {
				s.log.Warn("sync: peer's entries do not continue our log", "peer", p, "from", head.Seq+1, "err", err)
			}
			return
		}
		if n > 0 && (head.Seq+uint64(n))%10_000 < uint64(n) {
			s.log.Info("catching up", "head", head.Seq+uint64(n), "target", bestHead.Seq, "peer", p)
		}
	}
}

// fetched is a range from the fetcher: the entries read (a fetch that
// failed part way gives those before the failure, and err), and whether
// their signatures checked.
type fetched struct {
	entries  []*sequencer.Entry
	err      error
	unsigned error // an entry the primary did not sign
}

// fetchRanges fetches consecutive ranges [from, to] over c, checks their
// signatures, and sends them to out; it closes out when done, on the first
// error, or when ctx ends.
func (s *fetcher) fetchRanges(ctx context.Context, c network.Conn, from, to uint64, out chan<- fetched) {
	defer close(out)
	for from <= to && ctx.Err() == nil {
		es, err := s.node.sync.fetchRangeVia(ctx, c, from, maxRangeEntries)
		fr := fetched{entries: es, err: err}
		if len(es) > 0 {
			fr.unsigned = s.verify(es)
		}
		select {
		case out <- fr:
		case <-ctx.Done():
			return
		}
		if err != nil || fr.unsigned != nil || len(es) == 0 {
			return
		}
		from += uint64(len(es))
	}
}

// bestSource asks every connection (not every peer id: two hosts that
// share one, a copied datadir, are two sources) for its head, and returns
// the connection with the highest validly signed one. Every head is
// checked against our log, whoever serves it (SPEC §6): one at or below
// our head is compared with our entry at its seq, and a source ahead of
// us is asked for its entry at our head, which must be ours.
func (s *fetcher) bestSource(ctx context.Context) (network.Conn, *sequencer.Entry) {
	var best network.Conn
	var bestHead *sequencer.Entry
	h := sequencer.NewHasher(s.mirror.Domain())
	for _, c := range s.node.host.Network().Conns() {
		if c.IsClosed() || s.mirror.Halted() != nil || ctx.Err() != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		e, err := s.node.sync.fetchHeadVia(cctx, c)
		cancel()
		if err != nil || e == nil {
			continue
		}
		if err := sequencer.CheckSigned(h, s.mirror.Primary(), e); err != nil {
			s.log.Warn("peer announced a head the primary did not sign", "peer", c.RemotePeer(), "addr", c.RemoteMultiaddr(), "err", err)
			continue
		}
		s.node.seenHead(e.Seq)
		ours := s.mirror.Store().Head()
		if e.Seq <= ours.Seq {
			_, err := s.apply(ctx, []*sequencer.Entry{e}, true)
			s.handle(err)
			continue
		}
		if ours.Seq > 0 {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			at, err := s.node.sync.fetchRangeVia(cctx, c, ours.Seq, 1)
			cancel()
			if err == nil && len(at) == 1 {
				_, err := s.apply(ctx, at, false)
				s.handle(err)
			}
		}
		if bestHead == nil || e.Seq > bestHead.Seq {
			best, bestHead = c, e
		}
	}
	if s.mirror.Halted() != nil || ctx.Err() != nil {
		return nil, nil
	}
	return best, bestHead
}

// verify checks the signatures of fetched entries on every core.
func (s *fetcher) verify(es []*sequencer.Entry) error {
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(es) + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w*chunk < len(es); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := s.node.hashers.Get().(*sequencer.Hasher)
			defer s.node.hashers.Put(h)
			for _, e := range es[w*chunk : min((w+1)*chunk, len(es))] {
				if err := sequencer.CheckSigned(h, s.mirror.Primary(), e); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// repair fetches again, from any connected host, the entries its store
// could not read (bit rot, SPEC §6), starting at the first damaged one,
// and hands them to the mirror, which checks and rewrites them.
func (s *fetcher) repair(ctx context.Context) {
	from, _ := s.mirror.Damage()
	if from == 0 || s.mirror.Halted() != nil {
		return
	}
	st := s.mirror.Store()
	head := st.Head().Seq
	if from > head {
		s.own(ctx, func() { s.mirror.Repaired(from) })
		return
	}
	// A damaged table block holds many entries: start at the first of
	// them that does not read, so that the fetched range is anchored.
	for n := 0; from > 1 && n < maxRangeEntries; n++ {
		if _, err := st.Entry(from - 1); !sequencer.IsCorrupted(err) {
			break
		}
		from--
	}
	for _, c := range s.node.host.Network().Conns() {
		if c.IsClosed() || ctx.Err() != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		es, err := s.node.sync.fetchRangeVia(cctx, c, from, int(min(maxRangeEntries, head-from+1)))
		cancel()
		if err != nil || len(es) == 0 {
			s.log.Debug("bit rot: fetch", "peer", c.RemotePeer(), "from", from, "err", err)
			continue
		}
		if !s.own(ctx, func() { _, err = s.mirror.Repair(es) }) {
			return
		}
		if err != nil {
			if errors.Is(err, sequencer.ErrEquivocation) {
				s.equivocations.Inc()
				return
			}
			s.log.Warn("bit rot: a peer's entries do not repair our store", "peer", c.RemotePeer(), "from", from, "err", err)
			continue
		}
		s.own(ctx, func() { s.mirror.Repaired(from) })
		return
	}
}

// FetchMissing fetches into m every entry of its log that n's connected
// peers hold beyond its head, checking each peer's head against m as a
// replica does, and returns the highest head they announced. It fails
// when m stops (a peer holds a different entry at a seq m holds: an
// equivocation). The caller owns m: nothing else may apply to it meanwhile.
func FetchMissing(ctx context.Context, n *Node, m *sequencer.Mirror) (peersHead uint64, err error) {
	f := NewFollower(n, m, nil).fetch
	f.catchUp(ctx)
	if err := m.Halted(); err != nil {
		return 0, err
	}
	_, bestHead := f.bestSource(ctx)
	if err := m.Halted(); err != nil {
		return 0, err
	}
	if bestHead == nil {
		return 0, nil
	}
	return bestHead.Seq, nil
}

// DialAddrs dials the multiaddrs given (each ending in /p2p/<id>) that are
// not connected yet, once: a cluster voter learns where to fetch entries
// from a snapshot.
func (n *Node) DialAddrs(ctx context.Context, addrs []string) error {
	ais, err := ParsePeers(addrs)
	if err != nil {
		return err
	}
	for _, ai := range ais {
		if ai.ID != n.host.ID() {
			connect(ctx, n.host, ai)
		}
	}
	return nil
}

// DialPeers dials every --peers entry not connected yet, once.
func (n *Node) DialPeers(ctx context.Context) {
	for _, ai := range n.cfg.Peers {
		connect(ctx, n.host, ai)
	}
}

// EachHead asks every connection for its head, one after another (each
// within 3 s), and calls fn with the remote peer and the head, which is
// nil for an empty log and not checked in any way; it stops when fn
// returns false or ctx ends.
func (n *Node) EachHead(ctx context.Context, fn func(peer string, head *sequencer.Entry) bool) {
	for _, c := range n.host.Network().Conns() {
		if ctx.Err() != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		e, err := n.sync.fetchHeadVia(cctx, c)
		cancel()
		if err != nil {
			continue
		}
		if !fn(c.RemotePeer().String(), e) {
			return
		}
	}
}
