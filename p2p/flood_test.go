package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// floodTracer is a GossipSub tracer that counts, of the messages a
// node gets from a rogue (told apart by isFlood), those received (before
// any graylist, duplicate or queue check), those that entered validation
// and those dropped as duplicates or because the validation queue was
// full.
type floodTracer struct {
	isFlood                                   func([]byte) bool
	received, validated, queueFull, duplicate atomic.Int64
}

func (c *floodTracer) RecvRPC(rpc *pubsub.RPC) {
	for _, m := range rpc.GetPublish() {
		if c.isFlood(m.GetData()) {
			c.received.Add(1)
		}
	}
}

func (c *floodTracer) ValidateMessage(m *pubsub.Message) {
	if c.isFlood(m.GetData()) {
		c.validated.Add(1)
	}
}

func (c *floodTracer) RejectMessage(m *pubsub.Message, reason string) {
	if reason == pubsub.RejectValidationQueueFull && c.isFlood(m.GetData()) {
		c.queueFull.Add(1)
	}
}

func (c *floodTracer) DuplicateMessage(m *pubsub.Message) {
	if c.isFlood(m.GetData()) {
		c.duplicate.Add(1)
	}
}

func (c *floodTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (c *floodTracer) OnClosedOutboundStream(peer.ID)           {}
func (c *floodTracer) Join(string)                              {}
func (c *floodTracer) Leave(string)                             {}
func (c *floodTracer) Graft(peer.ID, string)                    {}
func (c *floodTracer) Prune(peer.ID, string)                    {}
func (c *floodTracer) DeliverMessage(*pubsub.Message)           {}
func (c *floodTracer) ThrottlePeer(peer.ID)                     {}
func (c *floodTracer) SendRPC(*pubsub.RPC, peer.ID)             {}
func (c *floodTracer) DropRPC(*pubsub.RPC, peer.ID)             {}
func (c *floodTracer) UndeliverableMessage(*pubsub.Message)     {}

// newFlooder is a rogue that sends every message it publishes to every
// peer on the topic (not only its mesh, which an honest node's prune
// would empty), with room to queue a whole flood.
func newFlooder(t testing.TB, lg testnode.Log) *rogue {
	t.Helper()
	return newRogue(t, TopicName(lg.Addr, lg.Domain), pubsub.WithFloodPublish(true), pubsub.WithPeerOutboundQueueSize(8192))
}

// joinRogue connects a rogue to n and waits until each sees the other on
// the log's topic.
func joinRogue(t *testing.T, ctx context.Context, rg *rogue, n *Node) {
	t.Helper()
	if err := rg.host.Connect(ctx, addrInfo(t, n)[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "the rogue to see the node on the topic", func() bool {
		return slices.Contains(rg.topic.ListPeers(), n.ID())
	})
	waitFor(t, waitLong, "the node to see the rogue on the topic", func() bool {
		return slices.Contains(n.ps.ListPeers(n.topic.String()), rg.host.ID())
	})
}

// submitPaced writes n tx entries on the primary, 5 ms apart, from a
// goroutine; the channel gives the first error or nil.
func submitPaced(ctx context.Context, s *sequencer.Sequencer, prefix string, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := s.Submit(ctx, testnode.TxOp(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
				done <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		done <- nil
	}()
	return done
}

// SPEC §6: a rogue floods a replica with invalid messages as fast as it
// can. The replica's log holds only the primary's entries, it goes on
// applying the primary's gossip during and after the flood, and after
// its first rejections the rogue is graylisted: its messages are dropped
// before validation, so only a small share of the flood costs a
// validation.
func TestGossipFlood(t *testing.T) {
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	mark := []byte{msgEntries, 0xf1, 0x00, 0xd0}
	tr := &floodTracer{isFlood: func(b []byte) bool { return bytes.HasPrefix(b, mark) }}
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node), pubsubOpts: []pubsub.Option{pubsub.WithRawTracer(tr)}}})
	testnode.WritePlain(t, p.Seq, "before", 20)
	testnode.WaitHead(t, r.store, 20, "replica")

	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	rg := newFlooder(t, lg)
	joinRogue(t, ctx, rg, r.node)

	rejectedBefore := counter(t, r.node.m.rejected)
	gossipBefore := counter(t, r.node.m.received)
	honest := submitPaced(ctx, p.Seq, "during", 50)
	const flood = 3000
	start := time.Now()
	for i := range flood {
		m := binary.BigEndian.AppendUint64(slices.Clone(mark), uint64(i)) // unique: no duplicate drops
		if err := rg.topic.Publish(ctx, append(m, make([]byte, 200)...)); err != nil {
			t.Fatalf("rogue publish %d: %v", i, err)
		}
	}
	published := time.Since(start)
	if err := <-honest; err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "the flood to arrive", func() bool { return tr.received.Load() == flood })
	testnode.WaitHead(t, r.store, 70, "replica during the flood")
	waitFor(t, waitLong, "the rogue's score to go negative", func() bool { return r.node.Score(rg.host.ID()) < 0 })

	validated, queueFull := tr.validated.Load(), tr.queueFull.Load()
	rejected := counter(t, r.node.m.rejected) - rejectedBefore
	graylisted := flood - validated - queueFull
	t.Logf("flood of %d published in %s: %d validated (%v rejected), %d dropped on a full queue, %d dropped unread (graylisted); rogue score %.0f; %v entries by gossip meanwhile",
		flood, published.Round(time.Millisecond), validated, rejected, queueFull, graylisted, r.node.Score(rg.host.ID()), counter(t, r.node.m.received)-gossipBefore)
	if rejected != float64(validated) {
		t.Errorf("%d flood messages validated but %v rejected", validated, rejected)
	}
	if validated > flood/10 {
		t.Errorf("%d of %d flood messages reached the validator; graylisting should drop most unread", validated, flood)
	}
	if graylisted == 0 {
		t.Error("no flood message dropped unread: the rogue was never graylisted")
	}
	if counter(t, r.node.m.received) == gossipBefore {
		t.Error("no gossip from the primary applied during the flood")
	}
	if s := r.node.Score(p.Node.ID()); s < 0 {
		t.Errorf("the honest primary's score went to %v", s)
	}
	testnode.WritePlain(t, p.Seq, "after", 10)
	testnode.WaitHead(t, r.store, 80, "replica after the flood")
	testnode.AssertSameLog(t, p.Store, r.store)
}

// A rogue replays, as fast as it can, batches the replica already holds
// (3,000 distinct ones, so that none is dropped as a duplicate). Each is
// ignored after one store read — no signature is checked, nothing is
// passed to the follower or forwarded, and the log does not change. The
// rogue is not penalized: an honest primary's gossip is a replay to a
// replica that caught up by sync.
func TestGossipReplayFlood(t *testing.T) {
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	held := 300
	var replaySet atomic.Pointer[map[string]bool] // set once the replays are built
	tr := &floodTracer{isFlood: func(b []byte) bool {
		m := replaySet.Load()
		return m != nil && (*m)[string(b)]
	}}
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node), pubsubOpts: []pubsub.Option{pubsub.WithRawTracer(tr)}}})
	testnode.WritePlain(t, p.Seq, "held", held)
	testnode.WaitHead(t, r.store, uint64(held), "replica")
	es, err := r.store.Range(1, held)
	if err != nil {
		t.Fatal(err)
	}
	var replays [][]byte
	seen := map[string]bool{}
	for k := 1; len(replays) < 3000; k++ {
		for i := 0; i+k <= held && len(replays) < 3000; i++ {
			b, err := encodeBatch(es[i : i+k])
			if err != nil {
				t.Fatal(err)
			}
			seen[string(b)] = true
			replays = append(replays, b)
		}
	}
	replaySet.Store(&seen)

	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	rg := newFlooder(t, lg)
	joinRogue(t, ctx, rg, r.node)
	ignoredBefore, rejectedBefore := counter(t, r.node.m.ignored), counter(t, r.node.m.rejected)
	gossipBefore := counter(t, r.node.m.received)
	for i, b := range replays {
		if err := rg.topic.Publish(ctx, b); err != nil {
			t.Fatalf("rogue publish %d: %v", i, err)
		}
	}
	waitFor(t, waitLong, "the replays to arrive", func() bool { return tr.received.Load() == int64(len(replays)) })
	settled := func() bool {
		return tr.validated.Load()+tr.queueFull.Load()+tr.duplicate.Load() == int64(len(replays)) &&
			counter(t, r.node.m.ignored)-ignoredBefore >= float64(tr.validated.Load())
	}
	deadline := time.Now().Add(waitLong)
	for !settled() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !settled() {
		t.Fatalf("%d replays: %d validated, %d dropped on a full queue, %d duplicates; %v ignored", len(replays),
			tr.validated.Load(), tr.queueFull.Load(), tr.duplicate.Load(), counter(t, r.node.m.ignored)-ignoredBefore)
	}
	t.Logf("%d replays: %d ignored, %d dropped as duplicates of the primary's messages, %d on a full queue; rogue score %.0f",
		len(replays), tr.validated.Load(), tr.duplicate.Load(), tr.queueFull.Load(), r.node.Score(rg.host.ID()))
	if d := counter(t, r.node.m.rejected) - rejectedBefore; d != 0 {
		t.Errorf("%v replays rejected", d)
	}
	if d := counter(t, r.node.m.received) - gossipBefore; d != 0 {
		t.Errorf("%v replayed entries passed to the follower", d)
	}
	if h := r.store.Head(); h.Seq != uint64(held) || h.Hash != es[held-1].Hash {
		t.Fatalf("replica head moved to %d", h.Seq)
	}
	// The primary's gossip still gets through, and the logs agree.
	testnode.WritePlain(t, p.Seq, "after", 10)
	testnode.WaitHead(t, r.store, uint64(held+10), "replica after the replays")
	testnode.AssertSameLog(t, p.Store, r.store)
}
