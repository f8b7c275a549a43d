package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// TestCrashRecovery proves SPEC §5 on a real process: a node is killed with
// SIGKILL in the middle of a concurrent write load, several times over, and
// after every restart
//   - every receipt returned before the kill is in the log at its seq,
//     byte-identical (hash, prevHash, signature, kind, sender, lineage, nonce,
//     externalId, dataHash, timestamp);
//   - every entry read in an earlier cycle is unchanged, seq has no gap, the
//     hash chain holds, every signature recovers to the primary, and new
//     writes continue from the head (no seq reused);
//   - the ticket state served (sequencer_lineage, sequencer_ticket) is exactly
//     a replay of the log, and no nonce of a lineage is held by two tickets;
//   - calls in flight at the kill, retried with the same externalId and data,
//     answer existing:true at the seq the log holds if they were written, or
//     write a new entry if not — never a second lease;
//   - `sequencer verify` passes on the datadir the kill left behind.
//
// After the last cycle the node is stopped with SIGTERM (exit 0) and the log
// verifies. SEQUENCER_CRASH_CYCLES sets the number of cycles (default 4, 2
// with -short); SEQUENCER_CRASH_SEED replays a run.
func TestCrashRecovery(t *testing.T) {
	cycles := 4
	if testing.Short() {
		cycles = 2
	}
	if s := os.Getenv("SEQUENCER_CRASH_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("SEQUENCER_CRASH_CYCLES=%q: want 1..1000", s)
		}
		cycles = n
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("SEQUENCER_CRASH_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SEQUENCER_CRASH_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (SEQUENCER_CRASH_SEED), %d cycles", seed, cycles)
	rng := rand.New(rand.NewSource(seed))

	datadir := t.TempDir()
	r := &crashRun{t: t, primary: testnode.KeyAddress(t, testnode.TestKeyHex).Hex()}
	node := testnode.StartNode(t, datadir, nil, "--max-in-flight", "4096")
	if in := node.Info(); in.Head.Seq != 0 || in.Primary != r.primary {
		t.Fatalf("fresh node: head %d, primary %s; want 0, %s", in.Head.Seq, in.Primary, r.primary)
	}
	for cycle := 1; cycle <= cycles; cycle++ {
		before := len(r.receipts)
		stop := r.start(node, cycle, rng.Int63())
		// Kill 100-600 ms into the load, counted from its first receipt so
		// that a slow start on a busy machine does not leave nothing to check.
		if !r.waitReceipts(before+1, 30*time.Second) {
			stop(node.Kill)
			t.Fatalf("cycle %d: no receipt within 30s", cycle)
		}
		time.Sleep(time.Duration(100+rng.Intn(501)) * time.Millisecond)
		stop(node.Kill)
		acked := len(r.receipts) - before
		if code, out, errs := verifyDir(datadir); code != 0 {
			t.Fatalf("cycle %d: verify after SIGKILL: exit %d\n%s%s", cycle, code, out, errs)
		}

		node = testnode.StartNode(t, datadir, nil, "--max-in-flight", "4096")
		head := node.Info().Head.Seq
		if acked > 0 && r.maxSeq > head {
			t.Fatalf("cycle %d: a receipt of seq %d was returned, but the restarted node's head is %d", cycle, r.maxSeq, head)
		}
		st := r.resolve(node, head)
		n := r.check(node)
		t.Logf("cycle %d: %d receipts before the kill; %d calls in flight at the kill: %d were written, %d were not, %d had no externalId to retry by; head at restart %d, log now %d entries, %d receipts checked",
			cycle, acked, st.inFlight, st.written, st.lost, st.noID, head, n, len(r.receipts))
		if t.Failed() {
			t.FailNow()
		}
	}
	if got := len(r.receipts); got < 5*cycles {
		t.Fatalf("only %d receipts over %d cycles: the load did not run", got, cycles)
	}

	// A last burst after the final restart, then a clean stop.
	stop := r.start(node, cycles+1, rng.Int63())
	time.Sleep(200 * time.Millisecond)
	stop(nil)
	if len(r.uncertain) != 0 {
		t.Fatalf("%d calls failed without a kill, e.g. %v", len(r.uncertain), r.uncertain[0].call)
	}
	n := r.check(node)
	if code := node.Term(30 * time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d; stderr:\n%s", code, testnode.Tail(node.Stderr(), 4000))
	}
	code, out, errs := verifyDir(datadir)
	if code != 0 {
		t.Fatalf("verify after the last cycle: exit %d\n%s%s", code, out, errs)
	}
	if want := fmt.Sprintf("ok: %d entries", n); !strings.Contains(out, want) {
		t.Fatalf("verify says %q, want %q", out, want)
	}
	kinds := map[string]int{}
	for _, e := range r.seen {
		kinds[e.Kind]++
	}
	if kinds["sync"] == 0 || kinds["close"] == 0 || kinds["release"] == 0 || kinds["fail"] == 0 {
		t.Errorf("the load missed a kind of write: %v", kinds)
	}
	t.Logf("final: %d entries %v, %d receipts checked, %d leases re-used a released nonce", n, kinds, len(r.receipts), r.poolLeases)
}

var crashLineages = []string{
	"eip155:1:0x52908400098527886E0F7030069857D2E4169EE7",
	"eip155:1:0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	"eip155:10:0xde709f2102306220921060314715629080e2fb77",
	"solana:mainnet/acct.01_x-y",
}

// crashCall is one write of the load, kept so that it can be retried.
type crashCall struct {
	method     string // sequencer_append, _close, _release or _syncLineage
	lineage    string
	extID      string
	data       []byte
	reason     string // release: "rejected" or "broadcast"
	chainNonce uint64 // sync
}

// syncLineage is the lineage the load syncs: the chain nonces it reports
// move its nextNonce and floor, and the crash cycles check that the stored
// lineage equals a replay of those sync entries (leases and syncs on one
// lineage are covered by the state's property tests).
const syncLineage = "eip155:1:0x000000000000000000000000000000000000dEaD"

func (c *crashCall) params() map[string]any {
	m := map[string]any{}
	if c.lineage != "" {
		m["lineage"] = c.lineage
	}
	if c.extID != "" {
		m["externalId"] = c.extID
	}
	switch c.method {
	case "sequencer_append":
		m["data"] = hexutil.Encode(c.data)
	case "sequencer_release":
		m["reason"] = c.reason
	case "sequencer_syncLineage":
		m["chainNonce"] = c.chainNonce
	}
	return m
}

func (c *crashCall) kind() string {
	switch {
	case c.method == "sequencer_append":
		return "tx"
	case c.method == "sequencer_close":
		return "close"
	case c.method == "sequencer_syncLineage":
		return "sync"
	case c.reason == "rejected":
		return "release"
	}
	return "fail"
}

func (c *crashCall) String() string {
	return fmt.Sprintf("%s(%s %s %s)", c.method, c.lineage, c.extID, c.reason)
}

// ticketRef is a ticket of the load: data is what its current lease holds.
type ticketRef struct {
	lineage, extID string
	data           []byte
	gen            int
}

// pending is a call whose answer the kill took, with the ticket it concerns.
type pending struct {
	call *crashCall
	tk   ticketRef
}

type crashRun struct {
	t       *testing.T
	primary string

	mu        sync.Mutex
	receipts  []*wire.Entry // every receipt returned, all cycles
	maxSeq    uint64        // highest seq of a receipt
	uncertain []pending     // this cycle's calls whose answer the kill took
	open      []ticketRef   // leased tickets of the load
	released  []ticketRef   // tickets released "rejected", to lease again

	seen       []*wire.Entry // the log as last read
	poolLeases int           // leases that re-used a released nonce
}

func crashData(tk ticketRef, rng *rand.Rand) []byte {
	b := fmt.Appendf(nil, "%s|%s|%d|", tk.lineage, tk.extID, tk.gen)
	for range rng.Intn(200) {
		b = append(b, byte(rng.Intn(256)))
	}
	return b
}

func (r *crashRun) record(res *wire.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.receipts = append(r.receipts, res)
	r.maxSeq = max(r.maxSeq, res.Seq)
}

// waitReceipts waits until n receipts are recorded, at most d.
func (r *crashRun) waitReceipts(n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := len(r.receipts)
		r.mu.Unlock()
		if got >= n {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// start runs 16 concurrent writers against node. The returned stop runs
// kill (if any: the writers' calls under way die with the node, and their
// next calls fail), then tells the writers to stop and waits for them.
func (r *crashRun) start(node *testnode.Proc, cycle int, seed int64) (stop func(kill func())) {
	const workers = 16
	ctx, cancel := context.WithCancel(context.Background())
	var halt atomic.Bool
	r.uncertain = nil
	open, released := r.open, r.released
	r.open, r.released = nil, nil
	var wg sync.WaitGroup
	for w := range workers {
		var o, rel []ticketRef
		for i := w; i < len(open); i += workers {
			o = append(o, open[i])
		}
		for i := w; i < len(released); i += workers {
			rel = append(rel, released[i])
		}
		rng := rand.New(rand.NewSource(seed + int64(w)))
		wg.Go(func() { r.worker(ctx, &halt, node.Client, cycle, w, rng, o, rel) })
	}
	return func(kill func()) {
		defer cancel()
		if kill != nil {
			kill()
		}
		halt.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cancel()
			<-done
			r.t.Fatal("writers did not stop within 60s")
		}
	}
}

// worker writes until halt: new leases (single calls and batches), closes
// and releases of its own tickets, new leases of released tickets, and
// appends without lineage (most with an externalId). It stops at the first
// call whose outcome it cannot know.
func (r *crashRun) worker(ctx context.Context, halt *atomic.Bool, c *gethrpc.Client, cycle, w int, rng *rand.Rand, open, released []ticketRef) {
	defer func() {
		r.mu.Lock()
		r.open = append(r.open, open...)
		r.released = append(r.released, released...)
		r.mu.Unlock()
	}()
	pop := func(l *[]ticketRef) ticketRef {
		i := rng.Intn(len(*l))
		tk := (*l)[i]
		(*l)[i] = (*l)[len(*l)-1]
		*l = (*l)[:len(*l)-1]
		return tk
	}
	id := 0
	for op := 0; op < 100000 && !halt.Load(); op++ {
		n := 1
		if rng.Intn(100) < 40 {
			n = 2 + rng.Intn(4)
		}
		calls := make([]*crashCall, 0, n)
		tks := make([]ticketRef, 0, n)
		prev := make([]ticketRef, 0, n) // a re-leased ticket as it was, for a call that wrote nothing
		for range n {
			x := rng.Intn(100)
			var tk, old ticketRef
			c := &crashCall{method: "sequencer_append"}
			switch {
			case len(open) > 0 && (len(open) >= 6 || x < 30):
				tk = pop(&open)
				c.lineage, c.extID = tk.lineage, tk.extID
				switch y := rng.Intn(100); {
				case y < 60:
					c.method = "sequencer_close"
				case y < 85:
					c.method, c.reason = "sequencer_release", "rejected"
				default:
					c.method, c.reason = "sequencer_release", "broadcast"
				}
			case x >= 96: // a chain nonce report, without externalId
				c.method, c.lineage, c.chainNonce = "sequencer_syncLineage", syncLineage, uint64(rng.Intn(1000))
			case len(released) > 0 && x < 40:
				tk = pop(&released)
				old = tk
				tk.gen++
				tk.data = crashData(tk, rng)
				c.lineage, c.extID, c.data = tk.lineage, tk.extID, tk.data
			case x < 52:
				id++
				if rng.Intn(3) > 0 {
					c.extID = fmt.Sprintf("p%d.%d.%d", cycle, w, id)
				}
				c.data = []byte{}
				if c.extID != "" || rng.Intn(4) > 0 {
					c.data = crashData(ticketRef{extID: c.extID}, rng)
				}
			default:
				id++
				tk = ticketRef{lineage: crashLineages[rng.Intn(len(crashLineages))], extID: fmt.Sprintf("t%d.%d.%d", cycle, w, id)}
				tk.data = crashData(tk, rng)
				c.lineage, c.extID, c.data = tk.lineage, tk.extID, tk.data
			}
			calls, tks, prev = append(calls, c), append(tks, tk), append(prev, old)
		}

		res := make([]wire.Entry, len(calls))
		errs := make([]error, len(calls))
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if len(calls) == 1 {
			errs[0] = c.CallContext(cctx, &res[0], calls[0].method, calls[0].params())
		} else {
			elems := make([]gethrpc.BatchElem, len(calls))
			for i, c := range calls {
				elems[i] = gethrpc.BatchElem{Method: c.method, Args: []any{c.params()}, Result: &res[i]}
			}
			err := c.BatchCallContext(cctx, elems)
			for i := range elems {
				errs[i] = elems[i].Error
				if err != nil {
					errs[i] = err
				}
			}
		}
		cancel()

		lost := false
		for i, call := range calls {
			err := errs[i]
			switch code := wire.Code(err); {
			case err == nil:
				if e := checkReceipt(&res[i], call); e != "" {
					r.t.Errorf("%v: %s", call, e)
					continue
				}
				if res[i].IsExisting() {
					r.t.Errorf("%v: a first call answered existing:true (seq %d)", call, res[i].Seq)
				}
				r.record(&res[i])
				switch call.kind() {
				case "tx":
					if call.lineage != "" {
						open = append(open, tks[i])
					}
				case "release":
					released = append(released, tks[i])
				}
			case code == 0: // transport failure: the kill took the answer
				r.mu.Lock()
				r.uncertain = append(r.uncertain, pending{call: call, tk: tks[i]})
				r.mu.Unlock()
				lost = true
			case code == 4007: // Overloaded: nothing written
				switch {
				case call.kind() == "sync":
				case call.kind() != "tx":
					open = append(open, tks[i])
				case prev[i].extID != "":
					released = append(released, prev[i])
				}
			default:
				r.t.Errorf("%v: unexpected error %v", call, err)
			}
		}
		if lost {
			return
		}
	}
}
