package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// serveReal serves an API over n's sequencer with opts through Server.Serve
// on a real loopback listener (so deadlines and the connection bound
// apply), and returns its URL.
func serveReal(t *testing.T, n *node, cfg Config, opts ServerOptions) string {
	t.Helper()
	if cfg.Role == "" {
		cfg = Config{Role: "primary", Version: "test", Primary: n.seq.Address(), Domain: chain1, Logger: quietLogger()}
	}
	api := NewAPI(n.seq, n.seq.Store(), cfg, nil)
	srv, err := NewServer(api, prometheus.NewRegistry(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String() + "/"
}

// postWithin posts body and fails the test if no answer comes within d
// (a bound against hanging, not a speed target).
func postWithin(t *testing.T, url, body string, d time.Duration) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: no answer within %v: %v", d, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestSlowBodiesHoldNothing (SPEC §4 HTTP): clients that send headers
// announcing large bodies and then nothing once held the whole declared
// length of the body semaphore, so 13 of them blocked every POST. Now they
// hold one chunk each, and the read deadline ends them.
func TestSlowBodiesHoldNothing(t *testing.T) {
	n := newNode(t, nodeOptions{})
	url := serveReal(t, n, Config{}, ServerOptions{ReadTimeout: 8 * time.Second})
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	var conns []net.Conn
	for range 16 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", host, 5<<20)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond) // the server has read their headers
	code, b := postWithin(t, url, body("sequencer_append", `{"data":"0x01"}`), 4*time.Second)
	if code != 200 || !strings.Contains(string(b), `"seq":1`) {
		t.Fatalf("append while slow bodies wait: %d %s", code, b)
	}
	// The read deadline ends a body that never comes.
	conns[0].SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.ReadAll(conns[0]); err != nil {
		t.Fatalf("a silent body's connection was not closed by the server: %v", err)
	}
}

// TestIdleConnectionsMakeRoom: at --max-conns, idle keep-alive connections
// (and connections that never sent a request) give way to a new client;
// 1,100 idle connections once delayed every call until they timed out.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	n := newNode(t, nodeOptions{})
	url := serveReal(t, n, Config{}, ServerOptions{MaxConns: 20, IdleTimeout: time.Minute})
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 40 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i%2 == 0 {
			// A kept-alive connection: one call, then idle.
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				host, len(body("sequencer_info", "")), body("sequencer_info", ""))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	for i := range 5 {
		code, b := postWithin(t, url, body("sequencer_info", ""), 5*time.Second)
		if code != 200 || !strings.Contains(string(b), `"role":"primary"`) {
			t.Fatalf("call %d past idle connections: %d %s", i, code, b)
		}
	}
}

// TestVHosts (SPEC §4): a request whose Host names another site (DNS
// rebinding) is refused with 403 and writes nothing; localhost, loopback
// addresses and listed names are served.
func TestVHosts(t *testing.T) {
	n := newNode(t, nodeOptions{})
	url := serveReal(t, n, Config{}, ServerOptions{})
	send := func(host string) int {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body("sequencer_append", `{"data":"0x01"}`)))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range []string{"evil.example", "evil.example:24444", "localhost.evil.example", "10.0.0.1"} {
		if code := send(h); code != http.StatusForbidden {
			t.Fatalf("Host %q: %d, want 403", h, code)
		}
	}
	if head, _ := n.seq.Head(); head.Seq != 0 {
		t.Fatalf("a refused host wrote %d entries", head.Seq)
	}
	for _, h := range []string{"localhost", "localhost:24444", "127.0.0.1:24444", "[::1]:24444", "LOCALHOST"} {
		if code := send(h); code != 200 {
			t.Fatalf("Host %q: %d, want 200", h, code)
		}
	}
	named := serveReal(t, n, Config{}, ServerOptions{VHosts: []string{"seq.internal"}})
	url = named
	if send("seq.internal:8545") != 200 || send("localhost") != http.StatusForbidden {
		t.Fatal("--rpc-vhosts seq.internal: not applied")
	}
	url = serveReal(t, n, Config{}, ServerOptions{VHosts: []string{"*"}})
	if send("anything.example") != 200 {
		t.Fatal("--rpc-vhosts *: refused a host")
	}
}

// TestReadByteCap (SPEC §4): one answer holds at most --max-read-bytes of
// entries (at least one); a client continues from the last seq + 1 and
// reads every entry; a batch of reads shares the batch's answer limit.
func TestReadByteCap(t *testing.T) {
	n := newNode(t, nodeOptions{})
	const entries, size = 40, 20_000 // 40 KB of hex each
	data := "0x" + strings.Repeat("ab", size)
	for i := range entries {
		wire.MustCall(t, n.url, "sequencer_append", map[string]any{"data": data, "externalId": fmt.Sprint("big-", i)}, nil)
	}
	url := serveReal(t, n, Config{Role: "primary", Version: "test", Primary: n.seq.Address(), Domain: chain1,
		Logger: quietLogger(), MaxReadBytes: 200_000}, ServerOptions{BatchRespLimit: 500_000})
	var got []uint64
	for from := uint64(1); from <= entries; {
		var rr struct {
			Entries []struct{ Seq uint64 } `json:"entries"`
		}
		res := wire.MustCall(t, url, "sequencer_read", map[string]any{"from": from, "limit": "1000"}, &rr)
		if len(res) > 200_000 {
			t.Fatalf("answer of %d bytes over --max-read-bytes 200000", len(res))
		}
		if len(rr.Entries) == 0 || len(rr.Entries) > 5 {
			t.Fatalf("read from %d: %d entries of ~40 KB under a 200 KB cap", from, len(rr.Entries))
		}
		for _, e := range rr.Entries {
			got = append(got, e.Seq)
		}
		from = rr.Entries[len(rr.Entries)-1].Seq + 1
	}
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("continuing reads gave seq %d at %d", s, i)
		}
	}
	// A cap below one entry still returns one.
	tiny := serveReal(t, n, Config{Role: "primary", Version: "test", Primary: n.seq.Address(), Domain: chain1,
		Logger: quietLogger(), MaxReadBytes: 10}, ServerOptions{})
	var one struct{ Entries []json.RawMessage }
	wire.MustCall(t, tiny, "sequencer_read", map[string]any{"from": 1}, &one)
	if len(one.Entries) != 1 {
		t.Fatalf("cap below one entry: %d entries, want 1", len(one.Entries))
	}
	// A batch of 8 maximal reads: together at most the batch limit.
	var calls []string
	for i := range 8 {
		calls = append(calls, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_read","params":[{"from":1,"limit":1000}]}`, i))
	}
	code, b := wire.Post(t, url, "["+strings.Join(calls, ",")+"]")
	if code != 200 || len(b) > 700_000 {
		t.Fatalf("batch of reads: %d, %d bytes (batch limit 500 KB)", code, len(b))
	}
	if !strings.Contains(string(b), "response too large") {
		t.Fatalf("reads past the batch's limit were not refused: %.300s", b)
	}
}

// A batch of writes whose answers pass the batch's answer limit: the
// writes are made, the answers past the limit are "response too large"
// errors with their calls' ids, as for any batch.
func TestWriteBatchAnswerLimit(t *testing.T) {
	n := newNode(t, nodeOptions{})
	url := serveReal(t, n, Config{}, ServerOptions{BatchRespLimit: 2000})
	var calls []string
	for i := range 10 {
		calls = append(calls, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_append","params":[{"data":"0x01","externalId":"lim-%d"}]}`, 100+i, i))
	}
	code, b := wire.Post(t, url, "["+strings.Join(calls, ",")+"]")
	var answers []struct {
		ID     int             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *struct{ Code int }
	}
	if err := json.Unmarshal(b, &answers); code != 200 || err != nil || len(answers) != 10 {
		t.Fatalf("%d %v: %.300s", code, err, b)
	}
	receipts := 0
	for i, a := range answers {
		switch {
		case a.ID != 100+i:
			t.Fatalf("answer %d has id %d", i, a.ID)
		case a.Error == nil && receipts == i:
			receipts++
		case a.Error == nil || a.Error.Code != codeResponseTooLarge:
			t.Fatalf("answer %d: %s %+v after %d receipts", i, a.Result, a.Error, receipts)
		}
	}
	if receipts == 0 || receipts == 10 {
		t.Fatalf("%d receipts under a 2000-byte limit", receipts)
	}
	if h := n.seq.Store().Head().Seq; h != 10 {
		t.Fatalf("head %d after a batch of 10 appends", h)
	}
}
