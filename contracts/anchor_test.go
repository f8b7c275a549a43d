package contracts

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// anchorRig is a log written by a real pipeline on LevelDB, and the
// contract deployed for its primary on the simulated chain served over HTTP.
type anchorRig struct {
	lg       testnode.Log
	store    *sequencer.LevelStore
	seq      *sequencer.Sequencer
	chain    *simchain.Chain
	payer    simchain.Account
	contract common.Address
	c        *SequencerAccountability
	signer   *sequencer.CheckpointSigner
}

func newAnchorRig(t *testing.T) *anchorRig {
	t.Helper()
	r := &anchorRig{lg: testnode.NewLog(t), store: testnode.OpenStore(t, t.TempDir()), payer: simchain.NewAccount()}
	t.Cleanup(func() { r.store.Close() })
	deployer := simchain.NewAccount()
	var err error
	if r.chain, err = simchain.Start(200*time.Millisecond, r.payer, deployer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.chain.Close)
	if r.seq, err = sequencer.New(r.store, sequencer.Config{Key: r.lg.Key, Domain: r.lg.Domain, Logger: testnode.QuietLogger()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.seq.Close() })
	if r.signer, err = sequencer.NewCheckpointSigner(r.lg.Key, r.lg.Domain); err != nil {
		t.Fatal(err)
	}
	cl, err := ethclient.Dial(r.chain.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	o := transactor(t, deployer.Key)
	addr, tx, c, err := DeploySequencerAccountability(o, cl, r.lg.Addr, r.lg.Domain.ChainID, r.lg.Domain.VerifyingContract, 3600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := bind.WaitDeployed(ctx, cl, tx); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	r.contract, r.c = addr, c
	return r
}

func transactor(t *testing.T, k *ecdsa.PrivateKey) *bind.TransactOpts {
	t.Helper()
	o, err := bind.NewKeyedTransactorWithChainID(k, big1337)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// run starts an anchorer on url; it stops at cleanup.
func (r *anchorRig) run(t *testing.T, url string, isLeader func() bool) *anchorMetrics {
	return r.runFor(t, url, isLeader, 5*time.Second)
}

func (r *anchorRig) runFor(t *testing.T, url string, isLeader func() bool, mineTimeout time.Duration) *anchorMetrics {
	t.Helper()
	reg := prometheus.NewRegistry() // registered as the node does: names must not collide
	a, err := NewAnchorer(AnchorConfig{URL: url, Contract: r.contract, Every: 300 * time.Millisecond, Key: r.payer.Key,
		Signer: r.signer, Log: r.store, IsLeader: isLeader, Logger: testnode.QuietLogger(), Registerer: reg,
		MineTimeout: mineTimeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a.m
}

// waitAnchor waits until the contract's latest anchor is the log's
// checkpoint of size, bounded in time.
func (r *anchorRig) waitAnchor(t *testing.T, size uint64) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		got, err := r.c.LatestAnchor(nil)
		if err == nil && got.Size == size {
			root, err := r.store.Root(size)
			if err != nil {
				t.Fatal(err)
			}
			es, err := r.store.Range(size, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got.Root != root || got.Timestamp != es[0].Timestamp {
				t.Fatalf("anchored %+v, the log's checkpoint at %d has root %x timestamp %d", got, size, root, es[0].Timestamp)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("latestAnchor %+v (%v), want size %d", got, err, size)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var big1337 = big.NewInt(simchain.ChainID)

func TestAnchoring(t *testing.T) {
	r := newAnchorRig(t)
	cl, err := ethclient.Dial(r.chain.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r.c, err = NewSequencerAccountability(r.contract, cl)
	if err != nil {
		t.Fatal(err)
	}
	testnode.WritePlain(t, r.seq, "a", 20)

	// A node that does not write the log (a cluster follower) never anchors.
	var leader atomic.Bool
	m := r.run(t, r.chain.URL, leader.Load)
	time.Sleep(1500 * time.Millisecond)
	if got, _ := r.c.LatestAnchor(nil); got.Size != 0 {
		t.Fatalf("a follower anchored %+v", got)
	}
	leader.Store(true)
	r.waitAnchor(t, 20)
	testnode.WritePlain(t, r.seq, "b", 30)
	r.waitAnchor(t, 50)
	// The receipt reaches the anchorer after the state reaches us.
	waitMetric(t, m.anchored, "anchors mined", func(v float64) bool { return v >= 2 })
	// While the log stands still no anchor is sent.
	sent := testutil.ToFloat64(m.sent)
	time.Sleep(1200 * time.Millisecond)
	if now := testutil.ToFloat64(m.sent); now != sent {
		t.Fatalf("%v anchors sent while the log did not grow", now-sent)
	}
}

// An endpoint that is down, then answers garbage, then recovers: the node
// keeps writing, the anchorer counts the failures, and it anchors the head
// once the endpoint answers.
func TestAnchoringRetries(t *testing.T) {
	r := newAnchorRig(t)
	target, err := url.Parse(r.chain.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mode atomic.Int32 // 0 down, 1 garbage, 2 through
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch mode.Load() {
		case 0:
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		case 1:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":"0xzz"}`))
		default:
			proxy.ServeHTTP(w, req)
		}
	}))
	defer front.Close()

	m := r.run(t, front.URL, nil)
	failures := m.failures
	for phase := int32(0); phase < 2; phase++ {
		mode.Store(phase)
		before := testutil.ToFloat64(failures)
		testnode.WritePlain(t, r.seq, "while-failing", 5) // the log does not wait for the chain
		deadline := time.Now().Add(20 * time.Second)
		for testutil.ToFloat64(failures) < before+2 {
			if time.Now().After(deadline) {
				t.Fatalf("mode %d: failures stayed at %v", phase, testutil.ToFloat64(failures))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if up := testutil.ToFloat64(m.up); up != 0 {
			t.Fatalf("mode %d: endpoint_up %v while failing", phase, up)
		}
	}
	cl, err := ethclient.Dial(r.chain.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if r.c, err = NewSequencerAccountability(r.contract, cl); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.c.LatestAnchor(nil); got.Size != 0 {
		t.Fatalf("anchored through a failing endpoint: %+v", got)
	}
	mode.Store(2)
	r.waitAnchor(t, r.store.Head().Seq)
	waitMetric(t, m.up, "endpoint_up after recovery", func(v float64) bool { return v == 1 })
}

func waitMetric(t *testing.T, c prometheus.Collector, what string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(testutil.ToFloat64(c)) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, testutil.ToFloat64(c))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An anchor that is not mined in time is replaced: the same nonce with
// higher fees, so that a stuck transaction never queues the next ones.
func TestAnchoringReplacesStuck(t *testing.T) {
	r := newAnchorRig(t)
	testnode.WritePlain(t, r.seq, "a", 10)
	release := r.chain.HoldBlocks()
	m := r.runFor(t, r.chain.URL, nil, 700*time.Millisecond)
	waitMetric(t, m.sent, "anchors sent while blocks are held", func(v float64) bool { return v >= 3 })
	release()
	r.waitAnchor(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := r.chain.Nonce(ctx, r.payer.Address)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("the payer used %d nonces for one anchor sent %v times: stuck anchors were queued, not replaced", n, testutil.ToFloat64(m.sent))
	}
}
