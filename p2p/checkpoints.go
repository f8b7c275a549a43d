package p2p

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/sequencer"
)

// The primary's checkpoints travel on the log's topic beside the entries
// (SPEC §10): a node that holds the log key (SignCheckpoints) signs its
// head at most once per checkpointEvery while the log grows, after the
// entries it covers were queued, and publishes it; replicas check it
// against their own tree (sequencer.Mirror.ReceiveCheckpoint).

// checkpointEvery is the least time between two published checkpoints.
const checkpointEvery = time.Second

// checkpointQueue bounds the received checkpoints waiting for the
// follower; more are dropped (the next one supersedes them).
const checkpointQueue = 16

// SignCheckpoints makes the node publish checkpoints of its log signed
// with s; call it once, before the first commit.
func (n *Node) SignCheckpoints(s *sequencer.CheckpointSigner) {
	if s == nil || n.cpSigner.Swap(s) != nil {
		return
	}
	n.wg.Add(1)
	go n.checkpointPublisher(s)
}

// Checkpoints delivers the checkpoints signed by the primary (signature
// checked) that peers publish; a full channel drops.
func (n *Node) Checkpoints() <-chan *sequencer.Checkpoint { return n.cps }

// kickCheckpoint says the log grew: publish a checkpoint soon.
func (n *Node) kickCheckpoint() {
	select {
	case n.cpKick <- struct{}{}:
	default:
	}
}

// checkpointPublisher signs and publishes the head's checkpoint once the
// log grew, at most once per checkpointEvery.
func (n *Node) checkpointPublisher(s *sequencer.CheckpointSigner) {
	defer n.wg.Done()
	r, ok := n.cfg.Store.(sequencer.HeadReader)
	if !ok {
		n.log.Warn("checkpoints not published: the store has no tree")
		return
	}
	var last uint64
	var lastAt time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.cpKick:
		}
		if wait := checkpointEvery - time.Since(lastAt); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if r.Head().Seq <= last {
			continue
		}
		cp, err := s.SignHead(r)
		if err != nil {
			n.log.Warn("sign checkpoint", "err", err)
			continue
		}
		lastAt = time.Now()
		if err := n.publishCheckpoint(cp); err != nil {
			if n.ctx.Err() == nil {
				n.log.Warn("gossip checkpoint", "size", cp.Size, "err", err)
			}
			continue
		}
		last = cp.Size
	}
}

func (n *Node) publishCheckpoint(cp *sequencer.Checkpoint) error {
	b, err := encodeCheckpoint(cp)
	if err != nil {
		return err
	}
	if err := n.topic.Publish(n.ctx, b); err != nil {
		return err
	}
	n.m.checkpoints.Inc()
	return nil
}

// validateCheckpoint accepts a checkpoint signed by the primary, and
// rejects (penalizing the sender) a malformed one or one signed by another
// key. A signed one whose root contradicts our tree is accepted: it is
// the primary's own lie, which every replica must see.
func (n *Node) validateCheckpoint(from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	cp, err := decodeCheckpoint(msg.Data)
	if err == nil {
		h := n.hashers.Get().(*sequencer.Hasher)
		err = sequencer.CheckCheckpoint(h, n.cfg.Primary, n.cfg.Domain, cp)
		n.hashers.Put(h)
	}
	if err != nil {
		n.m.rejected.Inc()
		n.log.Debug("gossip checkpoint rejected", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	msg.ValidatorData = cp
	return pubsub.ValidationAccept
}

// deliverCheckpoint hands a validated checkpoint to the follower, or drops
// it when the follower is behind.
func (n *Node) deliverCheckpoint(ctx context.Context, cp *sequencer.Checkpoint) {
	select {
	case n.cps <- cp:
	case <-ctx.Done():
	default:
	}
}

// heldCheckpoint is the latest checkpoint signed by the primary this node
// holds: its own head's if it holds the log key, else the one its store
// kept (a replica's); nil if none.
func (n *Node) heldCheckpoint() *sequencer.Checkpoint {
	if s := n.cpSigner.Load(); s != nil {
		if r, ok := n.cfg.Store.(sequencer.HeadReader); ok && r.Head().Seq > 0 {
			if cp, err := s.SignHead(r); err == nil {
				return cp
			}
		}
		return nil
	}
	if st, ok := n.cfg.Store.(interface {
		PrimaryCheckpoint() (*sequencer.Checkpoint, error)
	}); ok {
		cp, _ := st.PrimaryCheckpoint()
		return cp
	}
	return nil
}

// fetchCheckpointVia asks the host at the other end of conn for the
// latest checkpoint signed by the primary it holds (nil: none). The
// caller checks the signature.
func (c *syncClient) fetchCheckpointVia(ctx context.Context, conn network.Conn) (*sequencer.Checkpoint, error) {
	r, done, err := c.requestVia(ctx, conn, reqCheckpoint, 0, 0)
	if err != nil {
		return nil, err
	}
	defer done()
	l, err := binary.ReadUvarint(r)
	if err != nil || l == 0 {
		return nil, err
	}
	if l > sequencer.MaxCheckpointRecord {
		return nil, fmt.Errorf("%w: checkpoint of %d bytes", errMalformed, l)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	cp := new(sequencer.Checkpoint)
	if err := cp.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return cp, nil
}

// checkpointAskEvery is the least time between two checkpoint requests of
// a replica whose latest checkpoint is behind its head.
const checkpointAskEvery = 5 * time.Second

// askCheckpoint asks c, the source a catch-up fetched from, for its latest
// checkpoint when ours is behind our head, and hands it to the follower's
// loop (a replica that caught up, or joined while the log stood still,
// gets the checkpoint that gossip will not bring again).
func (s *fetcher) askCheckpoint(ctx context.Context, c network.Conn) {
	if s.checkpoint == nil || s.mirror.Halted() != nil || ctx.Err() != nil {
		return
	}
	head := s.mirror.Store().Head().Seq
	if l := s.mirror.PrimaryCheckpoint(); head == 0 || l != nil && l.Size >= head || time.Since(s.lastAsk) < checkpointAskEvery {
		return
	}
	s.lastAsk = time.Now()
	cp, err := s.node.sync.fetchCheckpointVia(ctx, c)
	if err != nil || cp == nil {
		return
	}
	if l := s.mirror.PrimaryCheckpoint(); l != nil && cp.Equal(l) {
		return
	}
	s.own(ctx, func() { s.checkpoint(ctx, cp) })
}
