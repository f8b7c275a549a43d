// Command nonces shows several transaction executors sharing one Ethereum
// account through the sequencer, on a real (simulated, in-process)
// go-ethereum chain:
//
//	go run ./examples/nonces
//
// It starts go-ethereum's simulated backend, which funds one account,
// served over HTTP on 127.0.0.1, and a sequencer primary (LevelDB in a
// temp dir, JSON-RPC on 127.0.0.1) whose chain watcher reads it (SPEC §9).
// Each executor follows the executor protocol: it leases a nonce of the
// account's lineage ("eip155:1337:0x…") for each of its transactions
// (externalId = its own transaction id), signs a transaction with that
// nonce, records it with sequencer_attempt, sends it — and keeps no books:
//
//   - mined (receipt found), whatever its status: the node's watcher
//     confirms the attempt it finds mined (the ticket is closed with
//     minedTx). A call that reverts is still in a block and its nonce is
//     used: closed all the same.
//   - replaced in the pool by a cancel at the same nonce: the cancel is
//     another attempt of the same ticket, recorded before it is sent; the
//     watcher confirms the one mined, so minedTx names the cancel.
//   - never reached the network (the executor's signer refused it, or the
//     chain's pool refused it on submission): release "rejected". The
//     nonce returns to the pool; the next lease takes the lowest pooled
//     nonce, and the executor retries under the same externalId.
//
// Every sequencer call is repeated as an at-least-once caller would: two
// racing Appends, each Attempt and Release twice, a Close after the
// watcher's confirm, and an Append after the end.
// At the end the chain's nonce must equal closed + failed tickets, every
// nonce below it is used exactly once, nothing waits in the pool, and a
// syncLineage with the chain's nonce changes no ticket.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/client"
)

func main() {
	sc := DefaultScenario()
	flag.IntVar(&sc.Executors, "executors", sc.Executors, "concurrent executors sharing the account")
	flag.IntVar(&sc.Txs, "txs", sc.Txs, "transactions in total")
	flag.Parse()

	dir, err := os.MkdirTemp("", "nonces-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = run(context.Background(), dir, sc, os.Stdout)
	os.RemoveAll(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nonces:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, sc Scenario, w io.Writer) error {
	env, err := Start(ctx, dir)
	if err != nil {
		return err
	}
	defer env.Close()
	rep := Run(ctx, env, sc)
	chain, err := AuditChain(ctx, env, rep.Sent)
	if err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	leases, err := ReadLeases(ctx, env.Seq, env.Lineage)
	if err != nil {
		return fmt.Errorf("read lineage log: %w", err)
	}
	before, err := env.Seq.Lineage(ctx, env.Lineage)
	if err != nil {
		return err
	}
	if _, err := env.Seq.SyncLineage(ctx, env.Lineage, chain.Nonce); err != nil {
		return fmt.Errorf("syncLineage: %w", err)
	}
	after, err := env.Seq.Lineage(ctx, env.Lineage)
	if err != nil {
		return err
	}
	faults := summarize(w, env, rep, chain, leases, before, after)
	if len(faults) > 0 {
		return fmt.Errorf("%d faults:\n  %s", len(faults), strings.Join(faults, "\n  "))
	}
	return nil
}

// summarize prints the run and returns what does not add up.
func summarize(w io.Writer, env *Env, rep *Report, chain *ChainAudit, leases *LeaseLog, before, after *client.Lineage) (faults []string) {
	count := func(f func(Result) bool) (n int) {
		for _, r := range rep.Results {
			if f(r) {
				n++
			}
		}
		return n
	}
	kinds := map[Kind]int{}
	for _, r := range rep.Results {
		kinds[r.Kind]++
	}
	closed := count(func(r Result) bool { return r.State == "closed" })
	reverted := count(func(r Result) bool { return r.State == "closed" && r.Status == 0 })
	failed := count(func(r Result) bool { return r.State == "failed" })
	injected := 0
	for _, e := range rep.SendErrors {
		if e.Injected {
			injected++
		}
	}
	t := rep.Retries

	fmt.Fprintf(w, "%d executors, %d transactions, one account %s on chain %d\n", rep.Scenario.Executors, len(rep.Results), env.Account, chainID)
	fmt.Fprintf(w, "sequencer %s, lineage %s\n\n", env.SeqURL, env.Lineage)
	fmt.Fprintf(w, "transactions     %3d  %d transfers, %d reverting calls, %d failing before sending, %d refused by the pool, %d cancelled\n",
		len(rep.Results), kinds[Transfer], kinds[Revert], kinds[RejectLocal], kinds[RejectPool], kinds[Cancel])
	confirmed := count(func(r Result) bool { return r.State == "closed" && r.Mined == r.Tx && r.Mined != (common.Hash{}) })
	cancelled := count(func(r Result) bool { return r.Kind == Cancel && r.Mined == r.Tx })
	fmt.Fprintf(w, "tickets closed   %3d  by the node's watcher, minedTx set: %d; mined: %d succeeded, %d reverted (in a block, nonce used: closed)\n", closed, confirmed, closed-reverted, reverted)
	fmt.Fprintf(w, "replaced         %3d  sent, then replaced by a cancel at the same nonce (another attempt): closed, minedTx = the cancel\n", cancelled)
	fmt.Fprintf(w, "tickets failed   %3d\n", failed)
	fmt.Fprintf(w, "leases released  %3d  never reached the network: release \"rejected\" (%d by the executor's signer, %d by the pool)\n",
		leases.Kinds["release"], rep.Local, injected)
	fmt.Fprintf(w, "re-leased        %3d  each to the next lease, lowest pooled nonce first (up to %d pooled at once; %d released while a higher nonce waited in the chain's pool):\n",
		len(leases.ReLeases), leases.MaxPool, rep.Gaps)
	for _, r := range leases.ReLeases {
		fmt.Fprintf(w, "                       nonce %2d  %s → %s\n", r.Nonce, r.From, r.To)
	}
	fmt.Fprintf(w, "at-least-once         repeats answered from the log: racing Append pairs %d/%d existing, Attempt again %d/%d existing, Close after the confirm %d/%d existing, Release again %d/%d existing, Append after the end %d/%d TicketFinal\n",
		t.AppendsExisting, t.Appends, t.AttemptsExisting, t.Attempts, t.ClosesExisting, t.Closes, t.ReleasesExisting, t.Releases, t.ReplaysFinal, t.Replays)
	fmt.Fprintf(w, "send errors      %3d  %d injected (gas below intrinsic)\n", len(rep.SendErrors), injected)

	nonces := make([]uint64, 0, len(chain.Mined))
	for _, m := range chain.Mined {
		nonces = append(nonces, m.Nonce)
	}
	slices.Sort(nonces)
	exact := uint64(len(nonces)) == chain.Nonce
	for i, n := range nonces {
		exact = exact && n == uint64(i)
	}
	fmt.Fprintf(w, "\nchain            nonce %d, pending nonce %d, %d transactions of the account in %d blocks, nonces 0..%d each once: %v, left in the pool: %d\n",
		chain.Nonce, chain.PendingNonce, len(chain.Mined), chain.Head, int64(chain.Nonce)-1, exact, len(chain.InPool))
	fmt.Fprintf(w, "sequencer        nextNonce %d, closed %d + failed %d = %d (chain nonce %d), in flight %d, released pool %d\n",
		before.NextNonce, before.Closed, before.Failed, before.Closed+before.Failed, chain.Nonce, len(before.InFlight), len(before.Released))
	fmt.Fprintf(w, "syncLineage(%d)  nextNonce %d, closed %d, failed %d, in flight %d, released pool %d, floor %d → %d\n",
		chain.Nonce, after.NextNonce, after.Closed, after.Failed, len(after.InFlight), len(after.Released), before.Floor, after.Floor)
	fmt.Fprintf(w, "took %v\n", rep.Elapsed.Round(time.Millisecond))

	faults = append(faults, rep.Problems...)
	faults = append(faults, leases.Violations...)
	check := func(ok bool, format string, args ...any) {
		if !ok {
			faults = append(faults, fmt.Sprintf(format, args...))
		}
	}
	for _, e := range rep.SendErrors {
		check(e.Injected, "%s: nonce %d: send: %s", e.ID, e.Nonce, e.Err)
	}
	check(before.Closed+before.Failed == chain.Nonce, "closed %d + failed %d != chain nonce %d", before.Closed, before.Failed, chain.Nonce)
	check(confirmed == len(rep.Results), "%d of %d tickets closed with the mined transaction as minedTx", confirmed, len(rep.Results))
	check(exact, "mined nonces %v are not 0..%d once each", nonces, int64(chain.Nonce)-1)
	check(chain.PendingNonce == chain.Nonce && len(chain.InPool) == 0, "pool holds %v (pending nonce %d, nonce %d)", chain.InPool, chain.PendingNonce, chain.Nonce)
	check(len(leases.Pool) == 0, "released nonces never leased again: %v", leases.Pool)
	check(len(before.InFlight) == 0 && len(before.Released) == 0 && before.NextNonce == chain.Nonce,
		"sequencer before sync: in flight %v, released %v, nextNonce %d", before.InFlight, before.Released, before.NextNonce)
	check(after.Closed == before.Closed && after.Failed == before.Failed && len(after.InFlight) == 0 &&
		len(after.Released) == 0 && after.NextNonce == chain.Nonce, "syncLineage changed the lineage: %+v → %+v", before, after)
	return faults
}
