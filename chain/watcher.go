package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/sequencer"
)

// Config configures a Watcher. Defaults are SPEC §9's.
type Config struct {
	// Endpoints maps a chain id to its JSON-RPC URL (--chain-rpc); none:
	// only leases expire.
	Endpoints     map[uint64]string
	Confirmations uint64        // --confirmations, default 12
	Poll          time.Duration // --chain-poll, default 2 s
	LeaseTTL      time.Duration // --lease-ttl; 0: leases never expire
	GapAfter      time.Duration // --gap-after; 0: never reclaim
	Primary       common.Address
	// IsLeader says whether this node writes (a cluster's leader); nil:
	// always. Only the node that writes watches.
	IsLeader func() bool
	Now      func() time.Time
	Logger   *slog.Logger
	// Registerer takes the watcher's metrics; nil: none.
	Registerer prometheus.Registerer
	// CallTimeout bounds one call or batch to an endpoint; default 10 s.
	CallTimeout time.Duration
}

// DefaultConfirmations and DefaultPoll are SPEC §9's defaults.
const (
	DefaultConfirmations = 12
	DefaultPoll          = 2 * time.Second
	DefaultGapAfter      = 10 * time.Minute
)

// Store is what the watcher reads of the log.
type Store interface {
	bootStore
	Lineage(name string) (*sequencer.Lineage, error)
	LineageRange(lineage string, from uint64, limit int) ([]*sequencer.Entry, error)
}

// Writer takes the ops the watcher writes: the node's own write path.
type Writer interface {
	Enqueue(op sequencer.Op) *sequencer.Future
}

// Status is what the watcher last read of one lineage's account (SPEC §9:
// sequencer_lineage.chain).
type Status struct {
	ConfirmedNonce uint64
	LatestNonce    uint64
	Block          uint64
	LatestSince    time.Time
	// StuckSince is set while a lease with attempts waits at the latest
	// nonce and the latest nonce has not moved.
	StuckSince time.Time
}

// Watcher keeps tickets true to the chain and expires leases (SPEC §9).
type Watcher struct {
	cfg   Config
	store Store
	tr    *tracker
	log   *slog.Logger
	m     *metrics

	booting sync.Mutex // held while the tracker is rebuilt from the store

	mu     sync.Mutex
	status map[string]*Status
	// expiring remembers expire ops in flight so that a tick does not
	// send the same one again before it is written.
	expiring map[string]time.Time
	chains   map[uint64]*endpoint
}

// New returns a watcher over store. Endpoints are dialed when first used.
func New(cfg Config, store Store) *Watcher {
	if cfg.Confirmations == 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	w := &Watcher{cfg: cfg, store: store, log: cfg.Logger.With("component", "chain"),
		m: newMetrics(cfg.Registerer), status: map[string]*Status{}, expiring: map[string]time.Time{}, chains: map[uint64]*endpoint{}}
	for id, url := range cfg.Endpoints {
		w.chains[id] = newEndpoint(id, url, cfg.CallTimeout, w.m)
	}
	w.tr = newTracker(func(name string) bool {
		if cfg.LeaseTTL > 0 {
			return true
		}
		id, _, ok := ParseLineage(name)
		return ok && w.chains[id] != nil
	})
	return w
}

// Enabled reports whether cfg asks the node to watch or expire anything.
func (c Config) Enabled() bool { return len(c.Endpoints) > 0 || c.LeaseTTL > 0 }

// OnCommit takes entries the node made durable, in seq order; it must be
// called from the node's commit hook (it only updates memory).
func (w *Watcher) OnCommit(es []*sequencer.Entry) { w.tr.commit(es) }

// Status returns what the watcher last read of a lineage's account.
func (w *Watcher) Status(lineage string) (Status, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.status[lineage]
	if !ok {
		return Status{}, false
	}
	return *s, true
}

// Run watches until ctx ends: leases expire on a tick of its own, each
// chain is polled by a goroutine of its own, so that a slow endpoint holds
// up neither the others nor expiry.
func (w *Watcher) Run(ctx context.Context, wr Writer) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, ep := range w.chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runChain(ctx, wr, ep)
		}()
	}
	tick := w.cfg.Poll
	if ttl := w.cfg.LeaseTTL; ttl > 0 {
		tick = min(tick, max(ttl/4, 50*time.Millisecond))
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if w.ready() && w.cfg.LeaseTTL > 0 {
			w.expire(ctx, wr)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ready says whether this node writes, and if so makes sure the tracker
// has been built from the store since it began to.
func (w *Watcher) ready() bool {
	if w.cfg.IsLeader != nil && !w.cfg.IsLeader() {
		if w.tr.isReady() {
			w.tr.reset()
			w.mu.Lock()
			clear(w.status)
			w.mu.Unlock()
		}
		return false
	}
	if w.tr.isReady() {
		return true
	}
	w.booting.Lock() // one boot at a time: expiry and every chain's poll ask
	defer w.booting.Unlock()
	if w.tr.isReady() {
		return true
	}
	keep := func(l *sequencer.Lineage) bool {
		id, _, ok := ParseLineage(l.Name)
		return ok && w.chains[id] != nil && l.NextNonce > l.Floor
	}
	if err := w.tr.boot(w.store, keep); err != nil {
		w.log.Error("reading the leases from the store", "err", err)
		return false
	}
	return true
}

// expire writes an expire entry for each lease with no attempt past
// --lease-ttl.
func (w *Watcher) expire(ctx context.Context, wr Writer) {
	now := w.cfg.Now()
	var ops []sequencer.Op
	w.mu.Lock()
	for name, leases := range w.tr.allLeases() {
		for _, op := range Expired(name, leases, now, w.cfg.LeaseTTL, w.cfg.Primary) {
			k := name + "\x00" + op.ExternalID
			if at, ok := w.expiring[k]; ok && now.Sub(at) < w.cfg.LeaseTTL {
				continue
			}
			w.expiring[k] = now
			ops = append(ops, op)
		}
	}
	for k, at := range w.expiring {
		if now.Sub(at) >= w.cfg.LeaseTTL {
			delete(w.expiring, k)
		}
	}
	w.mu.Unlock()
	w.write(ctx, wr, ops)
}

// write enqueues ops in order (a confirm before the sync that would
// otherwise close its ticket without minedTx) and waits for them.
func (w *Watcher) write(ctx context.Context, wr Writer, ops []sequencer.Op) {
	if len(ops) == 0 {
		return
	}
	futs := make([]*sequencer.Future, len(ops))
	for i, op := range ops {
		futs[i] = wr.Enqueue(op)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i, f := range futs {
		op := ops[i]
		res, err := f.Wait(wctx)
		switch {
		case err == nil && !res.Existing:
			w.m.entries.WithLabelValues(op.Kind.String()).Inc()
			w.log.Debug("wrote", "kind", op.Kind, "lineage", op.Lineage, "externalId", op.ExternalID, "seq", res.Entry.Seq)
		case err == nil:
		case errors.Is(err, sequencer.ErrTicketFinal), errors.Is(err, sequencer.ErrInvalidParams), errors.Is(err, sequencer.ErrNotFound):
			// The log moved on since the plan (an attempt came before the
			// expiry, an executor closed the ticket): nothing to do.
			w.m.refused.WithLabelValues(op.Kind.String()).Inc()
			w.log.Debug("refused by the rules", "kind", op.Kind, "lineage", op.Lineage, "externalId", op.ExternalID, "err", err)
		default:
			w.m.refused.WithLabelValues(op.Kind.String()).Inc()
			w.log.Warn("could not write", "kind", op.Kind, "lineage", op.Lineage, "externalId", op.ExternalID, "err", err)
		}
	}
}

// runChain polls one chain every --chain-poll (and on each new head over
// WebSocket), backing off while its endpoint fails.
func (w *Watcher) runChain(ctx context.Context, wr Writer, ep *endpoint) {
	defer ep.close()
	heads := make(chan struct{}, 1)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-heads:
		}
		wait := w.cfg.Poll
		if w.ready() {
			if err := w.poll(ctx, wr, ep); err != nil {
				if ctx.Err() != nil {
					return
				}
				wait = ep.failed(err, w.cfg.Poll, w.log)
			} else {
				ep.ok(w.log)
				ep.subscribe(ctx, heads, w.log)
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// poll reads the chain for every watched lineage of ep's chain and writes
// what Plan says. At most one reading per lineage per block: a poll that
// finds the same head reads only lineages not read at it yet.
func (w *Watcher) poll(ctx context.Context, wr Writer, ep *endpoint) error {
	if err := ep.dial(ctx); err != nil { // also with nothing to watch: newHeads then wakes the first poll
		return err
	}
	ws := w.tr.snapshot(ep.chainID)
	w.m.watched.WithLabelValues(ep.label).Set(float64(len(ws)))
	if len(ws) == 0 {
		return nil
	}
	head, err := ep.blockNumber(ctx)
	if err != nil {
		return err
	}
	w.m.head.WithLabelValues(ep.label).Set(float64(head))
	if head == ep.lastBlock {
		w.mu.Lock()
		ws = slices.DeleteFunc(ws, func(x tracked) bool {
			st := w.status[x.name]
			return st != nil && st.Block == head
		})
		w.mu.Unlock()
		if len(ws) == 0 {
			return nil
		}
	}
	confirmedBlock := uint64(0)
	if head > w.cfg.Confirmations {
		confirmedBlock = head - w.cfg.Confirmations
	}
	// The accounts that sent a transaction since the last head: the others'
	// nonces stand where they were read then (nil: read every account).
	var active map[common.Address]bool
	headHash := ep.lastHash
	if head != ep.lastBlock {
		senders, hash, ok, err := ep.activity(ctx, head)
		if err != nil {
			return err
		}
		headHash = hash
		ep.polls++
		if ok {
			active = senders
		}
	}
	var accounts []common.Address
	prior := map[common.Address]counts{}
	unchanged := map[common.Address]counts{}
	w.mu.Lock()
	for _, x := range ws {
		st := w.status[x.name]
		if st == nil {
			accounts = append(accounts, x.account)
			continue
		}
		c := counts{confirmed: st.ConfirmedNonce, latest: st.LatestNonce}
		prior[x.account] = c
		if active != nil && !active[x.account] && !swept(x.account, ep.polls) && st.Block == ep.lastBlock && c.confirmed == c.latest {
			unchanged[x.account] = c // idle, all confirmed: nothing to read
			continue
		}
		accounts = append(accounts, x.account)
	}
	w.mu.Unlock()
	counts, err := ep.nonces(ctx, accounts, confirmedBlock, head, prior)
	if err != nil {
		return err
	}
	maps.Copy(counts, unchanged)
	now := w.cfg.Now()
	views := make([]View, len(ws))
	skip := make([]bool, len(ws))
	var lookups []common.Hash
	for i := range ws {
		x := &ws[i]
		name := x.name
		views[i] = View{Leases: x.leases, LastHolder: func(n uint64) string { return w.lastHolder(name, n) }}
		c, ok := counts[x.account]
		if !ok {
			continue
		}
		lookups = append(lookups, Lookups(views[i], c.confirmed)...)
		if skip[i] = !w.mayWrite(x, c, now); skip[i] {
			continue // nothing to write: the record need not be read
		}
		l, err := w.store.Lineage(name)
		if err != nil && !errors.Is(err, sequencer.ErrNotFound) {
			return fmt.Errorf("read lineage %q: %w", name, err)
		}
		if l != nil {
			w.tr.setBounds(name, l.Floor, l.NextNonce)
			x.floor, x.next = max(x.floor, l.Floor), max(x.next, l.NextNonce)
		}
		views[i].Lineage = l
	}
	mined, err := ep.mined(ctx, lookups, confirmedBlock)
	if err != nil {
		return err
	}
	var ops []sequencer.Op
	// The readings go into the statuses under the lock; the plans are made
	// outside it (a reclaim may scan the lineage's entries for the ticket
	// that last held its nonce), and their effect on the statuses after.
	obs := make([]*Observation, len(ws))
	w.mu.Lock()
	for i, x := range ws {
		c, ok := counts[x.account]
		if !ok {
			continue // the endpoint's answer for it was bad: next block
		}
		st := w.status[x.name]
		if st == nil || st.LatestNonce != c.latest {
			st = &Status{LatestSince: now}
			w.status[x.name] = st
		}
		st.ConfirmedNonce, st.LatestNonce, st.Block = c.confirmed, c.latest, head
		obs[i] = &Observation{Block: head, ConfirmedNonce: c.confirmed, LatestNonce: c.latest, LatestSince: st.LatestSince, Mined: mined}
	}
	w.mu.Unlock()
	plans := make([][]sequencer.Op, len(ws))
	for i, x := range ws {
		if obs[i] != nil && !skip[i] {
			plans[i] = Plan(x.name, views[i], *obs[i], now, Policy{Primary: w.cfg.Primary, GapAfter: w.cfg.GapAfter})
		}
	}
	var settled []bool
	for i, x := range ws { // checked with the record, outside the lock
		o := obs[i]
		settled = append(settled, o != nil && len(views[i].Leases) == 0 && len(plans[i]) == 0 &&
			o.ConfirmedNonce >= x.next && o.LatestNonce == o.ConfirmedNonce && w.settled(x.name, o.ConfirmedNonce))
	}
	stuck := 0
	w.mu.Lock()
	for i, x := range ws {
		st := w.status[x.name]
		if obs[i] == nil || st == nil {
			continue
		}
		for _, op := range plans[i] {
			if op.Kind == sequencer.KindReclaim {
				st.LatestSince = now // once per gap: the clock starts again
			}
		}
		ops = append(ops, plans[i]...)
		st.StuckSince = time.Time{}
		if Stuck(views[i].Leases, st.LatestNonce) {
			st.StuckSince = st.LatestSince
			stuck++
		}
		if settled[i] {
			// Nothing leased, nothing unconfirmed: stop reading it until its
			// next entry. Its status stays: what the watcher last read.
			w.tr.drop(x.name)
		}
	}
	w.mu.Unlock()
	w.m.stuck.WithLabelValues(ep.label).Set(float64(stuck))
	ep.lastBlock, ep.lastHash = head, headHash
	w.m.lastPoll.WithLabelValues(ep.label).Set(float64(now.Unix()))
	w.write(ctx, wr, ops)
	return nil
}

// mayWrite says whether a reading c of lineage name can lead Plan to write
// anything — a lease below the confirmed nonce, a confirmed nonce above the
// floor, a gap that has stood long enough — judged from what the tracker
// knows (a floor and next nonce never above the record's), so that the
// record is read only then.
func (w *Watcher) mayWrite(x *tracked, c counts, now time.Time) bool {
	if c.confirmed > x.floor || slices.ContainsFunc(x.leases, func(l Lease) bool { return l.Nonce < c.confirmed }) {
		return true
	}
	if w.cfg.GapAfter <= 0 || c.latest >= x.next {
		return false
	}
	w.mu.Lock()
	st := w.status[x.name]
	w.mu.Unlock()
	return st == nil || st.LatestNonce != c.latest || now.Sub(st.LatestSince) >= w.cfg.GapAfter
}

// settled checks with the lineage's record, before the watcher stops
// watching it, that the chain has confirmed every nonce it handed out.
func (w *Watcher) settled(name string, confirmed uint64) bool {
	l, err := w.store.Lineage(name)
	return err == nil && l != nil && len(l.InFlight) == 0 && confirmed >= l.NextNonce
}

// lastHolder finds the final ticket that last held nonce n: from the
// tracker, else from the lineage's entries (a bounded scan; reclaims are
// rare). "" when none is found.
func (w *Watcher) lastHolder(name string, n uint64) string {
	if id := w.tr.holder(name, n); id != "" {
		return id
	}
	const page, maxScan = 1000, 200_000
	found := ""
	from := uint64(1)
	for scanned := 0; scanned < maxScan; {
		es, err := w.store.LineageRange(name, from, page)
		if err != nil || len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Kind == sequencer.KindTx && e.Nonce == n {
				found = e.ExternalID
			}
		}
		scanned += len(es)
		from = es[len(es)-1].Seq + 1
	}
	return found
}
