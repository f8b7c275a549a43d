package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seqnode/sequencer/client"
)

// TestExecutorsShareOneAccount runs the example's scenario against a real
// node and a simulated go-ethereum chain, then checks the chain against
// the sequencer (SPEC §3): every nonce the chain used was leased once,
// every released nonce was leased again lowest first, and the sequencer's
// counts match the chain's nonce so exactly that a syncLineage changes
// nothing.
func TestExecutorsShareOneAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sc := DefaultScenario()
	sc.MineTimeout = 5 * time.Second
	rep := Run(ctx, env, sc)
	t.Logf("run took %v", rep.Elapsed)

	// What the executors saw.
	for _, p := range rep.Problems {
		t.Errorf("executor: %s", p)
	}
	if len(rep.Results) != sc.Txs {
		t.Fatalf("%d results, want %d", len(rep.Results), sc.Txs)
	}
	wantKinds := map[Kind]int{}
	for i := range sc.Txs {
		wantKinds[sc.Kind(i)]++
	}
	for k := Transfer; k <= Cancel; k++ {
		if wantKinds[k] == 0 {
			t.Errorf("the scenario has no %v transaction", k)
		}
	}
	for _, r := range rep.Results {
		wantLeases, wantStatus := 1, uint64(1)
		switch r.Kind {
		case RejectLocal, RejectPool:
			wantLeases = 2
		case Revert:
			wantStatus = 0
		}
		// Every ticket is closed by the node's watcher with the mined
		// transaction (for a Cancel: the replacement) as minedTx.
		if !r.Done || len(r.Leases) != wantLeases || r.State != "closed" || r.Status != wantStatus || r.Mined != r.Tx {
			t.Errorf("%s (%v): done %v, leases %v, state %q, status %d, minedTx %s (mined %s); want done, %d leases, closed, status %d, minedTx the mined one",
				r.ID, r.Kind, r.Done, r.Leases, r.State, r.Status, r.Mined, r.Tx, wantLeases, wantStatus)
		}
	}
	if rep.Local != wantKinds[RejectLocal] {
		t.Errorf("%d local failures, want %d", rep.Local, wantKinds[RejectLocal])
	}
	if rep.Gaps == 0 {
		t.Errorf("no release happened while a higher nonce waited in the pool: the scenario does not test gaps")
	}

	// The chain answered an error only where the scenario asked for one,
	// and never "nonce too low".
	injected := 0
	for _, e := range rep.SendErrors {
		if strings.Contains(e.Err, "nonce too low") || !e.Injected || !strings.Contains(e.Err, "intrinsic gas too low") {
			t.Errorf("%s: nonce %d: send: %s (injected %v)", e.ID, e.Nonce, e.Err, e.Injected)
			continue
		}
		injected++
	}
	if injected != wantKinds[RejectPool] {
		t.Errorf("%d injected send errors, want %d", injected, wantKinds[RejectPool])
	}

	// What the chain says, block by block.
	chain, err := AuditChain(ctx, env, rep.Sent)
	if err != nil {
		t.Fatal(err)
	}
	if chain.Nonce != uint64(sc.Txs) {
		t.Errorf("chain nonce %d, want %d (one per transaction)", chain.Nonce, sc.Txs)
	}
	if chain.PendingNonce != chain.Nonce || len(chain.InPool) > 0 {
		t.Errorf("after the last block: pending nonce %d, nonce %d, still in the pool %v", chain.PendingNonce, chain.Nonce, chain.InPool)
	}
	used := map[uint64][]MinedTx{}
	for _, m := range chain.Mined {
		used[m.Nonce] = append(used[m.Nonce], m)
	}
	for n := range chain.Nonce {
		if len(used[n]) != 1 {
			t.Errorf("nonce %d used %d times on chain: %v", n, len(used[n]), used[n])
		}
	}
	if uint64(len(chain.Mined)) != chain.Nonce {
		t.Errorf("%d transactions of the account mined, chain nonce %d", len(chain.Mined), chain.Nonce)
	}
	for _, r := range rep.Results {
		if m := used[r.Nonce]; len(m) != 1 || m[0].Hash != r.Tx || m[0].Status != r.Status {
			t.Errorf("%s: nonce %d: executor saw %s status %d mined, chain has %v", r.ID, r.Nonce, r.Tx, r.Status, m)
		}
	}

	// The sequencer's lineage accounts for exactly the chain's nonce.
	before, err := env.Seq.Lineage(ctx, env.Lineage)
	if err != nil {
		t.Fatal(err)
	}
	if before.Closed+before.Failed != chain.Nonce {
		t.Errorf("closed %d + failed %d != chain nonce %d", before.Closed, before.Failed, chain.Nonce)
	}
	if before.Failed != 0 {
		t.Errorf("failed %d, want 0 (a cancel is another attempt of its ticket, and is mined)", before.Failed)
	}
	if len(before.InFlight) > 0 || len(before.Released) > 0 || before.NextNonce != chain.Nonce {
		t.Errorf("lineage: in flight %v, released %v, nextNonce %d; want none, none, %d", before.InFlight, before.Released, before.NextNonce, chain.Nonce)
	}

	// The log, replayed: every lease took the lowest released nonce (else
	// the next one), and every released nonce was leased again.
	leases, err := ReadLeases(ctx, env.Seq, env.Lineage)
	if err != nil {
		t.Fatal(err)
	}
	if leases.MaxPool < 2 {
		t.Errorf("no lease chose among several released nonces: the scenario does not test lowest first")
	}
	for _, v := range leases.Violations {
		t.Errorf("lease order: %s", v)
	}
	rejected := wantKinds[RejectLocal] + wantKinds[RejectPool]
	if leases.Kinds["release"] != rejected || len(leases.ReLeases) != rejected || len(leases.Pool) > 0 {
		t.Errorf("%d releases, %d re-leased, never re-leased %v; want %d, %d, none",
			leases.Kinds["release"], len(leases.ReLeases), leases.Pool, rejected, rejected)
	}
	// The executors kept no books: every close is the watcher's confirm;
	// each attempt was recorded once (a cancel adds one, a refused send
	// left one on the lease it released).
	wantAttempts := sc.Txs + wantKinds[Cancel] + wantKinds[RejectPool]
	if leases.Kinds["tx"] != sc.Txs+rejected || leases.Kinds["confirm"] != int(before.Closed) || leases.Kinds["close"] != 0 ||
		leases.Kinds["fail"] != 0 || leases.Kinds["attempt"] != wantAttempts {
		t.Errorf("entries %v; want %d tx, %d confirm, no close or fail, %d attempts", leases.Kinds, sc.Txs+rejected, before.Closed, wantAttempts)
	}

	// At-least-once repeats were answered from the existing entries.
	r := rep.Retries
	if r.Appends != sc.Txs+rejected || r.AppendsExisting != r.Appends ||
		r.Attempts != wantAttempts || r.AttemptsExisting != r.Attempts ||
		r.Closes != int(before.Closed) || r.ClosesExisting != r.Closes ||
		r.Releases != rejected || r.ReleasesExisting != r.Releases ||
		r.Replays != sc.Txs || r.ReplaysFinal != r.Replays {
		t.Errorf("retries %+v", r)
	}

	// A sync with the chain's nonce changes no ticket.
	tickets := map[string]client.Ticket{}
	for _, res := range rep.Results {
		tk, err := env.Seq.Ticket(ctx, env.Lineage, res.ID)
		if err != nil {
			t.Fatal(err)
		}
		tickets[res.ID] = *tk
	}
	if _, err := env.Seq.SyncLineage(ctx, env.Lineage, chain.Nonce); err != nil {
		t.Fatal(err)
	}
	after, err := env.Seq.Lineage(ctx, env.Lineage)
	if err != nil {
		t.Fatal(err)
	}
	if after.Closed != before.Closed || after.Failed != before.Failed || len(after.InFlight) > 0 ||
		len(after.Released) > 0 || after.NextNonce != chain.Nonce || after.Floor != chain.Nonce {
		t.Errorf("syncLineage(%d) changed the lineage: %+v → %+v", chain.Nonce, before, after)
	}
	for _, res := range rep.Results {
		tk, err := env.Seq.Ticket(ctx, env.Lineage, res.ID)
		if err != nil {
			t.Fatal(err)
		}
		if old := tickets[res.ID]; !reflect.DeepEqual(*tk, old) {
			t.Errorf("syncLineage changed ticket %s: %+v → %+v", res.ID, tickets[res.ID], *tk)
		}
	}
}

// TestRunPrintsSummary runs what `go run ./examples/nonces` runs: it must
// find no fault and print the accounting.
func TestRunPrintsSummary(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), t.TempDir(), DefaultScenario(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"closed 60 + failed 0 = 60 (chain nonce 60)", "minedTx set: 60", "nonces 0..59 each once: true, left in the pool: 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
