package node

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/sequencer"
)

// A small harness over p2p's exported API: primaries and replicas in
// process, LevelDB on a temp dir, libp2p on 127.0.0.1. (p2p's tests have
// the full one, with access to its insides.)

const waitLong = 20 * time.Second // bound of every wait for convergence

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type testLog struct {
	key    *ecdsa.PrivateKey
	addr   common.Address
	domain sequencer.Domain
}

func newTestLog(t testing.TB) testLog {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return testLog{key: key, addr: crypto.PubkeyToAddress(key.PublicKey),
		domain: sequencer.Domain{ChainID: big.NewInt(31337), VerifyingContract: common.HexToAddress("0x00000000000000000000000000000000005e9000")}}
}

func openStore(t testing.TB, dir string) *sequencer.LevelStore {
	t.Helper()
	st, err := sequencer.OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func memStore(t testing.TB) *sequencer.LevelStore {
	t.Helper()
	st, err := sequencer.OpenMemStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type nodeOpts struct {
	peers []peer.AddrInfo
}

func startNode(t testing.TB, lg testLog, store sequencer.Store, o nodeOpts) *p2p.Node {
	t.Helper()
	n, err := p2p.New(p2p.Config{DataDir: t.TempDir(), ListenAddr: "/ip4/127.0.0.1/tcp/0", Peers: o.peers,
		Primary: lg.addr, Domain: lg.domain, Store: store, Logger: quietLogger()})
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

type testPrimary struct {
	lg    testLog
	dir   string
	store *sequencer.LevelStore
	node  *p2p.Node
	seq   *sequencer.Sequencer
}

type primaryOpts struct {
	nodeOpts
	dir       string // datadir of the store; a fresh one if empty
	noPublish bool   // entries reach peers by sync only
	noSeq     bool   // no sequencer yet (recovery runs first)
}

func startPrimary(t testing.TB, lg testLog, o primaryOpts) *testPrimary {
	t.Helper()
	p := &testPrimary{lg: lg, dir: o.dir}
	if p.dir == "" {
		p.dir = t.TempDir()
	}
	p.store = openStore(t, p.dir)
	p.node = startNode(t, lg, p.store, o.nodeOpts)
	t.Cleanup(p.close)
	if !o.noSeq {
		p.startSequencer(t, o)
	}
	return p
}

func (p *testPrimary) startSequencer(t testing.TB, o primaryOpts) {
	t.Helper()
	cfg := sequencer.Config{Key: p.lg.key, Domain: p.lg.domain, Logger: quietLogger(), MaxInFlight: 1000}
	if !o.noPublish {
		cfg.OnCommit = p.node.Publish
	}
	s, err := sequencer.New(p.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.seq = s
}

// close stops the primary in shutdown order; safe to call twice.
func (p *testPrimary) close() {
	if p.seq != nil {
		p.seq.Close()
	}
	p.node.Close()
	p.store.Close()
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

func startReplica(t testing.TB, lg testLog, o replicaOpts) *testReplica {
	t.Helper()
	r := &testReplica{store: openStore(t, t.TempDir())}
	r.node = startNode(t, lg, r.store, o.nodeOpts)
	m, err := sequencer.NewMirror(r.store, lg.addr, lg.domain, quietLogger(), nil)
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

// waitFor polls cond every 20 ms until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitHead(t testing.TB, st sequencer.Store, seq uint64, what string) {
	t.Helper()
	waitFor(t, waitLong, fmt.Sprintf("%s to reach seq %d", what, seq), func() bool { return st.Head().Seq >= seq })
	if h := st.Head().Seq; h != seq {
		t.Fatalf("%s: head %d, want exactly %d", what, h, seq)
	}
}

// assertSameLog checks that got holds exactly want's log, entry by entry,
// the same derived ticket state, and that it verifies on its own.
func assertSameLog(t testing.TB, want, got sequencer.Store) {
	t.Helper()
	wh, gh := want.Head(), got.Head()
	if wh != gh {
		t.Fatalf("head %+v, want %+v", gh, wh)
	}
	const chunk = 1000
	for from := uint64(1); from <= wh.Seq; from += chunk {
		we, err := want.Range(from, chunk)
		if err != nil {
			t.Fatal(err)
		}
		ge, err := got.Range(from, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if len(we) != len(ge) {
			t.Fatalf("range from %d: %d entries, want %d", from, len(ge), len(we))
		}
		for i := range we {
			wb, _ := we[i].MarshalBinary()
			gb, _ := ge[i].MarshalBinary()
			if !bytes.Equal(wb, gb) {
				t.Fatalf("entry %d differs:\n got %+v\nwant %+v", we[i].Seq, ge[i], we[i])
			}
		}
	}
	ws, err := want.LoadCache()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := got.LoadCache()
	if err != nil {
		t.Fatal(err)
	}
	if err := gs.State().Diff(ws.State()); err != nil {
		t.Fatalf("derived state differs: %v", err)
	}
	rep, err := sequencer.Verify(got)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Entries != wh.Seq {
		t.Fatalf("verify checked %d entries, want %d", rep.Entries, wh.Seq)
	}
}

func txOp(data string) sequencer.Op {
	d := []byte(data)
	return sequencer.Op{Kind: sequencer.KindTx, Data: d, DataHash: crypto.Keccak256Hash(d)}
}

// writePlain writes n tx entries without lineage, one at a time.
func writePlain(t testing.TB, s *sequencer.Sequencer, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.Submit(context.Background(), txOp(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			t.Fatalf("submit %s-%d: %v", prefix, i, err)
		}
	}
}

// workload writes a mix of every entry kind: leases on per-worker
// lineages, closes, releases (rejected and broadcast), syncs that close
// some tickets, plain txs with and without externalId. Each op writes one
// new entry; an error fails the test.
type workload struct {
	seq    *sequencer.Sequencer
	prefix string
}

// run writes about n entries from workers concurrent callers and returns
// how many it wrote; it stops early when stop is closed (nil: never).
func (w workload) run(t testing.TB, n, workers int, stop <-chan struct{}) int {
	t.Helper()
	var wg sync.WaitGroup
	counts := make([]int, workers)
	errs := make(chan error, workers)
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := w.worker(wk, n/workers, stop)
			counts[wk] = c
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	return total
}

func (w workload) worker(wk, n int, stop <-chan struct{}) (int, error) {
	r := rand.New(rand.NewPCG(uint64(wk), 7))
	lineage := fmt.Sprintf("eip155:1:0x%040x/%s", wk+1, w.prefix)
	leased := map[string]uint64{} // externalId → nonce
	var ids []string
	ctx := context.Background()
	written := 0
	for i := 0; i < n; i++ {
		if stop != nil {
			select {
			case <-stop:
				return written, nil
			default:
			}
		}
		id := fmt.Sprintf("%s-%d-%d", w.prefix, wk, i)
		data := fmt.Sprintf("payload %s %d", id, r.Uint64())
		var op sequencer.Op
		k := r.IntN(12)
		if len(ids) == 0 && k >= 4 && k <= 8 {
			k = 0
		}
		pick := func() string {
			j := r.IntN(len(ids))
			x := ids[j]
			ids[j] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
			return x
		}
		switch {
		case k <= 3 && len(ids) < 50:
			op = txOp(data)
			op.Lineage, op.ExternalID = lineage, id
		case k <= 3:
			op = sequencer.Op{Kind: sequencer.KindClose, Lineage: lineage, ExternalID: pick()}
		case k <= 5:
			op = sequencer.Op{Kind: sequencer.KindClose, Lineage: lineage, ExternalID: pick()}
		case k == 6:
			op = sequencer.Op{Kind: sequencer.KindRelease, Lineage: lineage, ExternalID: pick()}
		case k == 7:
			op = sequencer.Op{Kind: sequencer.KindFail, Lineage: lineage, ExternalID: pick()}
		case k == 8:
			// The chain confirms the lowest in-flight nonce: it closes that
			// ticket and nothing above it.
			low := uint64(1<<63 - 1)
			for _, x := range ids {
				low = min(low, leased[x])
			}
			op = sequencer.Op{Kind: sequencer.KindSync, Lineage: lineage, ChainNonce: low + 1}
		case k == 9:
			op = txOp(data)
		default:
			op = txOp(data)
			op.ExternalID = id
		}
		res, err := w.seq.Submit(ctx, op)
		if err != nil {
			return written, fmt.Errorf("worker %d op %d (%v %s): %w", wk, i, op.Kind, op.ExternalID, err)
		}
		if res.Existing {
			return written, fmt.Errorf("worker %d op %d: unexpectedly existing", wk, i)
		}
		written++
		switch op.Kind {
		case sequencer.KindTx:
			if op.Lineage != "" {
				leased[id] = res.Entry.Nonce
				ids = append(ids, id)
			}
		case sequencer.KindSync:
			kept := ids[:0]
			for _, x := range ids {
				if leased[x] >= op.ChainNonce {
					kept = append(kept, x)
				}
			}
			ids = kept
		}
	}
	return written, nil
}
