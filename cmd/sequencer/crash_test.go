package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
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

// checkReceipt checks a receipt against the call that got it.
func checkReceipt(res *wire.Entry, c *crashCall) string {
	switch {
	case res.Kind != c.kind():
		return fmt.Sprintf("receipt of kind %q, want %q", res.Kind, c.kind())
	case res.Lineage != c.lineage || res.ExternalID != c.extID:
		return fmt.Sprintf("receipt names %q/%q", res.Lineage, res.ExternalID)
	case res.Data != nil:
		return "receipt carries data"
	case res.Seq == 0:
		return "receipt without seq"
	case c.kind() == "sync" && res.Nonce != c.chainNonce:
		return fmt.Sprintf("sync receipt nonce %d, reported %d", res.Nonce, c.chainNonce)
	case c.kind() == "tx" && res.Signed().DataHash != crypto.Keccak256Hash(c.data).Hex():
		return fmt.Sprintf("receipt dataHash %s, data hashes to %s", res.Signed().DataHash, crypto.Keccak256Hash(c.data).Hex())
	}
	return ""
}

type resolveStats struct{ inFlight, written, lost, noID int }

// resolve retries, on the restarted node, every call whose answer the kill
// took. Written before the kill, it must answer existing:true at the seq
// the log holds; not written, a new entry after the head at restart.
func (r *crashRun) resolve(node *testnode.Proc, head uint64) resolveStats {
	t := r.t
	t.Helper()
	st := resolveStats{inFlight: len(r.uncertain)}
	plain := map[string]uint64{}
	for _, e := range node.ReadAll() {
		if e.Kind == "tx" && e.Lineage == "" && e.ExternalID != "" {
			plain[e.ExternalID] = e.Seq
		}
	}
	for _, u := range r.uncertain {
		c := u.call
		if c.extID == "" {
			st.noID++ // nothing to retry by (sync, tx without id): an at-most-once call
			continue
		}
		var written bool
		var wantSeq uint64
		if c.lineage == "" {
			wantSeq, written = plain[c.extID]
		} else {
			var tk wire.Ticket
			err := node.Call(&tk, "sequencer_ticket", map[string]any{"lineage": c.lineage, "externalId": c.extID})
			switch {
			case wire.Code(err) == 4003 && c.kind() == "tx":
				// never leased: not written
			case err != nil:
				t.Fatalf("%v: sequencer_ticket: %v", c, err)
			default:
				before := map[string]string{"tx": "released", "close": "leased", "release": "leased", "fail": "leased"}[c.kind()]
				after := map[string]string{"tx": "leased", "close": "closed", "release": "released", "fail": "failed"}[c.kind()]
				switch tk.State {
				case after:
					written = true
					wantSeq = tk.Final()
					if c.kind() == "tx" {
						wantSeq = tk.LeaseSeq
					}
				case before:
				default:
					t.Fatalf("%v in flight at the kill: ticket is %+v", c, tk)
				}
			}
		}
		var res wire.Entry
		if err := node.Call(&res, c.method, c.params()); err != nil {
			t.Errorf("retry of %v after restart: %v", c, err)
			continue
		}
		if e := checkReceipt(&res, c); e != "" {
			t.Errorf("retry of %v: %s", c, e)
			continue
		}
		if written {
			st.written++
			if !res.IsExisting() || res.Seq != wantSeq || res.Seq > head {
				t.Errorf("retry of %v, written at seq %d before the kill (head %d): got seq %d existing %v", c, wantSeq, head, res.Seq, res.IsExisting())
			}
		} else {
			st.lost++
			if res.IsExisting() || res.Seq <= head {
				t.Errorf("retry of %v, not written before the kill (head %d): got seq %d existing %v", c, head, res.Seq, res.IsExisting())
			}
		}
		r.record(&res)
		switch c.kind() {
		case "tx":
			if c.lineage != "" {
				r.open = append(r.open, u.tk)
			}
		case "release":
			r.released = append(r.released, u.tk)
		}
	}
	r.uncertain = nil
	return st
}

var zeroHash = common.Hash{}.Hex()

// check reads the whole log and checks it: against itself (seq, chain,
// signatures, data), against every earlier read, against every receipt,
// and the served ticket state against a replay. It returns the log length.
func (r *crashRun) check(node *testnode.Proc) int {
	t := r.t
	t.Helper()
	entries := node.ReadAll()
	info := node.Info()
	if info.Head.Seq != uint64(len(entries)) || info.Halted || info.Primary != r.primary {
		t.Fatalf("info %+v, read %d entries", info, len(entries))
	}
	if len(entries) < len(r.seen) {
		t.Fatalf("the log shrank from %d to %d entries", len(r.seen), len(entries))
	}
	prevHash, prevTS := zeroHash, uint64(0)
	for i, e := range entries {
		s := e.Signed() // the text on the wire: compared byte for byte
		data, hasData := e.DataText()
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d of the log has seq %d", i+1, e.Seq)
		}
		if s.PrevHash != prevHash {
			t.Fatalf("seq %d: prevHash %s, entry before has hash %s", e.Seq, s.PrevHash, prevHash)
		}
		if e.Timestamp < prevTS {
			t.Fatalf("seq %d: timestamp %d before %d", e.Seq, e.Timestamp, prevTS)
		}
		if s.Sender != (common.Address{}).Hex() {
			t.Fatalf("seq %d: sender %s in open mode", e.Seq, s.Sender)
		}
		if err := checkSignature(s, r.primary); err != nil {
			t.Fatalf("seq %d: %v", e.Seq, err)
		}
		if (e.Kind == "tx") != hasData {
			t.Fatalf("seq %d: kind %s with data %q", e.Seq, e.Kind, data)
		}
		if hasData {
			d, err := hexutil.Decode(data)
			if err != nil || crypto.Keccak256Hash(d).Hex() != s.DataHash {
				t.Fatalf("seq %d: data does not hash to dataHash (%v)", e.Seq, err)
			}
		}
		if i < len(r.seen) {
			o := r.seen[i]
			if s != o.Signed() || !sameData(e, o) {
				t.Fatalf("seq %d changed across a restart:\nwas %+v\nnow %+v", e.Seq, o.Signed(), s)
			}
		}
		prevHash, prevTS = s.Hash, e.Timestamp
	}
	r.seen = entries
	for _, rc := range r.receipts {
		if rc.Seq > uint64(len(entries)) {
			t.Fatalf("receipt of seq %d, but the log ends at %d", rc.Seq, len(entries))
		}
		if got, want := entries[rc.Seq-1].Signed(), rc.Signed(); got != want {
			t.Fatalf("the log differs from a returned receipt:\nreceipt %+v\nlog     %+v", want, got)
		}
	}
	r.checkTickets(node, entries)
	return len(entries)
}

// sameData compares the data fields as written (or both absent).
func sameData(a, b *wire.Entry) bool {
	x, hasX := a.DataText()
	y, hasY := b.DataText()
	return hasX == hasY && x == y
}

func checkSignature(e wire.Signed, primary string) error {
	sig, err := hexutil.Decode(e.Signature)
	if err != nil || len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
		return fmt.Errorf("signature %s is not 65 bytes r‖s‖v with v in {27,28}", e.Signature)
	}
	h, err := hexutil.Decode(e.Hash)
	if err != nil || len(h) != 32 {
		return fmt.Errorf("hash %s", e.Hash)
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(h, sig)
	if err != nil {
		return err
	}
	if a := crypto.PubkeyToAddress(*pub).Hex(); a != primary {
		return fmt.Errorf("signed by %s, not the primary %s", a, primary)
	}
	return nil
}

type modelTicket struct {
	nonce              uint64
	state              string
	leaseSeq, finalSeq uint64
	leaseHash          string
}

type modelLineage struct {
	next, floor    uint64
	pool           []uint64          // released nonces, ascending
	holder         map[uint64]string // nonce → externalId of the ticket holding it (leased, closed, failed)
	closed, failed uint64
}

// checkTickets replays the log with SPEC §3's rules, independently of the
// node's code, failing on a lease the rules do not give (above all a nonce
// leased while another ticket holds it), then compares every lineage and
// every ticket the node serves with the replay.
func (r *crashRun) checkTickets(node *testnode.Proc, entries []*wire.Entry) {
	t := r.t
	t.Helper()
	type key struct{ lineage, extID string }
	tickets := map[key]*modelTicket{}
	var keys []key
	lins := map[string]*modelLineage{}
	plain := map[string]uint64{}
	pool := 0
	for _, e := range entries {
		s := e.Signed()
		k := key{e.Lineage, e.ExternalID}
		if e.Kind == "tx" && e.Lineage == "" {
			if e.Nonce != 0 {
				t.Fatalf("seq %d: tx without lineage has nonce %d", e.Seq, e.Nonce)
			}
			if s, dup := plain[e.ExternalID]; dup && e.ExternalID != "" {
				t.Fatalf("seq %d: externalId %q sequenced twice (first at %d)", e.Seq, e.ExternalID, s)
			}
			plain[e.ExternalID] = e.Seq
			continue
		}
		l := lins[e.Lineage]
		if l == nil {
			l = &modelLineage{holder: map[uint64]string{}}
			lins[e.Lineage] = l
		}
		tk := tickets[k]
		switch e.Kind {
		case "tx":
			if tk != nil && tk.state != "released" {
				t.Fatalf("seq %d: second lease of ticket %s/%s, which is %s since seq %d", e.Seq, e.Lineage, e.ExternalID, tk.state, tk.leaseSeq)
			}
			if h, held := l.holder[e.Nonce]; held {
				t.Fatalf("seq %d: nonce %d of %s leased to %s while ticket %s holds it", e.Seq, e.Nonce, e.Lineage, e.ExternalID, h)
			}
			want := l.next
			if len(l.pool) > 0 {
				want = l.pool[0]
				l.pool = l.pool[1:]
				pool++
			} else {
				l.next++
			}
			if e.Nonce != want {
				t.Fatalf("seq %d: lease of nonce %d, the lease rule gives %d", e.Seq, e.Nonce, want)
			}
			l.holder[e.Nonce] = e.ExternalID
			if tk == nil {
				keys = append(keys, k)
			}
			tickets[k] = &modelTicket{nonce: e.Nonce, state: "leased", leaseSeq: e.Seq, leaseHash: s.Hash}
		case "close", "release", "fail":
			if tk == nil || tk.state != "leased" {
				t.Fatalf("seq %d: %s of ticket %s/%s that is not leased (%+v)", e.Seq, e.Kind, e.Lineage, e.ExternalID, tk)
			}
			if e.Nonce != tk.nonce || s.DataHash != tk.leaseHash {
				t.Fatalf("seq %d: %s names nonce %d / lease %s; the ticket has %d / %s", e.Seq, e.Kind, e.Nonce, s.DataHash, tk.nonce, tk.leaseHash)
			}
			tk.finalSeq = e.Seq
			switch e.Kind {
			case "close":
				tk.state = "closed"
				l.closed++
			case "release":
				tk.state = "released"
				delete(l.holder, tk.nonce)
				i, _ := slices.BinarySearch(l.pool, tk.nonce)
				l.pool = slices.Insert(l.pool, i, tk.nonce)
			case "fail":
				tk.state = "failed"
				l.failed++
			}
		case "sync": // SPEC §3: leases below the chain nonce are closed, the pool trimmed
			if e.ExternalID != "" || s.DataHash != (common.Hash{}).Hex() {
				t.Fatalf("seq %d: sync with externalId %q, dataHash %s", e.Seq, e.ExternalID, s.DataHash)
			}
			for n, id := range l.holder {
				if mt := tickets[key{e.Lineage, id}]; n < e.Nonce && mt.state == "leased" {
					mt.state, mt.finalSeq = "closed", e.Seq
					l.closed++
				}
			}
			l.pool = slices.DeleteFunc(l.pool, func(n uint64) bool { return n < e.Nonce })
			l.next, l.floor = max(l.next, e.Nonce), max(l.floor, e.Nonce)
		default:
			t.Fatalf("seq %d: kind %q, which the load never asks for", e.Seq, e.Kind)
		}
	}
	r.poolLeases = pool

	for name, l := range lins {
		var got wire.Lineage
		node.MustCall(&got, "sequencer_lineage", map[string]any{"lineage": name})
		var inFlight []string
		for _, f := range got.InFlight {
			inFlight = append(inFlight, fmt.Sprintf("%d:%s@%d", f.Nonce, f.ExternalID, f.Seq))
		}
		var want []string
		var nonces []uint64
		for n, id := range l.holder {
			if tk := tickets[key{name, id}]; tk.state == "leased" {
				nonces = append(nonces, n)
			}
		}
		slices.Sort(nonces)
		for _, n := range nonces {
			id := l.holder[n]
			want = append(want, fmt.Sprintf("%d:%s@%d", n, id, tickets[key{name, id}].leaseSeq))
		}
		if got.Lineage != name || got.NextNonce != l.next || got.Floor != l.floor || got.Closed != l.closed || got.Failed != l.failed ||
			!slices.Equal(inFlight, want) || !slices.Equal(got.Released, l.pool) {
			t.Fatalf("lineage %s served as %+v;\nreplay gives nextNonce %d floor %d closed %d failed %d inFlight %v released %v",
				name, got, l.next, l.floor, l.closed, l.failed, want, l.pool)
		}
	}

	const batch = 250
	for i := 0; i < len(keys); i += batch {
		ks := keys[i:min(i+batch, len(keys))]
		got := make([]wire.Ticket, len(ks))
		elems := make([]gethrpc.BatchElem, len(ks))
		for j, k := range ks {
			elems[j] = gethrpc.BatchElem{Method: "sequencer_ticket", Args: []any{map[string]any{"lineage": k.lineage, "externalId": k.extID}}, Result: &got[j]}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := node.Client.BatchCallContext(ctx, elems)
		cancel()
		if err != nil {
			t.Fatalf("sequencer_ticket batch: %v", err)
		}
		for j, k := range ks {
			m := tickets[k]
			g := got[j]
			if elems[j].Error != nil || g.Lineage != k.lineage || g.ExternalID != k.extID || g.Nonce != m.nonce ||
				g.State != m.state || g.LeaseSeq != m.leaseSeq || g.Final() != m.finalSeq {
				t.Fatalf("ticket %s/%s served as %+v (err %v); replay gives %+v", k.lineage, k.extID, g, elems[j].Error, *m)
			}
		}
	}
}
