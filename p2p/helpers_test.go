package p2p

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// The harness runs every node in-process with real components: LevelDB on
// a temp dir, libp2p on 127.0.0.1, the real Sequencer, Mirror and Follower.

const waitLong = testnode.WaitLong // bound of every wait for convergence

var quietLogger = testnode.QuietLogger

type nodeOpts struct {
	peers           []peer.AddrInfo
	dropRate        float64
	maxDataBytes    int
	logger          *slog.Logger
	syncRequestRate float64
	syncByteRate    int
	syncTimeout     time.Duration
	pubsubOpts      []pubsub.Option
	dataDir         string // holds the node's identity; a fresh one if empty
}

func startNode(t testing.TB, lg testnode.Log, store sequencer.Store, o nodeOpts) *Node {
	t.Helper()
	if o.logger == nil {
		o.logger = quietLogger()
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	n, err := New(Config{DataDir: o.dataDir, ListenAddr: "/ip4/127.0.0.1/tcp/0", Peers: o.peers,
		Primary: lg.Addr, Domain: lg.Domain, Store: store, MaxDataBytes: o.maxDataBytes,
		Logger: o.logger, DropRate: o.dropRate,
		SyncRequestRate: o.syncRequestRate, SyncByteRate: o.syncByteRate, syncTimeout: o.syncTimeout, pubsubOpts: o.pubsubOpts})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// addrInfo is how another node is told to dial n (SPEC §6: --peers).
func addrInfo(t testing.TB, n *Node) []peer.AddrInfo {
	t.Helper()
	ais, err := ParsePeers(n.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	if len(ais) != 1 {
		t.Fatalf("want one peer from %v, got %d", n.Addrs(), len(ais))
	}
	return ais
}

// testPrimary is a primary: store, node, sequencer publishing on commit
// (internal/testnode's harness, with this package's libp2p node).
type testPrimary = testnode.Primary[*Node]

type primaryOpts struct {
	nodeOpts
	dir       string           // datadir of the store; a fresh one if empty
	now       func() time.Time // the sequencer's clock
	noPublish bool             // entries reach peers by sync only
	noSeq     bool             // no sequencer yet (recovery runs first)
}

func startPrimary(t testing.TB, lg testnode.Log, o primaryOpts) *testPrimary {
	t.Helper()
	to := testnode.PrimaryOpts{Dir: o.dir, Now: o.now, MaxDataBytes: o.maxDataBytes, NoPublish: o.noPublish, NoSeq: o.noSeq}
	return testnode.StartPrimary(t, lg, to, func(st *sequencer.LevelStore) *Node { return startNode(t, lg, st, o.nodeOpts) })
}

// testReplica is a replica: store, mirror, node and a follower goroutine.
type testReplica struct {
	lg     testnode.Log
	dir    string
	store  *sequencer.LevelStore
	node   *Node
	mirror *sequencer.Mirror

	maxLag   time.Duration
	mu       sync.Mutex
	follower *Follower
	cancel   context.CancelFunc
	done     chan struct{}
}

type replicaOpts struct {
	nodeOpts
	noFollower bool
	mirrorLog  *slog.Logger
	maxLag     time.Duration // the follower's --max-lag; 0: the default
	dir        string        // the store's directory; a fresh one if empty
}

func startReplica(t testing.TB, lg testnode.Log, o replicaOpts) *testReplica {
	t.Helper()
	r := &testReplica{lg: lg, dir: o.dir, maxLag: o.maxLag}
	if r.dir == "" {
		r.dir = t.TempDir()
	}
	r.store = testnode.OpenStore(t, r.dir)
	r.node = startNode(t, lg, r.store, o.nodeOpts)
	t.Cleanup(r.close)
	if o.mirrorLog == nil {
		o.mirrorLog = quietLogger()
	}
	m, err := sequencer.NewMirror(r.store, lg.Addr, lg.Domain, o.mirrorLog, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.mirror = m
	if !o.noFollower {
		r.startFollower()
	}
	return r
}

// reopenMirror opens a new Mirror over the replica's store, as a restart does.
func (r *testReplica) reopenMirror() (*sequencer.Mirror, error) {
	return sequencer.NewMirror(r.store, r.lg.Addr, r.lg.Domain, quietLogger(), nil)
}

func (r *testReplica) startFollower() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	r.follower = NewFollower(r.node, r.mirror, nil)
	r.follower.MaxLag = r.maxLag
	r.cancel, r.done = cancel, make(chan struct{})
	go func(f *Follower, done chan struct{}) {
		defer close(done)
		f.Run(ctx)
	}(r.follower, r.done)
}

// stopFollower cancels the follower and waits (bounded) for it to return.
func (r *testReplica) stopFollower(t testing.TB) {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel, r.done = nil, nil
	r.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Errorf("follower did not stop within %s of its context ending", waitLong)
	}
}

func (r *testReplica) close() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLong):
		}
	}
	r.node.Close()
	r.store.Close()
}

// waitFor is wire.WaitFor, shared with the other packages' tests.
var waitFor = wire.WaitFor

func waitConnected(t testing.TB, a, b *Node) {
	t.Helper()
	waitFor(t, waitLong, "peers to connect", func() bool {
		return a.host.Network().Connectedness(b.ID()) == network.Connected
	})
}

// waitTopicPeers waits until a and b each know the other subscribes to the
// log's topic: before that, a publish does not reach the other (a test of
// what gossip carries must not race the subscription exchange).
func waitTopicPeers(t testing.TB, a, b *Node) {
	t.Helper()
	waitFor(t, waitLong, "peers to see each other on the topic", func() bool {
		return slices.Contains(a.ps.ListPeers(a.topic.String()), b.ID()) &&
			slices.Contains(b.ps.ListPeers(b.topic.String()), a.ID())
	})
}

// chain builds n consecutive tx entries after prev, signed by key under d.
func chain(t testing.TB, key *ecdsa.PrivateKey, d sequencer.Domain, prev sequencer.Head, n int, tag string) []*sequencer.Entry {
	t.Helper()
	h := sequencer.NewHasher(d)
	out := make([]*sequencer.Entry, 0, n)
	for i := range n {
		data := []byte(fmt.Sprintf("%s-%d", tag, prev.Seq+1))
		e := &sequencer.Entry{Seq: prev.Seq + 1, PrevHash: prev.Hash, Kind: sequencer.KindTx,
			DataHash: crypto.Keccak256Hash(data), Data: data, Timestamp: prev.Timestamp + uint64(i%2)}
		sign(t, h, key, e)
		out = append(out, e)
		prev = sequencer.Head{Seq: e.Seq, Hash: e.Hash, Timestamp: e.Timestamp}
	}
	return out
}

// sign sets e's hash and signature.
func sign(t testing.TB, h *sequencer.Hasher, key *ecdsa.PrivateKey, e *sequencer.Entry) {
	t.Helper()
	e.Hash = h.EntryHash(e)
	sig, err := sequencer.Sign(e.Hash, key)
	if err != nil {
		t.Fatal(err)
	}
	e.Signature = sig
}

func cloneEntry(e *sequencer.Entry) *sequencer.Entry {
	c := *e
	c.Data = bytes.Clone(e.Data)
	return &c
}

func headOf(e *sequencer.Entry) sequencer.Head {
	return sequencer.Head{Seq: e.Seq, Hash: e.Hash, Timestamp: e.Timestamp}
}

// counter reads a Prometheus counter.
func counter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
