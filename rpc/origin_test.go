package rpc

import (
	"context"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
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
		var in wInfo
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
	mustCall(t, n.url, "eth_chainId", nil, &got)
	if got != "0x1" {
		t.Fatalf("eth_chainId = %s, want 0x1", got)
	}
}
