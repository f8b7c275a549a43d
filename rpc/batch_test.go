package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A batch runs its calls concurrently but with the effects of batch order:
// a close after its append in one batch finds the ticket, a read sees the
// writes before it, and 100 appends share group commits instead of taking
// one commit each (go-ethereum alone would run them one by one).
func TestBatchConcurrentInOrder(t *testing.T) {
	n := newNode(t, nodeOptions{metrics: true})
	var calls []string
	calls = append(calls,
		wire.Request("sequencer_append", map[string]any{"data": "0x01", "lineage": "L", "externalId": "a"}),
		wire.Request("sequencer_close", map[string]any{"lineage": "L", "externalId": "a"}),
		wire.Request("sequencer_append", map[string]any{"data": "0x02", "lineage": "L", "externalId": "b"}),
		wire.Request("sequencer_release", map[string]any{"lineage": "L", "externalId": "b", "reason": "rejected"}),
		wire.Request("sequencer_append", map[string]any{"data": "0x03", "lineage": "L", "externalId": "c"}),
		wire.Request("sequencer_ticket", map[string]any{"lineage": "L", "externalId": "a"}),
		wire.Request("sequencer_lineage", map[string]any{"lineage": "L"}),
	)
	for i := range 100 {
		calls = append(calls, wire.Request("sequencer_append", map[string]any{"data": fmt.Sprintf("0x%04x", i), "externalId": fmt.Sprint("p", i)}))
	}
	for i := range calls {
		calls[i] = strings.Replace(calls[i], `"id":1`, fmt.Sprintf(`"id":%d`, i+1), 1)
	}
	before := testutil.ToFloat64(n.mets.Groups)
	status, body := wire.Post(t, n.url, "["+strings.Join(calls, ",")+"]")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var resp []wire.Response
	if err := json.Unmarshal(body, &resp); err != nil || len(resp) != len(calls) {
		t.Fatalf("%d answers for %d calls: %v", len(resp), len(calls), err)
	}
	for i, r := range resp {
		if r.Error != nil {
			t.Fatalf("call %d: %+v", i+1, r.Error)
		}
		if string(r.ID) != fmt.Sprint(i+1) {
			t.Fatalf("answer %d has id %s: answers must keep the batch order", i, r.ID)
		}
	}
	var e3 wire.Entry
	json.Unmarshal(resp[4].Result, &e3)
	if e3.Nonce != 1 { // b's released nonce 1 is re-leased to c
		t.Fatalf("c leased nonce %d, want the released 1", e3.Nonce)
	}
	var tk wire.Ticket
	json.Unmarshal(resp[5].Result, &tk)
	if tk.State != "closed" || tk.FinalSeq == nil || *tk.FinalSeq != 2 {
		t.Fatalf("ticket read after its close in the batch: %+v", tk)
	}
	var l wire.Lineage
	json.Unmarshal(resp[6].Result, &l)
	if l.NextNonce != 2 || len(l.InFlight) != 1 || l.Closed != 1 {
		t.Fatalf("lineage read in the batch: %+v", l)
	}
	commits := testutil.ToFloat64(n.mets.Groups) - before
	if commits > 50 {
		t.Fatalf("%v group commits for a batch of %d writes: the calls ran one by one", commits, len(calls)-2)
	}
	t.Logf("%d writes in one batch took %v group commits", len(calls)-2, commits)
	verifyLog(t, n)
}

// The batch fast path answers exactly as go-ethereum does: two nodes with
// one key and a frozen clock get the same calls, one node as one batch
// (fast path), the other call by call (go-ethereum), and every answer —
// receipts, existing receipts, every error with its code, message and
// data, string and number ids — is byte-identical.
//
// The batch is run twice: as it is, with a call the one-pass reader leaves
// to encoding/json (an unknown field), and without it, when the one-pass
// reader takes the whole batch.
func TestBatchFastPathMatchesGoEthereum(t *testing.T) {
	params := []map[string]any{
		{"data": "0x01", "lineage": "L", "externalId": "a"},
		{"data": "0x01", "lineage": "L", "externalId": "a"}, // existing
		{"data": "0x02", "lineage": "L", "externalId": "a"}, // 4008
		{"data": "0x03", "lineage": "L", "externalId": "b"},
		{"data": "0x04", "lineage": "L", "externalId": "c"},
		{"data": "0x05", "lineage": "L", "externalId": "d"}, // 4005 {limit}
		{"data": "0x" + strings.Repeat("00", 65)},           // 4006 {limit}
		{"data": "0x06", "externalId": "plain"},
		{"data": "0x06", "externalId": "plain"}, // existing
		{"data": "0x07", "lineage": "bad lineage", "externalId": "x"},
		{"data": "0x08", "lineage": "L"}, // missing externalId
		{"data": "0x09", "bogus": 1},     // unknown field: go-ethereum's own error
	}
	var calls []string
	add := func(id, method string, p any) {
		calls = append(calls, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":[%s]}`, id, method, toJSON(p)))
	}
	for i, p := range params {
		add(fmt.Sprint(i+1), "sequencer_append", p)
	}
	add(`"close-a"`, "sequencer_close", map[string]any{"lineage": "L", "externalId": "a"})
	add(`"close-a-again"`, "sequencer_close", map[string]any{"lineage": "L", "externalId": "a"})
	add(`"close-zz"`, "sequencer_close", map[string]any{"lineage": "L", "externalId": "zz"})
	add("100", "sequencer_append", map[string]any{"data": "0x01", "lineage": "L", "externalId": "a"}) // 4004 {ticket}
	add("101", "sequencer_release", map[string]any{"lineage": "L", "externalId": "b", "reason": "rejected"})
	add("102", "sequencer_release", map[string]any{"lineage": "L", "externalId": "b", "reason": "broadcast"}) // 4004
	add("103", "sequencer_release", map[string]any{"lineage": "L", "externalId": "c", "reason": "nope"})
	add("104", "sequencer_syncLineage", map[string]any{"lineage": "L", "chainNonce": 2})
	add("105", "sequencer_syncLineage", map[string]any{"lineage": "L", "chainNonce": "18446744073709551615"})
	t.Run("mixed", func(t *testing.T) {
		if _, ok := readWriteBatch([]byte("["+strings.Join(calls, ",")+"]"), 1000); ok {
			t.Fatal("one-pass reader took a batch with an unknown field")
		}
		checkBatchMatchesGoEthereum(t, calls, []int{1, 2, 8, 13, 14})
	})
	t.Run("one-pass", func(t *testing.T) {
		calls := slices.Delete(slices.Clone(calls), 11, 12) // the unknown field
		if _, ok := readWriteBatch([]byte("["+strings.Join(calls, ",")+"]"), 1000); !ok {
			t.Fatal("one-pass reader did not take the batch")
		}
		checkBatchMatchesGoEthereum(t, calls, []int{1, 2, 8, 12, 13})
	})
}

// checkBatchMatchesGoEthereum sends calls as one batch to one node and one
// by one to go-ethereum's server of another, and compares the answers; the
// calls at retries are then sent again as single calls.
func checkBatchMatchesGoEthereum(t *testing.T, calls []string, retries []int) {
	key, _ := crypto.GenerateKey()
	frozen := time.UnixMilli(1_800_000_000_000)
	opts := nodeOptions{key: key, seq: func(c *sequencer.Config) {
		c.Now = func() time.Time { return frozen }
		c.MaxInFlight = 3
	}, api: func(c *Config) { c.MaxDataBytes = 64 }}
	a, b := newNode(t, opts), newNode(t, opts)

	status, body := wire.Post(t, a.url, "["+strings.Join(calls, ",")+"]")
	if status != 200 {
		t.Fatalf("batch: %d %s", status, body)
	}
	var batched []json.RawMessage
	if err := json.Unmarshal(body, &batched); err != nil || len(batched) != len(calls) {
		t.Fatalf("batch answers: %d, %v", len(batched), err)
	}
	for i, c := range calls {
		// go-ethereum's own server, bypassing every fast path.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c))
		req.Header.Set("Content-Type", "application/json")
		b.srv.rpc.ServeHTTP(rec, req)
		single := rec.Body.Bytes()
		if !bytes.Equal(bytes.TrimSpace(single), bytes.TrimSpace(batched[i])) {
			t.Fatalf("call %d answered differently:\nbatch:  %s\ngo-ethereum: %s", i, batched[i], single)
		}
	}
	// The single-call fast path answers the same: replay the retries
	// (idempotent, so deterministic) on node a as single calls.
	for _, i := range retries {
		_, single := wire.Post(t, a.url, calls[i])
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(calls[i]))
		req.Header.Set("Content-Type", "application/json")
		a.srv.rpc.ServeHTTP(rec, req)
		if !bytes.Equal(bytes.TrimSpace(single), bytes.TrimSpace(rec.Body.Bytes())) {
			t.Fatalf("single call %d: fast path %s, go-ethereum %s", i, single, rec.Body.Bytes())
		}
	}
	if ha, hb := a.seq.Store().Head(), b.seq.Store().Head(); ha != hb || ha.Seq == 0 {
		t.Fatalf("heads differ: %+v vs %+v", ha, hb)
	}
}
func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The connection limits are configurable: an HTTP body over BodyLimit is
// refused with 413 before any decoding, a batch over BatchItemLimit gets
// one error and runs nothing, and a WebSocket message over the limit
// closes that connection only.
func TestServerLimits(t *testing.T) {
	n := newNode(t, nodeOptions{})
	reg := prometheus.NewRegistry()
	api := NewAPI(n.seq, n.seq.Store(), Config{Role: "primary", Primary: n.seq.Address(), Domain: chain1, MaxDataBytes: 1024, Logger: quietLogger()}, reg)
	srv, err := NewServer(api, reg, ServerOptions{BodyLimit: 8 << 10, WSReadLimit: 8 << 10, BatchItemLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	url := hs.URL + "/"
	big := wire.Request("sequencer_append", map[string]any{"data": "0x" + strings.Repeat("ab", 9<<10)})
	if status, _ := wire.Post(t, url, big); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("body over the limit: status %d", status)
	}
	three := "[" + strings.Join([]string{
		wire.Request("sequencer_append", map[string]any{"data": "0x01"}),
		wire.Request("sequencer_append", map[string]any{"data": "0x02"}),
		wire.Request("sequencer_append", map[string]any{"data": "0x03"}),
	}, ",") + "]"
	head := n.seq.Store().Head().Seq
	_, body := wire.Post(t, url, three)
	if !strings.Contains(string(body), "batch too large") || n.seq.Store().Head().Seq != head {
		t.Fatalf("batch over the limit: %s (head %d → %d)", body, head, n.seq.Store().Head().Seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, err := gethrpc.DialWebsocket(ctx, "ws"+strings.TrimPrefix(url, "http"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var r wire.Entry
	if err := ws.CallContext(ctx, &r, "sequencer_append", map[string]any{"data": "0x" + strings.Repeat("ab", 9<<10)}); err == nil {
		t.Fatal("a WebSocket message over the limit was served")
	}
	if _, body := wire.Post(t, url, wire.Request("sequencer_append", map[string]any{"data": "0x04"})); len(body) == 0 {
		t.Fatal("no answer after the WebSocket was cut")
	}
}

// The read fast path (serveRead: sequencer_inclusionProof in a batch)
// answers byte for byte as go-ethereum's server does, errors included, and
// leaves every unusual call to go-ethereum.
func TestBatchReadFastPathMatchesGoEthereum(t *testing.T) {
	var writes, fast, slow []string
	for i := range 6 {
		writes = append(writes, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_append","params":[{"data":"0x0%d"}]}`, i+1, i))
	}
	for i, p := range []string{
		`{"seq":1}`, `{"seq":3,"size":5}`, `{"seq":6}`, `{"seq":6,"size":6}`, `{"seq":"0x2","size":"4"}`,
		`{"seq":7}`, `{"seq":0}`, `{"seq":2,"size":1}`, `{"seq":1,"size":7}`, `{}`, `{"size":3}`,
	} {
		fast = append(fast, fmt.Sprintf(`{"jsonrpc":"2.0","id":"p%d","method":"sequencer_inclusionProof","params":[%s]}`, i, p))
	}
	slow = []string{
		`{"jsonrpc":"2.0","id":20,"method":"sequencer_inclusionProof","params":[{"seq":1,"bogus":1}]}`,
		`{"jsonrpc":"2.0","id":21,"method":"sequencer_inclusionProof","params":[{"seq":1},{"seq":2}]}`,
		`{"jsonrpc":"2.0","id":22,"method":"sequencer_inclusionProof","params":[]}`,
		`{"jsonrpc":"2.0","id":23,"method":"sequencer_inclusionProof"}`,
		`{"jsonrpc":"2.0","id":25,"method":"sequencer_inclusionProof","params":[{"seq":-1}]}`,
		`{"jsonrpc":"2.0","id":null,"method":"sequencer_inclusionProof","params":[{"seq":1}]}`,
		`{"jsonrpc":"2.0","id":{"x":1},"method":"sequencer_inclusionProof","params":[{"seq":1}]}`,
		`{"jsonrpc":"1.0","id":26,"method":"sequencer_inclusionProof","params":[{"seq":1}]}`,
		`{"jsonrpc":"2.0","id":27,"method":"sequencer_info","params":[]}`,
		`{"jsonrpc":"2.0","id":24,"method":"sequencer_inclusionProof","params":[null]}`,
	}
	for _, c := range fast {
		if _, ok := readCall(envelope(t, c)); !ok {
			t.Errorf("the fast path does not take %s", c)
		}
	}
	for _, c := range slow {
		if _, ok := readCall(envelope(t, c)); ok {
			t.Errorf("the fast path takes %s", c)
		}
	}
	checkBatchMatchesGoEthereum(t, slices.Concat(writes, fast, slow), nil)
}

func envelope(t *testing.T, c string) *callEnvelope {
	t.Helper()
	var env callEnvelope
	if err := json.Unmarshal([]byte(c), &env); err != nil {
		t.Fatal(err)
	}
	return &env
}
