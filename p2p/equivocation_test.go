package p2p

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer/oracle"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/sequencer"
)

// oracleSigner recovers the signer of e the way an outside auditor does:
// go-ethereum's apitypes computes the EIP-712 hash of SPEC §2 from the
// entry's fields, and ecrecover (v 27/28) gives the address.
func oracleSigner(t testing.TB, d sequencer.Domain, e *sequencer.Entry) common.Address {
	t.Helper()
	hash, err := oracle.EntryHash(d.ChainID, d.VerifyingContract, oracle.Entry{
		Seq: e.Seq, PrevHash: e.PrevHash, Kind: uint8(e.Kind), Sender: e.Sender, Lineage: e.Lineage,
		Nonce: e.Nonce, ExternalID: e.ExternalID, DataHash: e.DataHash, Timestamp: e.Timestamp})
	if err != nil {
		t.Fatal(err)
	}
	if hash != e.Hash {
		t.Fatalf("entry %d: hash %s, apitypes says %s", e.Seq, e.Hash, hash)
	}
	addr, err := oracle.Recover(hash, e.Signature[:])
	if err != nil {
		t.Fatalf("entry %d: %v", e.Seq, err)
	}
	return addr
}

// checkProof checks an equivocation proof as anyone can, with no access
// to our code: same seq, different hashes, both signed by the primary.
func checkProof(t testing.TB, lg testnode.Log, p sequencer.Equivocation) {
	t.Helper()
	if p.A.Seq != p.B.Seq {
		t.Fatalf("proof of seqs %d and %d", p.A.Seq, p.B.Seq)
	}
	if p.A.Hash == p.B.Hash {
		t.Fatalf("proof at seq %d: both entries have hash %s", p.A.Seq, p.A.Hash)
	}
	for _, e := range []*sequencer.Entry{p.A, p.B} {
		if got := oracleSigner(t, lg.Domain, e); got != lg.Addr {
			t.Fatalf("proof at seq %d: entry %s signed by %s, not the primary %s", e.Seq, e.Hash, got, lg.Addr)
		}
	}
}

// recordingHandler keeps the messages of error-level records.
type recordingHandler struct {
	mu     sync.Mutex
	errors []string
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errors = append(h.errors, r.Message)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) logged(sub string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.errors {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// waitProof waits for the replica to store a proof and stop following.
func waitProof(t testing.TB, r *testReplica) sequencer.Equivocation {
	t.Helper()
	var eqs []sequencer.Equivocation
	waitFor(t, waitLong, "an equivocation proof", func() bool {
		eqs, _ = r.store.Equivocations()
		return len(eqs) > 0
	})
	if err := r.mirror.Halted(); !errors.Is(err, sequencer.ErrEquivocation) {
		t.Fatalf("mirror stopped with %v, want ErrEquivocation", err)
	}
	// SPEC §6: it stops following that primary.
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("follower still running after an equivocation")
	}
	if n := counter(t, r.follower.equivocations); n < 1 {
		t.Errorf("sequencer_equivocations_total is %v", n)
	}
	return eqs[0]
}

// SPEC §2, §6: a primary whose datadir was wiped signs a different log
// with the same key. The replica that followed the first log keeps a
// self-contained proof (both entries verify with go-ethereum alone), logs
// it at error level, stops following, and its own log stays intact.
func TestEquivocationWipedPrimary(t *testing.T) {
	lg := testnode.NewLog(t)
	a := startPrimary(t, lg, primaryOpts{})
	rec := &recordingHandler{}
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, a.Node)}, mirrorLog: slog.New(rec)})
	testnode.WritePlain(t, a.Seq, "first life", 20)
	testnode.WaitHead(t, r.store, 20, "replica")

	// The wiped primary: same key, empty store, a new p2p identity.
	b := startPrimary(t, lg, primaryOpts{nodeOpts: nodeOpts{peers: addrInfo(t, r.node)}})
	waitConnected(t, b.Node, r.node)
	testnode.WritePlain(t, b.Seq, "second life", 5)

	p := waitProof(t, r)
	checkProof(t, lg, p)
	ours, err := a.Store.Entry(p.A.Seq)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := b.Store.Entry(p.A.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if p.A.Hash != ours.Hash || p.B.Hash != theirs.Hash {
		t.Fatalf("proof at seq %d holds %s and %s; the two logs hold %s and %s", p.A.Seq, p.A.Hash, p.B.Hash, ours.Hash, theirs.Hash)
	}
	if !rec.logged("EQUIVOCATION") {
		t.Error("the equivocation was not logged at error level")
	}
	testnode.AssertSameLog(t, a.Store, r.store)
	t.Logf("proof at seq %d", p.A.Seq)
}

// SPEC §6: the fork case. The replica holds entry X at seq N; a peer
// serves, by sync only, a validly signed entry N+1 whose prevHash is not
// X's hash. The follower fetches the peer's entry at N and ends with a
// proof at exactly N.
func TestEquivocationFork(t *testing.T) {
	lg := testnode.NewLog(t)
	clock := func() time.Time { return time.UnixMilli(1_700_000_000_000) }
	a := startPrimary(t, lg, primaryOpts{now: clock})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, a.Node)}})
	b := startPrimary(t, lg, primaryOpts{now: clock, noPublish: true}) // no peers yet
	// Deterministic clock and signatures: the same writes give the same
	// entries, so both logs share entries 1..9.
	const n = 10
	testnode.WritePlain(t, a.Seq, "shared", n-1)
	testnode.WritePlain(t, b.Seq, "shared", n-1)
	if a.Store.Head() != b.Store.Head() {
		t.Fatalf("shared prefix differs: %+v vs %+v", a.Store.Head(), b.Store.Head())
	}
	testnode.WritePlain(t, a.Seq, "branch a", 1)
	testnode.WritePlain(t, b.Seq, "branch b", 2)
	testnode.WaitHead(t, r.store, n, "replica")
	x, _ := r.store.Entry(n)
	bNext, _ := b.Store.Entry(n + 1)
	if bNext.PrevHash == x.Hash {
		t.Fatal("test setup: the branches do not fork")
	}

	// Now the replica learns of b's log, by sync (b does not publish).
	if err := r.node.host.Connect(context.Background(), addrInfo(t, b.Node)[0]); err != nil {
		t.Fatal(err)
	}
	p := waitProof(t, r)
	checkProof(t, lg, p)
	if p.A.Seq != n {
		t.Fatalf("proof at seq %d, want %d", p.A.Seq, n)
	}
	bx, _ := b.Store.Entry(n)
	if p.A.Hash != x.Hash || p.B.Hash != bx.Hash {
		t.Fatalf("proof holds %s and %s, want ours %s and the fork's %s", p.A.Hash, p.B.Hash, x.Hash, bx.Hash)
	}
	if h := r.store.Head(); h.Seq != n || h.Hash != x.Hash {
		t.Fatalf("replica head moved to %d", h.Seq)
	}
	testnode.AssertSameLog(t, a.Store, r.store)
}

// A sync peer whose log does not chain (its entry at our head is ours,
// its next entry points elsewhere) proves nothing: the follower must not
// store a proof, must not stop, and must not hammer that peer in a tight
// loop; it retries at its poll interval.
func TestFollowerBrokenPeerLog(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	held := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 5, "held")
	orphan := chain(t, lg.Key, lg.Domain, sequencer.Head{Seq: 5, Hash: common.Hash{0xf0, 0x0c}, Timestamp: held[4].Timestamp}, 1, "orphan")[0]
	fake := newFakeSync(t, func(w *bufio.Writer, typ byte, from, limit uint64) {
		w.WriteByte(0)
		switch {
		case typ == reqHead:
			writeEntries(w, orphan)
			return
		case from == 6:
			writeEntries(w, orphan)
		case from >= 1 && from <= 5:
			writeEntries(w, held[from-1:min(int(from-1+limit), 5)]...)
		}
		w.WriteByte(0)
	})
	r := startReplica(t, lg, replicaOpts{noFollower: true, nodeOpts: nodeOpts{peers: []peer.AddrInfo{fake.info()}}})
	if _, err := r.mirror.Apply(held); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "replica to connect to the peer", func() bool { return r.node.PeerCount() > 0 })
	r.startFollower()
	time.Sleep(3 * time.Second)
	ranges := fake.ranges.Load()
	r.stopFollower(t)
	if ranges == 0 {
		t.Fatal("the follower never asked the peer for entries")
	}
	if ranges > 20 {
		t.Errorf("the follower sent %d range requests in 3 s to a peer whose log does not chain: a busy loop", ranges)
	}
	if eqs, _ := r.store.Equivocations(); len(eqs) != 0 || r.mirror.Halted() != nil {
		t.Errorf("proof stored (%d) or stopped (%v) on an unproven fork", len(eqs), r.mirror.Halted())
	}
	if h := r.store.Head(); h.Seq != 5 || h.Hash != held[4].Hash {
		t.Errorf("head moved to %d", h.Seq)
	}
	t.Logf("%d range requests, %d head requests in 3 s", ranges, fake.heads.Load())
}

// SPEC §6: two primaries started on copies of one datadir share the
// signing key and the libp2p identity, so a replica sees one peer id
// behind two hosts. Each signs its own entries 51..55 after a shared
// prefix; the replica must find the equivocation whichever of them
// relays what, and stop following.
func TestEquivocationSharedIdentity(t *testing.T) {
	lg := testnode.NewLog(t)
	clock := func() time.Time { return time.UnixMilli(1_700_000_000_000) }
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startPrimary(t, lg, primaryOpts{now: clock, nodeOpts: nodeOpts{dataDir: dirA}})
	id, err := os.ReadFile(filepath.Join(dirA, identityFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, identityFile), id, 0o600); err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, a.Node)}})
	const shared = 50
	testnode.WritePlain(t, a.Seq, "shared", shared)
	testnode.WaitHead(t, r.store, shared, "replica")

	// The copy: same identity, same key, the same first 50 entries; it
	// dials the replica, which now holds two connections to one peer id.
	// It does not publish: the replica learns its entries by sync only.
	b := startPrimary(t, lg, primaryOpts{now: clock, noPublish: true, nodeOpts: nodeOpts{dataDir: dirB, peers: addrInfo(t, r.node)}})
	if b.Node.ID() != a.Node.ID() {
		t.Fatal("test setup: the copies have different peer ids")
	}
	testnode.WritePlain(t, b.Seq, "shared", shared)
	if a.Store.Head() != b.Store.Head() {
		t.Fatal("test setup: the shared prefix differs")
	}
	waitFor(t, waitLong, "the replica to hold two connections to the shared peer id", func() bool {
		return len(r.node.host.Network().ConnsToPeer(a.Node.ID())) >= 2
	})
	testnode.WritePlain(t, a.Seq, "branch a", 5)
	testnode.WritePlain(t, b.Seq, "branch b", 5)

	p := waitProof(t, r)
	checkProof(t, lg, p)
	if p.A.Seq <= shared || p.A.Seq > shared+5 {
		t.Fatalf("proof at seq %d, want one of %d..%d", p.A.Seq, shared+1, shared+5)
	}
	t.Logf("proof at seq %d; replica head %d", p.A.Seq, r.store.Head().Seq)
}

// A --peers entry with this node's own peer id (a copied datadir) is said
// at error level at start-up: libp2p refuses to dial it.
func TestPeerWithOwnID(t *testing.T) {
	lg := testnode.NewLog(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startNode(t, lg, testnode.MemStore(t), nodeOpts{dataDir: dirA})
	t.Cleanup(a.Close)
	id, err := os.ReadFile(filepath.Join(dirA, identityFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, identityFile), id, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &recordingHandler{}
	b := startNode(t, lg, testnode.MemStore(t), nodeOpts{dataDir: dirB, peers: addrInfo(t, a), logger: slog.New(rec)})
	t.Cleanup(b.Close)
	if !rec.logged("has this node's own peer id: a copied datadir?") {
		t.Fatalf("no error-level warning of a peer with our own id; logged %q", rec.errors)
	}
}
