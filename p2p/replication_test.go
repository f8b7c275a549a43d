package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/seqnode/sequencer/internal/testnode"
)

// SPEC §6: the primary gossips durable entries; a replica verifies and
// stores them and derives the same ticket state. Replica 2 dials only
// replica 1, so everything it holds was relayed by a replica.
//
// Gossip must carry the log, sync only repair it. On a starved machine
// (the whole suite under -race on 2 cores) sync can still win every race
// for a short burst and make gossip's copies replays, so a run in which
// gossip carried nothing is tried again, at most 3 times in all: a broken
// gossip path fails every one.
func TestGossipReplication(t *testing.T) {
	for attempt := 1; ; attempt++ {
		r1, r2 := gossipReplicationRun(t)
		if r1 > 0 && r2 > 0 {
			return
		}
		if attempt == 3 {
			t.Fatalf("in %d runs gossip never carried entries to both replicas (last run: replica 1 received %v, replica 2 %v)", attempt, r1, r2)
		}
		t.Logf("run %d: replica 1 received %v entries by gossip, replica 2 %v: sync won every race; again", attempt, r1, r2)
	}
}

// gossipReplicationRun writes 2000 entries on a primary with a chain of two
// replicas, checks that both hold the same log, and returns how many
// entries each replica received by gossip.
func gossipReplicationRun(t *testing.T) (received1, received2 float64) {
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	r1 := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	r2 := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, r1.node)}})
	waitConnected(t, r1.node, p.Node)
	waitConnected(t, r2.node, r1.node)
	waitTopicPeers(t, r1.node, p.Node)
	waitTopicPeers(t, r2.node, r1.node)

	n := testnode.Workload{Seq: p.Seq, Prefix: "g"}.Run(t, 2000, 16, nil)
	head := p.Store.Head()
	if head.Seq != uint64(n) || n < 1900 {
		t.Fatalf("primary head %d after %d writes", head.Seq, n)
	}
	lineages, _ := p.Store.LineageCount()
	if lineages != 16 {
		t.Fatalf("%d lineages, want 16", lineages)
	}
	testnode.WaitHead(t, r1.store, head.Seq, "replica 1")
	testnode.WaitHead(t, r2.store, head.Seq, "replica 2")
	testnode.AssertSameLog(t, p.Store, r1.store)
	testnode.AssertSameLog(t, p.Store, r2.store)

	if r2.node.host.Network().Connectedness(p.Node.ID()) == network.Connected {
		t.Error("replica 2 connected to the primary: the relay through replica 1 was not tested")
	}
	for i, r := range []*testReplica{r1, r2} {
		if r.mirror.Halted() != nil {
			t.Errorf("replica %d stopped: %v", i+1, r.mirror.Halted())
		}
	}
	waitFor(t, waitLong, "the primary to publish every entry", func() bool {
		return counter(t, p.Node.m.published) >= float64(head.Seq)
	})
	if got := counter(t, p.Node.m.published); got != float64(head.Seq) {
		t.Errorf("primary published %v entries, want %d", got, head.Seq)
	}
	received1, received2 = counter(t, r1.node.m.received), counter(t, r2.node.m.received)
	t.Logf("%d entries; replica 1 received %v by gossip, fetched %v by sync; replica 2 received %v, fetched %v",
		head.Seq, received1, counter(t, r1.node.m.syncFetched), received2, counter(t, r2.node.m.syncFetched))
	return received1, received2
}

// SPEC §6: a replica that joins late catches up by itself over the sync
// protocol, with no gossip traffic at all.
func TestCatchUpLateJoiner(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	n := testnode.Workload{Seq: p.Seq, Prefix: "late"}.Run(t, 5000, 32, nil)
	head := p.Store.Head()
	if head.Seq != uint64(n) || n < 4900 {
		t.Fatalf("primary head %d after %d writes", head.Seq, n)
	}
	// GossipSub advertises (IHAVE) the messages of its last 3 heartbeats
	// to new peers; past that, nothing old can arrive by gossip.
	time.Sleep(3500 * time.Millisecond)
	start := time.Now()
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	testnode.WaitHead(t, r.store, head.Seq, "late replica")
	t.Logf("caught up %d entries in %s", head.Seq, time.Since(start).Round(time.Millisecond))
	testnode.AssertSameLog(t, p.Store, r.store)
	if got := counter(t, r.node.m.received); got != 0 {
		t.Errorf("late replica received %v entries by gossip; want 0 (the primary wrote nothing after it joined)", got)
	}
	if got := counter(t, r.node.m.syncFetched); got < float64(head.Seq) {
		t.Errorf("late replica fetched %v entries by sync, want at least %d", got, head.Seq)
	}
	if got := counter(t, p.Node.m.syncServed); got < float64(head.Seq) {
		t.Errorf("primary served %v entries by sync, want at least %d", got, head.Seq)
	}
}

// SPEC §6: gossip is only the fast path. A replica that loses every gossip
// message follows by sync polling alone; one that loses half of them under
// continuous load converges once the load stops.
func TestCatchUpLossyGossip(t *testing.T) {
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	deaf := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node), dropRate: 1}})
	lossy := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node), dropRate: 0.5}})
	waitConnected(t, deaf.node, p.Node)
	waitConnected(t, lossy.node, p.Node)

	stop := make(chan struct{})
	time.AfterFunc(2*time.Second, func() { close(stop) })
	n := testnode.Workload{Seq: p.Seq, Prefix: "lossy"}.Run(t, 1_000_000, 8, stop)
	head := p.Store.Head()
	if head.Seq != uint64(n) || n < 100 {
		t.Fatalf("primary head %d after %d writes", head.Seq, n)
	}
	testnode.WaitHead(t, deaf.store, head.Seq, "replica dropping all gossip")
	testnode.WaitHead(t, lossy.store, head.Seq, "replica dropping half the gossip")
	testnode.AssertSameLog(t, p.Store, deaf.store)
	testnode.AssertSameLog(t, p.Store, lossy.store)
	if got := counter(t, deaf.node.m.received); got != 0 {
		t.Errorf("replica with DropRate 1 passed %v gossip entries on", got)
	}
	if got := counter(t, deaf.node.m.syncFetched); got < float64(head.Seq) {
		t.Errorf("replica with DropRate 1 fetched %v entries by sync, want %d", got, head.Seq)
	}
	t.Logf("%d entries under load; lossy replica: %v by gossip, %v by sync",
		head.Seq, counter(t, lossy.node.m.received), counter(t, lossy.node.m.syncFetched))
}

// SPEC §6: a replica that restarted catches up by itself. Its follower is
// stopped, the primary writes on, and a new follower on a new Mirror over
// the same store catches up (stale gossip batches queued meanwhile
// included).
func TestFollowerRestart(t *testing.T) {
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	testnode.WritePlain(t, p.Seq, "before", 100)
	testnode.WaitHead(t, r.store, 100, "replica")

	r.stopFollower(t)
	n := testnode.Workload{Seq: p.Seq, Prefix: "while-stopped"}.Run(t, 400, 8, nil)
	want := uint64(100 + n)
	if p.Store.Head().Seq != want {
		t.Fatalf("primary head %d, want %d", p.Store.Head().Seq, want)
	}
	time.Sleep(300 * time.Millisecond) // let gossip arrive: nothing may apply it
	if h := r.store.Head().Seq; h != 100 {
		t.Fatalf("replica head moved to %d with its follower stopped", h)
	}
	m, err := r.reopenMirror()
	if err != nil {
		t.Fatal(err)
	}
	r.mirror = m
	r.startFollower()
	testnode.WaitHead(t, r.store, want, "restarted replica")
	testnode.WritePlain(t, p.Seq, "after", 50)
	testnode.WaitHead(t, r.store, want+50, "restarted replica")
	testnode.AssertSameLog(t, p.Store, r.store)
}
