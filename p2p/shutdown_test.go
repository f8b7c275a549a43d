package p2p

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode"
)

// goroutines is the stack dump of every goroutine.
func goroutines() string {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	return b.String()
}

// Every goroutine the follower starts (its loop's jobs, range fetchers,
// signature checkers) has returned when Run does, even when it stops in
// the middle of a catch-up; and once the nodes and stores are closed too,
// no goroutine of theirs is left. Not parallel: it counts the process's
// goroutines.
func TestFollowerShutdownLeavesNoGoroutine(t *testing.T) {
	lg := testnode.NewLog(t)
	// Warm up: libp2p starts a few process-wide goroutines on first use.
	startNode(t, lg, testnode.MemStore(t), nodeOpts{}).Close()
	settle := func(limit int) bool {
		deadline := time.Now().Add(waitLong)
		for runtime.NumGoroutine() > limit && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		return runtime.NumGoroutine() <= limit
	}
	// Let the warm-up's goroutines end: until the count holds for 200 ms
	// (at most 5 s).
	before := runtime.NumGoroutine()
	for still, end := 0, time.Now().Add(5*time.Second); still < 10 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
		if n := runtime.NumGoroutine(); n == before {
			still++
		} else {
			before, still = n, 0
		}
	}

	p := startPrimary(t, lg, primaryOpts{})
	live := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node), dropRate: 0.3}})
	n := testnode.Workload{Seq: p.Seq, Prefix: "shutdown"}.Run(t, 3000, 8, nil)
	testnode.WaitHead(t, live.store, uint64(n), "replica")
	// A late replica, stopped while it catches up by sync.
	late := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	waitFor(t, waitLong, "the late replica to start catching up", func() bool { return late.store.Head().Seq > 0 })
	for _, r := range []*testReplica{live, late} {
		r.stopFollower(t)
	}
	if s := goroutines(); strings.Contains(s, "p2p.(*Follower)") {
		t.Fatalf("a follower goroutine outlived Run:\n%s", s)
	}
	live.close()
	late.close()
	p.Close()
	if !settle(before) {
		t.Fatalf("%d goroutines after shutdown, %d before:\n%s", runtime.NumGoroutine(), before, goroutines())
	}
}
