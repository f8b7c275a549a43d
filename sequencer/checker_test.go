package sequencer

import (
	"context"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// TestVerifyChecksAsReplica (SPEC §2, §5): the offline verifier rejects
// what a replica rejects. A close entry that carries data is validly signed
// (data is not part of the signed fields) and chains; a replica refuses it,
// and so must Verify, even when the derived records were written to match.
func TestVerifyChecksAsReplica(t *testing.T) {
	store, _ := openTestStore(t)
	key, _ := crypto.GenerateKey()
	s := newTestSequencer(t, store, func(c *Config) { c.Key = key })
	ctx := context.Background()
	lease, err := s.Submit(ctx, Op{Kind: KindTx, Lineage: "L", ExternalID: "a", Data: []byte("d"), DataHash: crypto.Keccak256Hash([]byte("d"))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	log, err := store.Range(1, 10)
	if err != nil || len(log) != 1 {
		t.Fatalf("log: %d entries, %v", len(log), err)
	}

	// The primary's close of the ticket, with data added after signing.
	e := &Entry{Seq: 2, PrevHash: lease.Entry.Hash, Kind: KindClose, Sender: lease.Entry.Sender, Lineage: "L",
		ExternalID: "a", Nonce: lease.Entry.Nonce, DataHash: lease.Entry.Hash, Timestamp: lease.Entry.Timestamp}
	e.Hash = NewHasher(testDomain()).EntryHash(e)
	if e.Signature, err = Sign(e.Hash, key); err != nil {
		t.Fatal(err)
	}
	e.Data = []byte("smuggled")

	// Stored with derived records that match a replay (a store that was
	// written by something other than this node's pipeline).
	st := NewState()
	for _, x := range append(log, e) {
		if err := st.Apply(x); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Commit([]*Entry{e}, st.TakeDirty()); err != nil {
		t.Fatal(err)
	}
	_, verr := Verify(store)
	f, ok := verr.(*Fault)
	if !ok || f.Seq != 2 || !strings.Contains(f.Reason, "carries data") {
		t.Fatalf("verify of a close entry carrying data: %v, want a fault at seq 2", verr)
	}

	// And a replica refuses the same entry, with the same checker.
	rstore, _ := openTestStore(t)
	m, err := NewMirror(rstore, s.Address(), testDomain(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(log); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply([]*Entry{e}); err == nil || !strings.Contains(err.Error(), "carries data") {
		t.Fatalf("replica apply of a close entry carrying data: %v", err)
	}
	if _, err := m.ApplyVerified([]*Entry{e}); err == nil || !strings.Contains(err.Error(), "carries data") {
		t.Fatalf("replica apply of a close entry carrying data (signature checked before): %v", err)
	}
	if rstore.Head().Seq != 1 {
		t.Fatal("the replica stored the entry")
	}
}
