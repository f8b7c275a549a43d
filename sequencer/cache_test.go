package sequencer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// Tests of the State as a cache over the store (final tickets and plain txs
// evicted once durable, read back on demand): it must decide exactly as a
// State that holds everything.

// TestCachedStateDecidesAsFull drives random op streams through two states:
// one holding every record, one backed by a LevelDB store with room for 4
// final records, whose group commits lag behind the orderer (Trim runs after
// every op with the durable head, so records of uncommitted groups must stay)
// and which is now and then reloaded lazily as after a restart. Every
// decision must be the same; at the end every ticket and plain tx reads the
// same, and the memory held stays near the limit.
func TestCachedStateDecidesAsFull(t *testing.T) {
	seeds, ops := 8, 3000
	if testing.Short() {
		seeds, ops = 3, 1000
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { cacheRunStream(t, seed, ops) })
	}
}

func cacheRunStream(t *testing.T, seed uint64, ops int) {
	const limit = 4
	r := rand.New(rand.NewPCG(seed, 0xcac4e))
	maxInFlight := 1 + r.IntN(4)
	full := stNewDriver(t, maxInFlight)
	cached := stNewDriver(t, maxInFlight)
	store, err := OpenMemStore()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.CacheRecords = limit
	cached.bound(store, limit, false)
	m := stNewModel(maxInFlight) // only to draw plausible ops
	g := &stGen{r: r, lineages: []string{"A", "B", "C", "D"}, gen: map[string]int{}, data: []string{"", "d1", "d2"}}

	committed, reloads, lookups := 0, 0, 0
	commit := func() {
		if err := store.Commit(cached.log[committed:], cached.s.TakeDirty()); err != nil {
			t.Fatal(err)
		}
		committed = len(cached.log)
	}
	for step := range ops {
		op := g.op(m)
		a, b := full.do(op), cached.do(op)
		if err := sameDecision(a, b); err != nil {
			t.Fatalf("seed %d step %d %s %q/%q: %v", seed, step, op.Kind, op.Lineage, op.ExternalID, err)
		}
		if a.New != nil {
			m.apply(a.New)
		}
		if cached.cache.partial {
			lookups++
		}
		if r.IntN(6) == 0 {
			commit()
		}
		cached.cache.Trim(store.Head().Seq)
		if r.IntN(400) == 0 {
			commit()
			c, err := store.LoadCache()
			if err != nil {
				t.Fatal(err)
			}
			cached.reset(c.State(), c)
			reloads++
		}
	}
	commit()
	cached.cache.Trim(store.Head().Seq)
	leased := 0
	for k, tk := range full.s.tickets {
		if tk.State == TicketLeased {
			leased++
		}
		got, ok := cached.cache.Ticket(k.lineage, k.externalID)
		if !ok || !got.Equal(tk) {
			t.Fatalf("ticket %s/%s: cached state has %+v (%v), full %+v", k.lineage, k.externalID, got, ok, *tk)
		}
	}
	for id, p := range full.s.plain {
		if got, ok := cached.cache.Plain(id); !ok || got != p {
			t.Fatalf("plain %q: cached %+v (%v), full %+v", id, got, ok, p)
		}
	}
	for name := range full.s.lineages {
		a, _ := full.s.Lineage(name)
		b, _ := cached.s.Lineage(name)
		if !lineageEqual(&a, &b) {
			t.Fatalf("lineage %q: cached %+v, full %+v", name, b, a)
		}
	}
	// Everything is durable now: a Trim brings memory down to the limit
	// plus the leased tickets, which never leave.
	cached.cache.Trim(store.Head().Seq)
	if got, total := cached.cache.Cached(), len(full.s.tickets)+len(full.s.plain); got > limit+leased || total < 4*limit {
		t.Fatalf("cached state holds %d records (limit %d + %d leased), the log has %d", got, limit, leased, total)
	}
	stored, err := store.LoadFullState()
	if err != nil {
		t.Fatal(err)
	}
	if err := full.s.Diff(stored); err != nil {
		t.Fatalf("records stored through the cached state differ from the full state: %v", err)
	}
	if reloads == 0 || lookups == 0 {
		t.Fatalf("stream never reloaded (%d) or never read the store (%d)", reloads, lookups)
	}
}

// sameDecision compares two decisions on the same op.
func sameDecision(a, b Decision) error {
	switch {
	case (a.New == nil) != (b.New == nil):
		return fmt.Errorf("full: new %v, cached: new %v (existing %d/%d, err %v/%v)", a.New != nil, b.New != nil, a.ExistingSeq, b.ExistingSeq, a.Err, b.Err)
	case a.New != nil:
		x, y := *a.New, *b.New
		if x.Kind != y.Kind || x.Lineage != y.Lineage || x.ExternalID != y.ExternalID || x.Nonce != y.Nonce || x.DataHash != y.DataHash || x.Seq != y.Seq {
			return fmt.Errorf("full: entry %+v, cached: %+v", x, y)
		}
	case a.ExistingSeq != b.ExistingSeq:
		return fmt.Errorf("full: existing %d, cached: existing %d", a.ExistingSeq, b.ExistingSeq)
	case (a.Err == nil) != (b.Err == nil) || (a.Err != nil && a.Err.Error() != b.Err.Error()):
		return fmt.Errorf("full: err %v, cached: err %v", a.Err, b.Err)
	}
	var ta, tb *TicketError
	if errors.As(a.Err, &ta) != errors.As(b.Err, &tb) || (ta != nil && !ta.Ticket.Equal(&tb.Ticket)) {
		return fmt.Errorf("ticket errors differ: %+v vs %+v", ta, tb)
	}
	return nil
}

// failingBacking is a store that cannot be read.
type failingBacking struct{}

func (failingBacking) Ticket(string, string) (*Ticket, error) { return nil, errors.New("I/O error") }
func (failingBacking) Plain(string) (*PlainTx, error)         { return nil, errors.New("I/O error") }

// TestCachedStateStorageError: when the backing cannot be read, loading
// an op answers ErrStorage (not a verdict on the request) and loading an
// entry to apply refuses with ErrStorage, leaving the state unchanged.
func TestCachedStateStorageError(t *testing.T) {
	d := stNewDriver(t, 64)
	d.mustNew(stTx("L", "a", "d"))
	ref := stReplay(t, d.log)
	d.bound(failingBacking{}, 1, true)
	for _, op := range []Op{stTx("L", "b", "d"), stClose("L", "zz"), stTx("", "p", "d")} {
		if dec := d.do(op); !errors.Is(dec.Err, ErrStorage) {
			t.Fatalf("%s %q: decision %+v, want ErrStorage", op.Kind, op.ExternalID, dec)
		}
	}
	if len(d.log) != 1 {
		t.Fatal("an op whose records could not be read wrote an entry")
	}
	// The leased ticket is in memory: its close needs no read.
	op := Op{Kind: KindClose, Lineage: "L", ExternalID: "a", Sender: stSender}
	if err := d.cache.LoadOp(&op); err != nil {
		t.Fatalf("load of a leased ticket read the store: %v", err)
	}
	if dec := d.s.Decide(&op, 64); dec.New == nil {
		t.Fatalf("close of a leased ticket: %+v", dec)
	}
	e := &Entry{Seq: 2, Kind: KindTx, Lineage: "L", ExternalID: "b", Nonce: 1, DataHash: stData("d"), Hash: stHash(2)}
	if err := d.cache.LoadEntry(e); !errors.Is(err, ErrStorage) {
		t.Fatalf("load of an entry's records with an unreadable store: %v, want ErrStorage", err)
	}
	if err := d.s.Diff(ref); err != nil {
		t.Fatalf("refused load changed the state: %v", err)
	}
}

// TestPipelineCachedRetries: a primary whose state keeps 16 final records
// in memory answers every retry of hundreds of earlier writes as SPEC §3
// says (the same entry, TicketFinal, or ExternalIdConflict for other data),
// from concurrent callers while its groups are in flight, and again after a
// restart; the log verifies and memory stays near the limit.
func TestPipelineCachedRetries(t *testing.T) {
	dir := t.TempDir()
	key, _ := crypto.GenerateKey()
	open := func() (*LevelStore, *Sequencer) {
		st, err := OpenLevelStore(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		st.CacheRecords = 16
		s, err := New(st, Config{Key: key, Domain: testDomain(), MaxInFlight: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return st, s
	}
	st, s := open()
	ctx := context.Background()
	const n = 240
	tx := func(i int, data string) Op {
		if i%2 == 0 {
			return Op{Kind: KindTx, ExternalID: fmt.Sprint("p", i), Data: []byte(data), DataHash: crypto.Keccak256Hash([]byte(data))}
		}
		return Op{Kind: KindTx, Lineage: fmt.Sprint("L", i%6), ExternalID: fmt.Sprint("x", i), Data: []byte(data), DataHash: crypto.Keccak256Hash([]byte(data))}
	}
	final := func(i int) Op { // close, fail, or leave leased
		k := []Kind{KindClose, KindFail, 0}[(i/2)%3]
		return Op{Kind: k, Lineage: fmt.Sprint("L", i%6), ExternalID: fmt.Sprint("x", i)}
	}
	first := make([]*Entry, n)
	ended := make([]*Entry, n)
	parallel := func(f func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					if err := f(i); err != nil {
						errs <- fmt.Errorf("call %d: %w", i, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	parallel(func(i int) error {
		r, err := s.Submit(ctx, tx(i, fmt.Sprint("d", i)))
		if err != nil || r.Existing {
			return fmt.Errorf("%+v %v", r, err)
		}
		first[i] = r.Entry
		if op := final(i); i%2 == 1 && op.Kind != 0 {
			// Sent twice at once, as an at-least-once executor may: one
			// entry, the other call answered with it.
			var rs [2]Result
			var errs [2]error
			var wg sync.WaitGroup
			for j := range rs {
				wg.Go(func() { rs[j], errs[j] = s.Submit(ctx, op) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil || rs[0].Existing == rs[1].Existing || rs[0].Entry.Hash != rs[1].Entry.Hash {
				return fmt.Errorf("%s twice: %+v %v / %+v %v", op.Kind, rs[0], errs[0], rs[1], errs[1])
			}
			ended[i] = rs[0].Entry
		}
		return nil
	})
	retries := func() {
		parallel(func(i int) error {
			r, err := s.Submit(ctx, tx(i, fmt.Sprint("d", i)))
			switch {
			case ended[i] != nil: // a final ticket: TicketFinal
				if !errors.Is(err, ErrTicketFinal) {
					return fmt.Errorf("retry of a final ticket: %+v %v", r, err)
				}
			case err != nil || !r.Existing || r.Entry.Hash != first[i].Hash:
				return fmt.Errorf("retry: %+v %v, want seq %d", r, err, first[i].Seq)
			}
			if _, err := s.Submit(ctx, tx(i, "other")); !errors.Is(err, ErrExternalIDConfl) {
				return fmt.Errorf("other data: %v, want ExternalIdConflict", err)
			}
			if ended[i] != nil {
				r, err := s.Submit(ctx, final(i))
				if err != nil || !r.Existing || r.Entry.Hash != ended[i].Hash {
					return fmt.Errorf("repeated %s: %+v %v, want seq %d", final(i).Kind, r, err, ended[i].Seq)
				}
			}
			return nil
		})
	}
	retries()
	head := st.Head().Seq
	s.Close()
	if c := s.machine.cache.Cached(); c > 16+n/2 {
		t.Fatalf("state holds %d records, limit 16 plus at most %d leased", c, n/2)
	}
	st.Close()

	st, s = open()
	retries()
	s.Close()
	if st.Head().Seq != head {
		t.Fatalf("retries wrote entries: head %d, was %d", st.Head().Seq, head)
	}
	if _, err := Verify(st); err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestMirrorCachedState: a replica whose state keeps 16 final records
// mirrors a log full of final tickets and plain txs into the same derived
// records as the primary, also across a restart, and still refuses an
// entry the rules forbid when the record that forbids it was evicted (a
// second tx under a plain externalId sequenced 200 entries earlier).
func TestMirrorCachedState(t *testing.T) {
	pstore, _ := openTestStore(t)
	pstore.CacheRecords = 16
	key, _ := crypto.GenerateKey()
	s := newTestSequencer(t, pstore, func(c *Config) { c.Key = key })
	written := fillLog(t, s, 400)
	s.Close()

	dir := t.TempDir()
	openMirror := func() (*LevelStore, *Mirror) {
		st, err := OpenLevelStore(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		st.CacheRecords = 16
		m, err := NewMirror(st, s.Address(), testDomain(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st, m
	}
	rstore, m := openMirror()
	for i := 0; i < 200; i += 25 {
		if _, err := m.Apply(written[i : i+25]); err != nil {
			t.Fatal(err)
		}
	}
	rstore.Close()
	rstore, m = openMirror()
	defer rstore.Close()
	for i := 200; i < len(written); i += 25 {
		if _, err := m.Apply(written[i:min(i+25, len(written))]); err != nil {
			t.Fatal(err)
		}
	}
	if m.cache.Cached() > 16+len(written)/5 {
		t.Fatalf("replica state holds %d records", m.cache.Cached())
	}
	a, err := pstore.LoadFullState()
	if err != nil {
		t.Fatal(err)
	}
	b, err := rstore.LoadFullState()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Diff(b); err != nil {
		t.Fatalf("replica's derived records differ from the primary's: %v", err)
	}

	// The primary signs a second tx under an early plain externalId.
	var early *Entry
	for _, e := range written[:50] {
		if e.Lineage == "" && e.ExternalID != "" {
			early = e
			break
		}
	}
	last := written[len(written)-1]
	bad := &Entry{Seq: last.Seq + 1, PrevHash: last.Hash, Timestamp: last.Timestamp, Kind: KindTx,
		Sender: early.Sender, ExternalID: early.ExternalID, Data: []byte("again"), DataHash: crypto.Keccak256Hash([]byte("again"))}
	bad.Hash = NewHasher(testDomain()).EntryHash(bad)
	sig, err := Sign(bad.Hash, key)
	if err != nil {
		t.Fatal(err)
	}
	bad.Signature = sig
	if _, err := m.Apply([]*Entry{bad}); err == nil || m.Halted() == nil {
		t.Fatalf("replica took a second tx under externalId %q: %v", early.ExternalID, err)
	}
	if rstore.Head().Seq != last.Seq {
		t.Fatal("the forbidden entry was stored")
	}
}

// TestCacheRefsBounded: a ticket released and leased again over and over
// under the cache limit (nothing is evicted) does not grow the list of
// eviction candidates without bound.
func TestCacheRefsBounded(t *testing.T) {
	d := stNewDriver(t, 64)
	d.bound(failingBacking{}, 1000, false)
	for i := range 20000 {
		d.mustNew(stTx("L", "a", fmt.Sprint(i)))
		d.mustNew(stRelease("L", "a"))
		d.cache.Trim(uint64(len(d.log)))
	}
	if n := len(d.cache.fifo) - d.cache.fifoHead; n > 2*d.cache.Cached()+1024 {
		t.Fatalf("%d eviction refs for %d records", n, d.cache.Cached())
	}
	if tk, _ := d.s.Ticket("L", "a"); tk.State != TicketReleased || tk.FinalSeq != uint64(len(d.log)) {
		t.Fatalf("ticket %+v", tk)
	}
}
