package node

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/sequencer"
)

// A small harness over p2p's exported API: primaries and replicas in
// process, LevelDB on a temp dir, libp2p on 127.0.0.1. (p2p's tests have
// the full one, with access to its insides.)

const waitLong = testnode.WaitLong // bound of every wait for convergence

var quietLogger = testnode.QuietLogger

type nodeOpts struct {
	peers []peer.AddrInfo
}

func startNode(t testing.TB, lg testnode.Log, store sequencer.Store, o nodeOpts) *p2p.Node {
	t.Helper()
	n, err := p2p.New(p2p.Config{DataDir: t.TempDir(), ListenAddr: "/ip4/127.0.0.1/tcp/0", Peers: o.peers,
		Primary: lg.Addr, Domain: lg.Domain, Store: store, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// addrInfo is how another node is told to dial n (SPEC §6: --peers).
func addrInfo(t testing.TB, n *p2p.Node) []peer.AddrInfo {
	t.Helper()
	ais, err := p2p.ParsePeers(n.Addrs())
	if err != nil || len(ais) != 1 {
		t.Fatalf("want one peer from %v: %v", n.Addrs(), err)
	}
	return ais
}

// testPrimary is a primary: store, node, sequencer publishing on commit
// (internal/testnode's harness, with p2p's node).
type testPrimary = testnode.Primary[*p2p.Node]

type primaryOpts struct {
	nodeOpts
	dir       string // datadir of the store; a fresh one if empty
	noPublish bool   // entries reach peers by sync only
	noSeq     bool   // no sequencer yet (recovery runs first)
}

func startPrimary(t testing.TB, lg testnode.Log, o primaryOpts) *testPrimary {
	t.Helper()
	to := testnode.PrimaryOpts{Dir: o.dir, NoPublish: o.noPublish, NoSeq: o.noSeq}
	return testnode.StartPrimary(t, lg, to, func(st *sequencer.LevelStore) *p2p.Node { return startNode(t, lg, st, o.nodeOpts) })
}

// testReplica is a replica: store, mirror, node and a follower goroutine.
type testReplica struct {
	store  *sequencer.LevelStore
	node   *p2p.Node
	mirror *sequencer.Mirror
}

type replicaOpts struct {
	nodeOpts
}

func startReplica(t testing.TB, lg testnode.Log, o replicaOpts) *testReplica {
	t.Helper()
	r := &testReplica{store: testnode.OpenStore(t, t.TempDir())}
	r.node = startNode(t, lg, r.store, o.nodeOpts)
	m, err := sequencer.NewMirror(r.store, lg.Addr, lg.Domain, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.mirror = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p2p.NewFollower(r.node, m, nil).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLong):
			t.Errorf("follower did not stop within %s", waitLong)
		}
		r.node.Close()
		r.store.Close()
	})
	return r
}

// waitFor polls cond until it holds, failing the test after d.
var waitFor = wire.WaitFor
