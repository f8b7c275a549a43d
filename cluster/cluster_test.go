package cluster

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// SPEC §8: writes go to any voter; a receipt means committed by a majority
// and durable on the answering node; every voter stores byte-identical
// entries at every seq.
func TestClusterWritesOnAnyVoter(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.leader()
	const perVoter = 40
	var wg sync.WaitGroup
	errs := make(chan error, 3*perVoter)
	receipts := make(chan *sequencer.Entry, 3*perVoter)
	for _, v := range tc.running() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perVoter {
				id := fmt.Sprintf("%s-%d", v.id, i)
				res, err := submit(v, leaseOp("eip155:1:0xabc", id, "tx "+id))
				if err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					continue
				}
				// The receipt is durable on the voter that answered.
				got, err := v.store.Entry(res.Entry.Seq)
				if err != nil || got.Hash != res.Entry.Hash {
					errs <- fmt.Errorf("%s: receipt seq %d not in the answering voter's store: %v", id, res.Entry.Seq, err)
				}
				receipts <- res.Entry
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(receipts)
	for err := range errs {
		t.Error(err)
	}
	head := tc.converge()
	if head.Seq != 3*perVoter {
		t.Fatalf("head %d, want %d", head.Seq, 3*perVoter)
	}
	nonces := map[uint64]bool{}
	for e := range receipts {
		if nonces[e.Nonce] {
			t.Fatalf("nonce %d leased twice", e.Nonce)
		}
		nonces[e.Nonce] = true
	}
}

// SPEC §8: failover, and idempotency across it: a retry on another voter
// of a write committed before the leader died gets the committed receipt.
func TestClusterFailoverKeepsIdempotency(t *testing.T) {
	tc := newTestCluster(t, 3)
	old := tc.leader()
	first, err := submit(old, leaseOp("L", "before", "tx before"))
	if err != nil {
		t.Fatal(err)
	}
	old.stop()
	next := tc.leader()
	if next == old {
		t.Fatal("a stopped voter still leads")
	}
	for _, v := range tc.running() {
		res, err := submit(v, leaseOp("L", "before", "tx before"))
		if err != nil {
			t.Fatalf("retry on %s: %v", v.id, err)
		}
		if !res.Existing || res.Entry.Hash != first.Entry.Hash {
			t.Fatalf("retry on %s: existing=%v seq %d, want the committed seq %d", v.id, res.Existing, res.Entry.Seq, first.Entry.Seq)
		}
	}
	after, err := submit(tc.follower(), leaseOp("L", "after", "tx after"))
	if err != nil {
		t.Fatal(err)
	}
	if after.Entry.Seq != first.Entry.Seq+1 || after.Entry.Timestamp < first.Entry.Timestamp {
		t.Fatalf("after failover: seq %d ts %d, want seq %d and a timestamp not before %d", after.Entry.Seq, after.Entry.Timestamp, first.Entry.Seq+1, first.Entry.Timestamp)
	}
	// The old leader restarts on its datadir and catches up from Raft.
	tc.start(old.id, old.dir, false)
	tc.converge()
}

// SPEC §8: a voter that cannot reach a majority answers NoQuorum within
// --forward-timeout, never a receipt, and keeps serving reads.
func TestClusterMinorityAnswersNoQuorum(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader()
	if _, err := submit(l, leaseOp("L", "a", "tx a")); err != nil {
		t.Fatal(err)
	}
	tc.converge()
	var alone *testVoter
	for _, v := range tc.running() {
		if v != l && alone == nil {
			alone = v
			continue
		}
		v.stop()
	}
	for i := range 3 {
		res, err := submit(alone, leaseOp("L", fmt.Sprintf("x%d", i), "tx"))
		if !errors.Is(err, sequencer.ErrNoQuorum) {
			t.Fatalf("minority write %d: %+v, %v; want NoQuorum", i, res, err)
		}
	}
	if h := alone.store.Head().Seq; h != 1 {
		t.Fatalf("minority store head %d, want 1", h)
	}
	if _, err := alone.store.Entry(1); err != nil {
		t.Fatalf("reads on the minority: %v", err)
	}
}

// A voter started with another key than the log's never signs an entry
// of the log: it skips the leader's commands (and the others skip its
// own, should it lead).
func TestClusterVoterWithAnotherKeySignsNothing(t *testing.T) {
	other, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tc := newTestClusterWith(t, 3, map[string]*ecdsa.PrivateKey{"v3": other})
	var good *testVoter
	wire.WaitFor(t, testnode.WaitLong, "v1 or v2 to lead", func() bool {
		for _, id := range []string{"v1", "v2"} {
			if tc.voters[id].c.IsLeader() {
				good = tc.voters[id]
				return true
			}
		}
		if tc.voters["v3"].c.IsLeader() {
			// Let a voter of the log's key lead this test.
			_ = tc.voters["v3"].c.Raft().LeadershipTransfer().Error()
		}
		return false
	})
	for i := range 5 {
		if _, err := submit(good, leaseOp("L", fmt.Sprintf("k%d", i), "tx")); err != nil {
			t.Fatal(err)
		}
	}
	odd := tc.voters["v3"]
	wire.WaitFor(t, testnode.WaitLong, "v3 to see the commands", func() bool {
		return odd.c.Raft().AppliedIndex() >= good.c.Raft().CommitIndex()
	})
	if h := odd.store.Head().Seq; h != 0 {
		t.Fatalf("the voter with another key wrote %d entries", h)
	}
	if h := good.store.Head().Seq; h != 5 {
		t.Fatalf("leader head %d, want 5", h)
	}
}

// SPEC §4, §8: a signed request is used once across failover. A signed
// release committed on the old leader, replayed on the new one after the
// ticket was leased again, is answered with the entry it wrote and does
// not release the new lease: the request ledger is replicated state.
func TestClusterSignedRequestUsedOnceAcrossFailover(t *testing.T) {
	tc := newTestCluster(t, 3)
	old := tc.leader()
	if _, err := submit(old, leaseOp("L", "a", "v1")); err != nil {
		t.Fatal(err)
	}
	release := sequencer.Op{Kind: sequencer.KindRelease, Lineage: "L", ExternalID: "a",
		Request: sequencer.RequestID{Hash: crypto.Keccak256Hash([]byte("signed release")), Deadline: uint64(time.Now().Add(time.Hour).Unix())}}
	first, err := submit(old, release)
	if err != nil {
		t.Fatal(err)
	}
	tc.converge()
	old.stop()
	next := tc.follower()
	relet, err := submit(next, leaseOp("L", "a", "v2"))
	if err != nil || relet.Existing {
		t.Fatalf("lease again: %+v, %v", relet, err)
	}
	for _, v := range tc.running() {
		replay, err := submit(v, release)
		if err != nil {
			t.Fatalf("replay on %s: %v", v.id, err)
		}
		if !replay.Existing || replay.Entry.Seq != first.Entry.Seq {
			t.Fatalf("replay on %s: existing=%v seq %d, want the first release's seq %d", v.id, replay.Existing, replay.Entry.Seq, first.Entry.Seq)
		}
	}
	tk, err := next.store.Ticket("L", "a")
	if err != nil || tk.State != sequencer.TicketLeased || tk.LeaseSeq != relet.Entry.Seq {
		t.Fatalf("ticket after the replays: %+v, %v; want leased at %d", tk, err, relet.Entry.Seq)
	}
}

// A voter may listen on another address than the one the others dial
// (--cluster-listen, as in Kubernetes): Raft must tell the followers the
// leader's dialed address, or forwarding would dial the listener's.
func TestClusterAdvertisesMemberAddress(t *testing.T) {
	tc := newTestClusterOpts(t, 3, nil, true)
	l := tc.leader()
	f := tc.follower()
	wire.WaitFor(t, testnode.WaitLong, "the follower to know the leader", func() bool {
		id, _ := f.c.Leader()
		return id == l.id
	})
	if _, addr := f.c.Leader(); !strings.HasPrefix(addr, "localhost:") {
		t.Fatalf("follower knows the leader at %q, want its member address localhost:PORT", addr)
	}
	if _, err := submit(f, leaseOp("L", "fwd", "tx")); err != nil {
		t.Fatalf("forwarded write: %v", err)
	}
}

// A voter bounds the data its write queue holds (--queue-bytes), as the
// single primary does: past it, writes get 4007 Overloaded.
func TestClusterQueueBytes(t *testing.T) {
	tc := newTestCluster(t, 3)
	l := tc.leader()
	for _, v := range tc.running() {
		if v != l {
			v.stop()
		}
	}
	wire.WaitFor(t, testnode.WaitLong, "the lone voter to step down", func() bool { return !l.c.IsLeader() })
	// Restart it with a small queue: its batcher then waits for a leader
	// (up to the forward timeout) while the queue fills.
	l.stop()
	tc.queueBytes = 1000
	l = tc.start(l.id, l.dir, false)
	data := strings.Repeat("x", 400)
	// The batcher takes a first op and then waits for a leader (none: up
	// to the forward timeout) while the queue fills behind it.
	first := l.c.Enqueue(leaseOp("L", "first", data))
	wire.WaitFor(t, testnode.WaitLong, "the batcher to take the first op", func() bool { return l.c.queuedBytes.Used() == 0 })
	var futures []*sequencer.Future
	for i := range 6 {
		futures = append(futures, l.c.Enqueue(leaseOp("L", fmt.Sprintf("q%d", i), data)))
	}
	over := 0
	for _, f := range append(futures, first) {
		if _, err := f.Wait(context.Background()); errors.Is(err, sequencer.ErrOverloaded) {
			over++
		} else if !errors.Is(err, sequencer.ErrNoQuorum) {
			t.Fatalf("want Overloaded or NoQuorum, got %v", err)
		}
	}
	// 1000 bytes hold two ops of 400: the other four are refused.
	if over != 4 {
		t.Fatalf("%d of 6 writes of 400 bytes were refused with a 1000-byte queue, want 4", over)
	}
}

// A leader closed while writes pour in returns from Close: every command
// it proposed is answered, even one still in Raft's apply queue when Raft
// shut down (hashicorp/raft never answers those).
func TestClusterCloseUnderLoad(t *testing.T) {
	for round := range 4 {
		tc := newTestCluster(t, 3)
		l := tc.leader()
		c := l.c // stop clears l.c
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					c.Enqueue(leaseOp("eip155:1:0xabc", id, id))
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		closed := make(chan struct{})
		go func() { l.stop(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: Close of a leader under load did not return in 60 s", round)
		}
		close(stop)
		wg.Wait()
		for _, v := range tc.running() {
			v.stop()
		}
	}
}
