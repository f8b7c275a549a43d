package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	msmux "github.com/multiformats/go-multistream"
	"github.com/seqnode/sequencer/sequencer"
)

// syncClient asks peers for their head and for ranges of their log over
// the sync protocol (syncproto.go): the fetching side.
type syncClient struct {
	host      host.Host
	timeout   time.Duration // deadline of one exchange
	maxRecord uint64        // the largest record read
	m         *metrics
}

// request opens a stream to p, sends one request and reads the status
// byte. The exchange is bounded by ctx (its deadline, at most syncTimeout,
// and its cancellation, which resets the stream); the caller reads the
// rest of the answer from r and then calls done. A peer that answers
// "rate limited" is asked again after rateLimitedBackoff, doubling, up to
// rateLimitedTries times in all and never past ctx: a client that is
// limited slows down instead of asking again at once.
func (c *syncClient) request(ctx context.Context, p peer.ID, typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	return c.requestOn(ctx, func(ctx context.Context) (network.Stream, error) {
		return c.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, syncProtocol)
	}, typ, from, limit)
}

// requestVia is request over one connection: two hosts that share a peer
// id (a copied datadir) are two connections to one peer, and each must be
// asked (SPEC §6).
func (c *syncClient) requestVia(ctx context.Context, conn network.Conn, typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	return c.requestOn(ctx, func(ctx context.Context) (network.Stream, error) {
		return openSyncStream(ctx, conn)
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

func (c *syncClient) requestOn(ctx context.Context, open func(context.Context) (network.Stream, error), typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	wait := rateLimitedBackoff
	for try := 1; ; try++ {
		r, done, err = c.requestOnce(ctx, open, typ, from, limit)
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

func (c *syncClient) requestOnce(ctx context.Context, open func(context.Context) (network.Stream, error), typ byte, from, limit uint64) (r *bufio.Reader, done func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
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

func (c *syncClient) readRecord(r *bufio.Reader) (*sequencer.Entry, error) {
	return readRecord(r, c.maxRecord)
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

// fetchHead asks p for its head entry (nil for an empty log).
func (c *syncClient) fetchHead(ctx context.Context, p peer.ID) (*sequencer.Entry, error) {
	r, done, err := c.request(ctx, p, reqHead, 0, 0)
	if err != nil {
		return nil, err
	}
	defer done()
	return c.readRecord(r)
}

// fetchHeadVia asks the host at the other end of conn for its head entry.
func (c *syncClient) fetchHeadVia(ctx context.Context, conn network.Conn) (*sequencer.Entry, error) {
	r, done, err := c.requestVia(ctx, conn, reqHead, 0, 0)
	if err != nil {
		return nil, err
	}
	defer done()
	return c.readRecord(r)
}

// fetchRange asks p for up to limit entries from seq from.
func (c *syncClient) fetchRange(ctx context.Context, p peer.ID, from uint64, limit int) ([]*sequencer.Entry, error) {
	r, done, err := c.request(ctx, p, reqRange, from, uint64(limit))
	if err != nil {
		return nil, err
	}
	defer done()
	return c.readRange(r, from)
}

// fetchRangeVia is fetchRange over the connection conn.
func (c *syncClient) fetchRangeVia(ctx context.Context, conn network.Conn, from uint64, limit int) ([]*sequencer.Entry, error) {
	r, done, err := c.requestVia(ctx, conn, reqRange, from, uint64(limit))
	if err != nil {
		return nil, err
	}
	defer done()
	return c.readRange(r, from)
}

// readRange reads the records of a range answer that starts at from.
func (c *syncClient) readRange(r *bufio.Reader, from uint64) ([]*sequencer.Entry, error) {
	var out []*sequencer.Entry
	for range maxRangeEntries + 1 {
		e, err := c.readRecord(r)
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
		c.m.syncFetched.Inc()
	}
	return out, fmt.Errorf("%w: too many entries", errMalformed)
}

// FetchHead asks p for its head entry (nil for an empty log).
func (n *Node) FetchHead(ctx context.Context, p peer.ID) (*sequencer.Entry, error) {
	return n.sync.fetchHead(ctx, p)
}

// FetchRange asks p for up to limit entries from seq from.
func (n *Node) FetchRange(ctx context.Context, p peer.ID, from uint64, limit int) ([]*sequencer.Entry, error) {
	return n.sync.fetchRange(ctx, p, from, limit)
}
