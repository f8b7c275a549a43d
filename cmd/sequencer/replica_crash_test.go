package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode"
)

// Crash matrix on replicas (SPEC §5, §6): under mixed load, a replica is
// SIGKILLed at a random moment and restarted, cycle after cycle; in one
// cycle the primary is killed too and restarted on its datadir. After each
// cycle the replica converges to the primary's log, entry by entry, with
// the same lineages and tickets; at the end both datadirs verify offline.
func TestReplicaCrashCycles(t *testing.T) {
	cycles := 3
	if v, err := strconv.Atoi(os.Getenv("SEQUENCER_CRASH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	base := t.TempDir()
	pdir, rdir := filepath.Join(base, "p"), filepath.Join(base, "r")
	pP2P, rP2P := p2pPort(t), p2pPort(t)
	primary := testnode.StartNode(t, pdir, nil, "--p2p-addr", pP2P)
	prim := primary.Info().Primary
	primAddr := p2pAddr(primary)
	replica := startReplica(t, rdir, prim, primAddr, rP2P)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for c := range cycles {
		done := make(chan int)
		go func() { done <- appendLoad(t, primary, "c"+strconv.Itoa(c), 800, 4) }()
		time.Sleep(time.Duration(100+r.IntN(400)) * time.Millisecond)
		replica.Kill()
		killPrimary := c%4 == 1 // every fourth cycle, starting with the second
		if killPrimary {
			primary.Kill()
		}
		<-done
		if killPrimary {
			primary = testnode.StartNode(t, pdir, nil, "--p2p-addr", pP2P)
			if got := p2pAddr(primary); got != primAddr {
				t.Fatalf("primary came back as %s, was %s", got, primAddr)
			}
		}
		replica = startReplica(t, rdir, prim, primAddr, rP2P)
		appendLoad(t, primary, "after"+strconv.Itoa(c), 100, 2) // traffic after the restart too
		head := primary.Info().Head
		waitHead(t, replica, head.Seq, 60*time.Second)
		if got := replica.Info().Head; got != head {
			t.Fatalf("cycle %d: replica head %+v, primary %+v", c, got, head)
		}
		t.Logf("cycle %d: converged at seq %d (primary killed too: %v)", c, head.Seq, killPrimary)
	}
	sameLogs(t, primary, replica)
	for _, p := range []*testnode.Proc{replica, primary} {
		if code := p.Term(30 * time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
	for _, d := range []string{pdir, rdir} {
		if code, _, stderr := verifyDir(d); code != 0 {
			t.Fatalf("verify %s: %s", d, stderr)
		}
	}
}
