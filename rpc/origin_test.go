package rpc

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// A web page must not reach a local node's WebSocket: a browser sends its
// page's Origin, which is refused unless allowed; clients without an Origin
// (non-browser software) and http://localhost are accepted.
func TestWebSocketOrigins(t *testing.T) {
	n := newNode(t, nodeOptions{})
	dial := func(origin string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := gethrpc.DialWebsocket(ctx, n.ws, origin)
		if err != nil {
			return err
		}
		defer c.Close()
		var in wire.Info
		return c.CallContext(ctx, &in, "sequencer_info")
	}
	if err := dial("http://evil.example"); err == nil {
		t.Fatal("a foreign browser origin opened a WebSocket")
	}
	for _, o := range []string{"", "http://localhost"} {
		if err := dial(o); err != nil {
			t.Fatalf("origin %q refused: %v", o, err)
		}
	}
}

// eth_chainId answers the chain id of the log's domain, as Ethereum
// clients expect before they send anything else.
func TestEthChainID(t *testing.T) {
	n := newNode(t, nodeOptions{})
	var got string
	wire.MustCall(t, n.url, "eth_chainId", nil, &got)
	if got != "0x1" {
		t.Fatalf("eth_chainId = %s, want 0x1", got)
	}
}

// Live subscriptions are bounded: past MaxSubscriptions a subscribe
// answers Overloaded, and a slot frees when a subscription ends.
func TestSubscriptionLimit(t *testing.T) {
	n := newNode(t, nodeOptions{api: func(c *Config) { c.MaxSubscriptions = 2 }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gethrpc.DialWebsocket(ctx, n.ws, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var subs []*gethrpc.ClientSubscription
	for range 2 {
		s, err := c.Subscribe(ctx, "sequencer", make(chan json.RawMessage, 8), "entries")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if _, err := c.Subscribe(ctx, "sequencer", make(chan json.RawMessage, 8), "entries"); wire.Code(err) != CodeOverloaded {
		t.Fatalf("third subscription: %v", err)
	}
	subs[0].Unsubscribe()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := c.Subscribe(ctx, "sequencer", make(chan json.RawMessage, 8), "entries")
		if err == nil {
			s.Unsubscribe()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after an unsubscribe: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
