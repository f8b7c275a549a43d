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
	"github.com/seqnode/sequencer/sequencer"
)

// The sync protocol: one request and one response per stream.
//
//	request:  type(1) from(uvarint) limit(uvarint)
//	response: status(1) [0 ok | 1 error: uvarint len, message]
//	          head:  uvarint len, record (len 0: empty log)
//	          range: (uvarint len, record)* uvarint 0
//
// Responses are bounded (maxRangeEntries entries, maxRangeBytes bytes, but
// always at least one entry), every stream has a deadline, and at most
// cap(syncSem) streams are served at once.
const (
	syncProtocol    = protocol.ID("/sequencer/sync/1.0.0")
	reqHead         = 1
	reqRange        = 2
	maxRangeEntries = 1000
	maxRangeBytes   = 4 << 20
	syncTimeout     = 15 * time.Second
	maxSyncPerPeer  = 4 // streams served at once to one peer (of cap(syncSem) = 16 in all)
)

var errRemote = errors.New("peer answered with an error")

func (n *Node) serveSync(s network.Stream) {
	defer s.Close()
	// At most maxSyncPerPeer streams of one peer, so that one peer holding
	// silent streams cannot take every slot from the others.
	p := s.Conn().RemotePeer()
	n.syncMu.Lock()
	if n.syncPerPeer[p] >= maxSyncPerPeer {
		n.syncMu.Unlock()
		s.Reset()
		return
	}
	n.syncPerPeer[p]++
	n.syncMu.Unlock()
	defer func() {
		n.syncMu.Lock()
		if n.syncPerPeer[p]--; n.syncPerPeer[p] <= 0 {
			delete(n.syncPerPeer, p)
		}
		n.syncMu.Unlock()
	}()
	select {
	case n.syncSem <- struct{}{}:
		defer func() { <-n.syncSem }()
	default:
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(syncTimeout))
	typ, from, limit, err := readRequest(bufio.NewReaderSize(s, 32))
	if err != nil {
		s.Reset()
		return
	}
	w := bufio.NewWriterSize(s, 64<<10)
	defer w.Flush()
	st := n.cfg.Store
	switch typ {
	case reqHead:
		head := st.Head()
		w.WriteByte(0)
		if head.Seq == 0 {
			w.Write(binary.AppendUvarint(nil, 0))
			return
		}
		e, err := st.Entry(head.Seq)
		if err != nil {
			s.Reset()
			return
		}
		writeRecord(w, e)
	case reqRange:
		limit = min(max(limit, 1), maxRangeEntries)
		es, err := st.Range(max(from, 1), int(limit))
		if err != nil {
			n.log.Warn("sync: read range", "from", from, "err", err)
			s.Reset()
			return
		}
		w.WriteByte(0)
		total := 0
		for i, e := range es {
			b, _ := e.MarshalBinary()
			if i > 0 && total+len(b) > maxRangeBytes {
				break
			}
			total += len(b)
			w.Write(binary.AppendUvarint(nil, uint64(len(b))))
			w.Write(b)
			n.m.syncServed.Inc()
		}
		w.Write(binary.AppendUvarint(nil, 0))
	default:
		s.Reset()
	}
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

func writeRecord(w *bufio.Writer, e *sequencer.Entry) {
	b, _ := e.MarshalBinary()
	w.Write(binary.AppendUvarint(nil, uint64(len(b))))
	w.Write(b)
}

// request opens a stream to p, sends one request and reads the status
// byte. The exchange is bounded by ctx (its deadline, at most syncTimeout,
// and its cancellation, which resets the stream); the caller reads the
// rest of the answer from r and then calls done.
func (n *Node) request(ctx context.Context, p peer.ID, typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, syncProtocol)
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
		s.Reset()
		done()
		return nil, nil, errRemote
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

// FetchRange asks p for up to limit entries from seq from.
func (n *Node) FetchRange(ctx context.Context, p peer.ID, from uint64, limit int) ([]*sequencer.Entry, error) {
	r, done, err := n.request(ctx, p, reqRange, from, uint64(limit))
	if err != nil {
		return nil, err
	}
	defer done()
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
