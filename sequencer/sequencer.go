package sequencer

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Config configures a primary's Sequencer.
type Config struct {
	Key          *ecdsa.PrivateKey // the log's signing key
	Domain       Domain
	MaxInFlight  int              // leased tickets per lineage; default 64
	MaxDataBytes int              // default 131072
	QueueSize    int              // bounded request queue; default 16384
	QueueBytes   int64            // data bytes queued at most; default 256 MiB
	MaxBatch     int              // entries per group commit; default 2048
	Signers      int              // signing goroutines; default GOMAXPROCS
	Logger       *slog.Logger     // default slog.Default()
	Metrics      *Metrics         // optional
	Now          func() time.Time // default time.Now
	// OnCommit, if set, is called by the writer after each durable group,
	// in seq order (replication publishes from here). It must not block long.
	OnCommit func(entries []*Entry)
}

const (
	DefaultMaxInFlight  = 64
	DefaultMaxDataBytes = 131072
)

// SetDefaults fills in the defaults of every field left zero.
func (c *Config) SetDefaults() {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxDataBytes <= 0 {
		c.MaxDataBytes = DefaultMaxDataBytes
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 16384
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 256 << 20
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2048
	}
	if c.Signers <= 0 {
		c.Signers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Result answers one write: the entry that records it, and whether it was
// already in the log (an idempotent retry).
type Result struct {
	Entry    *Entry
	Existing bool
}

type outcome struct {
	res Result
	err error
}

type pending struct {
	op   Op
	done chan outcome // buffered 1
}

// waiter is a pending request inside a group and its answer.
type waiter struct {
	p *pending
	a Answer
}

// group is a Group and the callers it answers.
type group struct {
	Group
	waiters []waiter
}

// Sequencer is the append pipeline of a primary: requests are validated by
// the caller, ordered and chained by one goroutine (which alone owns the
// State), signed in parallel, and written as one synced batch per group.
// Callers are answered only after their group is durable.
type Sequencer struct {
	cfg     Config
	store   Store
	address common.Address

	queue       chan *pending
	toSign      chan *group
	toWrite     chan *group
	signJob     chan signJob
	signerReady chan struct{} // the signer asks for the next group
	ordererDone chan struct{}

	closeMu     sync.RWMutex
	closed      bool
	queued      *ByteBudget // data of the queued requests, within QueueBytes
	*writeState             // why writes halted; the durable head and its channel

	wg sync.WaitGroup

	machine *Machine // owned by the orderer goroutine
}

type signJob struct {
	entries []*Entry
	key     *ecdsa.PrivateKey
	wg      *sync.WaitGroup
	err     *atomic.Pointer[error]
}

// openWriter is what every writer of store checks and loads first (cfg
// has its defaults): the signing key, the store's meta naming the key's
// address and cfg.Domain (written on an empty store), and the Machine.
// Signed requests past their deadline at nowSec are forgotten (0: none).
func openWriter(store Store, cfg Config, nowSec uint64) (common.Address, *Machine, error) {
	if cfg.Key == nil {
		return common.Address{}, nil, errors.New("sequencer: no signing key")
	}
	addr := crypto.PubkeyToAddress(cfg.Key.PublicKey)
	if err := checkMetaFor(store, addr, cfg.Domain); err != nil {
		return addr, nil, err
	}
	m, err := NewMachine(store, cfg.Domain, cfg.MaxInFlight, nowSec)
	return addr, m, err
}

// New starts the pipeline over store. The store's derived state is loaded
// and its meta must name cfg.Key's address and cfg.Domain (it is written on
// an empty store).
func New(store Store, cfg Config) (*Sequencer, error) {
	cfg.SetDefaults()
	addr, machine, err := openWriter(store, cfg, uint64(cfg.Now().Unix()))
	if err != nil {
		return nil, err
	}
	s := &Sequencer{
		cfg:         cfg,
		store:       store,
		address:     addr,
		queue:       make(chan *pending, cfg.QueueSize),
		toSign:      make(chan *group),
		toWrite:     make(chan *group),
		signerReady: make(chan struct{}),
		ordererDone: make(chan struct{}),
		signJob:     make(chan signJob, cfg.Signers),
		writeState:  newWriteState(store, cfg.Logger, cfg.Metrics),
		machine:     machine,
		queued:      NewByteBudget(cfg.QueueBytes),
	}
	if cfg.Metrics != nil {
		cfg.Metrics.setHead(machine.Head().Seq)
		cfg.Metrics.queueLen = func() float64 { return float64(len(s.queue)) }
	}
	for range cfg.Signers {
		s.wg.Add(1)
		go s.signWorker()
	}
	s.wg.Add(3)
	go s.orderer()
	go s.signer()
	go s.writer()
	return s, nil
}

// Address is the primary's address.
func (s *Sequencer) Address() common.Address { return s.address }

// Config returns the configuration in force (defaults filled in).
func (s *Sequencer) Config() Config { return s.cfg }

// Store is the store the sequencer writes.
func (s *Sequencer) Store() Store { return s.store }

// Future is the answer to one enqueued op. It resolves only when the op's
// entry is durable (or the op failed), as Tessera's IndexFuture does. One
// goroutine waits on a Future.
type Future struct {
	done <-chan outcome
	o    *outcome
}

// resolved returns a Future that is already answered.
func resolved(res Result, err error) *Future {
	return &Future{o: &outcome{res: res, err: err}}
}

// NewFuture returns a Future and the function that resolves it (once),
// for a backend that answers ops by other means than a Sequencer: a
// cluster voter that proposes them to Raft or forwards them to its leader.
func NewFuture() (*Future, func(Result, error)) {
	done := make(chan outcome, 1)
	return &Future{done: done}, func(res Result, err error) { done <- outcome{res: res, err: err} }
}

// Refused returns a Future that answers err: a backend that takes no
// writes (a replica, a primary before its peer check) answers with it.
func Refused(err error) *Future { return resolved(Result{}, err) }

// Wait blocks until the op's entry is durable, or the op failed, or ctx
// ends (the op may still be written then).
func (f *Future) Wait(ctx context.Context) (Result, error) {
	if f.o == nil {
		select {
		case o := <-f.done:
			f.o = &o
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	return f.o.res, f.o.err
}

// Enqueue gives op its place in the queue and returns at once; the Future
// resolves when its entry is durable. Ops enqueued one after another by one
// goroutine are sequenced in that order. op must be validated and
// authorized already. When the queue is full the Future answers
// ErrOverloaded, unless the op would fail anyway with an error that SPEC §4
// ranks first (judged on the durable state).
func (s *Sequencer) Enqueue(op Op) *Future {
	if err := s.Halted(); err != nil {
		return resolved(Result{}, err)
	}
	p := &pending{op: op, done: make(chan outcome, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return resolved(Result{}, ErrClosed)
	}
	size := int64(len(op.Data))
	full := !s.queued.Reserve(size)
	if !full {
		select {
		case s.queue <- p:
		default:
			full = true
			s.queued.Release(size)
		}
	}
	s.closeMu.RUnlock()
	if full {
		if err := precheck(s.store, &op, s.cfg.MaxInFlight); err != nil {
			return resolved(Result{}, err)
		}
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.Overloaded.Inc()
		}
		return resolved(Result{}, ErrOverloaded)
	}
	return &Future{done: p.done}
}

// Submit sequences op and waits until its entry is durable: Enqueue, then
// Wait.
func (s *Sequencer) Submit(ctx context.Context, op Op) (Result, error) {
	return s.Enqueue(op).Wait(ctx)
}

// Close stops taking requests, finishes every queued request and group,
// and waits for the pipeline to stop. It does not close the store.
func (s *Sequencer) Close() {
	s.closeMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.closeMu.Unlock()
	s.wg.Wait()
}

// orderer owns the State: it takes queued requests, decides each, and
// builds the chained, unsigned entries of the current group. The group is
// handed on only when the signer asks for one, so while the writer syncs
// (about a millisecond or more per fsync) the group keeps growing: the
// slower the disk, the larger the group commit, and no request waits for
// more than the group ahead of it.
func (s *Sequencer) orderer() {
	defer s.wg.Done()
	defer close(s.ordererDone)
	defer close(s.toSign)
	queue := s.queue
	g := &group{}
	for {
		// Take what is queued already, so that a ready signer never gets
		// a smaller group than it could.
	drain:
		for queue != nil && !g.Full(s.cfg.MaxBatch) {
			select {
			case p, ok := <-queue:
				if !ok {
					queue = nil
					break drain
				}
				s.order(g, p)
			default:
				break drain
			}
		}
		var ready <-chan struct{}
		if len(g.waiters) > 0 {
			ready = s.signerReady
		}
		in := queue
		if g.Full(s.cfg.MaxBatch) {
			in = nil // full: wait for the signer
		}
		if in == nil && ready == nil {
			if queue == nil {
				return // closed and drained
			}
			in = queue
		}
		select {
		case p, ok := <-in:
			if !ok {
				queue = nil
				continue
			}
			s.order(g, p)
		case <-ready:
			s.machine.Seal(&g.Group, uint64(s.cfg.Now().Unix()))
			s.toSign <- g
			g = &group{}
		}
	}
}

func (s *Sequencer) order(g *group, p *pending) {
	s.queued.Release(int64(len(p.op.Data)))
	if err := s.Halted(); err != nil {
		p.done <- outcome{err: err}
		return
	}
	a, err := s.machine.Order(&g.Group, &p.op, uint64(s.cfg.Now().UnixMilli()))
	if err != nil {
		// Decide and Apply disagree: the state cannot go on.
		s.Halt(err)
	}
	if a.Err != nil {
		p.done <- outcome{err: a.Err}
		return
	}
	g.waiters = append(g.waiters, waiter{p: p, a: a})
}

// signer signs each group's entries in parallel, keeping group order.
func (s *Sequencer) signer() {
	defer s.wg.Done()
	defer close(s.toWrite)
	defer close(s.signJob)
	for {
		// Ask the orderer for a group; it closes toSign when it stops.
		select {
		case s.signerReady <- struct{}{}:
		case <-s.ordererDone:
			return
		}
		g, ok := <-s.toSign
		if !ok {
			return
		}
		if n := len(g.Entries); n > 0 && s.Halted() == nil {
			var wg sync.WaitGroup
			var firstErr atomic.Pointer[error]
			chunk := (n + s.cfg.Signers - 1) / s.cfg.Signers
			for i := 0; i < n; i += chunk {
				wg.Add(1)
				s.signJob <- signJob{entries: g.Entries[i:min(i+chunk, n)], key: s.cfg.Key, wg: &wg, err: &firstErr}
			}
			wg.Wait()
			if p := firstErr.Load(); p != nil {
				s.Halt(*p)
			}
		}
		s.toWrite <- g
	}
}

func (s *Sequencer) signWorker() {
	defer s.wg.Done()
	for j := range s.signJob {
		for _, e := range j.entries {
			sig, err := Sign(e.Hash, j.key)
			if err != nil {
				j.err.CompareAndSwap(nil, &err)
				break
			}
			e.Signature = sig
		}
		j.wg.Done()
	}
}

// writer commits each group in one synced batch, then answers its callers.
func (s *Sequencer) writer() {
	defer s.wg.Done()
	for g := range s.toWrite {
		if err := s.Halted(); err != nil {
			s.fail(g, ErrHalted)
			continue
		}
		start := time.Now()
		if err := s.store.Commit(g.Entries, g.Dirty); err != nil {
			s.Halt(fmt.Errorf("%w: %v", ErrHalted, err))
			s.fail(g, ErrHalted)
			continue
		}
		if m := s.cfg.Metrics; m != nil {
			m.observeCommit(g.Entries, time.Since(start))
		}
		if len(g.Entries) > 0 {
			s.Wake()
		}
		for _, w := range g.waiters {
			if w.a.Idx >= 0 {
				w.p.done <- outcome{res: Result{Entry: g.Entries[w.a.Idx]}}
				continue
			}
			e, err := s.existing(g, w.a.ExistingSeq)
			w.p.done <- outcome{res: Result{Entry: e, Existing: true}, err: err}
		}
		if s.cfg.OnCommit != nil && len(g.Entries) > 0 {
			s.cfg.OnCommit(g.Entries)
		}
	}
}

func (s *Sequencer) existing(g *group, seq uint64) (*Entry, error) {
	if len(g.Entries) > 0 && seq >= g.Entries[0].Seq {
		return g.Entries[seq-g.Entries[0].Seq], nil
	}
	return s.store.Entry(seq)
}

func (s *Sequencer) fail(g *group, err error) {
	for _, w := range g.waiters {
		w.p.done <- outcome{err: err}
	}
}
