package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"

	"github.com/libp2p/go-msgio"
)

// refusedAt reads b as GossipSub reads an inbound stream (go-msgio's
// varint reader bounded by max) and gives how many bytes it had read when
// it refused a frame, or -1 if it refused none.
func refusedAt(b []byte, max int) int {
	br := bytes.NewReader(b)
	r := msgio.NewVarintReaderSize(br, max)
	for {
		_, err := r.ReadMsg()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return -1
		default:
			return len(b) - br.Len()
		}
	}
}

// scannedAt feeds b to a frameScanner byte by byte and gives how many
// bytes it had been fed when it reported a refused frame, or -1.
func scannedAt(b []byte, max int) int {
	f := frameScanner{max: uint64(max)}
	at := -1
	for i := range b {
		if f.feed(b[i:i+1]) && at < 0 {
			at = i + 1
		}
	}
	return at
}

// scannedPieces feeds b in pieces of the given sizes and says whether the
// scanner reported a refused frame, and how many times.
func scannedPieces(b []byte, max int, pieces []int) (reports int) {
	f := frameScanner{max: uint64(max)}
	for i := 0; len(b) > 0; i++ {
		k := min(len(b), pieces[i%len(pieces)])
		if f.feed(b[:k]) {
			reports++
		}
		b = b[k:]
	}
	return reports
}

func frames(lengths ...int) []byte {
	var b []byte
	for _, l := range lengths {
		b = binary.AppendUvarint(b, uint64(l))
		b = append(b, make([]byte, l)...)
	}
	return b
}

// checkScanner compares the scanner with GossipSub's reader on b: the
// same frame refused, at the same byte, reported once however the bytes
// are cut into reads.
func checkScanner(t *testing.T, b []byte, max int) {
	t.Helper()
	want := refusedAt(b, max)
	if got := scannedAt(b, max); got != want {
		t.Fatalf("scanner refuses at byte %d, GossipSub's reader at %d (max %d, % x)", got, want, max, b[:min(len(b), 64)])
	}
	for _, pieces := range [][]int{{2, 7}, {4096}, {3, 1, 1000}} {
		if n := scannedPieces(b, max, pieces); n != min(1, want+1) {
			t.Fatalf("pieces %v: %d reports, want %d", pieces, n, min(1, want+1))
		}
	}
}

// The frame scanner refuses exactly what GossipSub's reader refuses: a
// length over the limit, over 9 bytes, or not minimal, and nothing else.
func TestFrameScanner(t *testing.T) {
	const max = 1000
	cases := []struct {
		name    string
		b       []byte
		refused bool
	}{
		{"fitting frames", frames(1, 1000, 0, 999, 127, 128), false},
		{"over the limit", append(frames(10), frames(1001)...), true},
		{"huge length", binary.AppendUvarint(nil, 1<<62), true},
		{"not minimal", append(frames(5), 0x85, 0x00), true},
		{"overflow", append(frames(5), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), true},
		{"cut in a length", append(frames(5), 0xff), false},
		{"cut in a body", frames(5)[:3], false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := refusedAt(c.b, max) >= 0; got != c.refused {
				t.Fatalf("GossipSub's reader refuses: %v; the case says %v", got, c.refused)
			}
			checkScanner(t, c.b, max)
		})
	}
}

// FuzzGossipFrames: on any bytes the frame scanner agrees with
// GossipSub's own reader (go-msgio), the oracle.
func FuzzGossipFrames(f *testing.F) {
	f.Add(frames(1, 30, 0), 40)
	f.Add(append(frames(3), 0x85, 0x00), 10)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 100)
	// A frame of the size a checkpoint message takes, and one over it.
	f.Add(frames(sequencer.MaxCheckpointRecord+64), sequencer.MaxCheckpointRecord+64)
	f.Add(frames(400, sequencer.MaxCheckpointRecord+65), sequencer.MaxCheckpointRecord+64)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		max = 1 + int(uint(max)%(1<<20))
		checkScanner(t, b, max)
	})
}

// A rogue publishes messages over the replica's message limit. GossipSub
// refuses each unread and resets the stream; the node's frame watch
// charges the rogue as for an invalid message, so its score goes
// negative, and under the graylist threshold after two. The honest
// primary is not charged and the replica goes on following it.
func TestOversizedGossipPenalized(t *testing.T) {
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	testnode.WritePlain(t, p.Seq, "before", 10)
	testnode.WaitHead(t, r.store, 10, "replica")
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	rg := newFlooder(t, lg)
	oversized := make([]byte, r.node.maxMsg+8192) // over the limit once in its RPC envelope
	for i := range 2 {
		if i > 0 {
			// The reset stream ended each side's view of the other on the
			// topic (GossipSub does not announce it again on a new
			// stream): reconnect. The charge stays with the peer id.
			rg.host.Network().ClosePeer(r.node.ID())
			waitFor(t, waitLong, "the rogue to be disconnected", func() bool { return r.node.host.Network().Connectedness(rg.host.ID()) != network.Connected })
		}
		joinRogue(t, ctx, rg, r.node)
		oversized[0] = byte(i) // two distinct messages
		if err := rg.topic.Publish(ctx, oversized); err != nil {
			t.Fatal(err)
		}
		waitFor(t, waitLong, "the oversized message to be refused", func() bool {
			return counter(t, r.node.m.refusedFrames) == float64(i+1)
		})
	}
	// Two charges: at least 100×1.6² points, decaying; the score is
	// inspected once a second.
	waitFor(t, waitLong, "the rogue's score to go under -100", func() bool {
		return r.node.Score(rg.host.ID()) < -100
	})
	t.Logf("rogue score %.0f after %v refused frames", r.node.Score(rg.host.ID()), counter(t, r.node.m.refusedFrames))
	if got := r.node.penalties.score(p.Node.ID()); got != 0 || r.node.Score(p.Node.ID()) < 0 {
		t.Errorf("the honest primary was charged: %v, score %v", got, r.node.Score(p.Node.ID()))
	}
	if d := counter(t, r.node.m.rejected); d != 0 {
		t.Errorf("%v messages reached the validator; oversized ones never should", d)
	}
	testnode.WritePlain(t, p.Seq, "after", 10)
	testnode.WaitHead(t, r.store, 20, "replica after the oversized messages")
	testnode.AssertSameLog(t, p.Store, r.store)
}

// Charges decay like the invalid-message counter, and are scored the
// same way: −100 × count².
func TestPenaltiesDecay(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ps := newPenalties()
	ps.now = func() time.Time { return now }
	p := peer.ID("rogue")
	if got := ps.score(p); got != 0 {
		t.Fatalf("uncharged peer scored %v", got)
	}
	ps.charge(p)
	ps.charge(p)
	if got := ps.score(p); got != -400 {
		t.Fatalf("two charges at once: %v, want -400", got)
	}
	now = now.Add(10 * time.Second) // count 2 × 0.9¹⁰ ≈ 0.70
	if got := ps.score(p); got > -48 || got < -50 {
		t.Fatalf("after 10 s: %v, want ≈ -48.6", got)
	}
	now = now.Add(time.Minute) // under 0.01: zero
	if got := ps.score(p); got != 0 {
		t.Fatalf("after 70 s: %v, want 0", got)
	}
	for i := range 300 { // decayed entries are dropped as the map grows
		ps.charge(peer.ID(string(rune('a' + i))))
		now = now.Add(time.Minute)
	}
	if n := len(ps.m); n > 256 {
		t.Errorf("%d charged peers kept", n)
	}
}
