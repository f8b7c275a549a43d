package rpc

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// TestSignedRequestUsedOnce (SPEC §4): a captured signed release, replayed
// after the ticket was leased again, once released the new lease under its
// owner; now it is answered with the receipt it wrote and writes nothing.
// And 50 concurrent copies of one signed append without externalId (which
// ticket state cannot deduplicate) write one entry.
func TestSignedRequestUsedOnce(t *testing.T) {
	key, _ := crypto.GenerateKey()
	from := crypto.PubkeyToAddress(key.PublicKey)
	n := newNode(t, nodeOptions{api: func(c *Config) {
		c.Allow = Allowlist{from: {}}
		c.Now = func() time.Time { return time.Unix(testNow, 0) }
	}})
	const L, id = "eip155:1:0xabc", "job-1"
	data := []byte("signed tx")
	dh := crypto.Keccak256Hash(data)
	appendReq := func(dl uint64) (sequencer.Request, map[string]any) {
		return sequencer.Request{Kind: sequencer.KindTx, Lineage: L, ExternalID: id, DataHash: dh, Deadline: dl},
			map[string]any{"data": hexData(data), "lineage": L, "externalId": id}
	}
	req, p := appendReq(testNow + 60)
	var lease1 wire.Entry
	wire.MustCall(t, n.url, "sequencer_append", signed(t, key, chain1, req, p), &lease1)

	relReq := sequencer.Request{Kind: sequencer.KindRelease, Lineage: L, ExternalID: id, Deadline: testNow + 60}
	captured := signed(t, key, chain1, relReq, map[string]any{"lineage": L, "externalId": id, "reason": "rejected"})
	var rel wire.Entry
	rawRel := wire.MustCall(t, n.url, "sequencer_release", captured, &rel)
	if rel.Kind != "release" || rel.Existing == nil || *rel.Existing {
		t.Fatalf("release: %+v", rel)
	}

	// The owner leases the ticket again (a new signed request).
	req, p = appendReq(testNow + 120)
	var lease2 wire.Entry
	wire.MustCall(t, n.url, "sequencer_append", signed(t, key, chain1, req, p), &lease2)
	if lease2.Existing == nil || *lease2.Existing || lease2.Seq != rel.Seq+1 || lease2.Nonce != lease1.Nonce {
		t.Fatalf("second lease: %+v", lease2)
	}

	// The captured release again: its own receipt, the new lease untouched.
	var again wire.Entry
	rawAgain := wire.MustCall(t, n.url, "sequencer_release", captured, &again)
	if again.Existing == nil || !*again.Existing || again.Seq != rel.Seq || again.Hash != rel.Hash {
		t.Fatalf("replayed release: %s, want the receipt of seq %d", rawAgain, rel.Seq)
	}
	if !bytes.Equal(bytes.Replace(rawAgain, []byte(`"existing":true`), []byte(`"existing":false`), 1), rawRel) {
		t.Fatalf("replayed receipt differs from the first:\n%s\n%s", rawAgain, rawRel)
	}
	if tk, _ := wire.GetTicket(t, n.url, L, id); tk.State != "leased" || tk.LeaseSeq != lease2.Seq {
		t.Fatalf("ticket after the replay: %+v", tk)
	}
	if head, _ := n.seq.Head(); head.Seq != lease2.Seq {
		t.Fatalf("the replay wrote: head %d, want %d", head.Seq, lease2.Seq)
	}

	// 50 copies of one signed append without externalId, at once.
	plain := []byte("pay once")
	preq := sequencer.Request{Kind: sequencer.KindTx, DataHash: crypto.Keccak256Hash(plain), Deadline: testNow + 30}
	params := signed(t, key, chain1, preq, map[string]any{"data": hexData(plain)})
	var wg sync.WaitGroup
	seqs := make([]uint64, 50)
	for i := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r wire.Entry
			wire.MustCall(t, n.url, "sequencer_append", params, &r)
			seqs[i] = r.Seq
		}()
	}
	wg.Wait()
	for _, s := range seqs {
		if s != seqs[0] {
			t.Fatalf("one signed request wrote several entries: %v", seqs)
		}
	}
	if head, _ := n.seq.Head(); head.Seq != lease2.Seq+1 {
		t.Fatalf("50 copies of one signed append: head %d, want %d", head.Seq, lease2.Seq+1)
	}
}
