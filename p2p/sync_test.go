package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// serverWith starts a node serving a store that holds entries (applied
// through a Mirror, so the store is a valid log), and a client node
// connected to it.
func serverWith(t testing.TB, lg testnode.Log, entries []*sequencer.Entry, maxData int) (server, client *Node, st *sequencer.LevelStore) {
	t.Helper()
	return serverWithOpts(t, lg, entries, nodeOpts{maxDataBytes: maxData})
}

// serverWithOpts is serverWith with the server's options (the client gets
// the same maxDataBytes and otherwise defaults).
func serverWithOpts(t testing.TB, lg testnode.Log, entries []*sequencer.Entry, o nodeOpts) (server, client *Node, st *sequencer.LevelStore) {
	t.Helper()
	st = testnode.OpenStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	m, err := sequencer.NewMirror(st, lg.Addr, lg.Domain, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for len(entries) > 0 {
		k := min(len(entries), 500)
		if _, err := m.Apply(entries[:k]); err != nil {
			t.Fatal(err)
		}
		entries = entries[k:]
	}
	server = startNode(t, lg, st, o)
	t.Cleanup(server.Close)
	cst, err := sequencer.OpenMemStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cst.Close() })
	client = startNode(t, lg, cst, nodeOpts{peers: addrInfo(t, server), maxDataBytes: o.maxDataBytes})
	t.Cleanup(client.Close)
	waitConnected(t, client, server)
	return server, client, st
}

// bigEntry is a signed tx entry after prev carrying size bytes of data.
func bigEntry(t testing.TB, lg testnode.Log, prev sequencer.Head, size int) *sequencer.Entry {
	t.Helper()
	data := make([]byte, size)
	data[0] = byte(prev.Seq)
	e := &sequencer.Entry{Seq: prev.Seq + 1, PrevHash: prev.Hash, Timestamp: prev.Timestamp,
		Data: data, DataHash: crypto.Keccak256Hash(data)}
	sign(t, sequencer.NewHasher(lg.Domain), lg.Key, e)
	return e
}

func recordBytes(es []*sequencer.Entry) int {
	n := 0
	for _, e := range es {
		b, _ := e.MarshalBinary()
		n += len(b)
	}
	return n
}

// Sync protocol bounds: a range answer holds at most maxRangeEntries
// entries and maxRangeBytes bytes, but always at least one entry; asking
// past the head gives an empty answer, not an error.
func TestSyncRangeBounds(t *testing.T) {
	lg := testnode.NewLog(t)
	const small = 1200
	es := chain(t, lg.Key, lg.Domain, sequencer.Head{}, small, "s")
	prev := headOf(es[len(es)-1])
	for range 5 { // five entries of ~1 MB: four fit in maxRangeBytes
		e := bigEntry(t, lg, prev, 1_000_000)
		es, prev = append(es, e), headOf(e)
	}
	giant := bigEntry(t, lg, prev, 4_500_000) // alone over maxRangeBytes
	es = append(es, giant)
	es = append(es, chain(t, lg.Key, lg.Domain, headOf(giant), 1, "tail")...)
	server, client, st := serverWith(t, lg, es, 5<<20)
	headSeq := st.Head().Seq
	if headSeq != small+7 {
		t.Fatalf("server head %d", headSeq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()

	// want is what the server may send: up to min(max(limit, 1),
	// maxRangeEntries) entries, stopping before maxRangeBytes would be
	// passed, but never fewer than one.
	want := func(from uint64, limit int) int {
		n, total := 0, 0
		for i := from; i <= headSeq && n < min(max(limit, 1), maxRangeEntries); i++ {
			size := recordBytes(es[i-1 : i])
			if n > 0 && total+size > maxRangeBytes {
				break
			}
			n, total = n+1, total+size
		}
		return n
	}
	check := func(from uint64, limit int, wantN int) []*sequencer.Entry {
		t.Helper()
		if from <= headSeq && want(from, limit) != wantN {
			t.Fatalf("test oracle: FetchRange(%d, %d) should give %d, not %d", from, limit, want(from, limit), wantN)
		}
		got, err := client.FetchRange(ctx, server.ID(), from, limit)
		if err != nil {
			t.Fatalf("FetchRange(%d, %d): %v", from, limit, err)
		}
		if len(got) != wantN {
			t.Fatalf("FetchRange(%d, %d): %d entries, want %d", from, limit, len(got), wantN)
		}
		for i, e := range got {
			if e.Seq != from+uint64(i) || e.Hash != es[e.Seq-1].Hash || len(e.Data) != len(es[e.Seq-1].Data) {
				t.Fatalf("FetchRange(%d, %d): entry %d is not the stored entry %d", from, limit, i, from+uint64(i))
			}
		}
		if len(got) > 1 && recordBytes(got) > maxRangeBytes {
			t.Errorf("FetchRange(%d, %d): answer of %d bytes, over maxRangeBytes %d", from, limit, recordBytes(got), maxRangeBytes)
		}
		return got
	}
	check(1, 5000, maxRangeEntries) // the server caps the limit
	check(1, maxRangeEntries, maxRangeEntries)
	check(1001, 200, small-1000)
	check(1001, 1000, small-1000+4) // 200 small entries and four of ~1 MB
	check(5, 3, 3)
	check(7, 0, 1)          // limit 0 counts as 1
	check(small+1, 1000, 4) // four ~1 MB entries fit in maxRangeBytes, five do not
	check(small+5, 1000, 1) // the next entry would go over the byte bound
	check(small+6, 1000, 1) // a single entry over the bound still comes, alone
	check(small+7, 1000, 1) // the head
	check(headSeq+1, 10, 0) // past the head: empty, no error
	check(math.MaxUint64, 10, 0)
	for _, from := range []uint64{2, 100, 200, 1199} {
		check(from, maxRangeEntries, want(from, maxRangeEntries))
	}

	h, err := client.FetchHead(ctx, server.ID())
	if err != nil || h == nil || h.Hash != es[len(es)-1].Hash {
		t.Fatalf("FetchHead: %v, %v", h, err)
	}
	// An empty log answers a nil head and an empty range.
	emptyServer, emptyClient, _ := serverWith(t, lg, nil, 0)
	if h, err := emptyClient.FetchHead(ctx, emptyServer.ID()); h != nil || err != nil {
		t.Fatalf("FetchHead of an empty log: %v, %v", h, err)
	}
	if got, err := emptyClient.FetchRange(ctx, emptyServer.ID(), 1, 10); len(got) != 0 || err != nil {
		t.Fatalf("FetchRange of an empty log: %d entries, %v", len(got), err)
	}
}

// SPEC §5: a peer that opens sync streams and sends garbage, half a
// request or nothing at all does not crash the server or stop it from
// answering others; a silent stream is cut at the stream deadline.
func TestSyncServerSurvivesBadStreams(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	es := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 20, "s")
	server, client, _ := serverWith(t, lg, es, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*syncTimeout)
	defer cancel()
	raw := rawPeer(ctx, t, server)
	open := func() network.Stream {
		t.Helper()
		s, err := raw.NewStream(ctx, server.ID(), syncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A silent stream, opened first: it holds one serving slot until the
	// deadline, while the cases below are served.
	silent := open()
	type cut struct {
		after time.Duration
		err   error
	}
	silentCut := make(chan cut, 1)
	opened := time.Now()
	go func() {
		silent.SetReadDeadline(time.Now().Add(syncTimeout + 10*time.Second))
		_, err := silent.Read(make([]byte, 1))
		silentCut <- cut{time.Since(opened), err}
	}()

	u := binary.AppendUvarint
	cases := []struct {
		name string
		req  []byte
		ok   bool // a valid, empty range answer is expected
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), false},
		{"unknown type", u(u([]byte{9}, 1), 1), false},
		{"type only", []byte{reqRange}, false},
		{"truncated varint", []byte{reqRange, 0x80}, false},
		{"overflowing varint", append([]byte{reqRange}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), false},
		{"range past the head, huge limit", u(u([]byte{reqRange}, math.MaxUint64), math.MaxUint64), true},
	}
	for _, c := range cases {
		s := open()
		s.SetDeadline(time.Now().Add(syncTimeout))
		if _, err := s.Write(c.req); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		s.CloseWrite()
		resp, err := io.ReadAll(s)
		if c.ok {
			if err != nil || string(resp) != "\x00\x00" {
				t.Errorf("%s: answer %x, %v; want status ok and an empty range", c.name, resp, err)
			}
		} else if err == nil && len(resp) > 0 {
			t.Errorf("%s: answered %x; want the stream reset", c.name, resp)
		}
		s.Close()
	}
	// The server still answers an honest peer, with the silent stream open.
	got, err := client.FetchRange(ctx, server.ID(), 1, 100)
	if err != nil || len(got) != 20 {
		t.Fatalf("honest FetchRange after bad streams: %d entries, %v", len(got), err)
	}
	select {
	case c := <-silentCut:
		if c.err == nil {
			t.Fatal("the server answered a request it never got")
		}
		if c.after < syncTimeout-time.Second || c.after > syncTimeout+5*time.Second {
			t.Errorf("silent stream cut after %s; the deadline is %s", c.after, syncTimeout)
		}
		t.Logf("silent stream cut after %s: %v", c.after.Round(time.Millisecond), c.err)
	case <-time.After(syncTimeout + 15*time.Second):
		t.Fatal("silent stream never cut")
	}
	if h, err := client.FetchHead(ctx, server.ID()); err != nil || h.Seq != 20 {
		t.Fatalf("FetchHead after the silent stream: %v, %v", h, err)
	}
}

// fakeSync is a peer serving the sync protocol with canned answers, to
// test the client side against a lying or broken server.
type fakeSync struct {
	host   host.Host
	heads  atomic.Int64
	ranges atomic.Int64
	// answer writes the response to a request (status byte included).
	answer func(w *bufio.Writer, typ byte, from, limit uint64)
}

func newFakeSync(t testing.TB, answer func(w *bufio.Writer, typ byte, from, limit uint64)) *fakeSync {
	t.Helper()
	h, err := newHost(t.TempDir(), "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSync{host: h, answer: answer}
	ctx, cancel := context.WithCancel(context.Background())
	h.SetStreamHandler(syncProtocol, func(s network.Stream) {
		defer s.Close()
		r := bufio.NewReader(s)
		typ, err := r.ReadByte()
		if err != nil {
			s.Reset()
			return
		}
		from, _ := binary.ReadUvarint(r)
		limit, _ := binary.ReadUvarint(r)
		if typ == reqHead {
			f.heads.Add(1)
		} else {
			f.ranges.Add(1)
		}
		if f.answer == nil { // silent until the test ends
			<-ctx.Done()
			s.Reset()
			return
		}
		w := bufio.NewWriter(s)
		f.answer(w, typ, from, limit)
		w.Flush()
	})
	t.Cleanup(func() { cancel(); h.Close() })
	return f
}

func (f *fakeSync) info() peer.AddrInfo {
	return peer.AddrInfo{ID: f.host.ID(), Addrs: f.host.Addrs()}
}

func writeEntries(w *bufio.Writer, es ...*sequencer.Entry) {
	for _, e := range es {
		b, _ := e.MarshalBinary()
		w.Write(binary.AppendUvarint(nil, uint64(len(b))))
		w.Write(b)
	}
}

// The client side of the sync protocol trusts nothing: answers that are
// out of order, too long, malformed or errors come back as errors,
// keeping only the good prefix.
func TestFetchRangeFromBrokenServer(t *testing.T) {
	lg := testnode.NewLog(t)
	es := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 5, "s")
	var mode atomic.Int32
	fake := newFakeSync(t, func(w *bufio.Writer, typ byte, from, limit uint64) {
		switch mode.Load() {
		case 0: // error status
			w.Write([]byte{1, 3, 'n', 'o', '!'})
		case 1: // entries 1, 2, then 4
			w.WriteByte(0)
			writeEntries(w, es[0], es[1], es[3])
			w.WriteByte(0)
		case 2: // a record length over the message limit
			w.WriteByte(0)
			writeEntries(w, es[0])
			w.Write(binary.AppendUvarint(nil, 64<<20))
		case 3: // a record that does not decode
			w.WriteByte(0)
			w.Write(binary.AppendUvarint(nil, 10))
			w.Write(make([]byte, 10))
		case 4: // more entries than any answer may hold
			w.WriteByte(0)
			for i := range maxRangeEntries + 1 {
				e := cloneEntry(es[0])
				e.Seq = 1 + uint64(i)
				writeEntries(w, e)
			}
			w.WriteByte(0)
		case 5: // cut short without the terminator
			w.WriteByte(0)
			writeEntries(w, es[0], es[1])
		}
	})
	client := startNode(t, lg, testnode.MemStore(t), nodeOpts{peers: []peer.AddrInfo{fake.info()}})
	t.Cleanup(client.Close)
	waitFor(t, waitLong, "client to connect to the fake server", func() bool {
		return client.host.Network().Connectedness(fake.host.ID()) == network.Connected
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for _, c := range []struct {
		name    string
		mode    int32
		prefix  int
		wantErr error
	}{
		{"error status", 0, 0, errRemote},
		{"out of order", 1, 2, errMalformed},
		{"record too long", 2, 1, errMalformed},
		{"undecodable record", 3, 0, errMalformed},
		{"too many entries", 4, maxRangeEntries, errMalformed},
		{"cut short", 5, 2, nil},
	} {
		mode.Store(c.mode)
		got, err := client.FetchRange(ctx, fake.host.ID(), 1, 1000)
		if err == nil || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.wantErr)
		}
		if len(got) != c.prefix {
			t.Errorf("%s: %d entries kept, want %d", c.name, len(got), c.prefix)
		}
	}
}

// A peer that accepts a sync request and never answers must not hold the
// caller past its context: FetchHead honours the caller's deadline
// (bestPeer gives each peer 3 s) and its cancellation (shutdown).
func TestFetchFromSilentPeer(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	fake := newFakeSync(t, nil)
	client := startNode(t, lg, testnode.MemStore(t), nodeOpts{peers: []peer.AddrInfo{fake.info()}})
	t.Cleanup(client.Close)
	waitFor(t, waitLong, "client to connect to the fake server", func() bool {
		return client.host.Network().Connectedness(fake.host.ID()) == network.Connected
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := client.FetchHead(ctx, fake.host.ID())
	cancel()
	if err == nil {
		t.Fatal("FetchHead from a silent peer succeeded")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("FetchHead with a 1 s deadline returned after %s", d.Round(time.Millisecond))
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	start = time.Now()
	_, err = client.FetchRange(ctx, fake.host.ID(), 1, 10)
	if err == nil {
		t.Fatal("FetchRange from a silent peer succeeded")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("FetchRange canceled after 0.5 s returned after %s", d.Round(time.Millisecond))
	}
}

// SPEC §6: a replica accepts only entries signed by its primary, also
// from the sync protocol. A peer that announces a genuine head but serves
// forged entries (another key, a field changed after signing, another
// domain) gets nothing stored; once it serves the genuine entries, the
// replica takes them.
func TestFollowerRejectsForgedSyncEntries(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	held := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 5, "held")
	genuine := chain(t, lg.Key, lg.Domain, headOf(held[4]), 2, "genuine")
	other, _ := crypto.GenerateKey()
	tampered := []*sequencer.Entry{cloneEntry(genuine[0]), genuine[1]}
	tampered[0].Nonce = 1
	forged := map[string][]*sequencer.Entry{
		"another key":           chain(t, other, lg.Domain, headOf(held[4]), 2, "genuine"),
		"changed after signing": tampered,
		"another domain":        chain(t, lg.Key, sequencer.Domain{ChainID: lg.Domain.ChainID, VerifyingContract: [20]byte{1}}, headOf(held[4]), 2, "genuine"),
		"genuine":               genuine,
	}
	var serving atomic.Value
	serving.Store("another key")
	fake := newFakeSync(t, func(w *bufio.Writer, typ byte, from, limit uint64) {
		w.WriteByte(0)
		if typ == reqHead {
			writeEntries(w, genuine[1])
			return
		}
		if from == 6 {
			writeEntries(w, forged[serving.Load().(string)]...)
		}
		w.WriteByte(0)
	})
	r := startReplica(t, lg, replicaOpts{noFollower: true, nodeOpts: nodeOpts{peers: []peer.AddrInfo{fake.info()}}})
	if _, err := r.mirror.Apply(held); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "replica to connect to the peer", func() bool { return r.node.PeerCount() > 0 })
	r.startFollower()
	for _, name := range []string{"another key", "changed after signing", "another domain"} {
		serving.Store(name)
		seen := fake.ranges.Load()
		waitFor(t, waitLong, "two fetches of "+name, func() bool {
			return fake.ranges.Load() >= seen+2 || r.store.Head().Seq != 5
		})
		if h := r.store.Head(); h.Seq != 5 || h.Hash != held[4].Hash {
			t.Fatalf("%s: replica stored forged entries, head %d", name, h.Seq)
		}
		if r.mirror.Halted() != nil {
			t.Fatalf("%s: replica stopped: %v", name, r.mirror.Halted())
		}
	}
	serving.Store("genuine")
	testnode.WaitHead(t, r.store, 7, "replica served genuine entries")
	if got, _ := r.store.Entry(7); got.Hash != genuine[1].Hash {
		t.Fatal("entry 7 is not the genuine one")
	}
	if _, err := sequencer.Verify(r.store); err != nil {
		t.Fatal(err)
	}
}

// One peer holding many silent sync streams gets at most maxSyncPerPeer
// served; the others are reset at once, and another peer is still served.
func TestSyncPerPeerLimit(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	es := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 10, "p")
	server, client, _ := serverWith(t, lg, es, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*syncTimeout)
	defer cancel()
	raw := rawPeer(ctx, t, server)
	var streams []network.Stream
	for range cap(server.server.sem) {
		s, err := raw.NewStream(ctx, server.ID(), syncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte{reqHead}) // half a request: the server waits for the rest
		streams = append(streams, s)
	}
	t.Cleanup(func() {
		for _, s := range streams {
			s.Reset()
		}
	})
	reset := 0
	for _, s := range streams {
		s.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := s.Read(make([]byte, 1)); errors.Is(err, network.ErrReset) {
			reset++
		}
	}
	// The documented limit is 4 per peer (libp2p's own limits may refuse
	// more; never fewer).
	if served := len(streams) - reset; served > 4 {
		t.Fatalf("%d streams of one peer served at once, want at most 4", served)
	}
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	got, err := client.FetchRange(fctx, server.ID(), 1, 10)
	if err != nil || len(got) != 10 {
		t.Fatalf("another peer was not served: %d entries, %v", len(got), err)
	}
}

// rawPeer is a bare libp2p host connected to server, to speak the sync
// protocol by hand.
func rawPeer(ctx context.Context, t *testing.T, server *Node) host.Host {
	t.Helper()
	raw, err := newHost(t.TempDir(), "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if err := raw.Connect(ctx, addrInfo(t, server)[0]); err != nil {
		t.Fatal(err)
	}
	return raw
}
