package sequencer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestRequestsUsedOnceAcrossRestart (SPEC §4): an accepted signed request
// is remembered durably until its deadline, across a restart, then
// forgotten on disk too (the records stay bounded).
func TestRequestsUsedOnceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	key, _ := crypto.GenerateKey()
	var now atomic.Int64
	now.Store(1_800_000_000)
	cfg := Config{Key: key, Domain: testDomain(), Now: func() time.Time { return time.Unix(now.Load(), 0) }}
	open := func() (*LevelStore, *Sequencer) {
		st, err := OpenLevelStore(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return st, s
	}
	submit := func(s *Sequencer, data string, rid RequestID) Result {
		t.Helper()
		op := Op{Kind: KindTx, Data: []byte(data), DataHash: crypto.Keccak256Hash([]byte(data)), Request: rid}
		r, err := s.Submit(context.Background(), op)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	stored := func(st *LevelStore) map[common.Hash]uint64 {
		recs, err := st.Requests()
		if err != nil {
			t.Fatal(err)
		}
		out := map[common.Hash]uint64{}
		for _, r := range recs {
			out[r.Hash] = r.Seq
		}
		return out
	}
	h1, h2 := common.Hash{1}, common.Hash{2}
	st, s := open()
	r1 := submit(s, "pay", RequestID{Hash: h1, Deadline: uint64(now.Load()) + 10})
	r2 := submit(s, "pay more", RequestID{Hash: h2, Deadline: uint64(now.Load()) + 100})
	s.Close()
	st.Close()

	now.Add(5)
	st, s = open()
	if r := submit(s, "pay", RequestID{Hash: h1, Deadline: uint64(now.Load()) + 5}); !r.Existing || r.Entry.Hash != r1.Entry.Hash {
		t.Fatalf("a request accepted before the restart wrote again: %+v", r.Entry)
	}
	if got := stored(st); got[h1] != r1.Entry.Seq || got[h2] != r2.Entry.Seq {
		t.Fatalf("request records: %v", got)
	}
	// Past h1's deadline, the next group forgets it, on disk too.
	now.Add(50)
	submit(s, "other", RequestID{})
	submit(s, "other 2", RequestID{})
	if got := stored(st); len(got) != 1 || got[h2] != r2.Entry.Seq {
		t.Fatalf("after h1's deadline: %v, want only h2", got)
	}
	s.Close()
	st.Close()

	// Expired while the node was down: dropped with the first write.
	now.Add(500)
	st, s = open()
	defer st.Close()
	defer s.Close()
	submit(s, "later", RequestID{})
	if got := stored(st); len(got) != 0 {
		t.Fatalf("requests past their deadline kept across a restart: %v", got)
	}
}
