package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(url, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return conn
}

func readFrame(t *testing.T, conn *websocket.Conn) []byte {
	t.Helper()
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Writes over WebSocket take the node's own path: frames sent one after
// another without waiting reach the log in frame order, each is answered
// once durable (with the receipt HTTP would give), a retry is answered with
// the first receipt, and batches of writes are answered as one array.
func TestWebSocketWrites(t *testing.T) {
	n := newNode(t, nodeOptions{})
	conn := dialWS(t, n.ws)
	const calls = 60 // below the tickets a lineage may lease at once (64)
	for i := range calls {
		f := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_append","params":[{"data":"0x%02x","lineage":"ws","externalId":"t%d"}]}`, i, i%256, i)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	receipts := map[int]wire.Entry{}
	for range calls {
		var r wire.Response
		if err := json.Unmarshal(readFrame(t, conn), &r); err != nil || r.Error != nil {
			t.Fatalf("answer %+v: %v", r, err)
		}
		var id int
		var e wire.Entry
		json.Unmarshal(r.ID, &id)
		if err := json.Unmarshal(r.Result, &e); err != nil {
			t.Fatal(err)
		}
		receipts[id] = e
	}
	for i := range calls {
		e, ok := receipts[i]
		if !ok {
			t.Fatalf("no answer for call %d", i)
		}
		// Frame order is log order: the i-th frame leased nonce i and got
		// the i-th sequence number of the run.
		if e.Nonce != uint64(i) || e.Seq != receipts[0].Seq+uint64(i) || *e.Existing {
			t.Fatalf("call %d: seq %d nonce %d existing %v (first seq %d)", i, e.Seq, e.Nonce, *e.Existing, receipts[0].Seq)
		}
	}
	// The entry is stored as answered (an HTTP read of it).
	var got struct{ Entries []wire.Entry }
	wire.MustCall(t, n.url, "sequencer_read", map[string]any{"from": receipts[7].Seq, "limit": 1}, &got)
	if len(got.Entries) != 1 || got.Entries[0].Hash != receipts[7].Hash {
		t.Fatalf("stored %+v, answered %s", got.Entries, receipts[7].Hash)
	}

	// A batch of writes with a retry of call 3 and a bad call: one array.
	batch := `[{"jsonrpc":"2.0","id":"a","method":"sequencer_append","params":[{"data":"0x03","lineage":"ws","externalId":"t3"}]},` +
		`{"jsonrpc":"2.0","id":"b","method":"sequencer_close","params":[{"lineage":"ws","externalId":"t3"}]},` +
		`{"jsonrpc":"2.0","id":"c","method":"sequencer_close","params":[{"lineage":"ws","externalId":"nope"}]}]`
	conn.WriteMessage(websocket.TextMessage, []byte(batch))
	var rs []wire.Response
	if err := json.Unmarshal(readFrame(t, conn), &rs); err != nil || len(rs) != 3 {
		t.Fatalf("batch answer: %v %+v", err, rs)
	}
	var retry wire.Entry
	json.Unmarshal(rs[0].Result, &retry)
	if retry.Hash != receipts[3].Hash || !*retry.Existing || rs[1].Error != nil || rs[2].Error == nil || rs[2].Error.Code != 4003 {
		t.Fatalf("batch answers: %+v", rs)
	}
}

// Every answer the node's WebSocket path gives is the answer HTTP gives for
// the same call (errors byte for byte), and what the node does not take
// itself (reads, malformed calls) is go-ethereum's as before.
func TestWebSocketAnswersAsHTTP(t *testing.T) {
	n := newNode(t, nodeOptions{})
	wire.AppendTx(t, n.url, []byte("x"), "l", "1")
	calls := []string{
		`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":"0xzz","lineage":"l","externalId":"2"}]}`,
		`{"jsonrpc":"2.0","id":2,"method":"sequencer_append","params":[{"data":"01","lineage":"l","externalId":"2"}]}`,
		`{"jsonrpc":"2.0","id":3,"method":"sequencer_close","params":[{"lineage":"l","externalId":"nope"}]}`,
		`{"jsonrpc":"2.0","id":4,"method":"sequencer_release","params":[{"lineage":"l","externalId":"nope"}]}`,
		`{"jsonrpc":"2.0","id":5,"method":"sequencer_append","params":[{"data":"0x01","lineage":"bad lineage","externalId":"2"}]}`,
		`{"jsonrpc":"2.0","id":6,"method":"sequencer_append","params":[{"data":"0x01","lineage":"l","externalId":"1"}]}`,
		`{"jsonrpc":"2.0","id":7,"method":"sequencer_append","params":[{"data":"0x01"}, 2]}`,
		`{"jsonrpc":"2.0","id":8,"method":"sequencer_nope"}`,
		`{"jsonrpc":"2.0","id":9,"method":"sequencer_read","params":[{"from":1,"limit":1}]}`,
		`[{"jsonrpc":"2.0","id":10,"method":"sequencer_close","params":[{"lineage":"l","externalId":"x"}]},{"jsonrpc":"2.0","id":11,"method":"sequencer_append","params":[{"data":"0xz"}]}]`,
		`[{"jsonrpc":"2.0","id":12,"method":"sequencer_close","params":[{"lineage":"l","externalId":"x"}]},{"jsonrpc":"2.0","id":13,"method":"sequencer_read","params":[{"from":1,"limit":1}]}]`,
	}
	conn := dialWS(t, n.ws)
	for _, c := range calls {
		_, httpAnswer := wire.Post(t, n.url, c)
		conn.WriteMessage(websocket.TextMessage, []byte(c))
		wsAnswer := readFrame(t, conn)
		if !bytes.Equal(bytes.TrimSpace(httpAnswer), bytes.TrimSpace(wsAnswer)) {
			t.Fatalf("call %s\nHTTP: %s\nWS:   %s", c, httpAnswer, wsAnswer)
		}
	}
	// A duplicated key is refused (as over HTTP) and the connection stays.
	dup := `{"jsonrpc":"2.0","id":1,"method":"sequencer_read","method":"sequencer_info","params":[{"from":1}]}`
	_, httpAnswer := wire.Post(t, n.url, dup)
	conn.WriteMessage(websocket.TextMessage, []byte(dup))
	if ws := readFrame(t, conn); !bytes.Equal(bytes.TrimSpace(httpAnswer), ws) || !bytes.Contains(ws, []byte("-32600")) {
		t.Fatalf("duplicate key: HTTP %s, WS %s", httpAnswer, ws)
	}
	conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":2,"method":"sequencer_info"}`))
	if ws := readFrame(t, conn); !bytes.Contains(ws, []byte(`"id":2,"result"`)) {
		t.Fatalf("after a refused frame: %s", ws)
	}
	// A frame that is not one JSON value: a parse error, and the
	// connection is closed (go-ethereum's rule).
	conn.WriteMessage(websocket.TextMessage, []byte(`{}{}`))
	var r wire.Response
	if err := json.Unmarshal(readFrame(t, conn), &r); err != nil || r.Error == nil || r.Error.Code != -32700 || string(r.ID) != "null" {
		t.Fatalf("two values in a frame: %+v %v", r, err)
	}
	if _, _, err := conn.ReadMessage(); err == nil {
		t.Fatal("the connection stayed open after a parse error")
	}
}

// The browser origin rule of go-ethereum's WebSocket server.
func TestOriginAllowed(t *testing.T) {
	req := func(origin string) *http.Request {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
		if origin != "-" {
			r.Header.Set("Origin", origin)
		}
		return r
	}
	for _, c := range []struct {
		allowed []string
		origin  string
		ok      bool
	}{
		{nil, "-", true}, // no Origin header: not a browser
		{nil, "http://localhost", true},
		{nil, "http://localhost:8545", true}, // a rule without a port admits any port
		{nil, "https://localhost", false},
		{nil, "http://evil.example", false},
		{[]string{"http://localhost:8545"}, "http://localhost:8545", true},
		{[]string{"http://localhost:8545"}, "http://LOCALHOST:8545", true},
		{[]string{"http://localhost:8545"}, "http://localhost:8546", false},
		{[]string{"http://localhost:8545"}, "http://localhost", false},
		{[]string{"localhost"}, "https://localhost:1", true}, // no scheme, no port: any
		{[]string{"example.com:80"}, "http://example.com:80", true},
		{[]string{"example.com:80"}, "http://example.com:81", false},
		{[]string{"*"}, "http://evil.example", true},
		{[]string{"http://a.example"}, "-", true},
		{[]string{"http://a.example"}, "null", false},
	} {
		if got := originAllowed(c.allowed)(req(c.origin)); got != c.ok {
			t.Errorf("allowed %q, origin %q: %v, want %v", c.allowed, c.origin, got, c.ok)
		}
	}
}

// The frames a WebSocket connection has under way count among the request
// bodies in flight until answered: with commits held, a connection that
// sent more than BodyBytesInFlight of frames is not read further (a read
// behind them waits) until its writes are answered.
func TestWebSocketFramesBounded(t *testing.T) {
	n := newNode(t, nodeOptions{})
	reg := prometheus.NewRegistry()
	api := NewAPI(n.seq, n.seq.Store(), Config{Role: "primary", Primary: n.seq.Address(), Domain: chain1, Logger: quietLogger()}, reg)
	srv, err := NewServer(api, reg, ServerOptions{BodyLimit: 64 << 10, WSReadLimit: 64 << 10, BodyBytesInFlight: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	conn := dialWS(t, "ws"+strings.TrimPrefix(hs.URL, "http")+"/")
	release := n.store.hold()
	defer release()
	// 8 frames of ~60 KiB (a small append padded with spaces): ~480 KiB.
	pad := strings.Repeat(" ", 60<<10)
	for i := range 8 {
		f := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_append","params":[{"data":"0x01","externalId":"f%d"}]}%s`, i, i, pad)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"info","method":"sequencer_info"}`))
	got := make(chan []byte, 16)
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			got <- b
		}
	}()
	select {
	case b := <-got:
		t.Fatalf("answered while the frames before it fill the bound: %s", b)
	case <-time.After(500 * time.Millisecond):
	}
	release()
	answers := 0
	for b := range got {
		var r wire.Response
		if json.Unmarshal(b, &r) != nil || r.Error != nil {
			t.Fatalf("answer %s", b)
		}
		if answers++; answers == 9 {
			break
		}
	}
	if answers != 9 {
		t.Fatalf("%d answers, want 9", answers)
	}
	// The room goes back just after each answer is written.
	wire.WaitFor(t, 5*time.Second, "the frames' room given back", func() bool {
		if srv.bodies.TryAcquire(256 << 10) {
			srv.bodies.Release(256 << 10)
			return true
		}
		return false
	})
}

// A graceful shutdown answers the writes a WebSocket connection sent
// before it, once they are durable, then closes the connection (1001);
// a connection that comes during the shutdown is closed at once.
func TestWebSocketShutdownAnswersWrites(t *testing.T) {
	n := newNode(t, nodeOptions{})
	conn := dialWS(t, n.ws)
	release := n.store.hold()
	defer release()
	const singles = 20
	for i := range singles {
		f := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sequencer_append","params":[{"data":"0x01","externalId":"s%d"}]}`, i, i)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	var batch []string
	for i := range 5 {
		batch = append(batch, fmt.Sprintf(`{"jsonrpc":"2.0","id":"b%d","method":"sequencer_append","params":[{"data":"0x02","externalId":"b%d"}]}`, i, i))
	}
	conn.WriteMessage(websocket.TextMessage, []byte("["+strings.Join(batch, ",")+"]"))
	// Frames are read in order: once the read after them is answered,
	// every write before it was read and enqueued.
	conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"info","method":"sequencer_info"}`))
	if _, b, err := conn.ReadMessage(); err != nil || !bytes.Contains(b, []byte(`"id":"info"`)) {
		t.Fatalf("first answer %s, %v; want the info", b, err)
	}

	stopped := shutdownIn(n.srv, 20*time.Second)
	select {
	case err := <-stopped:
		t.Fatalf("shutdown returned (%v) before the writes under way were answered", err)
	case <-time.After(300 * time.Millisecond):
	}
	// A connection opened now is closed without being served.
	late := dialWS(t, n.ws)
	late.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":"0x03","externalId":"late"}]}`))
	if _, b, err := late.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("a connection during shutdown read %s, %v; want close 1001", b, err)
	}

	release()
	answered := map[string]bool{}
	for len(answered) < singles+5 {
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(answered), err)
		}
		var rs []wire.Response
		if b[0] == '[' {
			err = json.Unmarshal(b, &rs)
		} else {
			rs = make([]wire.Response, 1)
			err = json.Unmarshal(b, &rs[0])
		}
		if err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
		for _, r := range rs {
			if r.Error != nil {
				t.Fatalf("answer %s: error", b)
			}
			answered[string(r.ID)] = true
		}
	}
	if _, b, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after the answers read %s, %v; want close 1001", b, err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shutdown did not return after the answers")
	}
	if h := n.store.Head().Seq; h != singles+5 {
		t.Fatalf("head %d, want %d (the late write must not be taken)", h, singles+5)
	}
}

// Shutdown keeps to its bound: writes that cannot commit (held here) are
// cut off when its context ends, whether the node's own path or
// go-ethereum's (a batch of one) took them.
func TestWebSocketShutdownBounded(t *testing.T) {
	n := newNode(t, nodeOptions{})
	conn := dialWS(t, n.ws)
	release := n.store.hold()
	defer release()
	conn.WriteMessage(websocket.TextMessage, []byte(`[{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":"0x01","externalId":"slow-path"}]}]`))
	conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":2,"method":"sequencer_append","params":[{"data":"0x01","externalId":"fast-path"}]}`))
	conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":"info","method":"sequencer_info"}`))
	if _, b, err := conn.ReadMessage(); err != nil || !bytes.Contains(b, []byte(`"id":"info"`)) {
		t.Fatalf("first answer %s, %v; want the info", b, err)
	}
	time.Sleep(100 * time.Millisecond) // go-ethereum's handler runs its call on a goroutine of its own
	stopped := shutdownIn(n.srv, 500*time.Millisecond)
	select {
	case err := <-stopped:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("shutdown: %v; want its deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown with a 500 ms bound still running after 10 s")
	}
}

// shutdownIn runs srv.Shutdown bounded by d on a goroutine of its own; its
// error comes on the channel.
func shutdownIn(srv *Server, d time.Duration) <-chan error {
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		stopped <- srv.Shutdown(ctx)
	}()
	return stopped
}
