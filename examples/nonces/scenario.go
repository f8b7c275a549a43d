package main

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/seqnode/sequencer/client"
)

// Kind is what happens to one transaction of an executor, and so how its
// ticket ends (SPEC §2, §3).
type Kind int

const (
	// Transfer is sent and mined with status 1: close.
	Transfer Kind = iota
	// Revert calls a contract that always reverts: mined with status 0. The
	// transaction is in a block and its nonce is used on chain, so the
	// ticket is closed (close = mined, final). Whether the call did what
	// the executor wanted is the executor's business, not the nonce's.
	Revert
	// RejectLocal fails before it is sent: the executors start one round
	// together (a burst, say a scheduled payout run), the shared remote
	// signer is down during it, and every executor but one fails to sign
	// its transaction of that round. None reached the network, so each is
	// released "rejected": the nonces return to the pool, and the next
	// leases take them lowest first, while the one executor the outage
	// missed has already sent a higher nonce that waits in the chain's
	// pool. Each executor then retries the same transaction (same
	// externalId) with a new lease.
	RejectLocal
	// RejectPool is refused by the chain's txpool on its first attempt
	// (gas limit below the intrinsic gas): it never entered the pool, so it
	// never reached the network: release "rejected", retry as above.
	RejectPool
	// Cancel is sent, and then the executor cancels it: it replaces it in
	// the pool with a zero-value self-transfer at the same nonce and twice
	// the fees. The replacement is another attempt of the same ticket
	// (SPEC §9), recorded before it is sent: the watcher confirms the one
	// that is mined, so the ticket is closed with minedTx = the cancel, and
	// the executor can tell its transaction was replaced.
	Cancel
)

func (k Kind) String() string {
	return [...]string{"transfer", "revert", "reject-local", "reject-pool", "cancel"}[k]
}

// outageRound is the round (each executor's transaction number) the
// signer outage hits.
const outageRound = 2

// Kind is the kind of the i-th transaction of a run (executor i mod
// Executors, its transaction i / Executors): mostly transfers; the signer
// outage for every executor but the last in outageRound; every tenth
// transaction reverting, every tenth refused by the pool, every fifteenth
// cancelled.
func (sc Scenario) Kind(i int) Kind {
	switch {
	case i/sc.Executors == outageRound && i%sc.Executors != sc.Executors-1:
		return RejectLocal
	case i%10 == 5:
		return RejectPool
	case i%10 == 7:
		return Revert
	case i%15 == 9:
		return Cancel
	}
	return Transfer
}

// Scenario sizes a run.
type Scenario struct {
	Executors   int           // concurrent executors sharing the one account
	Txs         int           // transactions in total, dealt round-robin to executors
	MineEvery   time.Duration // the chain seals a block this often
	MineTimeout time.Duration // an executor stops waiting for a receipt after this
	Attempts    int           // leases per transaction at most
}

// DefaultScenario is what `go run ./examples/nonces` and the test run.
func DefaultScenario() Scenario {
	return Scenario{Executors: 6, Txs: 60, MineEvery: 20 * time.Millisecond, MineTimeout: 10 * time.Second, Attempts: 3}
}

// Result is one transaction as its executor saw it end.
type Result struct {
	ID     string // the executor's transaction id: the ticket's externalId
	Kind   Kind
	Leases []uint64    // the nonce of every lease it took, in order
	Nonce  uint64      // the nonce of its last lease
	Tx     common.Hash // the transaction mined at Nonce (for Cancel, the replacement)
	Status uint64      // its receipt status
	State  string      // the ticket's final state, from sequencer_ticket
	Mined  common.Hash // the ticket's minedTx, set by the watcher's confirm
	Done   bool        // the executor reached the end of its flow
}

// SendError is an error the chain answered to SendTransaction.
type SendError struct {
	ID       string
	Nonce    uint64
	Injected bool // the scenario meant it (RejectPool, first attempt)
	Err      string
}

// Retries counts the at-least-once repeats of sequencer calls and how the
// sequencer answered them.
type Retries struct {
	Appends, AppendsExisting   int // a second Append of a lease, racing the first: existing:true
	Attempts, AttemptsExisting int // an Attempt sent again: existing:true
	Closes, ClosesExisting     int // Close after the watcher's confirm: existing:true
	Releases, ReleasesExisting int // Release again, same reason: existing:true
	Replays, ReplaysFinal      int // Append after the ticket is final: TicketFinal (4004)
}

// Report is what a run saw.
type Report struct {
	Scenario   Scenario
	Results    []Result // sorted by ID
	SendErrors []SendError
	Sent       []common.Hash // every transaction the chain's pool accepted
	Local      int           // transactions that failed before they were sent
	// Gaps counts rejected releases made while a higher nonce of the
	// account was already sent: a gap on chain that the sequencer knew.
	Gaps     int
	Retries  Retries
	Problems []string // anything the contract or the scenario does not allow
	Elapsed  time.Duration

	highestSent int64
}

var (
	tipCap = big.NewInt(params.GWei)
	feeCap = big.NewInt(50 * params.GWei)
	value  = big.NewInt(params.GWei) // per transfer

	errInjected = errors.New("injected: the signer refused the transaction")
)

// Run starts the executors and a miner, waits for every transaction to
// end, and seals one last block.
func Run(ctx context.Context, env *Env, sc Scenario) *Report {
	start := time.Now()
	rec := &recorder{rep: Report{Scenario: sc, highestSent: -1}}

	mctx, stopMining := context.WithCancel(ctx)
	var miner sync.WaitGroup
	miner.Go(func() {
		t := time.NewTicker(sc.MineEvery)
		defer t.Stop()
		for {
			select {
			case <-mctx.Done():
				return
			case <-t.C:
				env.Commit()
			}
		}
	})

	planned := 0
	for i := range sc.Txs {
		if sc.Kind(i) == RejectLocal {
			planned++
		}
	}
	out := newOutage(planned, time.Second)
	// The executors that have a transaction in outageRound start it together.
	burst := newBarrier(min(sc.Executors, max(0, sc.Txs-outageRound*sc.Executors)))
	var executors sync.WaitGroup
	for e := range sc.Executors {
		x := &executor{env: env, sc: sc, rec: rec, outage: out, rng: rand.New(rand.NewPCG(uint64(e), 1))}
		executors.Go(func() {
			for i := e; i < sc.Txs; i += sc.Executors {
				if i/sc.Executors == outageRound && !burst.wait(5*time.Second) {
					// Safe: the earlier rounds never wait on this one.
					rec.problem("exec-%d: the burst round did not start together", e)
				}
				x.do(ctx, fmt.Sprintf("exec-%d/tx-%02d", e, i/sc.Executors), sc.Kind(i))
			}
		})
	}
	executors.Wait()
	stopMining()
	miner.Wait()
	env.Commit() // anything still executable in the pool is mined now

	rep := rec.rep
	slices.SortFunc(rep.Results, func(a, b Result) int { return strings.Compare(a.ID, b.ID) })
	rep.Elapsed = time.Since(start)
	return &rep
}

// recorder collects what the executors saw.
type recorder struct {
	mu  sync.Mutex
	rep Report
}

func (r *recorder) with(f func(*Report)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.rep)
}

func (r *recorder) problem(format string, args ...any) {
	r.with(func(rep *Report) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) })
}

// executor is one transaction executor: it runs its transactions one
// after another, sharing the account with the other executors only
// through the sequencer.
type executor struct {
	env    *Env
	sc     Scenario
	rec    *recorder
	outage *outage
	rng    *rand.Rand
}

func (x *executor) do(ctx context.Context, id string, kind Kind) {
	res := Result{ID: id, Kind: kind}
	defer func() { x.rec.with(func(rep *Report) { rep.Results = append(rep.Results, res) }) }()
	// The sequenced data is the executor's intent, not the signed bytes:
	// the nonce, hence the signature, is known only after the lease. It is
	// the same on every attempt, so a retried Append is recognised.
	intent := fmt.Appendf(nil, `{"id":%q,"kind":%q}`, id, kind)

	for attempt := 1; attempt <= x.sc.Attempts; attempt++ {
		lease, err := x.lease(ctx, id, intent)
		if err != nil {
			x.rec.problem("%s: lease: %v", id, err)
			return
		}
		res.Leases = append(res.Leases, lease.Nonce)
		res.Nonce = lease.Nonce
		// Executors do not finish in lease order: some send after a
		// higher nonce of another executor was sent.
		time.Sleep(time.Duration(x.rng.IntN(3000)) * time.Microsecond)

		tx, err := x.sign(kind, attempt, lease.Nonce)
		var mined *types.Transaction
		var down *window
		replaced := false
		switch {
		case err != nil:
			// The signer is down and answers late, when its outage window
			// ends; by then the executor it missed has sent a higher
			// nonce, which waits in the chain's pool behind the lowest
			// failed one: a gap the sequencer knows (the nonce is leased)
			// and fills by leasing it again.
			x.rec.with(func(rep *Report) { rep.Local++ })
			down = x.outage.fail(lease.Nonce)
			<-down.over
			x.waitSentAbove(ctx, down.lowest, 500*time.Millisecond)
		case kind == Cancel:
			mined, replaced, err = x.sendAndReplace(ctx, id, tx)
		default:
			if err = x.attempt(ctx, id, tx); err == nil {
				mined, err = tx, x.send(ctx, id, tx, kind == RejectPool && attempt == 1)
			}
		}
		if err != nil {
			// Never reached the network (the pool refused what it was
			// sent: it holds nothing of this nonce): release "rejected".
			// With a remote node, a transport error on send is ambiguous
			// (the transaction may have arrived): a real executor looks
			// the hash up before it releases "rejected".
			x.rec.with(func(rep *Report) {
				if rep.highestSent > int64(lease.Nonce) {
					rep.Gaps++
				}
			})
			x.finish(ctx, id, "rejected")
			if down != nil {
				// The executors the signer failed retry together when it
				// is back: the pool holds all their nonces.
				x.outage.released(down)
				select {
				case <-down.retry:
				case <-ctx.Done():
				}
			}
			continue
		}

		rcpt, err := x.waitMined(ctx, mined.Hash())
		if err != nil {
			// The executor cannot tell what happened: the ticket stays
			// leased; the watcher will confirm or sync it.
			x.rec.problem("%s: nonce %d: %v", id, lease.Nonce, err)
			return
		}
		res.Tx, res.Status = mined.Hash(), rcpt.Status
		if replaced {
			// The ticket's own transaction must never be mined.
			if _, err := x.env.Eth.TransactionReceipt(ctx, tx.Hash()); !errors.Is(err, ethereum.NotFound) {
				x.rec.problem("%s: replaced transaction %s: receipt lookup %v, want not found", id, tx.Hash(), err)
			}
		}
		// Mined, reverted or replaced: the node's watcher confirms the
		// attempt the chain mined; the executor does no bookkeeping.
		res.State, res.Mined = x.awaitConfirm(ctx, id, mined.Hash())
		x.replay(ctx, id, intent)
		res.Done = true
		return
	}
	x.rec.problem("%s: no lease of %d made it to the chain", id, x.sc.Attempts)
}

// lease takes a ticket as an at-least-once caller does: two identical
// Appends race, as a retry racing a slow original would. Exactly one may
// lease; the other must get the same receipt with existing:true.
func (x *executor) lease(ctx context.Context, id string, intent []byte) (*client.Receipt, error) {
	req := client.AppendRequest{Data: intent, Lineage: x.env.Lineage, ExternalID: id}
	var rs [2]*client.Receipt
	var errs [2]error
	var wg sync.WaitGroup
	for i := range rs {
		wg.Go(func() { rs[i], errs[i] = x.env.Seq.Append(ctx, req) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	existing := 0
	for _, r := range rs {
		if r.Existing {
			existing++
		}
	}
	x.rec.with(func(rep *Report) { rep.Retries.Appends++; rep.Retries.AppendsExisting += existing })
	if existing != 1 || rs[0].Seq != rs[1].Seq || rs[0].Nonce != rs[1].Nonce {
		x.rec.problem("%s: two Appends gave seq %d/%d nonce %d/%d existing %v/%v, want one lease",
			id, rs[0].Seq, rs[1].Seq, rs[0].Nonce, rs[1].Nonce, rs[0].Existing, rs[1].Existing)
	}
	return rs[0], nil
}

// sign makes the transaction of a lease. A RejectLocal transaction fails
// here on its first attempt, a RejectPool one gets a gas limit the pool
// refuses.
func (x *executor) sign(kind Kind, attempt int, nonce uint64) (*types.Transaction, error) {
	if kind == RejectLocal && attempt == 1 {
		return nil, errInjected
	}
	inner := &types.DynamicFeeTx{ChainID: big.NewInt(chainID), Nonce: nonce, GasTipCap: tipCap, GasFeeCap: feeCap,
		Gas: 21_000, To: &sinkAddr, Value: value}
	switch kind {
	case Revert:
		inner.To, inner.Gas, inner.Value, inner.Data = &revertAddr, 50_000, new(big.Int), []byte{0xde, 0xad, 0xbe, 0xef}
	case RejectPool:
		if attempt == 1 {
			inner.Gas = 20_000 // below the 21,000 intrinsic gas
		}
	}
	return types.SignTx(types.NewTx(inner), x.env.Signer, x.env.Key)
}

// send hands tx to the chain, recording any error.
func (x *executor) send(ctx context.Context, id string, tx *types.Transaction, injected bool) error {
	if err := x.env.Eth.SendTransaction(ctx, tx); err != nil {
		x.rec.with(func(rep *Report) {
			rep.SendErrors = append(rep.SendErrors, SendError{ID: id, Nonce: tx.Nonce(), Injected: injected, Err: err.Error()})
		})
		return err
	}
	x.rec.with(func(rep *Report) {
		rep.Sent = append(rep.Sent, tx.Hash())
		rep.highestSent = max(rep.highestSent, int64(tx.Nonce()))
	})
	return nil
}

// waitSentAbove waits up to limit until a nonce above nonce was sent.
func (x *executor) waitSentAbove(ctx context.Context, nonce uint64, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var above bool
		x.rec.with(func(rep *Report) { above = rep.highestSent > int64(nonce) })
		if above {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sendAndReplace sends tx and at once replaces it with a zero-value
// self-transfer at the same nonce and twice the fees, so tx is dropped
// from the pool. No block is sealed in between: tx is never mined. It
// returns the transaction that will be mined at the nonce.
func (x *executor) sendAndReplace(ctx context.Context, id string, tx *types.Transaction) (mined *types.Transaction, replaced bool, err error) {
	self := x.env.Account
	repl, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(chainID), Nonce: tx.Nonce(),
		GasTipCap: new(big.Int).Mul(tipCap, big.NewInt(2)), GasFeeCap: new(big.Int).Mul(feeCap, big.NewInt(2)),
		Gas: 21_000, To: &self, Value: new(big.Int)}), x.env.Signer, x.env.Key)
	if err != nil {
		return nil, false, err
	}
	x.env.mining.RLock()
	defer x.env.mining.RUnlock()
	if err := x.attempt(ctx, id, tx); err != nil {
		return nil, false, err
	}
	if err := x.send(ctx, id, tx, false); err != nil {
		return nil, false, err
	}
	if err := x.attempt(ctx, id, repl); err != nil {
		x.rec.problem("%s: attempt of the replacement: %v", id, err)
		return tx, false, nil
	}
	if err := x.send(ctx, id, repl, false); err != nil {
		// tx is in the pool and will be mined: it is not "rejected".
		x.rec.problem("%s: replacement refused: %v", id, err)
		return tx, false, nil
	}
	return repl, true, nil
}

func (x *executor) waitMined(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	deadline := time.Now().Add(x.sc.MineTimeout)
	for {
		r, err := x.env.Eth.TransactionReceipt(ctx, h)
		if err == nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("tx %s not mined after %v (%v)", h, x.sc.MineTimeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// finish ends the ticket — how is "close", "rejected" or "broadcast" —
// twice, as an at-least-once caller might, and returns the ticket's state.
func (x *executor) finish(ctx context.Context, id, how string) string {
	call := func() (*client.Receipt, error) {
		if how == "close" {
			return x.env.Seq.Close(ctx, x.env.Lineage, id)
		}
		return x.env.Seq.Release(ctx, x.env.Lineage, id, how)
	}
	first, err := call()
	if err != nil {
		x.rec.problem("%s: %s: %v", id, how, err)
		return ""
	}
	again, err := call()
	if err != nil {
		x.rec.problem("%s: %s again: %v", id, how, err)
		return ""
	}
	x.rec.with(func(rep *Report) {
		if how == "close" {
			rep.Retries.Closes++
			if again.Existing {
				rep.Retries.ClosesExisting++
			}
		} else {
			rep.Retries.Releases++
			if again.Existing {
				rep.Retries.ReleasesExisting++
			}
		}
	})
	if first.Existing || !again.Existing || again.Seq != first.Seq {
		x.rec.problem("%s: %s gave seq %d existing %v, again seq %d existing %v", id, how, first.Seq, first.Existing, again.Seq, again.Existing)
	}
	t, err := x.env.Seq.Ticket(ctx, x.env.Lineage, id)
	if err != nil {
		x.rec.problem("%s: ticket: %v", id, err)
		return ""
	}
	return t.State
}

// attempt records tx for the ticket before it is broadcast (SPEC §9), and
// again as an at-least-once caller might: the repeat must answer the
// first receipt.
func (x *executor) attempt(ctx context.Context, id string, tx *types.Transaction) error {
	first, err := x.env.Seq.Attempt(ctx, x.env.Lineage, id, tx.Hash())
	if err != nil {
		x.rec.problem("%s: attempt: %v", id, err)
		return err
	}
	again, err := x.env.Seq.Attempt(ctx, x.env.Lineage, id, tx.Hash())
	if err != nil {
		x.rec.problem("%s: attempt again: %v", id, err)
		return err
	}
	x.rec.with(func(rep *Report) {
		rep.Retries.Attempts++
		if again.Existing && again.Seq == first.Seq && !first.Existing {
			rep.Retries.AttemptsExisting++
		}
	})
	return nil
}

// awaitConfirm waits until the watcher has closed the ticket with the
// mined transaction, then closes it as an executor that does not know
// that would: the node answers with the confirm, existing:true. It
// returns the ticket's state and minedTx.
func (x *executor) awaitConfirm(ctx context.Context, id string, mined common.Hash) (string, common.Hash) {
	deadline := time.Now().Add(x.sc.MineTimeout)
	for {
		t, err := x.env.Seq.Ticket(ctx, x.env.Lineage, id)
		if err != nil {
			x.rec.problem("%s: ticket: %v", id, err)
			return "", common.Hash{}
		}
		if t.State != "leased" {
			var got common.Hash
			if t.MinedTx != nil {
				got = *t.MinedTx
			}
			if t.State != "closed" || got != mined {
				x.rec.problem("%s: ticket %s with minedTx %s, want closed with %s", id, t.State, got, mined)
			}
			r, err := x.env.Seq.Close(ctx, x.env.Lineage, id)
			x.rec.with(func(rep *Report) {
				rep.Retries.Closes++
				if err == nil && r.Existing && r.Kind == "confirm" && r.Seq == t.FinalSeq {
					rep.Retries.ClosesExisting++
				}
			})
			return t.State, got
		}
		if time.Now().After(deadline) {
			x.rec.problem("%s: not confirmed %v after it was mined", id, x.sc.MineTimeout)
			return t.State, common.Hash{}
		}
		select {
		case <-ctx.Done():
			return t.State, common.Hash{}
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// replay is an executor restarted after the end of a transaction that
// runs it again from the start: the sequencer answers TicketFinal.
func (x *executor) replay(ctx context.Context, id string, intent []byte) {
	_, err := x.env.Seq.Append(ctx, client.AppendRequest{Data: intent, Lineage: x.env.Lineage, ExternalID: id})
	final := client.Code(err) == client.CodeTicketFinal
	x.rec.with(func(rep *Report) {
		rep.Retries.Replays++
		if final {
			rep.Retries.ReplaysFinal++
		}
	})
	if !final {
		x.rec.problem("%s: Append after the end: %v, want TicketFinal", id, err)
	}
}
