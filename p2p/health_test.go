package p2p

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// followerHealth reads the replica's follower's Health.
func (r *testReplica) health() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.follower.Health()
}

// SPEC §6 --max-lag: a replica whose only peer is gone is not healthy once
// --max-lag has passed, and says why; it follows again when a peer is back.
func TestReplicaCutOff(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	a := startPrimary(t, lg, primaryOpts{})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, a.Node)}, maxLag: time.Second})
	testnode.WritePlain(t, a.Seq, "before", 5)
	testnode.WaitHead(t, r.store, 5, "replica")
	if err := r.health(); err != nil {
		t.Fatalf("a replica that follows: %v", err)
	}
	a.Close()
	var err error
	waitFor(t, waitLong, "the cut-off replica to say it does not follow", func() bool {
		err = r.health()
		return err != nil
	})
	if !strings.Contains(err.Error(), "no connected peer") {
		t.Fatalf("reason %q does not say it has no peer", err)
	}
	t.Logf("reason: %v", err)
}

// SPEC §6 --max-lag: a replica whose peer announces a head it cannot reach
// (the peer never serves the entries) is not healthy after --max-lag.
func TestReplicaBehind(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	es := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 10, "behind")
	fake := newFakeSync(t, func(w *bufio.Writer, typ byte, from, limit uint64) {
		w.WriteByte(0)
		switch {
		case typ == reqHead:
			writeEntries(w, es[9])
			return
		case from >= 1 && from <= 3:
			writeEntries(w, es[from-1:3]...) // entries 4.. never come
		}
		w.WriteByte(0)
	})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: []peer.AddrInfo{fake.info()}}, maxLag: time.Second})
	testnode.WaitHead(t, r.store, 3, "replica")
	var err error
	waitFor(t, waitLong, "the lagging replica to say it does not follow", func() bool {
		err = r.health()
		return err != nil
	})
	if !strings.Contains(err.Error(), "has not reached seq 10") {
		t.Fatalf("reason %q does not name the head it lacks", err)
	}
	t.Logf("reason: %v", err)
}
