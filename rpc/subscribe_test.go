package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// appendMany appends count entries from workers goroutines over HTTP and
// returns the first error.
func appendMany(url string, workers, count int, tag string) error {
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += workers {
				p := map[string]any{"data": hexData([]byte(fmt.Sprintf("%s-%d", tag, i)))}
				if i%4 == 0 { // 16 lineages: none reaches --max-in-flight
					p["lineage"], p["externalId"] = fmt.Sprintf("%s-%d", tag, i%16), fmt.Sprintf("id-%d", i)
				}
				r, err := wire.TryCall(url, wire.Request("sequencer_append", p))
				if err == nil && r.Error != nil {
					err = r.Error
				}
				if err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// receive reads the subscription until it has seen seq last, checking
// strict seq order with no gap and no duplicate from first.
func receive(t *testing.T, sub *gethrpc.ClientSubscription, ch <-chan json.RawMessage, first, last uint64, timeout time.Duration) []json.RawMessage {
	t.Helper()
	return receiveOr(t, sub, ch, first, last, timeout, nil)
}

// receiveOr is receive that also gives up when abort delivers an error.
func receiveOr(t *testing.T, sub *gethrpc.ClientSubscription, ch <-chan json.RawMessage, first, last uint64, timeout time.Duration, abort <-chan error) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	want := first
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for want <= last {
		select {
		case raw := <-ch:
			var e wire.Entry
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("notification %s: %v", raw, err)
			}
			if e.Seq != want {
				t.Fatalf("got seq %d, want %d (gap, duplicate or disorder)", e.Seq, want)
			}
			out = append(out, raw)
			want++
		case err := <-sub.Err():
			t.Fatalf("subscription ended at seq %d: %v", want, err)
		case err := <-abort:
			t.Fatalf("at seq %d: %v", want, err)
		case <-timer.C:
			t.Fatalf("timed out at seq %d of %d", want, last)
		}
	}
	return out
}

// TestSubscribe follows the log over WebSocket with go-ethereum's client
// (SPEC §4 sequencer_subscribe): backfill from storage, then live entries
// while appends run concurrently, in seq order with no gap and no
// duplicate, each equal to what sequencer_read returns.
func TestSubscribe(t *testing.T) {
	n := newNode(t, nodeOptions{})
	const backfill, live = 120, 360
	if err := appendMany(n.url, 4, backfill, "before"); err != nil {
		t.Fatal(err)
	}
	c := wsClient(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ch := make(chan json.RawMessage, 16) // small: the server must not outrun us
	sub, err := c.Subscribe(ctx, "sequencer", ch, "entries", map[string]any{"from": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	// A second subscriber that joins mid-way, from seq 100.
	ch2 := make(chan json.RawMessage, 1024)
	sub2, err := c.Subscribe(ctx, "sequencer", ch2, "entries", map[string]any{"from": 100})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Unsubscribe()

	writeErr := make(chan error, 1)
	go func() {
		if err := appendMany(n.url, 6, live, "live"); err != nil {
			writeErr <- fmt.Errorf("concurrent appends: %w", err)
		}
	}()
	// Meanwhile a reader checks that sequencer_read is consistent under
	// writes: exactly the entries from..min(head, from+limit-1).
	stopReads := make(chan struct{})
	readsDone := make(chan error, 1)
	go func() { readsDone <- readWhileWriting(n.url, stopReads) }()
	got := receiveOr(t, sub, ch, 1, backfill+live, 45*time.Second, writeErr)
	close(stopReads)
	if err := <-readsDone; err != nil {
		t.Fatal(err)
	}
	got2 := receive(t, sub2, ch2, 100, backfill+live, 10*time.Second)

	log := wire.ReadAll(t, n.url)
	_, raw := wire.ReadLog(t, n.url, map[string]any{"from": 1, "limit": 1000})
	var rr struct {
		Entries []json.RawMessage `json:"entries"`
	}
	mustJSON(t, raw, &rr)
	if len(log) != backfill+live {
		t.Fatalf("log has %d entries", len(log))
	}
	for i, e := range got {
		if !wire.JSONEqual(e, rr.Entries[i]) {
			t.Fatalf("notified entry %d differs from the stored one:\n %s\n %s", i+1, e, rr.Entries[i])
		}
	}
	for i, e := range got2 {
		if !wire.JSONEqual(e, rr.Entries[99+i]) {
			t.Fatalf("second subscriber, entry %d differs", 100+i)
		}
	}
	// Nothing more: no duplicate of the last entry arrives.
	select {
	case extra := <-ch:
		t.Fatalf("extra notification after the head: %s", extra)
	case <-time.After(100 * time.Millisecond):
	}
}

func readWhileWriting(url string, stop <-chan struct{}) error {
	head := uint64(1)
	for reads := 0; ; reads++ {
		select {
		case <-stop:
			if reads == 0 {
				return errors.New("no read ran")
			}
			return nil
		default:
		}
		from := max(1, head-3)
		const limit = 8
		r, err := wire.TryCall(url, wire.Request("sequencer_read", map[string]any{"from": from, "limit": limit}))
		if err == nil && r.Error != nil {
			err = r.Error
		}
		if err != nil {
			return err
		}
		var rr wire.Read
		if err := json.Unmarshal(r.Result, &rr); err != nil {
			return err
		}
		want := uint64(0)
		if rr.Head >= from {
			want = min(rr.Head-from+1, limit)
		}
		if uint64(len(rr.Entries)) != want {
			return fmt.Errorf("read from %d limit %d at head %d gave %d entries", from, limit, rr.Head, len(rr.Entries))
		}
		for i, e := range rr.Entries {
			if e.Seq != from+uint64(i) {
				return fmt.Errorf("read from %d: entry %d has seq %d", from, i, e.Seq)
			}
		}
		head = rr.Head
	}
}

// TestSubscribeFrom: the default start is head+1 (SPEC §4), `{}` means the
// same, and a `from` ahead of the head waits for it.
func TestSubscribeFrom(t *testing.T) {
	n := newNode(t, nodeOptions{})
	for range 5 {
		wire.AppendTx(t, n.url, []byte("x"), "", "")
	}
	c := wsClient(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subscribe := func(args ...any) (*gethrpc.ClientSubscription, chan json.RawMessage) {
		t.Helper()
		ch := make(chan json.RawMessage, 64)
		sub, err := c.Subscribe(ctx, "sequencer", ch, append([]any{"entries"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Unsubscribe)
		return sub, ch
	}
	subA, chA := subscribe()
	subB, chB := subscribe(map[string]any{})
	subC, chC := subscribe(map[string]any{"from": 8})
	for range 4 {
		wire.AppendTx(t, n.url, []byte("y"), "", "")
	}
	receive(t, subA, chA, 6, 9, 10*time.Second)
	receive(t, subB, chB, 6, 9, 10*time.Second)
	receive(t, subC, chC, 8, 9, 10*time.Second)
}

// TestSubscribeErrors: subscriptions fail cleanly over HTTP, with a bad
// `from`, an unknown field or an unknown name; and a server shutdown ends
// live subscriptions instead of leaving them hanging.
func TestSubscribeErrors(t *testing.T) {
	n := newNode(t, nodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	hc := httpRPCClient(t, n.url)
	if _, err := hc.Subscribe(ctx, "sequencer", make(chan json.RawMessage), "entries", map[string]any{"from": 1}); !errors.Is(err, gethrpc.ErrNotificationsUnsupported) {
		t.Fatalf("subscribe over HTTP: %v", err)
	}
	// The server itself refuses a subscribe sent over HTTP, and keeps serving.
	wire.WantError(t, n.url, "sequencer_subscribe", "entries", -32601, "")
	wire.GetInfo(t, n.url)

	c := wsClient(t, n)
	for _, tc := range []struct {
		args []any
		code int
	}{
		{[]any{"entries", map[string]any{"from": 0}}, -32602},
		{[]any{"entries", map[string]any{"from": -1}}, -32602},
		{[]any{"entries", map[string]any{"form": 1}}, -32602},
		{[]any{"entries", 5}, -32602},
		{[]any{"entries", map[string]any{}, 1}, -32602},
		{[]any{"blocks"}, -32601},
	} {
		_, err := c.Subscribe(ctx, "sequencer", make(chan json.RawMessage), tc.args...)
		if wire.Code(err) != tc.code {
			t.Fatalf("subscribe %v: %v, want code %d", tc.args, err, tc.code)
		}
	}
	// The connection still works.
	var i wire.Info
	if err := c.CallContext(ctx, &i, "sequencer_info"); err != nil {
		t.Fatal(err)
	}

	ch := make(chan json.RawMessage, 8)
	sub, err := c.Subscribe(ctx, "sequencer", ch, "entries")
	if err != nil {
		t.Fatal(err)
	}
	wire.AppendTx(t, n.url, []byte("a"), "", "")
	receive(t, sub, ch, 1, 1, 10*time.Second)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := n.srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Err():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription still open 10 s after server shutdown")
	}
}

// TestSubscriptionWireFormat reads the raw WebSocket frames: notifications
// are {"jsonrpc":"2.0","method":"sequencer_subscription","params":
// {"subscription":ID,"result":Entry}} (SPEC §4, go-ethereum's form).
func TestSubscriptionWireFormat(t *testing.T) {
	n := newNode(t, nodeOptions{})
	wire.AppendTx(t, n.url, []byte("first"), "w", "1")
	wire.CloseTicket(t, n.url, "w", "1")
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(n.ws, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"sequencer_subscribe","params":["entries",{"from":1}]}`)); err != nil {
		t.Fatal(err)
	}
	var subID string
	seen := 0
	for seen < 2 {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Method  string          `json:"method"`
			Result  json.RawMessage `json:"result"`
			Params  struct {
				Subscription string          `json:"subscription"`
				Result       json.RawMessage `json:"result"`
			} `json:"params"`
		}
		if err := json.Unmarshal(msg, &m); err != nil || m.JSONRPC != "2.0" {
			t.Fatalf("frame %s", msg)
		}
		if string(m.ID) == "1" {
			if err := json.Unmarshal(m.Result, &subID); err != nil || !strings.HasPrefix(subID, "0x") {
				t.Fatalf("subscribe answer %s", msg)
			}
			continue
		}
		if m.Method != "sequencer_subscription" || m.Params.Subscription == "" || (subID != "" && m.Params.Subscription != subID) {
			t.Fatalf("notification %s (subscription %s)", msg, subID)
		}
		seen++
		base := []string{"seq", "hash", "prevHash", "kind", "sender", "lineage", "nonce", "externalId", "dataHash", "timestamp", "signature"}
		if seen == 1 {
			wantKeys(t, "notified tx", m.Params.Result, append(base, "data")...)
		} else {
			wantKeys(t, "notified close", m.Params.Result, base...)
		}
	}
}

// sendAppends starts count appends at once; results arrive on the channel.
func sendAppends(url string, count int, tag string) <-chan wire.Response {
	out := make(chan wire.Response, count)
	for i := range count {
		go func() {
			p := map[string]any{"data": hexData([]byte(fmt.Sprintf("%s-%d", tag, i)))}
			if i%2 == 0 { // a lineage of its own: never at --max-in-flight
				p["lineage"], p["externalId"] = fmt.Sprintf("%s-%d", tag, i), "id"
			}
			r, err := wire.TryCall(url, wire.Request("sequencer_append", p))
			if err != nil {
				r = wire.Response{Error: &wire.Error{Code: -1, Message: err.Error()}}
			}
			out <- r
		}()
	}
	return out
}

// checkOverloadResults: every answer is a receipt or 4007 without data;
// the receipts are distinct and readable. It returns the receipts and the
// number of 4007s.
func checkOverloadResults(t *testing.T, url string, rs []wire.Response) ([]wire.Entry, int) {
	t.Helper()
	var receipts []wire.Entry
	overloaded := 0
	seqs := map[uint64]bool{}
	for _, r := range rs {
		if r.Error != nil {
			if r.Error.Code != CodeOverloaded {
				t.Fatalf("unexpected error %v", r.Error)
			}
			wire.CheckError(t, r.Error, CodeOverloaded, "")
			overloaded++
			continue
		}
		var e wire.Entry
		mustJSON(t, r.Result, &e)
		e.Raw = r.Result
		if seqs[e.Seq] || *e.Existing {
			t.Fatalf("receipt %s repeats a seq or is not new", r.Result)
		}
		seqs[e.Seq] = true
		receipts = append(receipts, e)
	}
	wire.CheckReadable(t, url, receipts)
	return receipts, overloaded
}

func metricValue(t *testing.T, n *node, name string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestOverloaded fills the write pipeline deterministically: group commits
// are held, so with a queue of 1 and groups of 1 entry only a handful of
// writes fit and the rest must get 4007 (SPEC §4, STYLE: bounded queues say
// Overloaded, never block forever). While it is full, calls that would fail
// anyway get their own, higher-ranked code (4003, 4008, 4004, 4005 before
// 4007). Once commits resume, every held write gets its receipt, and every
// receipt is readable.
func TestOverloaded(t *testing.T) {
	n := newNode(t, nodeOptions{metrics: true, seq: func(c *sequencer.Config) {
		c.QueueSize, c.MaxBatch, c.Signers, c.MaxInFlight = 1, 1, 1, 2
	}})
	const L = "ov"
	wire.AppendTx(t, n.url, []byte{1}, L, "leased")
	wire.AppendTx(t, n.url, []byte{1}, L, "closed")
	wire.CloseTicket(t, n.url, L, "closed")
	wire.AppendTx(t, n.url, []byte{1}, "full", "a")
	wire.AppendTx(t, n.url, []byte{1}, "full", "b")
	const seeded = 5

	release := n.store.hold()
	defer release()
	const writes = 64
	results := sendAppends(n.url, writes, "w")
	var rs []wire.Response
	timeout := time.After(30 * time.Second)
	for overloaded := false; !overloaded; {
		select {
		case r := <-results:
			rs = append(rs, r)
			if r.Error == nil {
				t.Fatalf("a write returned while commits are held: %s", r.Result)
			}
			overloaded = r.Error.Code == CodeOverloaded
		case <-timeout:
			t.Fatalf("no 4007 after %d of %d writes answered", len(rs), writes)
		}
	}

	// Probes while the pipeline is full. Each must get its own code whether
	// it met the full queue (answered at once) or entered the pipeline.
	type probe struct {
		method string
		params map[string]any
		code   int
		data   string
	}
	probes := []probe{
		{"sequencer_close", map[string]any{"lineage": L, "externalId": "nope"}, 4003, ""},
		{"sequencer_append", map[string]any{"data": "0x02", "lineage": L, "externalId": "leased"}, 4008, ""},
		{"sequencer_append", map[string]any{"data": "0x01", "lineage": L, "externalId": "closed"}, 4004,
			`{"lineage":"ov","externalId":"closed","nonce":1,"state":"closed","leaseSeq":2,"finalSeq":3,"attempts":[]}`},
		{"sequencer_append", map[string]any{"data": "0x01", "lineage": "full", "externalId": "c"}, 4005, `{"limit":2}`},
	}
	type probeResult struct {
		i int
		r wire.Response
	}
	probeOut := make(chan probeResult, len(probes))
	for i, p := range probes {
		go func() {
			r, err := wire.TryCall(n.url, wire.Request(p.method, p.params))
			if err != nil {
				r = wire.Response{Error: &wire.Error{Code: -1, Message: err.Error()}}
			}
			probeOut <- probeResult{i, r}
		}()
	}
	probeRes := make([]*wire.Response, len(probes))
	answered := 0
	heldFor := time.After(2 * time.Second)
early:
	for answered < len(probes) {
		select {
		case pr := <-probeOut:
			probeRes[pr.i] = &pr.r
			answered++
		case <-heldFor:
			break early
		}
	}
	t.Logf("%d of %d probes answered while commits were held", answered, len(probes))

	release()
	for len(rs) < writes {
		select {
		case r := <-results:
			rs = append(rs, r)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d writes never answered after commits resumed", writes-len(rs), writes)
		}
	}
	for answered < len(probes) {
		select {
		case pr := <-probeOut:
			probeRes[pr.i] = &pr.r
			answered++
		case <-time.After(30 * time.Second):
			t.Fatalf("%d probes never answered", len(probes)-answered)
		}
	}
	for i, p := range probes {
		if probeRes[i].Error == nil {
			t.Fatalf("probe %s %v succeeded", p.method, p.params)
		}
		wire.CheckError(t, probeRes[i].Error, p.code, p.data)
	}
	receipts, overloaded := checkOverloadResults(t, n.url, rs)
	if overloaded == 0 {
		t.Fatal("no write got 4007")
	}
	t.Logf("%d writes: %d receipts, %d overloaded", writes, len(receipts), overloaded)
	if got := metricValue(t, n, "sequencer_overloaded_total"); got != float64(overloaded) {
		t.Fatalf("sequencer_overloaded_total %v, %d answers were 4007", got, overloaded)
	}
	if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != seeded+uint64(len(receipts)) {
		t.Fatalf("head %d, want %d + %d receipts", i.Head.Seq, seeded, len(receipts))
	}
	// Not stuck: writes work again.
	wire.AppendTx(t, n.url, []byte("after"), "", "")
	n.seq.Close()
	verifyLog(t, n)
}

// TestOverloadedFreeRunning: a queue of 1 under many concurrent appends,
// with nothing held. Whether 4007 shows up depends on the machine's
// timing, so it is not required; what must hold is that no call gets any
// other error and every receipt is in the log, once.
func TestOverloadedFreeRunning(t *testing.T) {
	n := newNode(t, nodeOptions{seq: func(c *sequencer.Config) { c.QueueSize = 1 }})
	const total = 240
	results := sendAppends(n.url, total, "free")
	rs := make([]wire.Response, 0, total)
	timeout := time.After(60 * time.Second)
	for len(rs) < total {
		select {
		case r := <-results:
			rs = append(rs, r)
		case <-timeout:
			t.Fatalf("%d of %d appends never answered", total-len(rs), total)
		}
	}
	receipts, overloaded := checkOverloadResults(t, n.url, rs)
	t.Logf("%d appends: %d receipts, %d overloaded", total, len(receipts), overloaded)
	if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != uint64(len(receipts)) {
		t.Fatalf("head %d, %d receipts", i.Head.Seq, len(receipts))
	}
	n.seq.Close()
	verifyLog(t, n)
}
