package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/sequencer"
)

// Follower keeps a replica's Mirror in step with the primary's log: it
// applies gossip batches as they come, and catches up from any peer over
// the sync protocol whenever it sees a gap, at start-up, on a timer, and
// after (re)connecting. It never waits for more traffic to fill a gap.
type Follower struct {
	node   *Node
	mirror *sequencer.Mirror
	log    *slog.Logger
	kick   chan struct{}
	poll   time.Duration

	// MaxLag is how long the follower may be cut off (no connected peer)
	// or behind (a head its peers announced not yet reached) before it
	// says it is not following (SPEC §6 --max-lag); set before Run.
	MaxLag time.Duration

	equivocations prometheus.Counter
	lagging       lagTracker
}

// DefaultMaxLag is the default --max-lag.
const DefaultMaxLag = 10 * time.Second

// lagTracker says whether a replica follows: it is behind while a head its
// peers announced has not been reached; under load the head trails the
// announcements by a few entries all the time, so what counts is how long
// the oldest announced head not yet reached has been waiting.
type lagTracker struct {
	mu          sync.Mutex
	target      uint64    // an announced head not yet reached (0: none)
	targetAt    time.Time // when it was seen
	noPeerSince time.Time // zero while a peer is connected
	reason      error     // nil while following
	caughtUp    bool      // logged "caught up" once
}

// NewFollower ties a node to a mirror; reg may be nil.
func NewFollower(n *Node, m *sequencer.Mirror, reg prometheus.Registerer) *Follower {
	f := &Follower{node: n, mirror: m, log: n.log, kick: make(chan struct{}, 1), poll: time.Second,
		equivocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sequencer_equivocations_total", Help: "Equivocations of the primary seen (proofs stored).",
		})}
	if reg != nil {
		head := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sequencer_replica_head_seq", Help: "Head seq of this replica."},
			func() float64 { return float64(m.Store().Head().Seq) })
		ph := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sequencer_replica_primary_head_seq", Help: "Highest seq seen signed by the primary."},
			func() float64 { return float64(n.PrimaryHead()) })
		lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sequencer_replica_lag_entries", Help: "Entries the replica is behind the highest seq it has seen."},
			func() float64 {
				h, p := m.Store().Head().Seq, n.PrimaryHead()
				if p < h {
					return 0
				}
				return float64(p - h)
			})
		following := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sequencer_replica_following",
			Help: "1 while the replica follows, 0 when it has been cut off from its peers or behind their announced head for longer than --max-lag (/healthz 503)."},
			func() float64 {
				if f.Health() != nil {
					return 0
				}
				return 1
			})
		halted := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sequencer_halted",
			Help: "1 when the node stopped writing (a replica: stopped following, on an equivocation or a store it cannot write)."},
			func() float64 {
				if m.Halted() != nil {
					return 1
				}
				return 0
			})
		reg.MustRegister(head, ph, lag, f.equivocations, following, halted)
	}
	return f
}

// Health is nil while the replica follows, else why it does not (SPEC §6:
// cut off from its peers, or behind their head, for longer than MaxLag).
// A stopped mirror is reported by its Halted.
func (f *Follower) Health() error {
	if _, err := f.mirror.Damage(); err != nil {
		return err
	}
	f.lagging.mu.Lock()
	defer f.lagging.mu.Unlock()
	return f.lagging.reason
}

// repair fetches again, from any connected host, the entries its store
// could not read (bit rot, SPEC §6), starting at the first damaged one,
// and hands them to the mirror, which checks and rewrites them.
func (f *Follower) repair(ctx context.Context) {
	from, _ := f.mirror.Damage()
	if from == 0 || f.mirror.Halted() != nil {
		return
	}
	st := f.mirror.Store()
	head := st.Head().Seq
	if from > head {
		f.mirror.Repaired(from)
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
	for _, c := range f.node.host.Network().Conns() {
		if c.IsClosed() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		es, err := f.node.fetchRangeVia(cctx, c, from, int(min(maxRangeEntries, head-from+1)))
		cancel()
		if err != nil || len(es) == 0 {
			f.log.Debug("bit rot: fetch", "peer", c.RemotePeer(), "from", from, "err", err)
			continue
		}
		if _, err := f.mirror.Repair(es); err != nil {
			if errors.Is(err, sequencer.ErrEquivocation) {
				f.equivocations.Inc()
				return
			}
			f.log.Warn("bit rot: a peer's entries do not repair our store", "peer", c.RemotePeer(), "from", from, "err", err)
			continue
		}
		f.mirror.Repaired(from)
		return
	}
}

// checkLag updates Health; it logs a change at warning level (not
// following) or info (following again, or caught up the first time).
func (f *Follower) checkLag(now time.Time) {
	maxLag := f.MaxLag
	if maxLag <= 0 {
		maxLag = DefaultMaxLag
	}
	head, announced, peers := f.mirror.Store().Head().Seq, f.node.PrimaryHead(), f.node.PeerCount()
	t := &f.lagging
	t.mu.Lock()
	defer t.mu.Unlock()
	if peers > 0 {
		t.noPeerSince = time.Time{}
	} else if t.noPeerSince.IsZero() {
		t.noPeerSince = now
	}
	if head >= t.target {
		if !t.caughtUp && t.target > 0 {
			t.caughtUp = true
			f.log.Info("caught up with peers", "head", head, "peers", peers)
		}
		t.target, t.targetAt = 0, time.Time{}
		if announced > head {
			t.target, t.targetAt = announced, now
		}
	}
	var reason error
	switch {
	case !t.noPeerSince.IsZero() && now.Sub(t.noPeerSince) > maxLag:
		reason = fmt.Errorf("not following: no connected peer for %s (--max-lag %s); head %d", now.Sub(t.noPeerSince).Round(time.Second), maxLag, head)
	case t.target > 0 && now.Sub(t.targetAt) > maxLag:
		reason = fmt.Errorf("not following: head %d has not reached seq %d, announced by peers %s ago (--max-lag %s)", head, t.target, now.Sub(t.targetAt).Round(time.Second), maxLag)
	}
	switch {
	case reason != nil && t.reason == nil:
		f.log.Warn("replica is not following its peers: /healthz answers 503", "reason", reason)
	case reason == nil && t.reason != nil:
		f.log.Info("replica follows its peers again", "head", head, "peers", peers)
	}
	t.reason = reason
}

func (f *Follower) trigger() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Run follows until ctx ends or the primary equivocates.
func (f *Follower) Run(ctx context.Context) {
	// Also ends the gossip goroutine when the loop stops on an equivocation.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.applyGossip(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		lag := time.NewTicker(lagCheck)
		defer lag.Stop()
		for {
			f.checkLag(time.Now())
			f.repair(ctx)
			select {
			case <-ctx.Done():
				return
			case <-lag.C:
			}
		}
	}()
	t := time.NewTicker(f.poll)
	defer t.Stop()
	f.trigger()
	lastHead := f.mirror.Store().Head().Seq
	for ctx.Err() == nil && f.mirror.Halted() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			// While gossip moves the head, polling would only fetch (and
			// verify a second time) what gossip is delivering; a gap still
			// kicks a catch-up at once. A head that stood still for a whole
			// period is checked against the peers.
			if h := f.mirror.Store().Head().Seq; h != lastHead {
				lastHead = h
				// Still compare every source's head with ours: a host
				// whose entries gossip does not bring (one sharing a peer
				// id with another, SPEC §6) must not go unseen.
				f.bestSource(ctx)
				continue
			}
			f.catchUp(ctx)
		case <-f.kick:
			f.catchUp(ctx)
		}
	}
	cancel()
	wg.Wait()
}

// reorderWait is how long a gossip batch that arrives ahead of a gap
// waits for the missing one (GossipSub validates messages concurrently, so
// consecutive batches can arrive slightly out of order) before the gap is
// filled by sync. The wait is checked on a timer, not only when the next
// message comes, so a gap never waits for traffic. It bounds the lag a
// lost message adds: at 5,000 entries/s with two replicas on 2 cores,
// 200 ms gave a replica lag p99 of ~215 ms, 50 ms gives 30–46 ms, with no
// measurable extra CPU for the syncs it starts.
const reorderWait = 50 * time.Millisecond

// lagCheck is how often the follower checks whether it still follows.
const lagCheck = 250 * time.Millisecond

func (f *Follower) applyGossip(ctx context.Context) {
	ahead := map[uint64][]*sequencer.Entry{} // batches past a gap, by first seq
	var gapSince time.Time
	tick := time.NewTicker(reorderWait / 4)
	defer tick.Stop()
	apply := func(es []*sequencer.Entry) {
		_, err := f.mirror.ApplyVerified(es)
		if err != nil && !errors.Is(err, sequencer.ErrGap) {
			f.handle(err)
		}
	}
	// drain applies the waiting batches that now continue the log.
	drain := func() {
		for {
			head := f.mirror.Store().Head().Seq
			for first, es := range ahead {
				if es[len(es)-1].Seq <= head {
					delete(ahead, first) // arrived by sync meanwhile
				}
			}
			next, ok := ahead[head+1]
			if !ok {
				break
			}
			delete(ahead, head+1)
			apply(next)
		}
		if len(ahead) == 0 {
			gapSince = time.Time{}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if len(ahead) > 0 && time.Since(gapSince) > reorderWait {
				f.trigger() // the gap stayed: fill it by sync
				gapSince = time.Now()
			}
			drain()
		case es, ok := <-f.node.Batches():
			if !ok {
				return
			}
			if f.mirror.Halted() != nil {
				return
			}
			// Batches that are already waiting and continue this one go
			// into the same synced commit: under load one fsync carries
			// several gossip messages.
			for more := true; more && len(es) < 8*maxBatchEntries; {
				select {
				case next, ok := <-f.node.Batches():
					if !ok {
						more = false
						break
					}
					if next[0].Seq != es[len(es)-1].Seq+1 {
						f.place(ahead, &gapSince, es, apply)
						es = next
						continue
					}
					es = append(es, next...)
				default:
					more = false
				}
			}
			f.place(ahead, &gapSince, es, apply)
			drain()
		}
	}
}

// place applies a batch that continues the log (or overlaps it), and keeps
// one that starts past a gap (bounded: past 256 waiting batches the gap is
// left to sync).
func (f *Follower) place(ahead map[uint64][]*sequencer.Entry, gapSince *time.Time, es []*sequencer.Entry, apply func([]*sequencer.Entry)) {
	if es[0].Seq <= f.mirror.Store().Head().Seq+1 {
		apply(es)
		return
	}
	if len(ahead) >= 256 {
		clear(ahead)
		f.trigger()
	}
	ahead[es[0].Seq] = es
	if gapSince.IsZero() {
		*gapSince = time.Now()
	}
}

// handle reacts to an Apply error: a gap or a fork means catch up now.
func (f *Follower) handle(err error) {
	switch {
	case err == nil:
	case errors.Is(err, sequencer.ErrEquivocation):
		f.equivocations.Inc()
	case errors.Is(err, sequencer.ErrGap), errors.Is(err, sequencer.ErrForkSuspected):
		f.trigger()
	default:
		f.log.Warn("apply entries", "err", err)
		f.trigger()
	}
}

// catchUp asks every connected host for its head and fetches what it
// lacks from the one with the highest, verifying every entry.
func (f *Follower) catchUp(ctx context.Context) {
	if f.mirror.Halted() != nil {
		return
	}
	best, bestHead := f.bestSource(ctx)
	if bestHead == nil {
		return
	}
	p := best.RemotePeer()
	// A fetcher keeps the next range coming while this goroutine verifies
	// and applies the current one.
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	ranges := make(chan fetched, 2)
	go f.fetchRanges(fctx, best, f.mirror.Store().Head().Seq+1, bestHead.Seq, ranges)
	for fr := range ranges {
		if ctx.Err() != nil || f.mirror.Halted() != nil {
			return
		}
		head := f.mirror.Store().Head()
		es, err := fr.entries, fr.err
		if len(es) == 0 {
			if err != nil {
				f.log.Debug("sync fetch", "peer", p, "from", head.Seq+1, "err", err)
			}
			return
		}
		if err := f.verify(es); err != nil {
			f.log.Warn("sync: peer sent an entry the primary did not sign", "peer", p, "err", err)
			return
		}
		n, err := f.mirror.ApplyVerified(es)
		if errors.Is(err, sequencer.ErrForkSuspected) && head.Seq > 0 {
			// The peer's entry head+1 does not chain onto ours: fetch its
			// entry at our head; Apply compares and keeps the proof.
			other, ferr := f.node.fetchRangeVia(ctx, best, head.Seq, 1)
			if ferr == nil && len(other) == 1 {
				if _, aerr := f.mirror.Apply(other); aerr != nil {
					err = aerr
				}
			}
		}
		if err != nil {
			// No kick here: the same peer would send the same entries
			// again at once. A proof stops the mirror; anything else is
			// retried at the next poll.
			if errors.Is(err, sequencer.ErrEquivocation) {
				f.equivocations.Inc()
			} else {
				f.log.Warn("sync: peer's entries do not continue our log", "peer", p, "from", head.Seq+1, "err", err)
			}
			return
		}
		if n > 0 && (head.Seq+uint64(n))%10_000 < uint64(n) {
			f.log.Info("catching up", "head", head.Seq+uint64(n), "target", bestHead.Seq, "peer", p)
		}
	}
}

type fetched struct {
	entries []*sequencer.Entry
	err     error
}

// fetchRanges fetches consecutive ranges [from, to] over c into out, and
// closes out when done, on the first error, or when ctx ends.
func (f *Follower) fetchRanges(ctx context.Context, c network.Conn, from, to uint64, out chan<- fetched) {
	defer close(out)
	for from <= to && ctx.Err() == nil {
		es, err := f.node.fetchRangeVia(ctx, c, from, maxRangeEntries)
		select {
		case out <- fetched{es, err}:
		case <-ctx.Done():
			return
		}
		if err != nil || len(es) == 0 {
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
func (f *Follower) bestSource(ctx context.Context) (network.Conn, *sequencer.Entry) {
	var best network.Conn
	var bestHead *sequencer.Entry
	h := sequencer.NewHasher(f.mirror.Domain())
	for _, c := range f.node.host.Network().Conns() {
		if c.IsClosed() || f.mirror.Halted() != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		e, err := f.node.fetchHeadVia(cctx, c)
		cancel()
		if err != nil || e == nil {
			continue
		}
		if err := sequencer.CheckSigned(h, f.mirror.Primary(), e); err != nil {
			f.log.Warn("peer announced a head the primary did not sign", "peer", c.RemotePeer(), "addr", c.RemoteMultiaddr(), "err", err)
			continue
		}
		f.node.seenHead(e.Seq)
		ours := f.mirror.Store().Head()
		if e.Seq <= ours.Seq {
			_, err := f.mirror.ApplyVerified([]*sequencer.Entry{e})
			f.handle(err)
			continue
		}
		if ours.Seq > 0 {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			at, err := f.node.fetchRangeVia(cctx, c, ours.Seq, 1)
			cancel()
			if err == nil && len(at) == 1 {
				_, err := f.mirror.Apply(at)
				f.handle(err)
			}
		}
		if bestHead == nil || e.Seq > bestHead.Seq {
			best, bestHead = c, e
		}
	}
	if f.mirror.Halted() != nil {
		return nil, nil
	}
	return best, bestHead
}

// verify checks the signatures of fetched entries on every core.
func (f *Follower) verify(es []*sequencer.Entry) error {
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(es) + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w*chunk < len(es); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := f.node.hashers.Get().(*sequencer.Hasher)
			defer f.node.hashers.Put(h)
			for _, e := range es[w*chunk : min((w+1)*chunk, len(es))] {
				if err := sequencer.CheckSigned(h, f.mirror.Primary(), e); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RecoverPrimary runs before a primary writes (SPEC §6): it waits up to
// wait for a configured peer, asks every connected peer for its head, and
// fetches any entries of this log that peers hold beyond the local head.
// It fails — the primary must not write — when peers were configured but
// none answered, or when a peer holds a different entry at a seq we hold.
func RecoverPrimary(ctx context.Context, n *Node, m *sequencer.Mirror, wait time.Duration) error {
	if len(n.cfg.Peers) == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	for n.PeerCount() == 0 && time.Now().Before(deadline) {
		ctx2, cancel := context.WithTimeout(ctx, time.Second)
		for _, ai := range n.cfg.Peers {
			connect(ctx2, n.host, ai)
		}
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
		return fmt.Errorf("none of the %d --peers answered within %s: cannot tell whether they hold entries of this log that the datadir lacks", len(n.cfg.Peers), wait)
	}
	f := NewFollower(n, m, nil)
	f.catchUp(ctx)
	if err := m.Halted(); err != nil {
		return err
	}
	_, bestHead := f.bestSource(ctx)
	if err := m.Halted(); err != nil {
		return err
	}
	if bestHead != nil && bestHead.Seq > m.Store().Head().Seq {
		return fmt.Errorf("peers hold the log up to seq %d but only %d could be recovered", bestHead.Seq, m.Store().Head().Seq)
	}
	return nil
}

// GuardPrimary watches the primary's peers while it writes: a peer holding
// an entry signed by this primary beyond our head, or a different one at a
// seq we hold, means this datadir lost entries (a wipe or an old backup),
// so writing on would equivocate: writes halt at once (4009).
func GuardPrimary(ctx context.Context, n *Node, s *sequencer.Sequencer) {
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
		for _, c := range n.host.Network().Conns() {
			p := c.RemotePeer()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			e, err := n.fetchHeadVia(cctx, c)
			cancel()
			if err != nil || e == nil || sequencer.CheckSigned(h, s.Address(), e) != nil {
				continue
			}
			st := s.Store()
			if e.Seq > st.Head().Seq {
				s.Halt(fmt.Errorf("%w: peer %s holds entry %d signed by this primary, beyond our head %d: the datadir lost entries; restart to recover them from peers", sequencer.ErrHalted, p, e.Seq, st.Head().Seq))
				return
			}
			if ours, err := st.Entry(e.Seq); err == nil && ours.Hash != e.Hash {
				s.Halt(fmt.Errorf("%w: peer %s holds a different entry %d signed by this primary: equivocation", sequencer.ErrHalted, p, e.Seq))
				return
			}
		}
	}
}
