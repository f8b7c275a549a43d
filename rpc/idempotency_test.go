package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// TestIdempotency walks every row of SPEC §3's idempotency table through
// the API. An existing receipt is byte for byte the original receipt but
// for "existing".
func TestIdempotency(t *testing.T) {
	n := newNode(t, nodeOptions{})
	const L = "eip155:1:0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B"
	sameAsOriginal := func(t *testing.T, orig, again wire.Entry) {
		t.Helper()
		if orig.Existing == nil || *orig.Existing {
			t.Fatalf("original receipt not existing:false: %s", orig.Raw)
		}
		want := bytes.Replace(orig.Raw, []byte(`"existing":false`), []byte(`"existing":true`), 1)
		if !bytes.Equal(again.Raw, want) {
			t.Fatalf("existing receipt\n %s\nwant\n %s", again.Raw, want)
		}
	}
	headIs := func(t *testing.T, seq uint64) {
		t.Helper()
		if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != seq {
			t.Fatalf("head %d, want %d", i.Head.Seq, seq)
		}
	}
	ticket := func(lineage, id string, nonce uint64, state string, lease, final uint64) string {
		s := fmt.Sprintf(`{"lineage":%q,"externalId":%q,"nonce":%d,"state":%q,"leaseSeq":%d`, lineage, id, nonce, state, lease)
		if final != 0 {
			s += fmt.Sprintf(`,"finalSeq":%d`, final)
		}
		return s + `,"attempts":[]}`
	}
	wantTicket := func(t *testing.T, lineage, id string, want string) {
		t.Helper()
		if _, raw := wire.GetTicket(t, n.url, lineage, id); !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("ticket %s, want %s", raw, want)
		}
	}

	// append | none -> new tx entry, ticket leased.
	a := wire.AppendTx(t, n.url, []byte("a"), L, "a") // seq 1, nonce 0
	if a.Seq != 1 || a.Kind != "tx" || a.Nonce != 0 || a.DataHash != crypto.Keccak256Hash([]byte("a")) {
		t.Fatalf("append: %s", a.Raw)
	}
	wantTicket(t, L, "a", ticket(L, "a", 0, "leased", 1, 0))

	t.Run("append, same data, leased: existing receipt", func(t *testing.T) {
		sameAsOriginal(t, a, wire.AppendTx(t, n.url, []byte("a"), L, "a"))
		headIs(t, 1)
	})
	t.Run("append, different data, leased: 4008", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x62", "lineage": L, "externalId": "a"}, 4008, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x", "lineage": L, "externalId": "a"}, 4008, "")
		headIs(t, 1)
	})

	b := wire.AppendTx(t, n.url, []byte("b"), L, "b") // seq 2, nonce 1
	c := wire.AppendTx(t, n.url, []byte("c"), L, "c") // seq 3, nonce 2
	if b.Nonce != 1 || c.Nonce != 2 {
		t.Fatalf("nonces %d, %d", b.Nonce, c.Nonce)
	}
	var relB wire.Entry
	t.Run("release rejected, leased: release entry", func(t *testing.T) {
		relB = wire.ReleaseTicket(t, n.url, L, "b", "rejected") // seq 4
		if relB.Kind != "release" || relB.Seq != 4 || relB.Nonce != 1 || relB.DataHash != b.Hash || relB.ExternalID != "b" || relB.Lineage != L {
			t.Fatalf("release: %s", relB.Raw)
		}
		wantTicket(t, L, "b", ticket(L, "b", 1, "released", 2, 4))
	})
	t.Run("release, same reason, released: existing receipt", func(t *testing.T) {
		sameAsOriginal(t, relB, wire.ReleaseTicket(t, n.url, L, "b", "rejected"))
		headIs(t, 4)
	})
	t.Run("release broadcast, released: 4004", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "b", "reason": "broadcast"}, 4004, ticket(L, "b", 1, "released", 2, 4))
	})
	t.Run("close, released: 4004", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "b"}, 4004, ticket(L, "b", 1, "released", 2, 4))
		headIs(t, 4)
	})
	t.Run("append, released: a new lease of the pooled nonce, with the new data", func(t *testing.T) {
		b2 := wire.AppendTx(t, n.url, []byte("b, again"), L, "b") // seq 5
		if b2.Seq != 5 || b2.Nonce != 1 || b2.Existing == nil || *b2.Existing || b2.DataHash != crypto.Keccak256Hash([]byte("b, again")) {
			t.Fatalf("re-lease: %s", b2.Raw)
		}
		wantTicket(t, L, "b", ticket(L, "b", 1, "leased", 5, 0))
		// And it is idempotent again, on the new data.
		again := wire.AppendTx(t, n.url, []byte("b, again"), L, "b")
		sameAsOriginal(t, b2, again)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": hexData([]byte("b")), "lineage": L, "externalId": "b"}, 4008, "")
	})
	var failC wire.Entry
	t.Run("release broadcast, leased: fail entry", func(t *testing.T) {
		failC = wire.ReleaseTicket(t, n.url, L, "c", "broadcast") // seq 6
		if failC.Kind != "fail" || failC.Seq != 6 || failC.Nonce != 2 || failC.DataHash != c.Hash {
			t.Fatalf("fail: %s", failC.Raw)
		}
		wantTicket(t, L, "c", ticket(L, "c", 2, "failed", 3, 6))
	})
	t.Run("release, same reason, failed: existing receipt", func(t *testing.T) {
		sameAsOriginal(t, failC, wire.ReleaseTicket(t, n.url, L, "c", "broadcast"))
	})
	t.Run("failed: append, close, release rejected: 4004", func(t *testing.T) {
		want := ticket(L, "c", 2, "failed", 3, 6)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": hexData([]byte("c")), "lineage": L, "externalId": "c"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "c"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "c", "reason": "rejected"}, 4004, want)
		headIs(t, 6)
	})
	var closeA wire.Entry
	t.Run("close, leased: close entry", func(t *testing.T) {
		closeA = wire.CloseTicket(t, n.url, L, "a") // seq 7
		if closeA.Kind != "close" || closeA.Seq != 7 || closeA.Nonce != 0 || closeA.DataHash != a.Hash || closeA.ExternalID != "a" {
			t.Fatalf("close: %s", closeA.Raw)
		}
		wantTicket(t, L, "a", ticket(L, "a", 0, "closed", 1, 7))
	})
	t.Run("close, closed: the close's receipt", func(t *testing.T) {
		sameAsOriginal(t, closeA, wire.CloseTicket(t, n.url, L, "a"))
		headIs(t, 7)
	})
	t.Run("closed or failed, other data: 4008 ranks before 4004", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x00", "lineage": L, "externalId": "a"}, 4008, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x00", "lineage": L, "externalId": "c"}, 4008, "")
		headIs(t, 7)
	})
	t.Run("closed: append, release either reason: 4004", func(t *testing.T) {
		want := ticket(L, "a", 0, "closed", 1, 7)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": hexData([]byte("a")), "lineage": L, "externalId": "a"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "rejected"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "broadcast"}, 4004, want)
		headIs(t, 7)
	})
	t.Run("close or release, no such ticket: 4003", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "zz"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "zz", "reason": "rejected"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "zz", "reason": "broadcast"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": "other", "externalId": "a"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_ticket", map[string]any{"lineage": L, "externalId": "zz"}, 4003, "")
		headIs(t, 7)
	})

	// Sync: the ticket b (nonce 1, leased at seq 5) is closed by a sync of 2;
	// a later close answers with the sync's receipt.
	var sync2 wire.Entry
	t.Run("sync closes the leased tickets below it", func(t *testing.T) {
		d := wire.AppendTx(t, n.url, []byte("d"), L, "d") // seq 8, nonce 3
		if d.Nonce != 3 {
			t.Fatalf("nonce %d, want 3", d.Nonce)
		}
		sync2 = wire.SyncLineage(t, n.url, L, 2) // seq 9
		if sync2.Kind != "sync" || sync2.Nonce != 2 || sync2.ExternalID != "" || sync2.DataHash != (common.Hash{}) || sync2.Lineage != L {
			t.Fatalf("sync: %s", sync2.Raw)
		}
		wantTicket(t, L, "b", ticket(L, "b", 1, "closed", 5, 9))
		wantTicket(t, L, "d", ticket(L, "d", 3, "leased", 8, 0)) // in flight at or above: untouched
	})
	t.Run("close, closed by a sync: the sync's receipt", func(t *testing.T) {
		again := wire.CloseTicket(t, n.url, L, "b")
		sameAsOriginal(t, sync2, again)
		headIs(t, 9)
	})
	t.Run("sync is not deduplicated", func(t *testing.T) {
		s := wire.SyncLineage(t, n.url, L, 2)
		if s.Seq != 10 || s.Existing == nil || *s.Existing {
			t.Fatalf("second sync: %s", s.Raw)
		}
	})
	t.Run("sync of an unknown lineage creates it", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_lineage", map[string]any{"lineage": "fresh"}, 4003, "")
		wire.SyncLineage(t, n.url, "fresh", 7)
		_, raw := wire.GetLineage(t, n.url, "fresh")
		want := `{"lineage":"fresh","nextNonce":7,"floor":7,"inFlight":[],"released":[],"closed":0,"failed":0}`
		if !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("lineage %s, want %s", raw, want)
		}
		if r := wire.AppendTx(t, n.url, []byte("x"), "fresh", "x"); r.Nonce != 7 {
			t.Fatalf("first lease after sync: nonce %d, want 7", r.Nonce)
		}
	})

	// Without a lineage, by externalId alone.
	t.Run("append without lineage, same externalId, same data: existing", func(t *testing.T) {
		p := wire.AppendTx(t, n.url, []byte("p"), "", "order-1")
		if p.Lineage != "" || p.Nonce != 0 || p.ExternalID != "order-1" {
			t.Fatalf("plain: %s", p.Raw)
		}
		sameAsOriginal(t, p, wire.AppendTx(t, n.url, []byte("p"), "", "order-1"))
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x70ff", "externalId": "order-1"}, 4008, "")
		// The same externalId on a lineage is another ticket.
		q := wire.AppendTx(t, n.url, []byte("p"), L, "order-1")
		if q.Seq != p.Seq+1 || q.Lineage != L {
			t.Fatalf("lineage ticket of the same id: %s", q.Raw)
		}
	})
	t.Run("append without externalId is never deduplicated", func(t *testing.T) {
		x := wire.AppendTx(t, n.url, []byte("same"), "", "")
		y := wire.AppendTx(t, n.url, []byte("same"), "", "")
		if y.Seq != x.Seq+1 || *y.Existing {
			t.Fatalf("two plain appends: %s, %s", x.Raw, y.Raw)
		}
	})
	n.seq.Close()
	verifyLog(t, n)
}

// TestConcurrentRetries sends the same append from many clients at once:
// exactly one entry, every caller gets the same receipt (SPEC §3).
func TestConcurrentRetries(t *testing.T) {
	n := newNode(t, nodeOptions{})
	const callers = 16
	out := make([]wire.Entry, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := map[string]any{"data": "0x0102", "lineage": testLineage, "externalId": "job"}
			r, err := wire.TryCall(n.url, wire.Request("sequencer_append", p))
			if err == nil && r.Error != nil {
				err = r.Error
			}
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			json.Unmarshal(r.Result, &out[i])
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	fresh := 0
	for _, r := range out {
		if r.Existing == nil || r.Seq != 1 || r.Nonce != 0 || r.Hash != out[0].Hash {
			t.Fatalf("receipt %+v", r)
		}
		if !*r.Existing {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d receipts with existing:false, want 1", fresh)
	}
	if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != 1 {
		t.Fatalf("head %d, want 1", i.Head.Seq)
	}
}
