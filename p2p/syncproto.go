package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"
	"github.com/seqnode/sequencer/sequencer"
)

// The sync protocol: one request and one response per stream.
//
//	request:  type(1) from(uvarint) limit(uvarint)
//	response: status(1) [0 ok | 1 error: uvarint len, message ("rate limited": back off)]
//	          head:  uvarint len, record (len 0: empty log)
//	          range: (uvarint len, record)* uvarint 0
//
// Responses are bounded (maxRangeEntries entries, maxRangeBytes bytes, but
// always at least one entry), every stream has a deadline, at most
// cap(syncSem) streams are served at once, and each peer is held to the
// limits of synclimit.go.
const (
	syncProtocol    = protocol.ID("/sequencer/sync/1.0.0")
	reqHead         = 1
	reqRange        = 2
	maxRangeEntries = 1000
	maxRangeBytes   = 4 << 20
	syncTimeout     = 15 * time.Second
	maxSyncPerPeer  = 4   // streams served at once to one peer (of cap(syncSem) = 16 in all)
	maxErrorMessage = 256 // bytes of an error answer's message a client reads

	rateLimitedBackoff = 100 * time.Millisecond
	rateLimitedTries   = 5 // asked 5 times over at least 1.5 s
)

func (n *Node) serveSync(s network.Stream) {
	defer s.Close()
	// Per peer: a request rate, and at most maxSyncPerPeer streams, so
	// that one peer holding silent streams cannot take every slot from
	// the others. A refusal for rate is answered (the client backs off);
	// the others reset the stream. None of them holds a slot.
	p := s.Conn().RemotePeer()
	byteLim, refused := n.limits.open(p)
	switch refused {
	case refusedRate:
		n.m.syncRefused.WithLabelValues(refusedRate).Inc()
		s.SetWriteDeadline(time.Now().Add(time.Second))
		writeStatusError(s, msgRateLimited)
		return
	case refusedPeerStreams:
		n.m.syncRefused.WithLabelValues(refusedPeerStreams).Inc()
		s.Reset()
		return
	}
	defer n.limits.close(p)
	select {
	case n.syncSem <- struct{}{}:
		defer func() { <-n.syncSem }()
	default:
		n.m.syncRefused.WithLabelValues(refusedBusy).Inc()
		s.Reset()
		return
	}
	deadline := time.Now().Add(n.syncTimeout)
	s.SetDeadline(deadline)
	typ, from, limit, err := readRequest(bufio.NewReaderSize(s, 32))
	if err != nil {
		s.Reset()
		return
	}
	// The answer, as records; nil for an empty one.
	var recs [][]byte
	st := n.cfg.Store
	switch typ {
	case reqHead:
		if head := st.Head(); head.Seq > 0 {
			e, err := st.Entry(head.Seq)
			if err != nil {
				s.Reset()
				return
			}
			b, _ := e.MarshalBinary()
			recs = append(recs, b)
		}
	case reqRange:
		limit = min(max(limit, 1), maxRangeEntries)
		es, err := st.Range(max(from, 1), int(limit))
		if err != nil {
			n.log.Warn("sync: read range", "from", from, "err", err)
			s.Reset()
			return
		}
		total := 0
		for i, e := range es {
			b, _ := e.MarshalBinary()
			if i > 0 && total+len(b) > maxRangeBytes {
				break
			}
			total += len(b)
			recs = append(recs, b)
		}
	default:
		s.Reset()
		return
	}
	// The peer's byte rate: wait for its tokens, within the deadline.
	size := 0
	for _, b := range recs {
		size += len(b)
	}
	ctx, cancel := context.WithDeadline(n.ctx, deadline)
	err = byteLim.WaitN(ctx, min(size, byteLim.Burst()))
	cancel()
	if err != nil {
		n.m.syncRefused.WithLabelValues(refusedRate).Inc()
		writeStatusError(s, msgRateLimited)
		return
	}
	w := bufio.NewWriterSize(s, 64<<10)
	w.WriteByte(0)
	for _, b := range recs {
		w.Write(binary.AppendUvarint(nil, uint64(len(b))))
		w.Write(b)
	}
	if typ == reqRange || len(recs) == 0 {
		w.Write(binary.AppendUvarint(nil, 0))
	}
	if err := w.Flush(); err != nil {
		s.Reset() // cut, not ended: the peer must not take a part for the whole
		return
	}
	if typ == reqRange {
		n.m.syncServed.Add(float64(len(recs)))
	}
}

// writeStatusError writes an error answer: status 1, uvarint len, message.
func writeStatusError(w io.Writer, msg string) error {
	b := binary.AppendUvarint([]byte{1}, uint64(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

// readStatusError reads the message of an error answer (after its status
// byte); a rate-limited answer gives errRateLimited.
func readStatusError(r *bufio.Reader) error {
	l, err := binary.ReadUvarint(r)
	if err != nil || l > maxErrorMessage {
		return errRemote
	}
	msg := make([]byte, l)
	if _, err := io.ReadFull(r, msg); err != nil {
		return errRemote
	}
	if string(msg) == msgRateLimited {
		return errRateLimited
	}
	return fmt.Errorf("%w: %q", errRemote, msg)
}

// readRequest reads one sync request: type(1) from(uvarint) limit(uvarint).
func readRequest(r io.ByteReader) (typ byte, from, limit uint64, err error) {
	if typ, err = r.ReadByte(); err != nil {
		return 0, 0, 0, err
	}
	if from, err = binary.ReadUvarint(r); err != nil {
		return 0, 0, 0, err
	}
	if limit, err = binary.ReadUvarint(r); err != nil {
		return 0, 0, 0, err
	}
	return typ, from, limit, nil
}

// request opens a stream to p, sends one request and reads the status
// byte. The exchange is bounded by ctx (its deadline, at most syncTimeout,
// and its cancellation, which resets the stream); the caller reads the
// rest of the answer from r and then calls done. A peer that answers
// "rate limited" is asked again after rateLimitedBackoff, doubling, up to
// rateLimitedTries times in all and never past ctx: a client that is
// limited slows down instead of asking again at once.
func (n *Node) request(ctx context.Context, p peer.ID, typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	return n.requestOn(ctx, func(ctx context.Context) (network.Stream, error) {
		return n.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, syncProtocol)
	}, typ, from, limit)
}

// requestVia is request over one connection: two hosts that share a peer
// id (a copied datadir) are two connections to one peer, and each must be
// asked (SPEC §6).
func (n *Node) requestVia(ctx context.Context, c network.Conn, typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	return n.requestOn(ctx, func(ctx context.Context) (network.Stream, error) {
		return openSyncStream(ctx, c)
	}, typ, from, limit)
}

// openSyncStream opens a sync protocol stream on the connection c.
func openSyncStream(ctx context.Context, c network.Conn) (network.Stream, error) {
	s, err := c.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		s.SetDeadline(deadline)
	}
	if err := s.SetProtocol(syncProtocol); err != nil {
		s.Reset()
		return nil, err
	}
	if err := msmux.SelectProtoOrFail(syncProtocol, s); err != nil {
		s.Reset()
		return nil, fmt.Errorf("negotiate %s: %w", syncProtocol, err)
	}
	return s, nil
}

func (n *Node) requestOn(ctx context.Context, open func(context.Context) (network.Stream, error), typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	wait := rateLimitedBackoff
	for try := 1; ; try++ {
		r, done, err = n.requestOnce(ctx, open, typ, from, limit)
		if !errors.Is(err, errRateLimited) || try == rateLimitedTries {
			return r, done, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (n *Node) requestOnce(ctx context.Context, open func(context.Context) (network.Stream, error), typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, n.syncTimeout)
	s, err := open(ctx)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	s.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	done = func() {
		stop()
		cancel()
		s.Close()
	}
	req := binary.AppendUvarint(binary.AppendUvarint([]byte{typ}, from), limit)
	if _, err := s.Write(req); err != nil {
		s.Reset()
		done()
		return nil, nil, err
	}
	s.CloseWrite()
	r = bufio.NewReaderSize(s, 64<<10)
	status, err := r.ReadByte()
	if err != nil {
		s.Reset()
		done()
		return nil, nil, err
	}
	if status != 0 {
		err := readStatusError(r)
		s.Reset()
		done()
		return nil, nil, err
	}
	return r, done, nil
}

func (n *Node) readRecord(r *bufio.Reader) (*sequencer.Entry, error) {
	return readRecord(r, uint64(n.maxMsg)+4096)
}

// readRecord reads one length-prefixed entry record of at most max bytes;
// a zero length (the end of a range, or an empty log) gives nil.
func readRecord(r *bufio.Reader, max uint64) (*sequencer.Entry, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if l == 0 {
		return nil, nil
	}
	if l > max {
		return nil, fmt.Errorf("%w: record of %d bytes", errMalformed, l)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	e := new(sequencer.Entry)
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return e, nil
}

// FetchHead asks p for its head entry (nil for an empty log).
func (n *Node) FetchHead(ctx context.Context, p peer.ID) (*sequencer.Entry, error) {
	r, done, err := n.request(ctx, p, reqHead, 0, 0)
	if err != nil {
		return nil, err
	}
	defer done()
	return n.readRecord(r)
}

// fetchHeadVia asks the host at the other end of c for its head entry.
func (n *Node) fetchHeadVia(ctx context.Context, c network.Conn) (*sequencer.Entry, error) {
	r, done, err := n.requestVia(ctx, c, reqHead, 0, 0)
	if err != nil {
		return nil, err
	}
	defer done()
	return n.readRecord(r)
}

// FetchRange asks p for up to limit entries from seq from.
func (n *Node) FetchRange(ctx context.Context, p peer.ID, from uint64, limit int) ([]*sequencer.Entry, error) {
	r, done, err := n.request(ctx, p, reqRange, from, uint64(limit))
	if err != nil {
		return nil, err
	}
	defer done()
	return n.readRange(r, from)
}

// fetchRangeVia is FetchRange over the connection c.
func (n *Node) fetchRangeVia(ctx context.Context, c network.Conn, from uint64, limit int) ([]*sequencer.Entry, error) {
	r, done, err := n.requestVia(ctx, c, reqRange, from, uint64(limit))
	if err != nil {
		return nil, err
	}
	defer done()
	return n.readRange(r, from)
}

// readRange reads the records of a range answer that starts at from.
func (n *Node) readRange(r *bufio.Reader, from uint64) ([]*sequencer.Entry, error) {
	var out []*sequencer.Entry
	for range maxRangeEntries + 1 {
		e, err := n.readRecord(r)
		if err != nil {
			return out, err
		}
		if e == nil {
			return out, nil
		}
		if len(out) == maxRangeEntries {
			break
		}
		if e.Seq != from+uint64(len(out)) {
			return out, fmt.Errorf("%w: asked from %d, got entry %d at position %d", errMalformed, from, e.Seq, len(out))
		}
		out = append(out, e)
		n.m.syncFetched.Inc()
	}
	return out, fmt.Errorf("%w: too many entries", errMalformed)
}
