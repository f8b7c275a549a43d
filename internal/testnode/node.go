package testnode

import (
	"context"
	"crypto/ecdsa"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/chain"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

// Options of a node. The zero value is an open-mode primary with a fresh
// key under chain id 1 and the zero verifying contract.
type Options struct {
	Key    *ecdsa.PrivateKey
	Domain sequencer.Domain
	Allow  rpc.Allowlist                   // nil: open mode
	Wrap   func(http.Handler) http.Handler // optional: wraps the HTTP handler
	// Watch, if set, runs the chain watcher (SPEC §9) on the node: fed by
	// its commits, writing through its pipeline, its readings in
	// sequencer_lineage.chain.
	Watch *chain.Config
}

// Node is a running primary.
type Node struct {
	URL       string // http://127.0.0.1:port/
	Key       *ecdsa.PrivateKey
	Sequencer *sequencer.Sequencer
	stop      func()
}

// Start runs a primary in-process with its store in dir: LevelDB, the
// append pipeline and the JSON-RPC server (HTTP and WebSocket) on
// 127.0.0.1, as httptest does for HTTP handlers.
func Start(dir string, o Options) (*Node, error) {
	if o.Key == nil {
		k, err := crypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		o.Key = k
	}
	if o.Domain.ChainID == nil {
		o.Domain.ChainID = big.NewInt(1)
	}
	store, err := sequencer.OpenLevelStore(filepath.Join(dir, "db"), false)
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	scfg := sequencer.Config{Key: o.Key, Domain: o.Domain, Logger: quiet}
	apiCfg := rpc.Config{Role: "primary", Version: "test", Domain: o.Domain, Allow: o.Allow, Logger: quiet}
	if apiCfg.Checkpoints, err = sequencer.NewCheckpointSigner(o.Key, o.Domain); err != nil {
		store.Close()
		return nil, err
	}
	var w *chain.Watcher
	if o.Watch != nil {
		wc := *o.Watch
		wc.Primary, wc.Logger, wc.Registerer = crypto.PubkeyToAddress(o.Key.PublicKey), quiet, reg
		w = chain.New(wc, store)
		scfg.OnCommit = w.OnCommit
		apiCfg.Chain = func(lineage string) *rpc.ChainJSON {
			st, ok := w.Status(lineage)
			if !ok {
				return nil
			}
			return &rpc.ChainJSON{ConfirmedNonce: st.ConfirmedNonce, LatestNonce: st.LatestNonce, Block: st.Block}
		}
	}
	seq, err := sequencer.New(store, scfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	apiCfg.Primary = seq.Address()
	api := rpc.NewAPI(seq, seq.Store(), apiCfg, reg)
	stopWatch := func() {}
	if w != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx, seq) }()
		stopWatch = func() { cancel(); <-done }
	}
	srv, err := rpc.NewServer(api, reg, rpc.ServerOptions{})
	if err != nil {
		stopWatch()
		seq.Close()
		store.Close()
		return nil, err
	}
	h := srv.Handler()
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	hs := httptest.NewServer(h)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
		stopWatch()
		seq.Close()
		store.Close()
	}
	return &Node{URL: hs.URL + "/", Key: o.Key, Sequencer: seq, stop: stop}, nil
}

// New starts a primary for the test t (see Start): its store in a temp
// dir, stopped at cleanup.
func New(t testing.TB, o Options) *Node {
	t.Helper()
	n, err := Start(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// Close stops the server, the pipeline and the store.
func (n *Node) Close() { n.stop() }
