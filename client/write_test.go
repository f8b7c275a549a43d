package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/rpc"
)

// Writes are written and read by hand, over HTTP and over WebSocket. Both
// must give a caller the same answers, and the answers go-ethereum's client
// reads from the same calls (the oracle): the same receipts, the same
// errors with the same codes, messages and data, in a batch and alone,
// signed and not.
func TestWritesOverHTTPAsOverWebSocket(t *testing.T) {
	key, _ := crypto.GenerateKey()
	for _, signed := range []bool{false, true} {
		var opts []client.Option
		var allow rpc.Allowlist
		if signed {
			opts = append(opts, client.WithKey(key))
			allow = rpc.Allowlist{crypto.PubkeyToAddress(key.PublicKey): {}}
		}
		n := startNode(t, nil, allow)
		h := dial(t, n.URL, opts...)
		w := dial(t, "ws://"+strings.TrimPrefix(n.URL, "http://"), opts...)
		ctx := context.Background()
		const L = "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7"

		// Each write is made first on one path, then retried on the other
		// (same externalId: the node answers the same receipt, existing).
		first, err := h.Append(ctx, client.AppendRequest{Data: []byte("a"), Lineage: L, ExternalID: "a"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := w.Append(ctx, client.AppendRequest{Data: []byte("a"), Lineage: L, ExternalID: "a"})
		if err != nil || !again.Existing {
			t.Fatalf("retry over ws: %+v %v", again, err)
		}
		again.Existing = false
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("signed=%v: http %+v\nws %+v", signed, first, again)
		}
		plain, err := w.Append(ctx, client.AppendRequest{Data: []byte{}, ExternalID: "p"})
		if err != nil {
			t.Fatal(err)
		}
		plainAgain, err := h.Append(ctx, client.AppendRequest{Data: []byte{}, ExternalID: "p"})
		if err != nil || !plainAgain.Existing {
			t.Fatalf("retry over http: %+v %v", plainAgain, err)
		}
		plainAgain.Existing = false
		if !reflect.DeepEqual(plain, plainAgain) {
			t.Fatalf("signed=%v: ws %+v\nhttp %+v", signed, plain, plainAgain)
		}
		if _, err := h.Close(ctx, L, "a"); err != nil {
			t.Fatal(err)
		}

		// The same batch on both paths: receipts of retries, and errors
		// (final ticket with its data, conflict, unknown ticket, bad reason).
		batch := func(c *client.Client) []client.BatchResult {
			b := c.NewBatch()
			// A signed append of the closed ticket would be answered from
			// the replay cache within the same second (same deadline), so
			// only the unsigned batch has it.
			if !signed {
				if err := b.Append(ctx, client.AppendRequest{Data: []byte("a"), Lineage: L, ExternalID: "a"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, err := range []error{
				b.Append(ctx, client.AppendRequest{Data: []byte("other"), ExternalID: "p"}),
				b.Append(ctx, client.AppendRequest{Data: []byte{}, ExternalID: "p"}),
				b.Close(ctx, L, "a"),
				b.Close(ctx, L, "nobody"),
				b.Release(ctx, L, "a", "lost"),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			res, err := b.Do(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		hr, wr := batch(h), batch(w)
		if !reflect.DeepEqual(hr, wr) {
			for i := range hr {
				t.Logf("%d: http %+v %v\n   ws %+v %v", i, hr[i].Receipt, hr[i].Err, wr[i].Receipt, wr[i].Err)
			}
			t.Fatalf("signed=%v: batches differ", signed)
		}
		if !signed {
			// The oracle: the same calls (retries now, all of them)
			// through go-ethereum's client, over HTTP.
			gr := gethBatch(t, h.RPC(), []gethrpc.BatchElem{
				{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x61", "lineage": L, "externalId": "a"}}},
				{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x6f74686572", "externalId": "p"}}},
				{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x", "externalId": "p"}}},
				{Method: "sequencer_close", Args: []any{map[string]any{"lineage": L, "externalId": "a"}}},
				{Method: "sequencer_close", Args: []any{map[string]any{"lineage": L, "externalId": "nobody"}}},
				{Method: "sequencer_release", Args: []any{map[string]any{"lineage": L, "externalId": "a", "reason": "lost"}}},
			})
			if !reflect.DeepEqual(gr, wr) {
				for i := range gr {
					t.Logf("%d: go-ethereum %+v %v\n   ws %+v %v", i, gr[i].Receipt, gr[i].Err, wr[i].Receipt, wr[i].Err)
				}
				t.Fatal("the batch as go-ethereum's client reads it differs")
			}
		}
		codes := []int{client.CodeTicketFinal, client.CodeExternalIDConflict, 0, 0, client.CodeNotFound, -32602}
		if signed {
			codes = codes[1:]
		}
		for i, want := range codes {
			if got := client.Code(hr[i].Err); got != want {
				t.Fatalf("signed=%v: call %d: code %d (%v), want %d", signed, i, got, hr[i].Err, want)
			}
		}
		var e *client.Error
		if !signed && (!errors.As(hr[0].Err, &e) || e.Data == nil || !hr[3].Receipt.Existing) {
			t.Fatalf("TicketFinal without the ticket: %#v", hr[0].Err)
		}
		// Alone, too.
		_, herr := h.Close(ctx, L, "nobody")
		_, werr := w.Close(ctx, L, "nobody")
		if !reflect.DeepEqual(herr, werr) || client.Code(herr) != client.CodeNotFound {
			t.Fatalf("http %#v, ws %#v", herr, werr)
		}
	}
}

// gethBatch sends elems through go-ethereum's client and gives the
// answers as client.BatchResult (errors as the client's Error).
func gethBatch(t *testing.T, rc *gethrpc.Client, elems []gethrpc.BatchElem) []client.BatchResult {
	t.Helper()
	for i := range elems {
		elems[i].Result = new(client.Receipt)
	}
	if err := rc.BatchCallContext(context.Background(), elems); err != nil {
		t.Fatal(err)
	}
	out := make([]client.BatchResult, len(elems))
	for i, e := range elems {
		var re gethrpc.Error
		var de gethrpc.DataError
		switch {
		case e.Error == nil:
			out[i].Receipt = e.Result.(*client.Receipt)
		case errors.As(e.Error, &re) && errors.As(e.Error, &de):
			out[i].Err = &client.Error{Code: re.ErrorCode(), Message: re.Error(), Data: de.ErrorData()}
		case errors.As(e.Error, &re):
			out[i].Err = &client.Error{Code: re.ErrorCode(), Message: re.Error()}
		default:
			t.Fatal(e.Error)
		}
	}
	return out
}

// Many writes under way at once on one client over WebSocket share its
// one connection, each matched to its own answer.
func TestWritesOverWebSocketConcurrent(t *testing.T) {
	n := startNode(t, nil, nil)
	w := dial(t, "ws://"+strings.TrimPrefix(n.URL, "http://"))
	ctx := context.Background()
	const writers, each = 50, 8
	seqs := make(chan uint64, writers*each*3)
	errs := make(chan error, writers)
	for g := range writers {
		go func() {
			for i := range each {
				id := fmt.Sprintf("%d-%d", g, i)
				r, err := w.Append(ctx, client.AppendRequest{Data: []byte(id), ExternalID: id})
				if err != nil {
					errs <- err
					return
				}
				if r.ExternalID != id {
					errs <- fmt.Errorf("call %s answered with the receipt of %s", id, r.ExternalID)
					return
				}
				seqs <- r.Seq
				b := w.NewBatch()
				b.Append(ctx, client.AppendRequest{Data: []byte("b1" + id), ExternalID: "b1" + id})
				b.Append(ctx, client.AppendRequest{Data: []byte("b2" + id), ExternalID: "b2" + id})
				res, err := b.Do(ctx)
				if err != nil {
					errs <- err
					return
				}
				for j, r := range res {
					if r.Err != nil || r.Receipt.ExternalID != fmt.Sprintf("b%d%s", j+1, id) {
						errs <- fmt.Errorf("batch %s call %d: %+v %v", id, j, r.Receipt, r.Err)
						return
					}
					seqs <- r.Receipt.Seq
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d answered twice", s)
		}
		seen[s] = true
	}
	if len(seen) != writers*each*3 {
		t.Fatalf("%d receipts, want %d", len(seen), writers*each*3)
	}
}

// A WebSocket connection that fails fails the calls under way with a
// transport error; the next write dials again. A frame the node could not
// read is answered with a null id: the call's error.
func TestWriteWebSocketRedial(t *testing.T) {
	var dials atomic.Int32
	url := wsServer(t, func(_ *http.Request, conn *websocket.Conn) {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
		if dials.Add(1) == 1 {
			return // the first connection fails under the call
		}
		conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`))
		conn.ReadMessage() // until the client closes
	})
	c := dial(t, url, client.WithRetries(0, 0))
	ctx := context.Background()
	if _, err := c.Append(ctx, client.AppendRequest{Data: []byte{1}}); err == nil || client.Code(err) != 0 {
		t.Fatalf("append on a failing connection: %v", err)
	}
	if _, err := c.Append(ctx, client.AppendRequest{Data: []byte{1}}); client.Code(err) != -32700 {
		t.Fatalf("append after a redial: %v", err)
	}
	if dials.Load() != 2 {
		t.Fatalf("%d connections, want 2", dials.Load())
	}
}

// A status other than 2xx is the transport's error, as go-ethereum's
// client gives it: an HTTPError with the status and body, on every call.
func TestWriteHTTPStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := dial(t, srv.URL, client.WithRetries(0, 0))
	_, err := c.Append(context.Background(), client.AppendRequest{Data: []byte{1}})
	var he gethrpc.HTTPError
	if !asHTTPError(err, &he) || he.StatusCode != 503 || !strings.Contains(string(he.Body), "busy") {
		t.Fatalf("append: %#v", err)
	}
	b := c.NewBatch()
	_ = b.Append(context.Background(), client.AppendRequest{Data: []byte{1}})
	_ = b.Close(context.Background(), "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7", "x")
	res, err := b.Do(context.Background())
	if !asHTTPError(err, &he) || len(res) != 2 || !asHTTPError(res[1].Err, &he) {
		t.Fatalf("batch: %v %+v", err, res)
	}
	if client.Code(err) != 0 {
		t.Fatalf("a transport error has code %d", client.Code(err))
	}
}

func asHTTPError(err error, he *gethrpc.HTTPError) bool { return errors.As(err, he) }

// A node that cannot read a call or a batch answers one error with a null
// id: a single call gets that error, a batch gets it as the batch's error
// (on every call), as with go-ethereum's client.
func TestWriteUnreadable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`))
	}))
	defer srv.Close()
	c := dial(t, srv.URL, client.WithRetries(0, 0))
	ctx := context.Background()
	if _, err := c.Append(ctx, client.AppendRequest{Data: []byte{1}}); client.Code(err) != -32700 {
		t.Fatalf("append: %v", err)
	}
	b := c.NewBatch()
	_ = b.Append(ctx, client.AppendRequest{Data: []byte{1}})
	_ = b.Append(ctx, client.AppendRequest{Data: []byte{2}})
	res, err := b.Do(ctx)
	if client.Code(err) != -32700 || len(res) != 2 || client.Code(res[0].Err) != -32700 || client.Code(res[1].Err) != -32700 {
		t.Fatalf("batch: %v %+v", err, res)
	}
}

// Answers to no call of the batch (an unknown id, a second answer to one
// call) are passed over; a call left without an answer gets go-ethereum's
// ErrMissingBatchResponse.
func TestWriteStrayAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"jsonrpc":"2.0","id":0,"error":{"code":4003,"message":"not found"}},` +
			`{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"stray"}},` +
			`{"jsonrpc":"2.0","id":0,"error":{"code":-2,"message":"again"}}]`))
	}))
	defer srv.Close()
	c := dial(t, srv.URL, client.WithRetries(0, 0))
	ctx := context.Background()
	b := c.NewBatch()
	_ = b.Close(ctx, "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7", "x")
	_ = b.Close(ctx, "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7", "y")
	res, err := b.Do(ctx)
	if err != nil || client.Code(res[0].Err) != client.CodeNotFound || !errors.Is(res[1].Err, gethrpc.ErrMissingBatchResponse) {
		t.Fatalf("%v %+v", err, res)
	}
}

// wsServer serves WebSocket connections on 127.0.0.1 with handle.
func wsServer(t *testing.T, handle func(r *http.Request, conn *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		handle(r, conn)
	}))
	t.Cleanup(srv.Close)
	return "ws://" + strings.TrimPrefix(srv.URL, "http://")
}

// answerFrame answers every call of a frame with a 4003 error.
func answerFrame(conn *websocket.Conn) bool {
	_, b, err := conn.ReadMessage()
	return err == nil && answerCalls(conn, b)
}

// answerCalls answers every call of frame b with a 4003 error.
func answerCalls(conn *websocket.Conn, b []byte) bool {
	var calls []struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(b, &calls) != nil {
		calls = calls[:0]
		var one struct {
			ID json.RawMessage `json:"id"`
		}
		json.Unmarshal(b, &one)
		calls = append(calls, one)
	}
	var out []string
	for _, c := range calls {
		out = append(out, `{"jsonrpc":"2.0","id":`+string(c.ID)+`,"error":{"code":4003,"message":"not found"}}`)
	}
	msg := strings.Join(out, ",")
	if b[0] == '[' {
		msg = "[" + msg + "]"
	}
	return conn.WriteMessage(websocket.TextMessage, []byte(msg)) == nil
}

// An answer that arrives just before the node closes the connection is
// the call's answer, not the closed connection's error.
func TestWriteWebSocketAnswerThenClose(t *testing.T) {
	// The node answers one frame per connection, then closes it; read
	// counts the frames read, each before it is answered.
	var read atomic.Int64
	url := wsServer(t, func(_ *http.Request, conn *websocket.Conn) {
		if _, b, err := conn.ReadMessage(); err == nil {
			read.Add(1)
			answerCalls(conn, b)
		}
	})
	c := dial(t, url, client.WithRetries(0, 0))
	unsent := 0
	for i := range 200 {
		before := read.Load()
		_, err := c.Close(context.Background(), "l", fmt.Sprint(i))
		if client.Code(err) != client.CodeNotFound {
			// Right only if the frame went to a connection the node had
			// closed without reading it (a frame read is answered).
			if read.Load() != before {
				t.Fatalf("call %d: answered, but the client reported %v", i, err)
			}
			unsent++
		}
		// Let the client see the close before the next call, mostly.
		time.Sleep(5 * time.Millisecond)
	}
	if unsent > 100 {
		t.Fatalf("%d of 200 calls went to closed connections", unsent)
	}
}

// A frame is written by the caller's deadline: a node that stops reading
// does not hold a call with a short context for the link's 30 s.
func TestWriteWebSocketDeadline(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	url := wsServer(t, func(_ *http.Request, conn *websocket.Conn) { <-stop })
	c := dial(t, url, client.WithRetries(0, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Append(ctx, client.AppendRequest{Data: make([]byte, 32<<20)})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
}

// The write connection is dialled as go-ethereum dials: user info in the
// URL is sent as Basic authorization. After Disconnect, writes fail with
// go-ethereum's ErrClientQuit.
func TestWriteWebSocketDial(t *testing.T) {
	url := wsServer(t, func(r *http.Request, conn *websocket.Conn) {
		if r.Header.Get("Authorization") != "Basic dXNlcjpwYXNz" {
			return
		}
		for answerFrame(conn) {
		}
	})
	c, err := client.Dial(context.Background(), strings.Replace(url, "ws://", "ws://user:pass@", 1), client.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Close(context.Background(), "l", "x"); client.Code(err) != client.CodeNotFound {
		t.Fatalf("with user info: %v", err)
	}
	c.Disconnect()
	if _, err := c.Close(context.Background(), "l", "x"); !errors.Is(err, gethrpc.ErrClientQuit) {
		t.Fatalf("after Disconnect: %v", err)
	}
}
