package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

const gwei = 1_000_000_000

// executorRun is what the executors did, for the checks at the end.
type executorRun struct {
	mu      sync.Mutex
	crashed []string                 // leased, never attempted
	sent    map[string][]common.Hash // externalId -> attempts broadcast
	dropped []string                 // attempted, never sent, released as broadcast
	outside *types.Transaction       // sent with the key outside the node
	counts  map[string]int           // what happened, for the log
	closed  map[string]bool          // closed by its executor (no minedTx then)
}

func (r *executorRun) note(what string) {
	r.mu.Lock()
	r.counts[what]++
	r.mu.Unlock()
}

// TestExecutors is the chain-aware scenario of SPEC §9 with real
// processes: a primary (a child process) with --chain-rpc to
// go-ethereum's simulated chain served over HTTP (a block every 500 ms),
// --confirmations 2 --lease-ttl 3s --gap-after 3s, a replica following it,
// and 8 executors sharing one funded account through the node: lease,
// attempt, sign, send. A third of them crash after the lease, some after
// the attempt (never close), some send a fee bump, some are told
// "nonce too low" by the chain (one transaction is sent outside the node
// with the account's key), and one drops its transaction and releases it
// as broadcast. Within a bounded time every mined transaction's ticket is
// closed with the right minedTx, every crashed lease expired and its nonce
// was leased again, the chain has no gap and its nonce equals nextNonce,
// the node-written entries carry the primary as sender, the replica holds
// the same log and tickets, and verify passes. SEQUENCER_EXECUTORS_LONG=10m
// runs the executors that long instead of a few rounds.
func TestExecutors(t *testing.T) {
	long, _ := time.ParseDuration(os.Getenv("SEQUENCER_EXECUTORS_LONG"))
	if testing.Short() && long == 0 {
		t.Skip("-short: the executors scenario runs a chain and two nodes")
	}
	acct := simchain.NewAccount()
	ch, err := simchain.Start(500*time.Millisecond, acct)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	dir := t.TempDir()
	primary := testnode.StartNode(t, filepath.Join(dir, "p"), nil, "--chain-id", "1337",
		"--chain-rpc", "1337="+ch.URL, "--confirmations", "2", "--chain-poll", "200ms", "--lease-ttl", "3s", "--gap-after", "3s")
	info := primary.Info()
	replica := startReplica(t, filepath.Join(dir, "r"), info.Primary, info.P2P[0], "/ip4/127.0.0.1/tcp/0", "--chain-id", "1337")
	L := acct.Lineage()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+max(long, 0)*2)
	defer cancel()

	run := &executorRun{sent: map[string][]common.Hash{}, counts: map[string]int{}, closed: map[string]bool{}}
	rounds := 6
	deadline := time.Time{}
	if long > 0 {
		rounds, deadline = 1<<30, time.Now().Add(long)
	}
	var wg sync.WaitGroup
	var jobs atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(ctx, "http://"+primary.Addr)
			if err != nil {
				t.Errorf("executor %d: %v", w, err)
				return
			}
			defer c.Disconnect()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; i < rounds && (deadline.IsZero() || time.Now().Before(deadline)) && ctx.Err() == nil; i++ {
				if err := runJob(ctx, c, ch, acct, L, fmt.Sprintf("w%d-%d", w, i), r, w == 0 && i == 1, run); err != nil {
					t.Errorf("executor %d job %d: %v", w, i, err)
					return
				}
				jobs.Add(1)
			}
		}()
		if w == 3 { // once some nonces are in flight: the account's key used outside the node
			time.Sleep(time.Second)
			sendOutside(t, ctx, c0(t, ctx, primary), ch, acct, L, run)
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The account moves on: lease until no expired or reclaimed nonce is
	// left in the pool, so that the chain can have no gap.
	c := c0(t, ctx, primary)
	for i := 0; ; i++ {
		l, err := c.Lineage(ctx, L)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Released) == 0 && len(l.InFlight) == 0 {
			chainNonce, err := ch.Nonce(ctx, acct.Address)
			if err == nil && chainNonce == l.NextNonce {
				break
			}
		}
		if i > 600 {
			t.Fatalf("the lineage does not settle: %+v", l)
		}
		if len(l.Released) > 0 {
			if err := sendJob(ctx, c, ch, acct, L, fmt.Sprintf("fill-%d", i), 2*gwei, run); err != nil {
				t.Fatal(err)
			}
			continue
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every ticket, every attempt's fate.
	l, _ := c.Lineage(ctx, L)
	chainNonce, _ := ch.Nonce(ctx, acct.Address)
	t.Logf("%d jobs, %v; chain nonce %d, nextNonce %d, floor %d", jobs.Load(), run.counts, chainNonce, l.NextNonce, l.Floor)
	for _, id := range run.crashed {
		tk, err := c.Ticket(ctx, L, id)
		if err != nil || tk.State != "expired" {
			t.Fatalf("crashed lease %s: %+v %v, want expired", id, tk, err)
		}
	}
	for _, id := range run.dropped {
		if tk, err := c.Ticket(ctx, L, id); err != nil || tk.State != "failed" {
			t.Fatalf("dropped %s: %+v %v", id, tk, err)
		}
	}
	entries := primary.ReadAll()
	kinds := map[string]int{}
	for _, e := range entries {
		kinds[e.Kind]++
		switch e.Kind {
		case "confirm", "expire", "reclaim":
			if e.Sender != common.HexToAddress(info.Primary) {
				t.Fatalf("seq %d: %s with sender %s, not the primary %s", e.Seq, e.Kind, e.Sender, info.Primary)
			}
		}
	}
	// A crashed lease's nonce was leased again (no nonce is left pooled).
	for _, id := range run.crashed {
		tk, _ := c.Ticket(ctx, L, id)
		n := 0
		for _, e := range entries {
			if e.Kind == "tx" && e.Nonce == tk.Nonce && e.Seq > tk.LeaseSeq {
				n++
			}
		}
		if n == 0 {
			t.Fatalf("the nonce %d of crashed lease %s was never leased again", tk.Nonce, id)
		}
	}
	mined := 0
	for id, hashes := range run.sent {
		tk, err := c.Ticket(ctx, L, id)
		if err != nil {
			t.Fatal(err)
		}
		var minedHash common.Hash
		for _, h := range hashes {
			if rc, err := ch.Client.TransactionReceipt(ctx, h); err == nil && rc != nil {
				minedHash = h
			}
		}
		switch {
		case minedHash != (common.Hash{}):
			mined++
			// An executor that closed its ticket itself (before the
			// watcher's confirmations) leaves no minedTx; every other
			// mined ticket has the right one.
			if tk.State != "closed" || (tk.MinedTx == nil && !run.closed[id]) || (tk.MinedTx != nil && *tk.MinedTx != minedHash) {
				t.Fatalf("ticket %s: %+v, its attempt %s was mined", id, tk, minedHash)
			}
			if tk.MinedTx != nil {
				run.note("confirmed with minedTx")
			}
		case tk.State != "closed":
			t.Fatalf("ticket %s: %+v, none of its attempts mined: it must be closed by the sync (nonce used elsewhere)", id, tk)
		}
	}
	if mined == 0 || kinds["confirm"] == 0 || kinds["expire"] == 0 || kinds["reclaim"] == 0 || kinds["sync"] == 0 || kinds["attempt"] == 0 {
		t.Fatalf("the run did not exercise the watcher: %d mined, kinds %v", mined, kinds)
	}
	if l.NextNonce != chainNonce || len(l.InFlight) != 0 {
		t.Fatalf("chain nonce %d, lineage %+v", chainNonce, l)
	}

	// sequencer_lineage.chain and the CLI show what the watcher read.
	wire.WaitFor(t, 20*time.Second, "the watcher's reading at the chain's nonce", func() bool {
		l, err := c.Lineage(ctx, L)
		return err == nil && l.Floor == chainNonce && l.Chain != nil && l.Chain.ConfirmedNonce == chainNonce &&
			l.Chain.LatestNonce == chainNonce && l.Chain.StuckSince == nil
	})
	if code, out, errOut := runCommand("http://"+primary.Addr, "lineage", "--lineage", L); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("confirmed nonce %d, latest nonce %d", chainNonce, chainNonce)) {
		t.Fatalf("sequencer lineage: %d\n%s%s", code, out, errOut)
	}

	// The replica holds the same log and derives the same tickets.
	wire.WaitFor(t, 30*time.Second, "the replica at the primary's head", func() bool {
		return replica.Info().Head == primary.Info().Head
	})
	rc, err := client.Dial(ctx, "http://"+replica.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Disconnect()
	for id := range run.sent {
		a, _ := c.Ticket(ctx, L, id)
		b, err := rc.Ticket(ctx, L, id)
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("ticket %s: primary %+v, replica %+v (%v)", id, a, b, err)
		}
	}
	l, _ = c.Lineage(ctx, L) // the watcher's sync has moved the floor since
	rl, _ := rc.Lineage(ctx, L)
	rl.Chain, l.Chain = nil, nil // the watcher's reading: the primary's alone
	if !reflect.DeepEqual(rl, l) {
		t.Fatalf("lineage: primary %+v, replica %+v", *l, *rl)
	}
	if code := primary.Term(20 * time.Second); code != 0 {
		t.Fatalf("primary exit %d", code)
	}
	replica.Term(20 * time.Second)
	for _, d := range []string{"p", "r"} {
		if code, out, errOut := verifyDir(filepath.Join(dir, d)); code != 0 {
			t.Fatalf("verify %s: %d\n%s%s", d, code, out, errOut)
		}
	}
}

func c0(t *testing.T, ctx context.Context, p *testnode.Proc) *client.Client {
	c, err := client.Dial(ctx, "http://"+p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Disconnect)
	return c
}

// sendOutside sends, with the account's key and without the node, a
// transaction at the lineage's next nonce, at a price no executor's
// transaction can replace: the executor that leases that nonce is told
// the nonce is used, and the watcher's sync closes its ticket.
func sendOutside(t *testing.T, ctx context.Context, c *client.Client, ch *simchain.Chain, acct simchain.Account, L string, run *executorRun) {
	l, err := c.Lineage(ctx, L)
	if err != nil {
		t.Errorf("outside: %v", err)
		return
	}
	tx := ch.Transfer(acct, l.NextNonce, 100*gwei, common.HexToAddress("0xbeef"))
	if err := ch.Send(ctx, tx); err != nil {
		t.Errorf("outside send: %v", err)
		return
	}
	run.mu.Lock()
	run.outside = tx
	run.mu.Unlock()
}

// runJob is one executor's job: lease, then by chance crash, or attempt
// and send (once, or with a fee bump), or drop and release as broadcast.
func runJob(ctx context.Context, c *client.Client, ch *simchain.Chain, acct simchain.Account, L, id string, r *rand.Rand, drop bool, run *executorRun) error {
	k := r.IntN(12)
	if drop {
		k = 4
	}
	switch {
	case k < 4: // a third crash after the lease
		if _, err := lease(ctx, c, L, id); err != nil {
			return err
		}
		run.mu.Lock()
		run.crashed = append(run.crashed, id)
		run.mu.Unlock()
		run.note("crashed after lease")
		return nil
	case k == 4 && drop: // a dropped transaction, released as broadcast
		rc, err := lease(ctx, c, L, id)
		if err != nil {
			return err
		}
		tx := ch.Transfer(acct, rc.Nonce, 2*gwei, common.HexToAddress("0xf00d"))
		if _, err := c.Attempt(ctx, L, id, tx.Hash()); err != nil {
			return err
		}
		if _, err := c.Release(ctx, L, id, "broadcast"); err != nil {
			return err
		}
		run.mu.Lock()
		run.dropped = append(run.dropped, id)
		run.mu.Unlock()
		run.note("dropped")
		return nil
	case k < 7: // a fee bump: two attempts, the second at a higher price
		return bumpJob(ctx, c, ch, acct, L, id, run)
	}
	return sendJob(ctx, c, ch, acct, L, id, 2*gwei, run)
}

// sendJob leases, attempts, sends and closes once mined; a send the chain
// refuses because the nonce is used (outside the node) is left to the
// watcher's sync.
func sendJob(ctx context.Context, c *client.Client, ch *simchain.Chain, acct simchain.Account, L, id string, price int64, run *executorRun) error {
	rc, err := lease(ctx, c, L, id)
	if err != nil {
		return err
	}
	tx := ch.Transfer(acct, rc.Nonce, price, common.HexToAddress("0xf00d"))
	if ok, err := attempt(ctx, c, L, id, tx, run); !ok {
		return err
	}
	if err := ch.Send(ctx, tx); err != nil {
		if usedNonce(err) {
			run.note("nonce used elsewhere")
			return nil
		}
		return fmt.Errorf("send nonce %d: %w", rc.Nonce, err)
	}
	if r := rand.IntN(3); r == 0 { // crashes after the attempt: never closes
		run.note("crashed after attempt")
		return nil
	}
	// Wait a little for the receipt and close; a transaction waiting
	// behind a gap (a crashed lease not expired yet) is left to the
	// watcher, as an executor that crashed after its attempt.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if r, err := ch.Client.TransactionReceipt(ctx, tx.Hash()); err == nil && r != nil {
			run.mu.Lock()
			run.closed[id] = true // before the call: a close that answers late still closed it
			run.mu.Unlock()
			if _, err := c.Close(ctx, L, id); err != nil {
				return fmt.Errorf("close: %w", err)
			}
			run.note("closed by executor")
			return nil
		}
	}
	run.note("left to the watcher")
	return nil
}

// bumpJob sends a transaction and, while both are in the pool, a
// replacement at twice the price; the watcher confirms the one mined.
func bumpJob(ctx context.Context, c *client.Client, ch *simchain.Chain, acct simchain.Account, L, id string, run *executorRun) error {
	rc, err := lease(ctx, c, L, id)
	if err != nil {
		return err
	}
	to := common.HexToAddress("0xf00d")
	tx1, tx2 := ch.Transfer(acct, rc.Nonce, 2*gwei, to), ch.Transfer(acct, rc.Nonce, 5*gwei, to)
	for _, tx := range []*types.Transaction{tx1, tx2} {
		if ok, err := attempt(ctx, c, L, id, tx, run); !ok {
			return err
		}
		if err := ch.Send(ctx, tx); err != nil && !usedNonce(err) {
			return fmt.Errorf("send nonce %d: %w", rc.Nonce, err)
		}
	}
	run.note("fee bump")
	return nil
}

// attempt records tx for ticket id before it is broadcast; false means do
// not broadcast: an error, or 4004 (the lease expired first: not an error).
func attempt(ctx context.Context, c *client.Client, L, id string, tx *types.Transaction, run *executorRun) (bool, error) {
	if _, err := c.Attempt(ctx, L, id, tx.Hash()); err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == 4004 {
			run.note("attempt too late")
			return false, nil
		}
		return false, err
	}
	run.mu.Lock()
	run.sent[id] = append(run.sent[id], tx.Hash())
	run.mu.Unlock()
	return true, nil
}

// lease appends a lease for id, waiting while the lineage is at
// --max-in-flight (4005: back-pressure, as an executor pool must take it).
func lease(ctx context.Context, c *client.Client, L, id string) (*client.Receipt, error) {
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		rc, err := c.Append(ctx, client.AppendRequest{Lineage: L, ExternalID: id, Data: []byte(id)})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != 4005 || time.Now().After(end) {
			return rc, err
		}
	}
}

// usedNonce tells the chain's answers that mean another transaction holds
// or used the nonce.
func usedNonce(err error) bool {
	s := err.Error()
	return strings.Contains(s, "nonce too low") || strings.Contains(s, "replacement transaction underpriced") || strings.Contains(s, "already known")
}
