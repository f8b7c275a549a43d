package rpc

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// A 4003 answer names what was not found: the ticket's lineage and
// externalId, or the lineage (SPEC §4 NotFound), for reads and writes.
func TestNotFoundNamesTheRecord(t *testing.T) {
	n := newNode(t, nodeOptions{})
	wire.AppendTx(t, n.url, []byte("a"), "L1", "a")
	for _, c := range []struct {
		method string
		params map[string]any
		want   []string
	}{
		{"sequencer_ticket", map[string]any{"lineage": "L1", "externalId": "zz"}, []string{`"zz"`, `"L1"`}},
		{"sequencer_close", map[string]any{"lineage": "L1", "externalId": "zz"}, []string{`"zz"`, `"L1"`}},
		{"sequencer_release", map[string]any{"lineage": "nowhere", "externalId": "yy", "reason": "rejected"}, []string{`"yy"`, `"nowhere"`}},
		{"sequencer_release", map[string]any{"lineage": "L1", "externalId": "xx", "reason": "broadcast"}, []string{`"xx"`, `"L1"`}},
		{"sequencer_lineage", map[string]any{"lineage": "nowhere"}, []string{`lineage "nowhere"`}},
	} {
		e := wire.WantError(t, n.url, c.method, c.params, CodeNotFound, "")
		if !strings.HasPrefix(e.Message, "not found: ") {
			t.Errorf("%s: message %q does not start with the stable %q", c.method, e.Message, "not found: ")
		}
		for _, w := range c.want {
			if !strings.Contains(e.Message, w) {
				t.Errorf("%s %v: message %q does not name %s", c.method, c.params, e.Message, w)
			}
		}
	}
	// The fast batch path answers the same.
	_, body := wire.Post(t, n.url, "["+wire.Request("sequencer_close", map[string]any{"lineage": "L1", "externalId": "q1"})+","+
		wire.Request("sequencer_close", map[string]any{"lineage": "L1", "externalId": "q2"})+"]")
	if !strings.Contains(string(body), `not found: no ticket with externalId \"q2\" in lineage \"L1\"`) {
		t.Errorf("batch: %s", body)
	}
}

// A batch over BatchItemLimit gets one -32600 error (go-ethereum's form:
// the first call's id, nothing run) whose message and data name the limit,
// whether it is all writes (the fast batch path) or mixed calls.
func TestBatchTooLargeNamesLimit(t *testing.T) {
	n := newNode(t, nodeOptions{})
	reg := prometheus.NewRegistry()
	api := NewAPI(n.seq, n.seq.Store(), Config{Role: "primary", Primary: n.seq.Address(), Domain: chain1, Logger: quietLogger()}, reg)
	srv, err := NewServer(api, reg, ServerOptions{BatchItemLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	writes, mixed := make([]string, 4), make([]string, 4)
	for i := range writes {
		writes[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_append","params":[{"data":"0x0%d"}]}`, i+7, i)
		mixed[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_info"}`, i+7)
	}
	mixed[0] = `{"jsonrpc":"2.0","method":"sequencer_info"}` // a notification: not the id given
	for name, calls := range map[string][]string{"writes": writes, "mixed": mixed} {
		t.Run(name, func(t *testing.T) {
			_, body := wire.Post(t, hs.URL+"/", "["+strings.Join(calls, ",")+"]")
			var rs []wire.Response
			if err := json.Unmarshal(body, &rs); err != nil || len(rs) != 1 || rs[0].Error == nil {
				t.Fatalf("answer %s", body)
			}
			e := rs[0].Error
			if e.Code != -32600 || e.Message != "batch too large: at most 3 calls in one batch" || !wire.JSONEqual(e.Data, []byte(`{"limit":3}`)) {
				t.Fatalf("error %v", e)
			}
			wantID := "7"
			if name == "mixed" {
				wantID = "8"
			}
			if string(rs[0].ID) != wantID {
				t.Fatalf("id %s, want %s", rs[0].ID, wantID)
			}
			if h := n.seq.Store().Head().Seq; h != 0 {
				t.Fatalf("head %d: a call of a refused batch ran", h)
			}
		})
	}
	// At the limit the batch runs.
	_, body := wire.Post(t, hs.URL+"/", "["+strings.Join(writes[:3], ",")+"]")
	if strings.Contains(string(body), "error") || n.seq.Store().Head().Seq != 3 {
		t.Fatalf("batch at the limit: %s", body)
	}
}

// web3_clientVersion answers in go-ethereum's form.
func TestWeb3ClientVersion(t *testing.T) {
	n := newNode(t, nodeOptions{api: func(c *Config) { c.Version = "v1.2.3" }})
	var v string
	wire.MustCall(t, n.url, "web3_clientVersion", nil, &v)
	want := "sequencer/v1.2.3/" + runtime.GOOS + "-" + runtime.GOARCH + "/" + runtime.Version()
	if v != want {
		t.Fatalf("web3_clientVersion %q, want %q", v, want)
	}
}

// sequencer_read {latest: N} gives the log's last N entries in seq order
// (all of them when there are fewer), with the head.
func TestReadLatest(t *testing.T) {
	n := newNode(t, nodeOptions{})
	r, _ := wire.ReadLog(t, n.url, map[string]any{"latest": 5})
	if len(r.Entries) != 0 || r.Head != 0 {
		t.Fatalf("empty log: %+v", r)
	}
	for i := range 7 {
		wire.AppendTx(t, n.url, []byte{byte(i)}, "", "")
	}
	for _, c := range []struct {
		latest any
		first  uint64
		count  int
	}{{3, 5, 3}, {"0x2", 6, 2}, {1, 7, 1}, {7, 1, 7}, {1000, 1, 7}} {
		r, raw := wire.ReadLog(t, n.url, map[string]any{"latest": c.latest})
		if len(r.Entries) != c.count || r.Head != 7 {
			t.Fatalf("latest %v: %s", c.latest, raw)
		}
		for i, e := range r.Entries {
			if e.Seq != c.first+uint64(i) {
				t.Fatalf("latest %v: entry %d has seq %d: %s", c.latest, i, e.Seq, raw)
			}
		}
	}
	for _, p := range []map[string]any{
		{"latest": 0}, {"latest": 1001}, {"latest": -1}, {"latest": 2, "from": 1},
		{"latest": 2, "limit": 2}, {"latest": 2, "lineage": "L"},
	} {
		wire.WantError(t, n.url, "sequencer_read", p, CodeInvalidParams, "")
	}
}

// Over --max-read-bytes, {latest: N} keeps the newest entries: the answer
// still ends at the head (and holds at least one entry).
func TestReadLatestByteLimit(t *testing.T) {
	n := newNode(t, nodeOptions{api: func(c *Config) { c.MaxReadBytes = 6000 }}) // two 1 KiB entries
	for i := range 7 {
		wire.AppendTx(t, n.url, make([]byte, 1024+i), "", "")
	}
	r, raw := wire.ReadLog(t, n.url, map[string]any{"latest": 5})
	if len(r.Entries) != 2 || r.Entries[0].Seq != 6 || r.Entries[1].Seq != 7 || r.Head != 7 {
		t.Fatalf("latest 5 over the byte limit: want seqs 6 and 7: %s", raw)
	}
	n2 := newNode(t, nodeOptions{api: func(c *Config) { c.MaxReadBytes = 100 }})
	wire.AppendTx(t, n2.url, make([]byte, 1024), "", "")
	wire.AppendTx(t, n2.url, make([]byte, 1024), "", "")
	if r, raw := wire.ReadLog(t, n2.url, map[string]any{"latest": 2}); len(r.Entries) != 1 || r.Entries[0].Seq != 2 {
		t.Fatalf("latest under a tiny limit: want the head entry alone: %s", raw)
	}
}
