package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// What a slow, silent or greedy client may hold (SPEC §4, HTTP): bodies
// reserve memory as their bytes arrive, under a read deadline; answers of
// reads are bounded per call, per batch and in total; connections are
// bounded, and at the bound the longest-idle connection is closed to make
// room for a new one.

// bodyChunk is how much body memory is reserved at a time.
const bodyChunk = 64 << 10

// bodyBufs hold request bodies from one request to the next: readBody's
// release puts a body's buffer back, so the body (and anything aliasing
// it, such as the ids the one-pass reader keeps) must not be used after.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 1 << 20

// readBody reads r's body (at most limit bytes), reserving room in sem as
// the bytes arrive rather than the whole declared length up front, so that
// clients that send headers and then trickle (or never send) their body
// hold one chunk each, not the memory others need. release gives the
// reservation back; call it once the body and what was decoded from it
// are no longer needed.
func readBody(ctx context.Context, sem *semaphore.Weighted, body io.Reader, declared int64, limit int) (b []byte, release func(), err error) {
	var held int64
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	release = func() {
		if held > 0 {
			sem.Release(held)
			held = 0
		}
		if buf != nil {
			if buf.Cap() <= maxPooledBody { // a huge body's buffer is not kept
				bodyBufs.Put(buf)
			}
			buf = nil
		}
	}
	if declared > 0 && declared <= int64(limit) {
		buf.Grow(int(min(declared, bodyChunk)))
	}
	for {
		if err := sem.Acquire(ctx, bodyChunk); err != nil {
			release()
			return nil, func() {}, err
		}
		held += bodyChunk
		n, err := io.CopyN(buf, body, bodyChunk)
		if buf.Len() > limit {
			release()
			return nil, func() {}, &http.MaxBytesError{Limit: int64(limit)}
		}
		if errors.Is(err, io.EOF) || (err == nil && n < bodyChunk) {
			return buf.Bytes(), release, nil
		}
		if err != nil {
			release()
			return nil, func() {}, err
		}
	}
}

// readBudget is the answer bytes the reads of one HTTP request may still
// return (a batch shares one).
type readBudget struct{ left atomic.Int64 }

type readBudgetKey struct{}

func withReadBudget(ctx context.Context, n int64) context.Context {
	b := &readBudget{}
	b.left.Store(n)
	return context.WithValue(ctx, readBudgetKey{}, b)
}

func readBudgetOf(ctx context.Context) *readBudget {
	b, _ := ctx.Value(readBudgetKey{}).(*readBudget)
	return b
}

// countReads returns how many sequencer_read calls a body may hold.
func countReads(body []byte) int { return bytes.Count(body, []byte("sequencer_read")) }

// hostAllowed applies --rpc-vhosts to a request's Host header, as
// go-ethereum's --http.vhosts does, against DNS rebinding: a web page on
// evil.example that resolves its name to 127.0.0.1 sends Host:
// evil.example. "localhost" also admits loopback addresses; "*" admits any.
func hostAllowed(vhosts []string, hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	for _, v := range vhosts {
		v = strings.ToLower(v)
		switch {
		case v == "*", v == host:
			return true
		case v == "localhost":
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
				return true
			}
		}
	}
	return false
}

// connLimiter bounds open connections. Accept waits for a free slot; when
// none is free it closes the connection that has been idle (or has sent
// nothing since it connected) the longest, so idle keep-alive connections
// can never lock new clients out.
type connLimiter struct {
	net.Listener
	slots chan struct{}

	mu   sync.Mutex
	idle map[*limitedConn]time.Time
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for taken := false; !taken; {
		select {
		case l.slots <- struct{}{}:
			taken = true
		default:
			if !l.closeOldestIdle() {
				// Every connection is busy: wait for one to end or idle.
				select {
				case l.slots <- struct{}{}:
					taken = true
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, l: l}, nil
}

func (l *connLimiter) closeOldestIdle() bool {
	l.mu.Lock()
	var oldest *limitedConn
	var at time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(at) {
			oldest, at = c, t
		}
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close()
	return true
}

// connState is the http.Server's ConnState hook.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateNew, http.StateIdle:
		l.idle[lc] = time.Now()
	default:
		delete(l.idle, lc)
	}
}

type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}

// duplicateKey finds a key that appears twice in one JSON object anywhere
// in body. encoding/json keeps the last of them, so {"method": "a",
// "method": "b"} would run b where a reader of the first sees a: such
// requests are refused instead.
func duplicateKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // malformed JSON is for the parser to answer
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.keys != nil {
					top.expectKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
				continue
			case '[':
				if top != nil && top.keys != nil {
					top.expectKey = true
				}
				stack = append(stack, &frame{})
				continue
			default:
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return "", false
				}
				continue
			}
		case string:
			if top != nil && top.keys != nil && top.expectKey {
				if top.keys[v] {
					return v, true
				}
				top.keys[v] = true
				top.expectKey = false
				continue
			}
		}
		if top != nil && top.keys != nil {
			top.expectKey = true // a value ended: a key comes next
		}
	}
}

// refuseDuplicateKeys answers a body with a duplicated key with -32600.
func refuseDuplicateKeys(w http.ResponseWriter, body []byte) bool {
	a, dup := duplicateKeyAnswer(body)
	if !dup {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(a, '\n'))
	return true
}

// duplicateKeyAnswer is the -32600 answer (id null) to a body with a
// duplicated key, if it has one.
func duplicateKeyAnswer(body []byte) ([]byte, bool) {
	k, dup := duplicateKey(body)
	if !dup {
		return nil, false
	}
	msg, _ := json.Marshal("invalid request: duplicate key " + strconv.Quote(k))
	return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":%s}}`, msg), true
}
