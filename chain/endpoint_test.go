package chain

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// faultyEndpoint stands between the watcher and the chain: it passes
// calls through, or answers as a failing endpoint does.
type faultyEndpoint struct {
	mode  atomic.Value // "ok", "down", "garbage", "wrong types", "slow"
	proxy *httputil.ReverseProxy
}

func (f *faultyEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch f.mode.Load().(string) {
	case "down":
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("<html>\x00\xffnot json"))
	case "wrong types":
		// Valid JSON-RPC, nonsense results: every call answers an object.
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[` + repeatJSON(`{"jsonrpc":"2.0","id":1,"result":{"a":1}}`, 1) + `]`))
	case "slow":
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		http.Error(w, "too late", http.StatusGatewayTimeout)
	default:
		f.proxy.ServeHTTP(w, r)
	}
}

func repeatJSON(s string, n int) string {
	out := s
	for range n - 1 {
		out += "," + s
	}
	return out
}

// TestEndpointFailures: a chain endpoint that is down, answers garbage or
// nonsense, or is too slow never stops the node (writes are answered at
// once meanwhile), is reported (rpc errors, endpoint_up 0), writes nothing
// on a bad reading, and the watcher catches up when it answers again. An
// endpoint that serves another chain is refused.
func TestEndpointFailures(t *testing.T) {
	acct := simchain.NewAccount()
	ch, err := simchain.Start(200*time.Millisecond, acct)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	target, _ := url.Parse(ch.URL)
	f := &faultyEndpoint{proxy: httputil.NewSingleHostReverseProxy(target)}
	f.mode.Store("ok")
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := startPrimary(t, Config{Endpoints: map[uint64]string{simchain.ChainID: srv.URL}, Confirmations: 1,
		Poll: 100 * time.Millisecond, CallTimeout: 500 * time.Millisecond})
	L := acct.Lineage()
	sink := common.HexToAddress("0xf00d")
	ctx := context.Background()
	up := func() float64 { return testutil.ToFloat64(p.w.m.up.WithLabelValues("1337")) }
	errs := func() float64 { return testutil.ToFloat64(p.w.m.errors.WithLabelValues("1337")) }

	na := p.lease(L, "a")
	txa := ch.Transfer(acct, na, 2*gwei, sink)
	p.attempt(L, "a", txa)
	if err := ch.Send(ctx, txa); err != nil {
		t.Fatal(err)
	}
	wire.WaitFor(t, 10*time.Second, "a confirmed through a healthy endpoint", func() bool {
		return p.ticket(L, "a").MinedTx == txa.Hash()
	})

	for i, mode := range []string{"down", "garbage", "wrong types", "slow"} {
		f.mode.Store(mode)
		before := errs()
		id := string(rune('b' + i))
		n := p.lease(L, id)
		tx := ch.Transfer(acct, n, 2*gwei, sink)
		p.attempt(L, id, tx)
		if err := ch.Send(ctx, tx); err != nil {
			t.Fatal(err)
		}
		wire.WaitFor(t, 10*time.Second, mode+": the failure reported", func() bool { return errs() > before && up() == 0 })
		// The node serves writes at once while its endpoint fails.
		start := time.Now()
		p.do(sequencer.Op{Kind: sequencer.KindTx, Data: []byte(mode), DataHash: common.Hash{1}})
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s: an append took %s while the endpoint failed", mode, d)
		}
		if tk := p.ticket(L, id); tk.State != sequencer.TicketLeased {
			t.Fatalf("%s: ticket %s is %s: written from a failing endpoint", mode, id, tk.State)
		}
		f.mode.Store("ok")
		wire.WaitFor(t, 40*time.Second, mode+": caught up once the endpoint answers", func() bool {
			return p.ticket(L, id).MinedTx == tx.Hash() && up() == 1
		})
	}

	// An endpoint that serves another chain than it is configured for.
	other := startPrimary(t, Config{Endpoints: map[uint64]string{1: ch.URL}, Confirmations: 1, Poll: 100 * time.Millisecond})
	wrongL := "eip155:1:" + acct.Address.Hex()
	other.lease(wrongL, "x")
	wire.WaitFor(t, 10*time.Second, "the wrong chain refused", func() bool {
		return testutil.ToFloat64(other.w.m.errors.WithLabelValues("1")) > 0
	})
	time.Sleep(500 * time.Millisecond)
	if l, _ := other.store.Lineage(wrongL); l.Floor != 0 || len(l.InFlight) != 1 {
		t.Fatalf("a watcher wrote from the wrong chain: %+v", *l)
	}
}
