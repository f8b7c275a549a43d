package client_test

import (
	"context"
	"crypto/ecdsa"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

var domain = sequencer.Domain{ChainID: big.NewInt(1)}

type testNode struct {
	url     string
	primary *ecdsa.PrivateKey
	seq     *sequencer.Sequencer
}

// launchNode runs a real primary in-process (LevelDB in dir, the
// pipeline, the JSON-RPC server on 127.0.0.1). allow nil: open mode.
func launchNode(dir string, key *ecdsa.PrivateKey, allow rpc.Allowlist) (*testNode, func(), error) {
	if key == nil {
		key, _ = crypto.GenerateKey()
	}
	store, err := sequencer.OpenLevelStore(filepath.Join(dir, "db"), false)
	if err != nil {
		return nil, nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	seq, err := sequencer.New(store, sequencer.Config{Key: key, Domain: domain, Logger: quiet})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	api := rpc.NewAPI(seq, rpc.Config{Role: "primary", Version: "test", Primary: seq.Address(), Domain: domain, Allow: allow, Logger: quiet}, reg)
	srv, err := rpc.NewServer(api, reg, rpc.ServerOptions{})
	if err != nil {
		seq.Close()
		store.Close()
		return nil, nil, err
	}
	hs := httptest.NewServer(srv.Handler())
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
		seq.Close()
		store.Close()
	}
	return &testNode{url: hs.URL + "/", primary: key, seq: seq}, stop, nil
}

func startNode(t testing.TB, key *ecdsa.PrivateKey, allow rpc.Allowlist) *testNode {
	t.Helper()
	n, stop, err := launchNode(t.TempDir(), key, allow)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return n
}

// runExampleNode starts a node for a runnable example.
func runExampleNode() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "seq-example")
	if err != nil {
		panic(err)
	}
	n, stopNode, err := launchNode(dir, nil, nil)
	if err != nil {
		panic(err)
	}
	return n.url, func() { stopNode(); os.RemoveAll(dir) }
}

// proxy forwards TCP connections to target and can drop them all at once,
// as a flaky network would.
type proxy struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.accepted++
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.drop() })
	return p
}

func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
