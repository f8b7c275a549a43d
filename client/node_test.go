package client_test

import (
	"crypto/ecdsa"
	"io"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/seqnode/sequencer/internal/testnode"

	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

var domain = sequencer.Domain{ChainID: big.NewInt(1)}

// startNode runs a real primary in-process. allow nil: open mode.
func startNode(t testing.TB, key *ecdsa.PrivateKey, allow rpc.Allowlist) *testnode.Node {
	t.Helper()
	return testnode.New(t, testnode.Options{Key: key, Domain: domain, Allow: allow})
}

// runExampleNode starts a node for a runnable example.
func runExampleNode() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "seq-example")
	if err != nil {
		panic(err)
	}
	n, err := testnode.Start(dir, testnode.Options{Domain: domain})
	if err != nil {
		panic(err)
	}
	return n.URL, func() { n.Close(); os.RemoveAll(dir) }
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
