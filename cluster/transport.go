package cluster

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// One TCP port per voter carries the cluster's traffic: Raft's, and writes
// forwarded to the leader. The first byte of each connection says which.
const (
	connRaft    byte = 'R'
	connForward byte = 'F'
)

// firstByteTimeout bounds how long an accepted connection may take to say
// what it is, so that a silent client holds nothing.
const firstByteTimeout = 5 * time.Second

// mux accepts on the cluster listener and hands each connection to Raft or
// to the forward server by its first byte.
type mux struct {
	ln      net.Listener
	raft    *subListener
	forward *subListener
	wg      sync.WaitGroup
}

// newMux routes ln's connections. advertise is the address the other
// voters dial (this voter's entry in --cluster): Raft tells its peers the
// leader's address from its listener's Addr, so that must be it, not a
// wildcard the listener is bound to.
func newMux(ln net.Listener, advertise string) *mux {
	addr := advertised(advertise)
	m := &mux{ln: ln, raft: newSubListener(addr), forward: newSubListener(addr)}
	m.wg.Add(1)
	go m.run()
	return m
}

func (m *mux) run() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.raft.close()
			m.forward.close()
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

func (m *mux) route(c net.Conn) {
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(firstByteTimeout))
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	switch b[0] {
	case connRaft:
		m.raft.deliver(c)
	case connForward:
		m.forward.deliver(c)
	default:
		c.Close()
	}
}

// close stops accepting and waits until every accepted connection is
// routed (or closed).
func (m *mux) close() {
	m.ln.Close()
	m.wg.Wait()
}

// advertised is a voter's cluster address as the others dial it.
type advertised string

func (a advertised) Network() string { return "tcp" }
func (a advertised) String() string  { return string(a) }

// subListener is a net.Listener fed by the mux.
type subListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newSubListener(addr net.Addr) *subListener {
	return &subListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *subListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *subListener) close() { l.once.Do(func() { close(l.done) }) }

func (l *subListener) Close() error { l.close(); return nil }

func (l *subListener) Addr() net.Addr { return l.addr }

// dialTagged dials a voter's cluster address and says what the connection
// is for.
func dialTagged(addr string, tag byte, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{tag}); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

// raftStream is Raft's StreamLayer over the mux.
type raftStream struct{ *subListener }

var _ raft.StreamLayer = raftStream{}

func (s raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if addr == "" {
		return nil, errors.New("no address")
	}
	return dialTagged(string(addr), connRaft, timeout)
}
