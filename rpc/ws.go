package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
	"golang.org/x/sync/semaphore"
)

// JSON-RPC over WebSocket. Every frame is read here first: a write call, or
// a batch of write calls, that the one-pass reader takes is enqueued at
// once (so a connection's writes reach the log in frame order) and
// answered once durable, as over HTTP, each answer a frame of its own as
// soon as it is ready (calls on one connection are answered out of order,
// as go-ethereum answers them). Every other frame (reads, subscriptions,
// anything malformed) goes unchanged to go-ethereum's server, which serves
// the same connection through a codec over the frames passed on and writes
// its answers as frames of their own. A connection costs one reader, one
// go-ethereum codec and a pinger; a write call costs no HTTP request and no
// reflection.

const (
	wsPingInterval = 30 * time.Second // a ping this often; its pong must come within wsPongTimeout
	wsPongTimeout  = 30 * time.Second
	wsWriteTimeout = 10 * time.Second // for one frame (go-ethereum's default write timeout)
	// wsWritesInFlight bounds the write calls of one connection enqueued
	// and not yet answered; past it the connection's frames wait (the
	// client's sends block on TCP, as they would on a busy node).
	wsWritesInFlight = 4096
)

var wsBufferPool sync.Pool

// websocketHandler serves JSON-RPC to WebSocket connections from the
// allowed origins.
func (s *Server) websocketHandler(origins []string) http.Handler {
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, WriteBufferPool: &wsBufferPool,
		CheckOrigin: originAllowed(origins)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader has answered with an HTTP error
		}
		c := &wsConn{s: s, conn: conn, slots: semaphore.NewWeighted(wsWritesInFlight)}
		c.ctx, c.cancel = context.WithCancel(context.Background())
		if !s.ws.add(c) {
			c.close() // the server is shutting down
			return
		}
		c.serve(func() { s.ws.remove(c) })
	})
}

// originAllowed is the browser origin check of go-ethereum's WebSocket
// server: a request without an Origin header (not a browser) passes; "*"
// admits every origin; otherwise the origin must match an allowed one in
// each part the allowed one names (scheme, host, port). No allowed origins:
// http://localhost and http://<this host's name>.
func originAllowed(allowed []string) func(*http.Request) bool {
	var rules []string
	all := false
	for _, o := range allowed {
		all = all || o == "*"
		if o != "" {
			rules = append(rules, strings.ToLower(o))
		}
	}
	if len(rules) == 0 {
		rules = append(rules, "http://localhost")
		if h, err := os.Hostname(); err == nil {
			rules = append(rules, "http://"+strings.ToLower(h))
		}
	}
	return func(r *http.Request) bool {
		if _, ok := r.Header["Origin"]; !ok || all {
			return true
		}
		scheme, host, port, ok := originParts(strings.ToLower(r.Header.Get("Origin")))
		if !ok {
			return false
		}
		for _, rule := range rules {
			rs, rh, rp, ok := originParts(rule)
			if ok && (rs == "" || rs == scheme) && (rh == "" || rh == host) && (rp == "" || rp == port) {
				return true
			}
		}
		return false
	}
}

// originParts splits an origin ("scheme://host:port", or "host" or
// "host:port" without a scheme) into its parts.
func originParts(o string) (scheme, host, port string, ok bool) {
	u, err := url.Parse(o)
	if err != nil {
		return "", "", "", false
	}
	if strings.Contains(o, "://") {
		return u.Scheme, u.Hostname(), u.Port(), true
	}
	// "host:port" parses as scheme "host", opaque "port".
	host, port = u.Scheme, u.Opaque
	if host == "" {
		host = o
	}
	return "", host, port, true
}

// wsConn is one WebSocket connection.
type wsConn struct {
	s      *Server
	conn   *websocket.Conn
	ctx    context.Context // cancelled when the connection closes
	cancel context.CancelFunc
	slots  *semaphore.Weighted // write calls enqueued and not yet answered
	wmu    sync.Mutex          // one frame written at a time
	frames chan []byte         // frames passed on to go-ethereum's codec
	rest   []byte              // what go-ethereum's codec has not read yet of the frame it reads
	once   sync.Once
	calls  sync.WaitGroup // answers being awaited

	dmu      sync.Mutex // read deadlines; stopped
	stopped  bool       // Shutdown stopped the reads: answer what was read, then close
	closeMsg []byte     // the close frame's payload
}

// wsConns are a server's open WebSocket connections. Shutdown stops their
// reads, waits for the answers to the writes already read, then closes
// them: a write taken before the shutdown is answered, like an HTTP call
// under way.
type wsConns struct {
	mu     sync.Mutex
	conns  map[*wsConn]struct{}
	closed bool
	wg     sync.WaitGroup // one per connection being served
}

// add registers c; false once the server is shutting down.
func (w *wsConns) add(c *wsConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		c.closeMsg = websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
		return false
	}
	if w.conns == nil {
		w.conns = map[*wsConn]struct{}{}
	}
	w.conns[c] = struct{}{}
	w.wg.Add(1)
	return true
}

func (w *wsConns) remove(c *wsConn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
	w.wg.Done()
}

// stop refuses new connections and stops every open connection's reads
// (Shutdown, before it waits for HTTP calls: a connection takes no more
// writes meanwhile).
func (w *wsConns) stop() {
	w.mu.Lock()
	w.closed = true
	for c := range w.conns {
		c.stopReading()
	}
	w.mu.Unlock()
}

// wait waits until every connection has written the answers to the writes
// it read and closed; when ctx ends first, it closes them at once (their
// writes still under way are not answered) and returns ctx's error.
func (w *wsConns) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	w.mu.Lock()
	conns := make([]*wsConn, 0, len(w.conns))
	for c := range w.conns {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	for _, c := range conns {
		go c.close() // each may wait up to a second to write its close frame
	}
	<-done // close cancels every wait of theirs
	return ctx.Err()
}

// stopReading makes the connection's reader stop at the next frame (its
// read fails at once), for Shutdown.
func (c *wsConn) stopReading() {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.stopped = true
	c.closeMsg = websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
	c.conn.SetReadDeadline(time.Now())
}

// setReadDeadline sets the read deadline unless the reads were stopped
// (the pinger and the pong handler set it too).
func (c *wsConn) setReadDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.stopped {
		return nil
	}
	return c.conn.SetReadDeadline(t)
}

// serve reads the connection's frames until it closes.
// closed runs once the connection is closed and the answers to the writes
// it read itself are written (or failed); go-ethereum's handlers may still
// be running, until their calls return.
func (c *wsConn) serve(closed func()) {
	c.frames = make(chan []byte)
	codec := gethrpc.NewCodec(gethConn{c})
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.s.rpc.ServeCodec(codec, 0)
	}()
	go c.ping()
	c.read()
	c.dmu.Lock()
	stopped := c.stopped
	c.dmu.Unlock()
	if stopped {
		c.calls.Wait() // Shutdown closes the connection if this takes too long
	}
	c.close()
	c.calls.Wait()
	closed()
	<-served
}

// frameBufs hold frames being read and answered (a frame's buffer goes
// back once its answer is written: the ids answered alias it).
var frameBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putFrameBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 { // a huge frame's buffer is not kept
		frameBufs.Put(b)
	}
}

// read reads frames until the connection fails or closes. A frame is read
// into a pooled buffer with large reads (gorilla's ReadMessage grows its
// buffer from 512 bytes, reading a batch a few KiB at a time).
func (c *wsConn) read() {
	c.conn.SetReadLimit(c.s.opts.WSReadLimit)
	c.conn.SetPongHandler(func(string) error { return c.setReadDeadline(time.Time{}) })
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		buf := frameBufs.Get().(*bytes.Buffer)
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			putFrameBuf(buf)
			return
		}
		// The frame's bytes count among the request bodies in flight
		// (BodyBytesInFlight, shared with HTTP) until its answer is
		// written: a connection cannot hold many frames (each up to
		// WSReadLimit) while their writes wait. Past the bound, the
		// connection's next frames wait.
		held := &heldFrame{c: c, buf: buf, n: int64(buf.Len())}
		if c.s.bodies.Acquire(c.ctx, held.n) != nil {
			putFrameBuf(buf)
			return
		}
		if c.fastWrite(held) {
			continue
		}
		frame := append(make([]byte, 0, buf.Len()+1), buf.Bytes()...)
		held.release()
		if !json.Valid(frame) {
			// go-ethereum answers a frame that is not JSON with a parse
			// error and closes the connection; its stream codec would take
			// "{}{}" as two calls, so such frames are answered here.
			var v json.RawMessage
			msg := "invalid JSON request"
			if err := json.Unmarshal(frame, &v); err != nil {
				msg = err.Error()
			}
			m, _ := json.Marshal(msg)
			c.send([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":` + string(m) + `}}`))
			return
		}
		if a, dup := duplicateKeyAnswer(frame); dup {
			c.send(a)
			continue
		}
		// A newline ends the frame for the codec's stream decoder (a frame
		// holding only a number would otherwise wait for more digits).
		select {
		case c.frames <- append(frame, '\n'):
		case <-c.ctx.Done():
			return
		}
	}
}

// heldFrame is a frame read and not yet answered, and its room among the
// bodies in flight.
type heldFrame struct {
	c   *wsConn
	buf *bytes.Buffer
	n   int64
}

// release gives back the frame's buffer and its room (once the answers
// that alias it are written).
func (h *heldFrame) release() {
	putFrameBuf(h.buf)
	h.c.s.bodies.Release(h.n)
}

// fastWrite enqueues the write calls of frame f if the one-pass reader
// takes it, and answers them once durable; f is released after the
// answer.
func (c *wsConn) fastWrite(f *heldFrame) bool {
	t := bytes.TrimSpace(f.buf.Bytes())
	if len(t) == 0 {
		return false
	}
	if t[0] == '{' {
		call, ok := readSingleWrite(t)
		if !ok || !c.take(1) {
			return false
		}
		pw := c.s.startWrite(call)
		go func() {
			defer c.done(1)
			res, err := c.s.api.await(c.ctx, pw)
			c.send(encodeAnswer(call.id, res, err))
			f.release()
		}()
		return true
	}
	cp := callBufs.Get().(*[]writeCall)
	calls, ok := readWriteBatchInto(t, c.s.opts.BatchItemLimit, (*cp)[:0])
	if !ok || len(calls) < 2 || !c.take(int64(len(calls))) {
		putCallBuf(cp, calls)
		return false
	}
	pending := c.s.startWrites(calls)
	go func() {
		defer c.done(int64(len(calls)))
		bp := answerBufs.Get().(*[]byte)
		out := c.s.appendWriteAnswers(c.ctx, (*bp)[:0], calls, pending)
		c.send(out)
		putAnswerBuf(bp, out)
		putCallBuf(cp, calls)
		f.release()
	}()
	return true
}

// take reserves n of the connection's write slots (waiting for answers to
// free them); false once the connection is closed.
func (c *wsConn) take(n int64) bool {
	if c.slots.Acquire(c.ctx, min(n, wsWritesInFlight)) != nil {
		return false
	}
	c.calls.Add(1)
	return true
}

func (c *wsConn) done(n int64) {
	c.slots.Release(min(n, wsWritesInFlight))
	c.calls.Done()
}

// send writes b as one text frame; a connection that cannot take it is
// closed.
func (c *wsConn) send(b []byte) error {
	c.wmu.Lock()
	c.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	err := c.conn.WriteMessage(websocket.TextMessage, b)
	c.wmu.Unlock()
	if err != nil {
		c.close()
	}
	return err
}

// ping sends a ping every wsPingInterval; a connection whose pong does not
// come within wsPongTimeout fails its next read.
func (c *wsConn) ping() {
	t := time.NewTicker(wsPingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			// The deadline first: the pong may come before WriteControl
			// returns, and its handler clears the deadline.
			c.setReadDeadline(time.Now().Add(wsPongTimeout))
			if c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)) != nil {
				c.close()
				return
			}
		}
	}
}

// close closes the connection once (with a close frame, as go-ethereum
// does): the reader, the codec and the answers waiting all end.
func (c *wsConn) close() {
	c.once.Do(func() {
		c.cancel()
		c.dmu.Lock()
		msg := c.closeMsg
		c.dmu.Unlock()
		if msg == nil {
			msg = websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		}
		c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		c.conn.Close()
	})
}

// gethConn is the connection as go-ethereum's stream codec sees it: it
// reads the frames passed on to it, one after another, and each message it
// writes (one Write, ending in a newline) goes out as a frame of its own.
type gethConn struct{ c *wsConn }

func (g gethConn) Read(p []byte) (int, error) {
	c := g.c
	if len(c.rest) == 0 {
		select {
		case f := <-c.frames:
			c.rest = f
		case <-c.ctx.Done():
			return 0, io.EOF
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

func (g gethConn) Write(p []byte) (int, error) {
	if err := g.c.send(bytes.TrimSuffix(p, []byte("\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (g gethConn) Close() error { g.c.close(); return nil }

// SetWriteDeadline is a no-op: every frame is written with its own
// deadline (send).
func (g gethConn) SetWriteDeadline(time.Time) error { return nil }

func (g gethConn) RemoteAddr() string { return g.c.conn.RemoteAddr().String() }
