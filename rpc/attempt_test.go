package rpc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// TestAttempt drives sequencer_attempt (SPEC §3, §4, §9) over HTTP: an
// attempt keeps the ticket leased and adds its hash, the same hash again is
// the first receipt, a fee bump is a second attempt, the ticket lists them
// in order; once the ticket is final an attempt is TicketFinal with the
// ticket (the executor must not broadcast); bad input is -32602 naming
// txHash; a signed attempt is kind 5 over the transaction hash; a batch of
// attempts takes the fast path and gives the same answers. The log verifies.
func TestAttempt(t *testing.T) {
	n := newNode(t, nodeOptions{})
	L := testLineage
	t1, t2, t3 := crypto.Keccak256Hash([]byte("t1")), crypto.Keccak256Hash([]byte("t2")), crypto.Keccak256Hash([]byte("t3"))
	lease := wire.AppendTx(t, n.url, []byte{1}, L, "a")

	a1 := wire.Attempt(t, n.url, L, "a", t1)
	if a1.Kind != "attempt" || a1.Nonce != lease.Nonce || a1.DataHash != t1 || a1.ExternalID != "a" || a1.IsExisting() {
		t.Fatalf("attempt receipt %s", a1.Raw)
	}
	if again := wire.Attempt(t, n.url, L, "a", t1); !again.IsExisting() || again.Seq != a1.Seq || again.Hash != a1.Hash {
		t.Fatalf("same attempt again: %s, want the receipt of seq %d", again.Raw, a1.Seq)
	}
	a2 := wire.Attempt(t, n.url, L, "a", t2) // a fee bump
	if a2.IsExisting() || a2.Seq != a1.Seq+1 || a2.Nonce != lease.Nonce {
		t.Fatalf("fee bump: %s", a2.Raw)
	}
	tk, raw := wire.GetTicket(t, n.url, L, "a")
	want := fmt.Sprintf(`{"lineage":%q,"externalId":"a","nonce":0,"state":"leased","leaseSeq":%d,"attempts":[%q,%q]}`, L, lease.Seq, t1.Hex(), t2.Hex())
	if !wire.JSONEqual(raw, []byte(want)) || tk.MinedTx != nil {
		t.Fatalf("ticket %s, want %s", raw, want)
	}

	closed := wire.CloseTicket(t, n.url, L, "a")
	final := fmt.Sprintf(`{"lineage":%q,"externalId":"a","nonce":0,"state":"closed","leaseSeq":%d,"finalSeq":%d,"attempts":[%q,%q]}`,
		L, lease.Seq, closed.Seq, t1.Hex(), t2.Hex())
	wire.WantError(t, n.url, "sequencer_attempt", map[string]any{"lineage": L, "externalId": "a", "txHash": t3}, 4004, final)
	wire.WantError(t, n.url, "sequencer_attempt", map[string]any{"lineage": L, "externalId": "a", "txHash": t1}, 4004, final)
	wire.WantError(t, n.url, "sequencer_attempt", map[string]any{"lineage": L, "externalId": "nope", "txHash": t3}, 4003, "")
	for name, p := range map[string]map[string]any{
		"txHash missing":     {"lineage": L, "externalId": "a"},
		"txHash short":       {"lineage": L, "externalId": "a", "txHash": "0x" + t1.Hex()[4:]},
		"txHash zero":        {"lineage": L, "externalId": "a", "txHash": "0x" + fmt.Sprintf("%064x", 0)},
		"txHash not hex":     {"lineage": L, "externalId": "a", "txHash": "0xzz"},
		"externalId missing": {"lineage": L, "txHash": t1},
	} {
		e := wire.WantError(t, n.url, "sequencer_attempt", p, -32602, "")
		if name != "externalId missing" && !strings.Contains(e.Message, "txHash") {
			t.Errorf("%s: message %q does not name txHash", name, e.Message)
		}
	}

	// A batch of attempts (the fast path) answers as single calls do.
	wire.AppendTx(t, n.url, []byte{2}, L, "b")
	batch := "[" + wire.Request("sequencer_attempt", map[string]any{"lineage": L, "externalId": "b", "txHash": t1}) + "," +
		wire.Request("sequencer_attempt", map[string]any{"lineage": L, "externalId": "b", "txHash": t1}) + "," +
		wire.Request("sequencer_attempt", map[string]any{"lineage": L, "externalId": "zz", "txHash": t1}) + "]"
	status, body := wire.Post(t, n.url, batch)
	if status != 200 || !strings.Contains(string(body), `"kind":"attempt"`) || !strings.Contains(string(body), `"existing":true`) || !strings.Contains(string(body), `"code":4003`) {
		t.Fatalf("batch of attempts: %d %s", status, body)
	}
	if tk, _ := wire.GetTicket(t, n.url, L, "b"); len(tk.Attempts) != 1 || tk.Attempts[0] != t1 {
		t.Fatalf("ticket after the batch: %+v", tk)
	}

	// Signed: kind 5 over the transaction hash; another kind's signature
	// does not authorize it.
	v := loadVectors(t)
	client := mustKey(t, v.ClientKey)
	permd := newNode(t, nodeOptions{api: func(c *Config) {
		c.Allow = Allowlist{v.Client: {}}
		c.Now = func() time.Time { return time.Unix(testNow, 0) }
	}})
	dl := uint64(testNow + 60)
	wire.MustCall(t, permd.url, "sequencer_append", signed(t, client, chain1,
		sequencer.Request{Kind: sequencer.KindTx, Lineage: L, ExternalID: "s", DataHash: crypto.Keccak256Hash([]byte{1}), Deadline: dl},
		map[string]any{"data": "0x01", "lineage": L, "externalId": "s"}), nil)
	params := map[string]any{"lineage": L, "externalId": "s", "txHash": t1}
	wrong := signed(t, client, chain1, sequencer.Request{Kind: sequencer.KindClose, Lineage: L, ExternalID: "s", DataHash: t1, Deadline: dl}, params)
	wire.WantError(t, permd.url, "sequencer_attempt", wrong, 4001, "")
	var r wire.Entry
	wire.MustCall(t, permd.url, "sequencer_attempt", signed(t, client, chain1,
		sequencer.Request{Kind: sequencer.KindAttempt, Lineage: L, ExternalID: "s", DataHash: t1, Deadline: dl},
		map[string]any{"lineage": L, "externalId": "s", "txHash": t1}), &r)
	if r.Kind != "attempt" || r.Sender != v.Client || r.DataHash != t1 {
		t.Fatalf("signed attempt: %s", r.Raw)
	}

	n.seq.Close()
	permd.seq.Close()
	verifyLog(t, n)
	verifyLog(t, permd)
}
