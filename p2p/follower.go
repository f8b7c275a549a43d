package p2p

import (
	"context"
	"errors"
	"log/slog"
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
//
// One goroutine owns the mirror: the loop of Run, the only one that
// applies entries to it (as go-libp2p-pubsub's event loop owns its
// state). Gossip batches reach the loop over the node's channel; the
// network side of a catch-up or a repair runs in a job the loop starts (at
// most one of each at a time), which hands what it fetched back to the
// loop over calls and is waited for before Run returns.
type Follower struct {
	node   *Node
	mirror *sequencer.Mirror
	log    *slog.Logger
	kick   chan struct{} // a gap or a fork was seen: catch up now
	poll   time.Duration

	// MaxLag is how long the follower may be cut off (no connected peer)
	// or behind (a head its peers announced not yet reached) before it
	// says it is not following (SPEC §6 --max-lag); set before Run.
	MaxLag time.Duration

	fetch *fetcher  // the network side, run in jobs
	calls chan call // functions jobs hand to the loop

	equivocations prometheus.Counter
	lagging       lagTracker
}

// call is a function a job hands to the loop; done is closed once it ran.
type call struct {
	fn   func()
	done chan struct{}
}

// NewFollower ties a node to a mirror; reg may be nil.
func NewFollower(n *Node, m *sequencer.Mirror, reg prometheus.Registerer) *Follower {
	f := &Follower{node: n, mirror: m, log: n.log, kick: make(chan struct{}, 1), poll: time.Second,
		calls: make(chan call),
		equivocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sequencer_equivocations_total", Help: "Equivocations of the primary seen (proofs stored).",
		})}
	f.fetch = &fetcher{node: n, mirror: m, log: n.log, handle: f.handle, equivocations: f.equivocations,
		own: func(_ context.Context, fn func()) bool { fn(); return true }, checkpoint: f.checkpoint}
	if reg != nil {
		f.register(reg)
	}
	return f
}

func (f *Follower) register(reg prometheus.Registerer) {
	m, n := f.mirror, f.node
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

func (f *Follower) trigger() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// onLoop hands fn to the loop and waits until it ran. Once the loop took
// fn it runs it at once, so the wait after the hand-over is short.
func (f *Follower) onLoop(ctx context.Context, fn func()) bool {
	c := call{fn: fn, done: make(chan struct{})}
	select {
	case f.calls <- c:
	case <-ctx.Done():
		return false
	}
	<-c.done
	return true
}

// jobs runs the loop's helper goroutines and waits for them.
type jobs struct {
	ctx context.Context
	wg  sync.WaitGroup
}

// start runs job on a new goroutine; done receives once it returned.
func (j *jobs) start(job func(context.Context), done chan<- struct{}) {
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		job(j.ctx)
		done <- struct{}{}
	}()
}

// Run follows until ctx ends or the mirror stops (an equivocation, a store
// it cannot write); every goroutine it started has returned when it does.
func (f *Follower) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	j := &jobs{ctx: ctx}
	defer func() {
		cancel()
		j.wg.Wait()
	}()
	f.fetch.own = f.onLoop // before any job starts
	// A new connection may be a source ahead of us: look at once rather
	// than at the next poll.
	notify := &network.NotifyBundle{ConnectedF: func(network.Network, network.Conn) { f.trigger() }}
	f.node.host.Network().Notify(notify)
	defer f.node.host.Network().StopNotify(notify)

	poll := time.NewTicker(f.poll)
	defer poll.Stop()
	lag := time.NewTicker(lagCheck)
	defer lag.Stop()
	reorder := time.NewTicker(reorderWait / 4)
	defer reorder.Stop()
	// Buffered: a job that ends while the loop is stopping does not block.
	syncDone, repairDone := make(chan struct{}, 1), make(chan struct{}, 1)
	syncing, repairing := false, false
	kickDue, pollDue := true, false // catch up at once
	lastHead := f.mirror.Store().Head().Seq
	g := &gossip{f: f, ahead: map[uint64][]*sequencer.Entry{}}
	batches := f.node.Batches()
	cps := f.node.Checkpoints()

	checkLag := func() {
		f.checkLag(time.Now())
		if from, _ := f.mirror.Damage(); from != 0 && !repairing {
			repairing = true
			j.start(f.fetch.repair, repairDone)
		}
	}
	checkLag()
	for ctx.Err() == nil && f.mirror.Halted() == nil {
		if !syncing && (kickDue || pollDue) {
			syncing = true
			if kickDue {
				j.start(f.fetch.catchUp, syncDone)
			} else if h := f.mirror.Store().Head().Seq; h != lastHead {
				// While gossip moves the head, polling would only fetch
				// (and verify a second time) what gossip is delivering; a
				// gap still kicks a catch-up at once. Still compare every
				// source's head with ours: a host whose entries gossip
				// does not bring (one sharing a peer id with another,
				// SPEC §6) must not go unseen.
				lastHead = h
				j.start(func(ctx context.Context) { f.fetch.bestSource(ctx) }, syncDone)
			} else {
				// A head that stood still for a whole period is checked
				// against the peers.
				j.start(f.fetch.catchUp, syncDone)
			}
			kickDue, pollDue = false, false
		}
		select {
		case <-ctx.Done():
		case c := <-f.calls:
			c.fn()
			close(c.done)
		case <-f.kick:
			kickDue = true
		case <-poll.C:
			pollDue = true
		case <-syncDone:
			syncing = false
		case <-repairDone:
			repairing = false
		case <-lag.C:
			checkLag()
		case <-reorder.C:
			g.tick()
		case cp, ok := <-cps:
			if !ok {
				cps = nil
				continue
			}
			f.checkpoint(ctx, cp)
		case es, ok := <-batches:
			if !ok {
				batches = nil // the node closed: sync goes on
				continue
			}
			g.receive(es, batches)
		}
	}
	if ctx.Err() == nil && errors.Is(f.mirror.Halted(), sequencer.ErrEquivocation) {
		// A checkpoint proof found while applying entries (a checkpoint
		// that waited for its size), or kept before a restart: complete
		// it if a peer can (a no-op when none is incomplete).
		f.completeCheckpointProofs(ctx)
	}
}

// gossip applies gossip batches on the loop, in seq order: a batch that
// arrives past a gap waits (bounded) for the ones before it.
type gossip struct {
	f        *Follower
	ahead    map[uint64][]*sequencer.Entry // batches past a gap, by first seq
	gapSince time.Time
}

func (g *gossip) apply(es []*sequencer.Entry) {
	_, err := g.f.mirror.ApplyVerified(es)
	if err != nil && !errors.Is(err, sequencer.ErrGap) {
		g.f.handle(err)
	}
}

// receive applies es, and batches that are already waiting and continue
// it in the same synced commit: under load one fsync carries several
// gossip messages.
func (g *gossip) receive(es []*sequencer.Entry, more <-chan []*sequencer.Entry) {
	for waiting := true; waiting && len(es) < 8*maxBatchEntries; {
		select {
		case next, ok := <-more:
			if !ok {
				waiting = false
				break
			}
			if next[0].Seq != es[len(es)-1].Seq+1 {
				g.place(es)
				es = next
				continue
			}
			es = append(es, next...)
		default:
			waiting = false
		}
	}
	g.place(es)
	g.drain()
}

// tick fills a gap that stayed longer than reorderWait by sync.
func (g *gossip) tick() {
	if len(g.ahead) > 0 && time.Since(g.gapSince) > reorderWait {
		g.f.trigger()
		g.gapSince = time.Now()
	}
	g.drain()
}

// drain applies the waiting batches that now continue the log.
func (g *gossip) drain() {
	for {
		head := g.f.mirror.Store().Head().Seq
		for first, es := range g.ahead {
			if es[len(es)-1].Seq <= head {
				delete(g.ahead, first) // arrived by sync meanwhile
			}
		}
		next, ok := g.ahead[head+1]
		if !ok {
			break
		}
		delete(g.ahead, head+1)
		g.apply(next)
	}
	if len(g.ahead) == 0 {
		g.gapSince = time.Time{}
	}
}

// place applies a batch that continues the log (or overlaps it), and keeps
// one that starts past a gap (bounded: past 256 waiting batches the gap is
// left to sync).
func (g *gossip) place(es []*sequencer.Entry) {
	if es[0].Seq <= g.f.mirror.Store().Head().Seq+1 {
		g.apply(es)
		return
	}
	if len(g.ahead) >= 256 {
		clear(g.ahead)
		g.f.trigger()
	}
	g.ahead[es[0].Seq] = es
	if g.gapSince.IsZero() {
		g.gapSince = time.Now()
	}
}

// checkpoint hands a checkpoint the primary published to the mirror,
// which checks it against its tree (SPEC §10).
// A proof that the checkpoint contradicts our tree is then completed from
// the peers, if one holds the signed tree (complete.go), before the
// follower stops.
func (f *Follower) checkpoint(ctx context.Context, cp *sequencer.Checkpoint) {
	if err := f.mirror.ReceiveCheckpoint(cp); errors.Is(err, sequencer.ErrEquivocation) {
		f.equivocations.Inc()
		f.completeCheckpointProofs(ctx)
	} else if err != nil {
		f.log.Warn("checkpoint from the primary", "size", cp.Size, "err", err)
	}
}

// handle reacts to an Apply error: a gap or a fork means catch up now.
func (f *Follower) handle(err error) {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
	case errors.Is(err, sequencer.ErrEquivocation):
		f.equivocations.Inc()
	case errors.Is(err, sequencer.ErrGap), errors.Is(err, sequencer.ErrForkSuspected):
		f.trigger()
	default:
		f.log.Warn("apply entries", "err", err)
		f.trigger()
	}
}
