package chain

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/seqnode/sequencer/internal/simchain"
)

// The watcher reads an account's nonce again only when a block since the
// last poll holds a transaction it sent, or in its turn of the sweep (one
// account in sweepEvery per poll), or when the blocks cannot say
// (EIP-7702 authorizations move nonces of accounts that did not send):
// SPEC §9's reading at each head, at the cost of the accounts that moved.
// On go-ethereum's simulated chain over HTTP, blocks sealed by the test.
func TestWatcherReadsActiveAccounts(t *testing.T) {
	const n = 32
	accts := make([]simchain.Account, n)
	for i := range accts {
		accts[i] = simchain.NewAccount()
	}
	ch, err := simchain.Start(0, accts...)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	// The watcher's own poll loop runs once at start (nothing watched) and
	// then waits an hour: the test polls with an endpoint of its own.
	p := startPrimary(t, Config{Endpoints: map[uint64]string{simchain.ChainID: ch.URL}, Confirmations: 1, Poll: time.Hour})
	for i := 0; testutil.ToFloat64(p.w.m.up.WithLabelValues("1337")) != 1; i++ {
		if i == 500 {
			t.Fatal("the watcher's own first poll did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, a := range accts {
		p.lease(a.Lineage(), "t")
	}
	ep := newEndpoint(simchain.ChainID, ch.URL, 10*time.Second, newMetrics(nil))
	defer ep.close()
	ctx := context.Background()
	poll := func() int {
		t.Helper()
		before := testutil.ToFloat64(ep.m.calls.WithLabelValues(ep.label))
		if err := p.w.poll(ctx, p.seq, ep); err != nil {
			t.Fatal(err)
		}
		return int(testutil.ToFloat64(ep.m.calls.WithLabelValues(ep.label)) - before)
	}
	// inSweep counts the accounts but accts[0] whose turn of the sweep is
	// poll number polls.
	inSweep := func(polls uint64) (k int) {
		for _, a := range accts[1:] {
			if swept(a.Address, polls) {
				k++
			}
		}
		return k
	}
	latest := func(a simchain.Account) uint64 {
		t.Helper()
		st, ok := p.w.Status(a.Lineage())
		if !ok {
			t.Fatalf("no status for %s", a.Address)
		}
		return st.LatestNonce
	}

	// First poll: every account, at the head (eth_chainId at dial,
	// eth_blockNumber, the head's block, a read each); not at the confirmed
	// block, as none has sent a transaction yet (a count of 0 at the head).
	ch.Commit()
	if got := poll(); got != 3+n {
		t.Fatalf("first poll: %d calls, want %d", got, 3+n)
	}
	// Empty blocks: the block and the sweep's turn, nothing else; over
	// sweepEvery of them each account is read once.
	total := 0
	for range sweepEvery {
		ch.Commit()
		want := 2 + inSweep(ep.polls+1)
		if swept(accts[0].Address, ep.polls+1) {
			want++
		}
		got := poll()
		if got != want {
			t.Fatalf("poll %d of an empty block: %d calls, want %d", ep.polls, got, want)
		}
		total += got
	}
	if want := 2*sweepEvery + n; total != want {
		t.Fatalf("%d polls of empty blocks: %d calls, want %d (each account once)", sweepEvery, total, want)
	}
	// Two blocks, one with a transfer from accts[0] (outside the node):
	// its nonce is read again (at the head, and at the confirmed block as
	// the latest count moved), and the reading shows it.
	if err := ch.Send(ctx, ch.Transfer(accts[0], 0, 10*gwei, common.HexToAddress("0xf00d"))); err != nil {
		t.Fatal(err)
	}
	ch.Commit()
	ch.Commit()
	want := 3 + 2 + inSweep(ep.polls+1)
	if got := poll(); got != want {
		t.Fatalf("poll after a transfer: %d calls, want %d", got, want)
	}
	if got := latest(accts[0]); got != 1 {
		t.Fatalf("accts[0]'s latest nonce %d after its transfer, want 1", got)
	}
	ch.Commit() // the transfer confirmed: accts[0] idle again
	poll()
	// An EIP-7702 authorization by accts[1] in a transaction accts[2]
	// sends moves accts[1]'s nonce: the poll reads every account.
	auth, err := types.SignSetCode(accts[1].Key, types.SetCodeAuthorization{
		ChainID: *uint256.NewInt(simchain.ChainID), Address: common.HexToAddress("0xde1e6a7e"), Nonce: 0})
	if err != nil {
		t.Fatal(err)
	}
	to := accts[2].Address
	tx, err := types.SignNewTx(accts[2].Key, types.LatestSignerForChainID(big.NewInt(simchain.ChainID)), &types.SetCodeTx{
		ChainID: uint256.NewInt(simchain.ChainID), Nonce: 0, GasTipCap: uint256.NewInt(gwei), GasFeeCap: uint256.NewInt(100 * gwei),
		Gas: 100_000, To: to, Value: uint256.NewInt(0), AuthList: []types.SetCodeAuthorization{auth}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	ch.Commit()
	if got := poll(); got < 2+n {
		t.Fatalf("poll after an EIP-7702 transaction: %d calls, want every account read (%d or more)", got, 2+n)
	}
	if nonce, err := ch.Nonce(ctx, accts[1].Address); err != nil || nonce != 1 {
		t.Fatalf("the authorization did not move accts[1]'s nonce: %d, %v", nonce, err)
	}
	if got := latest(accts[1]); got != 1 {
		t.Fatalf("accts[1]'s latest nonce %d after its authorization, want 1", got)
	}
	// A reorganisation: blocks that do not continue the last head seen
	// make the poll read every account still watched.
	parent, err := ch.Client.HeaderByNumber(ctx, new(big.Int).SetUint64(ep.lastBlock-2))
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Backend.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	for range 4 { // past the old head
		ch.Commit()
	}
	if got, want := poll(), 2+len(p.w.tr.snapshot(simchain.ChainID)); got < want {
		t.Fatalf("poll after a reorganisation: %d calls, want every account read (%d or more)", got, want)
	}
}
