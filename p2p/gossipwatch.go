package p2p

import (
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Refused frames. GossipSub (v0.17.0, comm.go handleNewStream) reads each
// inbound RPC through a uvarint-length-framed reader bounded by
// WithMaxMessageSize. A frame whose length is over that bound, or is not
// a valid uvarint, fails the read before its body is read, and the stream
// is reset — without a word to the peer score, the tracers or the RPC
// inspector, which only ever see decoded RPCs. The sender was not
// penalized and could do it again on a new stream. So the node follows
// the framing of its inbound GossipSub streams itself (watchHost wraps
// the handlers GossipSub sets) and charges the sender of a refused frame
// as if it had sent an invalid message: the charge is the
// application-specific part of the GossipSub score (P5), with the weight
// and decay of the invalid-message penalty (P4).

// watchHost is the host given to GossipSub: the node's host, with the
// stream handlers GossipSub sets wrapped by wrap.
type watchHost struct {
	host.Host
	wrap func(network.StreamHandler) network.StreamHandler
}

func (h watchHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.wrap(handler))
}

func (h watchHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.wrap(handler))
}

// watchFrames wraps a GossipSub stream handler: refused(p) is called when
// peer p sends a frame that GossipSub will refuse.
func watchFrames(max int, refused func(peer.ID)) func(network.StreamHandler) network.StreamHandler {
	return func(next network.StreamHandler) network.StreamHandler {
		return func(s network.Stream) {
			p := s.Conn().RemotePeer()
			next(&frameWatch{Stream: s, scan: frameScanner{max: uint64(max)}, refused: func() { refused(p) }})
		}
	}
}

// frameWatch is an inbound stream whose reads are followed by a
// frameScanner; only GossipSub's handler goroutine reads it.
type frameWatch struct {
	network.Stream
	scan    frameScanner
	refused func()
}

func (s *frameWatch) Read(b []byte) (int, error) {
	n, err := s.Stream.Read(b)
	if s.scan.feed(b[:n]) {
		s.refused()
	}
	return n, err
}

// frameScanner follows a stream of uvarint-length-prefixed frames, fed in
// pieces of any size, as go-msgio's varint reader (with go-varint's rules)
// reads it: it reports, once, the first length that reader refuses —
// over max, longer than 9 bytes, or not minimally encoded.
type frameScanner struct {
	max    uint64
	need   uint64 // body bytes of the current frame still to come
	length uint64 // the length read so far
	shift  uint
	done   bool // a refused length was seen: nothing more to follow
}

// feed scans b and says whether it holds the first refused length.
func (f *frameScanner) feed(b []byte) bool {
	for len(b) > 0 && !f.done {
		if f.need > 0 {
			k := min(uint64(len(b)), f.need)
			f.need -= k
			b = b[k:]
			continue
		}
		c := b[0]
		b = b[1:]
		switch {
		case f.shift == 56 && c >= 0x80, // a tenth byte to come: overflow
			c == 0 && f.shift > 0, // not minimal
			c < 0x80 && f.length|uint64(c)<<f.shift > f.max:
			f.done = true
			return true
		case c < 0x80:
			f.need = f.length | uint64(c)<<f.shift
			f.length, f.shift = 0, 0
		default:
			f.length |= uint64(c&0x7f) << f.shift
			f.shift += 7
		}
	}
	return false
}

// penalties are the node's charges against peers, in invalid messages,
// decaying as the invalid-message counter does.
type penalties struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[peer.ID]penalty
}

type penalty struct {
	count float64
	at    time.Time
}

func newPenalties() *penalties {
	return &penalties{now: time.Now, m: map[peer.ID]penalty{}}
}

// decayed is the charge of pe at now: decayed every second by
// invalidDecay, and zero below scoreDecayToZero.
func (pe penalty) decayed(now time.Time) float64 {
	c := pe.count * math.Pow(invalidDecay, now.Sub(pe.at).Seconds())
	if c < scoreDecayToZero {
		return 0
	}
	return c
}

// charge counts one invalid message against p.
func (ps *penalties) charge(p peer.ID) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := ps.now()
	if len(ps.m) >= 256 {
		for q, pe := range ps.m {
			if pe.decayed(now) == 0 {
				delete(ps.m, q)
			}
		}
	}
	ps.m[p] = penalty{count: ps.m[p].decayed(now) + 1, at: now}
}

// score is p's application-specific GossipSub score: the charge scored as
// the invalid-message penalty is, weight × count².
func (ps *penalties) score(p peer.ID) float64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pe, ok := ps.m[p]
	if !ok {
		return 0
	}
	c := pe.decayed(ps.now())
	return invalidWeight * c * c
}
