package client

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
	"github.com/seqnode/sequencer/rpc"
)

// Writes over WebSocket (append, close, release, alone or in a batch) go
// over a connection of the client's own, written and read as over HTTP
// (by hand, the answers by rpc.ReadWriteAnswers): the node answers each
// frame of writes with one frame once durable, so many calls may be under
// way on the connection at once, matched to their answers by id. Every
// other call goes through go-ethereum's client. The connection is dialled
// at the first write and again after it fails (the calls under way then
// fail with its error, and are retried as WithRetries says).

var wsWriteBufs sync.Pool

// wsLink is one WebSocket connection for writes.
type wsLink struct {
	conn    *websocket.Conn
	wmu     sync.Mutex // one frame written at a time
	mu      sync.Mutex // guards what follows
	next    uint64     // the next call id
	waiting map[uint64]*wsWait
	err     error         // why the link failed
	done    chan struct{} // closed when it failed
}

// wsWait is a frame of calls waiting for its answer.
type wsWait struct {
	base   uint64 // id of the first call
	n      int    // calls
	single bool
	out    []BatchResult // set with err when ch is closed
	err    error         // the frame's own error (an answer without id)
	ch     chan struct{}
}

// wsLinkFor returns the client's write connection, dialling it if there
// is none or it failed (and the client is not disconnected).
func (c *Client) wsLinkFor(ctx context.Context) (*wsLink, error) {
	c.wsMu.Lock()
	defer c.wsMu.Unlock()
	if c.quit {
		return nil, gethrpc.ErrClientQuit
	}
	if l := c.ws; l != nil {
		select {
		case <-l.done:
		default:
			return l, nil
		}
	}
	// Dialled as go-ethereum dials: user info in the URL becomes Basic
	// authorization, and the environment's proxy is used.
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	if u.User != nil {
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.String())))
		u.User = nil
	}
	// A batch of 100 appends is a frame of ~40 KiB: written in one piece
	// from a pooled buffer.
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment,
		WriteBufferSize: 64 << 10, WriteBufferPool: &wsWriteBufs}
	conn, resp, err := d.DialContext(ctx, u.String(), header)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	conn.SetReadLimit(maxAnswer)
	// The node pings every 30 s (go-ethereum's server too, when idle): a
	// link that hears nothing, not even a ping, for wsSilence is taken for
	// dead, and the calls under way fail.
	conn.SetReadDeadline(time.Now().Add(wsSilence))
	conn.SetPingHandler(func(data string) error {
		conn.SetReadDeadline(time.Now().Add(wsSilence))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})
	l := &wsLink{conn: conn, waiting: map[uint64]*wsWait{}, done: make(chan struct{})}
	c.ws = l
	go l.read()
	return l, nil
}

// wsSilence is how long a write link may hear nothing from the node.
const wsSilence = 90 * time.Second

// closeWS closes the write connection, if any; later writes fail with
// go-ethereum's ErrClientQuit, as calls through its client do.
func (c *Client) closeWS() {
	c.wsMu.Lock()
	defer c.wsMu.Unlock()
	c.quit = true
	if c.ws != nil {
		c.ws.fail(gethrpc.ErrClientQuit)
		c.ws = nil
	}
}

// send sends calls in one frame (a batch, or one plain call when single)
// and waits for their answer, as post does over HTTP.
func (l *wsLink) send(ctx context.Context, calls []writeCall, single bool) ([]BatchResult, error) {
	w := &wsWait{n: len(calls), single: single, ch: make(chan struct{})}
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return nil, l.err
	}
	w.base = l.next
	l.next += uint64(len(calls))
	for i := range calls {
		l.waiting[w.base+uint64(i)] = w
	}
	l.mu.Unlock()
	forget := func() {
		l.mu.Lock()
		for i := range calls {
			delete(l.waiting, w.base+uint64(i))
		}
		l.mu.Unlock()
	}
	frame := encodeCallsFrom(calls, single, w.base)
	// The frame is written by the caller's deadline if it has one (at
	// most 30 s); a frame cut short fails the link.
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	l.wmu.Lock()
	l.conn.SetWriteDeadline(deadline)
	err := l.conn.WriteMessage(websocket.TextMessage, frame)
	l.wmu.Unlock()
	if err != nil {
		l.fail(err)
		forget()
		return nil, err
	}
	select {
	case <-w.ch:
		if w.err != nil {
			return nil, w.err
		}
		return w.out, nil
	case <-l.done:
	case <-ctx.Done():
	}
	// An answer that came before the link failed (or the context ended)
	// is still the answer.
	select {
	case <-w.ch:
		if w.err != nil {
			return nil, w.err
		}
		return w.out, nil
	default:
	}
	forget()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, l.err
}

// read reads answer frames until the connection fails. The node answers
// each frame of calls with one frame (a batch whole), so a frame's answers
// go to the frame of calls its first known id names.
func (l *wsLink) read() {
	for {
		_, r, err := l.conn.NextReader()
		if err != nil {
			l.fail(err)
			return
		}
		l.conn.SetReadDeadline(time.Now().Add(wsSilence))
		var answers []rpc.WriteAnswer
		if err := withAnswer(r, func(b []byte) (err error) {
			answers, err = rpc.ReadWriteAnswers(b)
			return err
		}); err != nil {
			l.fail(err)
			return
		}
		l.mu.Lock()
		var w *wsWait
		for _, a := range answers {
			if w = l.waiting[a.ID]; !a.NoID && w != nil {
				break
			}
			w = nil
		}
		if w == nil {
			l.mu.Unlock()
			for _, a := range answers {
				if a.NoID && a.Error != nil {
					// The node could not read a frame of calls, and
					// closes the connection: every call under way fails
					// with its error.
					l.fail((*Error)(a.Error))
					return
				}
			}
			continue // answers to calls given up on (their context ended)
		}
		for i := range w.n {
			delete(l.waiting, w.base+uint64(i))
		}
		w.out, w.err = results(answers, w.base, w.n, w.single)
		l.mu.Unlock()
		close(w.ch)
	}
}

// fail closes the link with err, once.
func (l *wsLink) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = err
	close(l.done)
	l.conn.Close()
}

// encodeCallsFrom is encodeCalls with ids from base.
func encodeCallsFrom(calls []writeCall, single bool, base uint64) []byte {
	b := make([]byte, 0, len(calls)*(320+2*len(calls[0].params.data)))
	if !single {
		b = append(b, '[')
	}
	for i := range calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(append(b, `{"jsonrpc":"2.0","id":`...), base+uint64(i), 10)
		b = append(append(append(b, `,"method":"`...), calls[i].method...), `","params":[`...)
		b = append(calls[i].params.appendJSON(b), "]}"...)
	}
	if !single {
		b = append(b, ']')
	}
	return b
}
