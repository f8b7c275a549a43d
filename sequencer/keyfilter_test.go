package sequencer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Every key added is reported as maybe there; of keys never added, few.
func TestKeyFilter(t *testing.T) {
	f := newKeyFilter(100_000)
	for i := range 100_000 {
		f.add(fmt.Appendf(nil, "key %d", i))
	}
	for i := range 100_000 {
		if !f.mayContain(fmt.Appendf(nil, "key %d", i)) {
			t.Fatalf("key %d added but reported absent", i)
		}
	}
	fp := 0
	for i := range 100_000 {
		if f.mayContain(fmt.Appendf(nil, "other %d", i)) {
			fp++
		}
	}
	// Sized for at least minFilterKeys at 10 bits each: far below 1%.
	if fp > 1000 {
		t.Fatalf("%d false positives in 100,000", fp)
	}
}

// waitFilter waits until the store's filter is built, and returns it.
func waitFilter(t *testing.T, s *LevelStore, not *keyFilter) *keyFilter {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if f := s.filterPtr.Load(); f != nil && f != not {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatal("the key filter was not built")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The filter never hides a stored key: not the keys stored before the
// store opened (the build's scan), not those written while the build
// scans (Commit adds them), not those written after a rebuild. A lookup
// of each finds it, and an append that names it again is answered with
// the stored entry, not leased again.
func TestStoreFilterComplete(t *testing.T) {
	prev := minFilterKeys.Load()
	minFilterKeys.Store(256) // small filters, so that writes force rebuilds
	t.Cleanup(func() { minFilterKeys.Store(prev) })
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	type written struct {
		lineage, id string
		seq         uint64
	}
	var all []written
	submit := func(s *Sequencer, n int, tag string) {
		t.Helper()
		for i := range n {
			op := Op{Kind: KindTx, ExternalID: fmt.Sprintf("%s-%d", tag, i), Data: []byte{byte(i)}}
			if i%3 != 0 { // two in three lease a nonce; the others are plain txs
				op.Lineage = fmt.Sprintf("L%d", i%7)
			}
			op.DataHash = crypto.Keccak256Hash(op.Data)
			r, err := s.Submit(ctx, op)
			if err != nil {
				t.Fatal(err)
			}
			if op.Lineage != "" {
				// Close it, so that the lineage does not fill up and the
				// ticket leaves the memory's leased set.
				if _, err := s.Submit(ctx, Op{Kind: KindClose, Lineage: op.Lineage, ExternalID: op.ExternalID}); err != nil {
					t.Fatal(err)
				}
			}
			all = append(all, written{op.Lineage, op.ExternalID, r.Entry.Seq})
		}
	}
	check := func(st *LevelStore, s *Sequencer) {
		t.Helper()
		for _, w := range all {
			var err error
			if w.lineage != "" {
				_, err = st.Ticket(w.lineage, w.id)
			} else {
				_, err = st.Plain(w.id)
			}
			if err != nil {
				t.Fatalf("%s/%s: %v", w.lineage, w.id, err)
			}
		}
		for _, w := range all {
			r, err := s.Submit(ctx, Op{Kind: KindTx, Lineage: w.lineage, ExternalID: w.id, Data: []byte{0xff}, DataHash: crypto.Keccak256Hash([]byte{0xff})})
			// The same externalId with other data: a conflict or a final
			// ticket, never a new entry.
			if err == nil && !r.Existing {
				t.Fatalf("%s/%s leased again at seq %d (first at %d)", w.lineage, w.id, r.Entry.Seq, w.seq)
			}
			if err != nil && !errors.Is(err, ErrExternalIDConfl) && !errors.Is(err, ErrTicketFinal) {
				t.Fatalf("%s/%s: %v", w.lineage, w.id, err)
			}
		}
	}

	// A log written, then closed.
	st, err := OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(st, Config{Key: key, Domain: testDomain()})
	if err != nil {
		t.Fatal(err)
	}
	submit(s, 300, "a")
	s.Close()
	st.Close()

	// Reopened: the build waits after its snapshot while more is written.
	gate := make(chan struct{})
	hook := func() { <-gate }
	filterScanHook.Store(&hook)
	t.Cleanup(func() { filterScanHook.Store(nil) })
	st, err = OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err = New(st, Config{Key: key, Domain: testDomain()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	submit(s, 100, "b")
	if st.filterPtr.Load() != nil {
		t.Fatal("a filter in use before its scan")
	}
	close(gate)
	first := waitFilter(t, st, nil)
	check(st, s)

	// More than twice its keys: a larger filter is built, and used.
	submit(s, int(2*first.capacity), "c")
	second := waitFilter(t, st, first)
	if second.capacity <= first.capacity {
		t.Fatalf("rebuilt for %d keys, was %d", second.capacity, first.capacity)
	}
	check(st, s)
	// And the filter does answer: a key never written is not read.
	if !st.absent(ticketKeyBytes("L1", "never")) && !st.absent(ticketKeyBytes("L2", "never")) {
		t.Fatal("the filter holds keys never written")
	}
}

// A Commit that fails before its write (here the tree cannot read a tile
// it needs) leaves the store usable: the next Commit returns too (it held
// the filter's lock across the failure once, and the next one hung).
func TestCommitAfterFailedCommit(t *testing.T) {
	entry := func(seq uint64) *Entry {
		return &Entry{Seq: seq, Hash: common.BytesToHash(fmt.Appendf(nil, "entry %d", seq)), Kind: KindTx}
	}
	dir := t.TempDir()
	st, err := OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 300; seq++ {
		if err := st.Commit([]*Entry{entry(seq)}, Dirty{}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	st, err = OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	it := st.db.NewIterator(util.BytesPrefix([]byte{pfxTile}), nil)
	for it.Next() {
		st.db.Delete(bytes.Clone(it.Key()), nil)
	}
	it.Release()
	if err := st.Commit([]*Entry{entry(301)}, Dirty{}); err == nil {
		t.Fatal("a commit without the tiles it reads succeeded")
	}
	done := make(chan error, 1)
	go func() { done <- st.Commit([]*Entry{entry(301)}, Dirty{}) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the Commit after a failed one did not return")
	}
}
