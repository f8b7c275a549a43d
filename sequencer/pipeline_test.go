package sequencer

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

func testDomain() Domain { return Domain{ChainID: big.NewInt(1)} }

func newTestSequencer(t testing.TB, store Store, mod func(*Config)) *Sequencer {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Key: key, Domain: testDomain()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func openTestStore(t testing.TB) (*LevelStore, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

// Many concurrent callers: every receipt is durable, seqs are unique and
// contiguous, nonces per lineage unique, and the stored log verifies.
func TestPipelineConcurrent(t *testing.T) {
	store, _ := openTestStore(t)
	s := newTestSequencer(t, store, func(c *Config) { c.MaxInFlight = 10000 })
	const workers, per = 16, 60
	var mu sync.Mutex
	seen := map[uint64]*Entry{}
	nonces := map[string]map[uint64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				op := Op{Kind: KindTx, Data: []byte(fmt.Sprintf("w%d-%d", w, i))}
				op.DataHash = crypto.Keccak256Hash(op.Data)
				if i%3 != 0 {
					op.Lineage = fmt.Sprintf("lin-%d", (w+i)%4)
					op.ExternalID = fmt.Sprintf("w%d-%d", w, i)
				}
				r, err := s.Submit(context.Background(), op)
				if err != nil {
					errs <- err
					return
				}
				// SPEC §4: a receipt means the entry is on disk.
				if got, err := store.Entry(r.Entry.Seq); err != nil || got.Hash != r.Entry.Hash {
					errs <- fmt.Errorf("receipt %d not durable: %v", r.Entry.Seq, err)
					return
				}
				mu.Lock()
				if _, dup := seen[r.Entry.Seq]; dup {
					mu.Unlock()
					errs <- fmt.Errorf("seq %d answered twice", r.Entry.Seq)
					return
				}
				seen[r.Entry.Seq] = r.Entry
				if op.Lineage != "" {
					if nonces[op.Lineage] == nil {
						nonces[op.Lineage] = map[uint64]bool{}
					}
					if nonces[op.Lineage][r.Entry.Nonce] {
						mu.Unlock()
						errs <- fmt.Errorf("nonce %d of %s leased twice", r.Entry.Nonce, op.Lineage)
						return
					}
					nonces[op.Lineage][r.Entry.Nonce] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != workers*per || store.Head().Seq != workers*per {
		t.Fatalf("%d receipts, head %d, want %d", len(seen), store.Head().Seq, workers*per)
	}
	s.Close()
	if _, err := Verify(store); err != nil {
		t.Fatal(err)
	}
}

// A restart continues the log: same state, seq continues, timestamps never
// decrease even when the clock goes back (SPEC §2, §5).
func TestPipelineRestart(t *testing.T) {
	dir := t.TempDir()
	key, _ := crypto.GenerateKey()
	clock := time.UnixMilli(2_000_000_000_000)
	open := func(now time.Time) (*LevelStore, *Sequencer) {
		st, err := OpenLevelStore(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(st, Config{Key: key, Domain: testDomain(), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return st, s
	}
	st, s := open(clock)
	op := Op{Kind: KindTx, Lineage: "l", ExternalID: "a", Data: []byte{1}, DataHash: crypto.Keccak256Hash([]byte{1})}
	r1, err := s.Submit(context.Background(), op)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	st.Close()

	st, s = open(clock.Add(-time.Hour)) // clock went back
	defer st.Close()
	defer s.Close()
	r, err := s.Submit(context.Background(), op)
	if err != nil || !r.Existing || r.Entry.Hash != r1.Entry.Hash {
		t.Fatalf("retry after restart: %+v, %v", r, err)
	}
	op2 := Op{Kind: KindTx, Lineage: "l", ExternalID: "b", Data: nil, DataHash: crypto.Keccak256Hash(nil)}
	r2, err := s.Submit(context.Background(), op2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Entry.Seq != 2 || r2.Entry.PrevHash != r1.Entry.Hash || r2.Entry.Nonce != 1 {
		t.Fatalf("after restart: seq %d nonce %d", r2.Entry.Seq, r2.Entry.Nonce)
	}
	if r2.Entry.Timestamp < r1.Entry.Timestamp {
		t.Fatalf("timestamp went back: %d < %d", r2.Entry.Timestamp, r1.Entry.Timestamp)
	}
}

// A datadir holds one log: another key or another domain is refused.
func TestPipelineRefusesOtherLog(t *testing.T) {
	store, _ := openTestStore(t)
	s := newTestSequencer(t, store, nil)
	s.Close()
	other, _ := crypto.GenerateKey()
	if _, err := New(store, Config{Key: other, Domain: testDomain()}); err == nil {
		t.Fatal("a second key was accepted on the same datadir")
	}
	if _, err := New(store, Config{Key: s.cfg.Key, Domain: Domain{ChainID: big.NewInt(5)}}); err == nil {
		t.Fatal("another chain id was accepted on the same datadir")
	}
}

// failingStore fails every Commit after the first `ok` ones, as a full or
// broken disk would.
type failingStore struct {
	*LevelStore
	ok atomic.Int32
}

func (f *failingStore) Commit(es []*Entry, d Dirty) error {
	if f.ok.Add(-1) < 0 {
		return errors.New("disk full")
	}
	return f.LevelStore.Commit(es, d)
}

// A failed write halts writes (ErrHalted), keeps what was durable, and
// keeps reads working (SPEC §5).
func TestPipelineHaltsOnWriteFailure(t *testing.T) {
	ls, _ := openTestStore(t)
	fs := &failingStore{LevelStore: ls}
	fs.ok.Store(1)
	s := newTestSequencer(t, fs, nil)
	op := func(id string) Op {
		return Op{Kind: KindTx, ExternalID: id, Data: []byte(id), DataHash: crypto.Keccak256Hash([]byte(id))}
	}
	if _, err := s.Submit(context.Background(), op("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(context.Background(), op("b")); !errors.Is(err, ErrHalted) {
		t.Fatalf("write after disk failure: %v, want ErrHalted", err)
	}
	if s.Halted() == nil {
		t.Fatal("not halted")
	}
	if _, err := s.Submit(context.Background(), op("c")); !errors.Is(err, ErrHalted) {
		t.Fatalf("later write: %v, want ErrHalted", err)
	}
	if e, err := ls.Entry(1); err != nil || e.ExternalID != "a" {
		t.Fatalf("read after halt: %v", err)
	}
	if ls.Head().Seq != 1 {
		t.Fatalf("head %d after halt", ls.Head().Seq)
	}
}

// blockingStore holds every Commit until released, to fill the queue.
type blockingStore struct {
	*LevelStore
	gate chan struct{}
}

func (b *blockingStore) Commit(es []*Entry, d Dirty) error {
	<-b.gate
	return b.LevelStore.Commit(es, d)
}

// A full queue answers Overloaded at once, never an unbounded wait; a
// request that would fail anyway gets its own error first (SPEC §4 order).
func TestPipelineOverloaded(t *testing.T) {
	ls, _ := openTestStore(t)
	bs := &blockingStore{LevelStore: ls, gate: make(chan struct{})}
	s := newTestSequencer(t, bs, func(c *Config) { c.QueueSize = 4; c.MaxBatch = 1 })
	var open sync.Once
	release := func() { open.Do(func() { close(bs.gate) }) }
	t.Cleanup(release) // runs before the sequencer's Close: a failure must not hang it
	var wg sync.WaitGroup
	results := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint(i)
			_, err := s.Submit(context.Background(), Op{Kind: KindTx, ExternalID: id, Data: []byte(id), DataHash: crypto.Keccak256Hash([]byte(id))})
			results <- err
		}()
	}
	deadline := time.After(10 * time.Second)
	overloaded := 0
	for overloaded == 0 {
		select {
		case err := <-results:
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("while blocked: %v", err)
			}
			overloaded++
		case <-deadline:
			t.Fatal("no Overloaded while the pipeline was blocked")
		}
	}
	// Unknown ticket while full: NotFound ranks before Overloaded. The
	// orderer may still take one more request after the first Overloaded,
	// freeing a slot: a close that got queued then fills it (its caller
	// stops waiting), and the next one meets the full queue.
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := s.Submit(ctx, Op{Kind: KindClose, Lineage: "x", ExternalID: "y"})
		cancel()
		if errors.Is(err, ErrNotFound) {
			break
		}
		if !errors.Is(err, context.DeadlineExceeded) || try == 20 {
			t.Fatalf("close of unknown ticket while full: %v", err)
		}
	}
	release()
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrOverloaded):
			overloaded++
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok+overloaded != 64 || uint64(ok) != ls.Head().Seq {
		t.Fatalf("ok %d overloaded %d head %d", ok, overloaded, ls.Head().Seq)
	}
}

// Close finishes queued requests before it returns, and later writes are
// refused.
func TestPipelineCloseDrains(t *testing.T) {
	store, _ := openTestStore(t)
	s := newTestSequencer(t, store, nil)
	var wg sync.WaitGroup
	var done atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint(i)
			if _, err := s.Submit(context.Background(), Op{Kind: KindTx, ExternalID: id, Data: []byte(id), DataHash: crypto.Keccak256Hash([]byte(id))}); err == nil {
				done.Add(1)
			} else if !errors.Is(err, ErrClosed) {
				t.Error(err)
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	s.Close()
	wg.Wait()
	if uint64(done.Load()) != store.Head().Seq {
		t.Fatalf("%d answered, %d durable", done.Load(), store.Head().Seq)
	}
	if _, err := s.Submit(context.Background(), Op{Kind: KindSync, Lineage: "l"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// The queue is bounded in bytes too: a flood of large appends is refused
// with Overloaded once QueueBytes of data wait, and the count returns to
// zero when the queue drains.
func TestPipelineQueueBytes(t *testing.T) {
	ls, _ := openTestStore(t)
	bs := &blockingStore{LevelStore: ls, gate: make(chan struct{})}
	s := newTestSequencer(t, bs, func(c *Config) { c.QueueBytes = 40 << 10; c.MaxBatch = 1 })
	var open sync.Once
	release := func() { open.Do(func() { close(bs.gate) }) }
	t.Cleanup(release) // runs before the sequencer's Close: a failure must not hang it
	data := make([]byte, 4<<10)
	var wg sync.WaitGroup
	results := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Submit(context.Background(), Op{Kind: KindTx, ExternalID: fmt.Sprint(i), Data: data, DataHash: crypto.Keccak256Hash(data)})
			results <- err
		}()
	}
	deadline := time.After(10 * time.Second)
	for overloaded := 0; overloaded == 0; {
		select {
		case err := <-results:
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("while blocked: %v", err)
			}
			overloaded++
		case <-deadline:
			t.Fatal("no Overloaded with 400 KiB offered to a 40 KiB queue")
		}
	}
	if q := s.queued.Used(); q > 40<<10 {
		t.Fatalf("%d bytes queued, limit %d", q, 40<<10)
	}
	release()
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrOverloaded) {
			t.Fatal(err)
		}
	}
	if q := s.queued.Used(); q != 0 || uint64(ok) != ls.Head().Seq {
		t.Fatalf("after draining: %d bytes counted as queued, %d ok, head %d", q, ok, ls.Head().Seq)
	}
}

// Enqueue fixes an op's place in the log and returns at once; its Future
// resolves only once the entry is durable. Ops enqueued one after another
// are sequenced in that order (the RPC layer relies on it for batches).
func TestEnqueueFuture(t *testing.T) {
	ls, _ := openTestStore(t)
	bs := &blockingStore{LevelStore: ls, gate: make(chan struct{})}
	s := newTestSequencer(t, bs, nil)
	var open sync.Once
	release := func() { open.Do(func() { close(bs.gate) }) }
	t.Cleanup(release)
	var futs []*Future
	for i := range 20 {
		id := fmt.Sprint("f", i)
		futs = append(futs, s.Enqueue(Op{Kind: KindTx, ExternalID: id, Data: []byte(id), DataHash: crypto.Keccak256Hash([]byte(id))}))
	}
	// The store holds the first commit: nothing is durable, nothing answered.
	for i, f := range futs {
		select {
		case o := <-f.done:
			t.Fatalf("future %d resolved before its entry is durable: %+v", i, o)
		default:
		}
	}
	if h := ls.Head().Seq; h != 0 {
		t.Fatalf("head %d while the store is blocked", h)
	}
	release()
	for i, f := range futs {
		r, err := f.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Entry.Seq != uint64(i+1) || r.Entry.ExternalID != fmt.Sprint("f", i) {
			t.Fatalf("future %d: seq %d externalId %q, want enqueue order", i, r.Entry.Seq, r.Entry.ExternalID)
		}
		if r.Entry.Seq > ls.Head().Seq {
			t.Fatalf("future %d resolved at seq %d, durable head %d", i, r.Entry.Seq, ls.Head().Seq)
		}
		if again, err := f.Wait(context.Background()); err != nil || again.Entry != r.Entry {
			t.Fatalf("second Wait: %v %v", again, err)
		}
	}
	s.Close()
	if r, err := s.Enqueue(Op{Kind: KindSync, Lineage: "l"}).Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %+v %v", r, err)
	}
}
