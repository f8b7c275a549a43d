package chain

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

const gwei = 1_000_000_000

// testPrimary is a primary in-process whose commits feed a watcher, the
// way the node wires them.
type testPrimary struct {
	t     *testing.T
	store *sequencer.LevelStore
	seq   *sequencer.Sequencer
	w     *Watcher
	reg   *prometheus.Registry
	addr  common.Address
}

func startPrimary(t *testing.T, cfg Config) *testPrimary {
	t.Helper()
	key, _ := crypto.GenerateKey()
	store, err := sequencer.OpenLevelStore(filepath.Join(t.TempDir(), "db"), false)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPrimary{t: t, store: store, reg: prometheus.NewRegistry(), addr: crypto.PubkeyToAddress(key.PublicKey)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Primary, cfg.Logger, cfg.Registerer = p.addr, quiet, p.reg
	p.w = New(cfg, store)
	p.seq, err = sequencer.New(store, sequencer.Config{Key: key, Domain: sequencer.Domain{ChainID: big.NewInt(simchain.ChainID)},
		Logger: quiet, OnCommit: p.w.OnCommit})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.w.Run(ctx, p.seq) }()
	t.Cleanup(func() {
		cancel()
		<-done
		p.seq.Close()
		store.Close()
	})
	return p
}

func (p *testPrimary) do(op sequencer.Op) *sequencer.Entry {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.seq.Submit(ctx, op)
	if err != nil {
		p.t.Fatalf("%s %s/%s: %v", op.Kind, op.Lineage, op.ExternalID, err)
	}
	return res.Entry
}

func (p *testPrimary) lease(l, id string) uint64 {
	return p.do(sequencer.Op{Kind: sequencer.KindTx, Lineage: l, ExternalID: id, Data: []byte(id), DataHash: crypto.Keccak256Hash([]byte(id))}).Nonce
}

func (p *testPrimary) attempt(l, id string, tx *types.Transaction) {
	p.do(sequencer.Op{Kind: sequencer.KindAttempt, Lineage: l, ExternalID: id, DataHash: tx.Hash()})
}

func (p *testPrimary) ticket(l, id string) *sequencer.Ticket {
	p.t.Helper()
	tk, err := p.store.Ticket(l, id)
	if err != nil {
		p.t.Fatalf("ticket %s: %v", id, err)
	}
	return tk
}

// TestWatcherOnAChain runs SPEC §9 against go-ethereum's simulated chain
// served over HTTP (blocks every 200 ms, 2 confirmations): a mined
// attempt is confirmed with minedTx, a fee bump's second attempt too; a
// crashed executor's lease expires and the next lease reuses its nonce; a
// transaction sent outside the node makes a lease's nonce too low and the
// sync closes that ticket without minedTx; a dropped transaction's nonce
// is reclaimed after --gap-after and the next lease fills the gap. At the
// end the chain has no gap, its nonce equals nextNonce, the node-written
// entries carry the primary as sender, and the log verifies.
func TestWatcherOnAChain(t *testing.T) {
	acct := simchain.NewAccount()
	ch, err := simchain.Start(200*time.Millisecond, acct)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	p := startPrimary(t, Config{Endpoints: map[uint64]string{simchain.ChainID: ch.URL}, Confirmations: 2,
		Poll: 100 * time.Millisecond, LeaseTTL: time.Second, GapAfter: 2 * time.Second})
	L := acct.Lineage()
	ctx := context.Background()
	sink := common.HexToAddress("0xf00d")
	send := func(tx *types.Transaction) {
		t.Helper()
		if err := ch.Send(ctx, tx); err != nil {
			t.Fatalf("send nonce %d: %v", tx.Nonce(), err)
		}
	}

	// a: lease, attempt, broadcast.
	na := p.lease(L, "a")
	txa := ch.Transfer(acct, na, 2*gwei, sink)
	p.attempt(L, "a", txa)
	send(txa)
	// b: crashes after its lease.
	nb := p.lease(L, "b")
	// c: a fee bump; both attempts meet in the pool, the second replaces.
	nc := p.lease(L, "c")
	txc1, txc2 := ch.Transfer(acct, nc, 2*gwei, sink), ch.Transfer(acct, nc, 4*gwei, sink)
	release := ch.HoldBlocks()
	p.attempt(L, "c", txc1)
	send(txc1)
	p.attempt(L, "c", txc2)
	send(txc2)
	release()

	wire.WaitFor(t, 15*time.Second, "a confirmed and b expired", func() bool {
		return p.ticket(L, "a").State == sequencer.TicketClosed && p.ticket(L, "b").State == sequencer.TicketExpired
	})
	if tk := p.ticket(L, "a"); tk.MinedTx != txa.Hash() {
		t.Fatalf("a closed with minedTx %s, want %s", tk.MinedTx, txa.Hash())
	}
	// d takes b's nonce from the pool; c's transaction waited behind it.
	nd := p.lease(L, "d")
	if nd != nb {
		t.Fatalf("the lease after the expiry got nonce %d, want the expired %d", nd, nb)
	}
	txd := ch.Transfer(acct, nd, 2*gwei, sink)
	p.attempt(L, "d", txd)
	send(txd)
	wire.WaitFor(t, 15*time.Second, "c and d confirmed", func() bool {
		return p.ticket(L, "c").State == sequencer.TicketClosed && p.ticket(L, "d").State == sequencer.TicketClosed
	})
	if tk := p.ticket(L, "c"); tk.MinedTx != txc2.Hash() || len(tk.Attempts) != 2 {
		t.Fatalf("c: minedTx %s attempts %d, want the fee bump %s of 2", tk.MinedTx, len(tk.Attempts), txc2.Hash())
	}

	// Outside the node: the account's key sends the next nonce itself.
	l, _ := p.store.Lineage(L)
	outside := ch.Transfer(acct, l.NextNonce, 3*gwei, sink) // not the transaction e will sign
	send(outside)
	wire.WaitFor(t, 10*time.Second, "the outside transaction mined", func() bool {
		n, err := ch.Nonce(ctx, acct.Address)
		return err == nil && n > outside.Nonce()
	})
	ne := p.lease(L, "e") // the node does not know yet: the same nonce
	txe := ch.Transfer(acct, ne, 2*gwei, sink)
	p.attempt(L, "e", txe)
	if err := ch.Send(ctx, txe); err == nil || !strings.Contains(err.Error(), "nonce too low") {
		t.Fatalf("send of a used nonce: %v, want nonce too low", err)
	}
	wire.WaitFor(t, 10*time.Second, "e closed by the sync", func() bool { return p.ticket(L, "e").State == sequencer.TicketClosed })
	if tk := p.ticket(L, "e"); tk.MinedTx != (common.Hash{}) {
		t.Fatalf("e closed with minedTx %s: its attempt was never mined", tk.MinedTx)
	}

	// A dropped transaction: attempted, never reaches the chain, released
	// as broadcast. After --gap-after the nonce is reclaimed.
	nf := p.lease(L, "f")
	p.attempt(L, "f", ch.Transfer(acct, nf, 2*gwei, sink))
	p.do(sequencer.Op{Kind: sequencer.KindFail, Lineage: L, ExternalID: "f"})
	wire.WaitFor(t, 15*time.Second, "nonce of f reclaimed", func() bool {
		l, err := p.store.Lineage(L)
		return err == nil && len(l.Released) == 1 && l.Released[0] == nf
	})
	ng := p.lease(L, "g")
	if ng != nf {
		t.Fatalf("the lease after the reclaim got nonce %d, want %d", ng, nf)
	}
	txg := ch.Transfer(acct, ng, 2*gwei, sink)
	p.attempt(L, "g", txg)
	send(txg)
	wire.WaitFor(t, 15*time.Second, "g confirmed", func() bool {
		tk := p.ticket(L, "g")
		return tk.State == sequencer.TicketClosed && tk.MinedTx == txg.Hash()
	})

	// The chain has no gap and the node agrees with it.
	chainNonce, err := ch.Nonce(ctx, acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	l, _ = p.store.Lineage(L)
	if chainNonce != l.NextNonce || len(l.InFlight) != 0 || len(l.Released) != 0 {
		t.Fatalf("chain nonce %d, lineage %+v", chainNonce, *l)
	}
	wire.WaitFor(t, 10*time.Second, "the floor at the chain's nonce", func() bool {
		l, _ := p.store.Lineage(L)
		return l.Floor == chainNonce
	})
	kinds := map[sequencer.Kind]int{}
	es, err := p.store.Range(1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		kinds[e.Kind]++
		if e.Kind.NodeWritten() && e.Sender != p.addr {
			t.Fatalf("seq %d: %s with sender %s", e.Seq, e.Kind, e.Sender)
		}
		if e.Kind == sequencer.KindReclaim && (e.Nonce != nf || e.ExternalID != "f") {
			t.Fatalf("reclaim %+v, want nonce %d naming f", e, nf)
		}
	}
	if kinds[sequencer.KindConfirm] != 4 || kinds[sequencer.KindExpire] != 1 || kinds[sequencer.KindReclaim] != 1 || kinds[sequencer.KindSync] == 0 {
		t.Fatalf("entry kinds %v: want 4 confirms (a c d g), 1 expire, 1 reclaim, syncs", kinds)
	}
	if got := testutil.ToFloat64(p.w.m.entries.WithLabelValues("confirm")); got != 4 {
		t.Fatalf("metric: %v confirms", got)
	}
	p.seq.Close()
	if _, err := sequencer.Verify(p.store); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if st, ok := p.w.Status(L); ok && st.LatestNonce != chainNonce {
		t.Fatalf("status %+v, chain at %d", st, chainNonce)
	}
}

// TestLeaseTTLWithoutChain: --lease-ttl works without any chain endpoint
// (SPEC §9): a lease with no attempt expires once, its nonce returns to
// the pool and the next lease takes it; a lease with an attempt never
// expires; a lineage that names no chain expires too.
func TestLeaseTTLWithoutChain(t *testing.T) {
	p := startPrimary(t, Config{LeaseTTL: 300 * time.Millisecond})
	const L = "orders/shard-1"
	p.lease(L, "crashed")
	p.lease(L, "attempted")
	p.do(sequencer.Op{Kind: sequencer.KindAttempt, Lineage: L, ExternalID: "attempted", DataHash: common.Hash{9}})
	wire.WaitFor(t, 5*time.Second, "the lease without attempt expired", func() bool {
		return p.ticket(L, "crashed").State == sequencer.TicketExpired
	})
	time.Sleep(time.Second) // several more ticks
	if tk := p.ticket(L, "attempted"); tk.State != sequencer.TicketLeased {
		t.Fatalf("a lease with an attempt is %s", tk.State)
	}
	if n := p.lease(L, "next"); n != 0 {
		t.Fatalf("the next lease got nonce %d, want the expired 0", n)
	}
	es, _ := p.store.Range(1, 100)
	expires := 0
	for _, e := range es {
		if e.Kind == sequencer.KindExpire && e.ExternalID == "crashed" { // ("next" may expire by now too)
			expires++
			if e.Sender != p.addr {
				t.Fatalf("expire entry %+v", e)
			}
		}
	}
	if expires != 1 {
		t.Fatalf("%d expire entries, want 1", expires)
	}
}

// TestWebSocketHeadsAndStuck: over a WebSocket endpoint each new head wakes
// the watcher (here --chain-poll is a minute, so only newHeads can), and a
// lineage whose broadcast transaction waits at a latest nonce that does
// not move reports stuckSince (SPEC §9) until the chain moves.
func TestWebSocketHeadsAndStuck(t *testing.T) {
	acct := simchain.NewAccount()
	ch, err := simchain.Start(200*time.Millisecond, acct)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	p := startPrimary(t, Config{Endpoints: map[uint64]string{simchain.ChainID: ch.WSURL}, Confirmations: 1, Poll: time.Minute})
	L := acct.Lineage()
	sink := common.HexToAddress("0xf00d")
	n := p.lease(L, "a")
	tx := ch.Transfer(acct, n, 2*gwei, sink)
	p.attempt(L, "a", tx) // recorded, not sent yet: the account stands at nonce 0
	wire.WaitFor(t, 10*time.Second, "stuckSince set", func() bool {
		st, ok := p.w.Status(L)
		return ok && !st.StuckSince.IsZero() && st.LatestNonce == n
	})
	if got := testutil.ToFloat64(p.w.m.stuck.WithLabelValues("1337")); got != 1 {
		t.Fatalf("stuck lineages metric %v", got)
	}
	if err := ch.Send(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	wire.WaitFor(t, 10*time.Second, "confirmed through newHeads", func() bool { return p.ticket(L, "a").MinedTx == tx.Hash() })
	wire.WaitFor(t, 10*time.Second, "no longer stuck", func() bool {
		st, ok := p.w.Status(L)
		return !ok || st.StuckSince.IsZero()
	})
}
