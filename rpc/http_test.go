package rpc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// TestBatch sends JSON-RPC batches (SPEC §4: batch requests supported):
// one response per call, matched by id, each with its own result or error;
// notifications get none.
func TestBatch(t *testing.T) {
	n := newNode(t, nodeOptions{})
	raw := `[
		{"jsonrpc":"2.0","id":1,"method":"sequencer_info"},
		{"jsonrpc":"2.0","id":"two","method":"sequencer_nope"},
		{"jsonrpc":"2.0","id":3,"method":"sequencer_append","params":[{"data":"0x01","lineage":"b","externalId":"x"}]},
		{"jsonrpc":"2.0","id":4,"method":"sequencer_append","params":[{"data":"0xzz"}]},
		{"jsonrpc":"2.0","method":"sequencer_append","params":[{"data":"0x02"}]},
		{"jsonrpc":"2.0","id":5,"method":"sequencer_close","params":[{"lineage":"b","externalId":"nope"}]},
		{"jsonrpc":"2.0","id":6},
		42,
		{"jsonrpc":"2.0","id":7,"method":"sequencer_append","params":[{"data":"0x01","lineage":"b","externalId":"x"}]},
		{"jsonrpc":"2.0","id":8,"method":"sequencer_read","params":[{"from":1,"limit":0}]}
	]`
	status, b := wire.Post(t, n.url, raw)
	if status != http.StatusOK {
		t.Fatalf("HTTP %d: %s", status, b)
	}
	var rs []wire.Response
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatalf("batch answer is not an array: %s", b)
	}
	if len(rs) != 9 {
		t.Fatalf("%d responses, want 9 (the notification gets none): %s", len(rs), b)
	}
	byID := map[string]wire.Response{}
	for _, r := range rs {
		byID[string(r.ID)] = r
	}
	want := map[string]int{`1`: 0, `"two"`: -32601, `3`: 0, `4`: -32602, `5`: 4003, `6`: -32600, `7`: 0, `8`: -32602}
	for id, code := range want {
		r, ok := byID[id]
		if !ok {
			t.Fatalf("no response with id %s: %s", id, b)
		}
		switch {
		case code == 0 && r.Error != nil:
			t.Fatalf("id %s: %v", id, r.Error)
		case code != 0 && (r.Error == nil || r.Error.Code != code):
			t.Fatalf("id %s: %s, want code %d", id, b, code)
		}
	}
	if r, ok := byID["null"]; !ok || r.Error == nil || r.Error.Code != -32600 {
		t.Fatalf("no -32600 with id null for the element 42: %s", b)
	}
	// Within the batch, the retry (id 7) got the receipt of id 3.
	var r3, r7 wire.Entry
	json.Unmarshal(byID["3"].Result, &r3)
	json.Unmarshal(byID["7"].Result, &r7)
	if r3.Seq == 0 || r3.Hash != r7.Hash || *r3.Existing || !*r7.Existing {
		t.Fatalf("retry in batch: %s / %s", byID["3"].Result, byID["7"].Result)
	}
	// The notification was executed: 2 entries in all.
	wire.WaitFor(t, 5*time.Second, "the notification's append", func() bool {
		i, _ := wire.GetInfo(t, n.url)
		return i.Head.Seq == 2
	})

	t.Run("go-ethereum client BatchCallContext", func(t *testing.T) {
		c := httpRPCClient(t, n.url)
		var inf wire.Info
		var app, retry wire.Entry
		var tk wire.Ticket
		var rd wire.Read
		batch := []gethrpc.BatchElem{
			{Method: "sequencer_info", Result: &inf},
			{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x0a", "lineage": "c", "externalId": "y"}}, Result: &app},
			{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x0a", "lineage": "c", "externalId": "y"}}, Result: &retry},
			{Method: "sequencer_ticket", Args: []any{map[string]any{"lineage": "c", "externalId": "y"}}, Result: &tk},
			{Method: "sequencer_ticket", Args: []any{map[string]any{"lineage": "c", "externalId": "nope"}}, Result: new(wire.Ticket)},
			{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x0b", "lineage": "c", "externalId": "y"}}, Result: new(wire.Entry)},
			{Method: "sequencer_read", Args: []any{map[string]any{"from": 1}}, Result: &rd},
			{Method: "sequencer_missing", Result: new(any)},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.BatchCallContext(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{0, 0, 0, 0, 4003, 4008, 0, -32601} {
			if got := wire.Code(batch[i].Error); got != want || (want == 0) != (batch[i].Error == nil) {
				t.Fatalf("batch[%d] %s: error %v, want code %d", i, batch[i].Method, batch[i].Error, want)
			}
		}
		if inf.Head.Seq != 2 || app.Seq != 3 || !*retry.Existing || retry.Hash != app.Hash || tk.LeaseSeq != 3 || tk.State != "leased" || len(rd.Entries) != 3 {
			t.Fatalf("batch results: info %+v, append %+v, retry %+v, ticket %+v, read %d", inf, app, retry, tk, len(rd.Entries))
		}
	})
}

// TestHTTP checks the HTTP side of the listener: wrong verbs, content types,
// paths and oversize bodies are refused before JSON-RPC, and /healthz and
// /metrics answer (SPEC §7).
func TestHTTP(t *testing.T) {
	n := newNode(t, nodeOptions{metrics: true})
	base := strings.TrimSuffix(n.url, "/")
	for range 3 {
		wire.AppendTx(t, n.url, []byte("m"), "", "")
	}
	wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": "l", "externalId": "x"}, 4003, "")

	t.Run("healthz", func(t *testing.T) {
		resp, err := wire.HTTPClient.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("healthz: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		var h map[string]any
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("healthz is not JSON: %s", b)
		}
		if h["status"] != "ok" || h["head"] != float64(3) || h["role"] != "primary" {
			t.Fatalf("healthz %s", b)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		resp, err := wire.HTTPClient.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, want := range []string{"\nsequencer_head_seq 3\n", "# TYPE sequencer_head_seq gauge", `sequencer_rpc_errors_total{code="4003"} 1`, `sequencer_entries_total{kind="tx"} 3`} {
			if !strings.Contains(string(b), want) {
				t.Fatalf("metrics lack %q:\n%s", want, b)
			}
		}
	})
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      string
		status                    int
	}{
		{"unknown path", "POST", "/nope", "application/json", `{}`, http.StatusNotFound},
		{"PUT", "PUT", "/", "application/json", `{}`, http.StatusMethodNotAllowed},
		{"text/plain", "POST", "/", "text/plain", wire.Request("sequencer_info", nil), http.StatusUnsupportedMediaType},
		{"no content type", "POST", "/", "", wire.Request("sequencer_info", nil), http.StatusUnsupportedMediaType},
		{"body over the limit", "POST", "/", "application/json", `{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":"0x` + strings.Repeat("00", 3<<20) + `"}]}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := wire.HTTPClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != 3 {
		t.Fatalf("head %d after refused requests", i.Head.Seq)
	}
}
