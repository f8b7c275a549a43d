package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// recoverInto opens a Mirror over p's store and runs RecoverPrimary, as
// cmd/sequencer does before it starts the sequencer.
func recoverInto(t testing.TB, p *testPrimary, wait time.Duration) error {
	t.Helper()
	m, err := sequencer.NewMirror(p.Store, p.Log.Addr, p.Log.Domain, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong+wait)
	defer cancel()
	return RecoverPrimary(ctx, p.Node, m, wait)
}

// SPEC §6: a primary whose datadir was wiped starts with --peers holding
// its log: it recovers every entry before it writes, and then continues
// the log at the next seq — no equivocation anywhere.
func TestRecoverPrimaryAfterWipe(t *testing.T) {
	lg := testnode.NewLog(t)
	old := startPrimary(t, lg, primaryOpts{})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, old.Node)}})
	n := testnode.Workload{Seq: old.Seq, Prefix: "before-wipe"}.Run(t, 1500, 16, nil)
	want := uint64(n)
	testnode.WaitHead(t, r.store, want, "replica")
	wantHead := old.Store.Head()
	old.Close() // the disk is lost: store, identity key and all

	p := startPrimary(t, lg, primaryOpts{noSeq: true, nodeOpts: nodeOpts{peers: addrInfo(t, r.node)}})
	start := time.Now()
	if err := recoverInto(t, p, 10*time.Second); err != nil {
		t.Fatalf("RecoverPrimary: %v", err)
	}
	t.Logf("recovered %d entries in %s", want, time.Since(start).Round(time.Millisecond))
	if h := p.Store.Head(); h != wantHead {
		t.Fatalf("recovered head %+v, want %+v", h, wantHead)
	}
	testnode.AssertSameLog(t, r.store, p.Store)

	p.StartSequencer(t)
	res, err := p.Seq.Submit(context.Background(), testnode.TxOp("first write after recovery"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Entry.Seq != want+1 || res.Entry.PrevHash != wantHead.Hash {
		t.Fatalf("first write: seq %d prevHash %s, want seq %d after %s", res.Entry.Seq, res.Entry.PrevHash, want+1, wantHead.Hash)
	}
	testnode.WritePlain(t, p.Seq, "after recovery", 20)
	testnode.WaitHead(t, r.store, want+21, "replica after recovery")
	testnode.AssertSameLog(t, p.Store, r.store)
	if eqs, _ := r.store.Equivocations(); len(eqs) != 0 || r.mirror.Halted() != nil {
		t.Fatalf("replica saw equivocation: %d proofs, %v", len(eqs), r.mirror.Halted())
	}
}

// SPEC §6: with --peers configured but none reachable the primary cannot
// tell what it lost: RecoverPrimary refuses, with a clear message, within
// its wait. Without peers there is nothing to ask and it passes.
func TestRecoverPrimaryUnreachablePeers(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	gone := startNode(t, lg, testnode.MemStore(t), nodeOpts{})
	peers := addrInfo(t, gone)
	gone.Close() // its address now refuses connections

	p := startPrimary(t, lg, primaryOpts{noSeq: true, nodeOpts: nodeOpts{peers: peers}})
	start := time.Now()
	err := recoverInto(t, p, 1500*time.Millisecond)
	took := time.Since(start)
	if err == nil {
		t.Fatal("RecoverPrimary succeeded with no reachable peer")
	}
	if !strings.Contains(err.Error(), "none of the 1 --peers answered") {
		t.Errorf("unclear error: %v", err)
	}
	if took > 6*time.Second {
		t.Errorf("RecoverPrimary took %s with a 1.5 s wait", took.Round(time.Millisecond))
	}
	t.Logf("refused after %s: %v", took.Round(time.Millisecond), err)

	alone := startPrimary(t, lg, primaryOpts{noSeq: true})
	if err := recoverInto(t, alone, time.Second); err != nil {
		t.Fatalf("RecoverPrimary without peers: %v", err)
	}
}

// SPEC §6: a primary that restarts on a datadir which, after a wipe, was
// written again (say with --unsafe-skip-peer-check) holds a different
// entry at a seq its peers hold: RecoverPrimary refuses.
func TestRecoverPrimaryRefusesOnConflict(t *testing.T) {
	lg := testnode.NewLog(t)
	old := startPrimary(t, lg, primaryOpts{})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, old.Node)}})
	testnode.WritePlain(t, old.Seq, "first life", 30)
	testnode.WaitHead(t, r.store, 30, "replica")
	old.Close()

	// Written without asking the peers, then restarted with them.
	dir := t.TempDir()
	unsafe := startPrimary(t, lg, primaryOpts{dir: dir, noPublish: true})
	testnode.WritePlain(t, unsafe.Seq, "second life", 3)
	unsafe.Close()
	p := startPrimary(t, lg, primaryOpts{dir: dir, noSeq: true, nodeOpts: nodeOpts{peers: addrInfo(t, r.node)}})
	err := recoverInto(t, p, 10*time.Second)
	if !errors.Is(err, sequencer.ErrEquivocation) {
		t.Fatalf("RecoverPrimary: %v, want ErrEquivocation", err)
	}
	if h := p.Store.Head(); h.Seq != 3 {
		t.Fatalf("head %d after a refused recovery, want 3", h.Seq)
	}
}

// SPEC §6 ("it never signs over a seq it cannot see"): GuardPrimary halts
// writes (4009) when a peer holds an entry signed by this primary's key
// beyond its head, or a different one at a seq it holds; a healthy primary
// guarded the whole time is never halted.
func TestGuardPrimary(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	guard := func(t *testing.T, p *testPrimary) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); GuardPrimary(ctx, p.Node, p.Seq) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(waitLong):
				t.Error("GuardPrimary did not return after its context ended")
			}
		})
	}
	healthy := startPrimary(t, lg, primaryOpts{})
	guard(t, healthy)
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, healthy.Node)}})
	testnode.WritePlain(t, healthy.Seq, "healthy", 50)
	testnode.WaitHead(t, r.store, 50, "replica")

	t.Run("peer ahead", func(t *testing.T) {
		// Same key, empty datadir, started without recovery.
		wiped := startPrimary(t, lg, primaryOpts{nodeOpts: nodeOpts{peers: addrInfo(t, r.node)}})
		guard(t, wiped)
		waitFor(t, waitLong, "the wiped primary to halt", func() bool { return wiped.Seq.Halted() != nil })
		if err := wiped.Seq.Halted(); !errors.Is(err, sequencer.ErrHalted) || !strings.Contains(err.Error(), "beyond our head") {
			t.Fatalf("halted with %v", err)
		}
		if _, err := wiped.Seq.Submit(context.Background(), testnode.TxOp("must not be signed")); !errors.Is(err, sequencer.ErrHalted) {
			t.Fatalf("write after halt: %v, want ErrHalted", err)
		}
		if h := wiped.Store.Head(); h.Seq != 0 {
			t.Fatalf("the halted primary wrote %d entries", h.Seq)
		}
	})
	t.Run("different entry at a held seq", func(t *testing.T) {
		// A peer that does not follow: a store holding the healthy log up
		// to 50, served as is.
		frozen := testnode.OpenStore(t, t.TempDir())
		t.Cleanup(func() { frozen.Close() })
		m, err := sequencer.NewMirror(frozen, lg.Addr, lg.Domain, quietLogger(), nil)
		if err != nil {
			t.Fatal(err)
		}
		es, _ := healthy.Store.Range(1, 50)
		if _, err := m.Apply(es); err != nil {
			t.Fatal(err)
		}
		server := startNode(t, lg, frozen, nodeOpts{})
		t.Cleanup(server.Close)
		diverged := startPrimary(t, lg, primaryOpts{noPublish: true})
		testnode.WritePlain(t, diverged.Seq, "diverged", 60)
		if err := diverged.Node.Host().Connect(context.Background(), peer.AddrInfo{ID: server.ID(), Addrs: server.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
		guard(t, diverged)
		waitFor(t, waitLong, "the diverged primary to halt", func() bool { return diverged.Seq.Halted() != nil })
		if err := diverged.Seq.Halted(); !errors.Is(err, sequencer.ErrHalted) || !strings.Contains(err.Error(), "equivocation") {
			t.Fatalf("halted with %v", err)
		}
	})
	if err := healthy.Seq.Halted(); err != nil {
		t.Fatalf("the healthy primary halted: %v", err)
	}
	testnode.WritePlain(t, healthy.Seq, "still writing", 1)
}
