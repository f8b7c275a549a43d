package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// rawRequest sends one sync request on a new stream from raw and reads the
// whole answer.
func rawRequest(ctx context.Context, raw host.Host, to peer.ID, req []byte) ([]byte, error) {
	s, err := raw.NewStream(ctx, to, syncProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write(req); err != nil {
		return nil, err
	}
	s.CloseWrite()
	return io.ReadAll(s)
}

var (
	headRequest       = []byte{reqHead, 0, 0}
	rateLimitedAnswer = string(binary.AppendUvarint([]byte{1}, uint64(len(msgRateLimited)))) + msgRateLimited
)

// A peer asking faster than its request rate is answered "rate limited"
// at once once its burst is spent, and is never served more than the
// token bucket allows; another peer is served throughout the flood.
func TestSyncRequestRateLimit(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	es := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 20, "r")
	const rate = 20 // requests a second, burst 20
	server, client, _ := serverWithOpts(t, lg, es, nodeOpts{syncRequestRate: rate})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	raw := rawPeer(ctx, t, server)

	honest := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				honest <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
			fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
			h, err := client.FetchHead(fctx, server.ID())
			fcancel()
			if err != nil || h == nil || h.Seq != 20 {
				honest <- fmt.Errorf("honest FetchHead %d during the flood: %v, %v", i, h, err)
				return
			}
		}
	}()

	const flood = 300
	served, limited, firstLimited := 0, 0, -1
	start := time.Now()
	for i := range flood {
		b, err := rawRequest(ctx, raw, server.ID(), headRequest)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		switch {
		case string(b) == rateLimitedAnswer:
			limited++
			if firstLimited < 0 {
				firstLimited = i
			}
		case len(b) > 1 && b[0] == 0:
			served++
		default:
			t.Fatalf("request %d: answer %q", i, b)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	if err := <-honest; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests in %s: %d served, %d rate limited (first at %d)", flood, elapsed.Round(time.Millisecond), served, limited, firstLimited)
	if firstLimited >= 0 && firstLimited < rate {
		t.Errorf("rate limited at request %d, within the burst of %d", firstLimited, rate)
	}
	if limited == 0 {
		t.Fatalf("%d requests in %s never rate limited (limit %d/s)", flood, elapsed, rate)
	}
	// The token bucket: at most the burst plus rate × elapsed.
	if bound := rate + int(rate*elapsed.Seconds()) + 1; served > bound {
		t.Errorf("%d requests served in %s, over the limit's %d", served, elapsed, bound)
	}
	if got := counter(t, server.m.syncRefused.WithLabelValues(refusedRate)); got != float64(limited) {
		t.Errorf("sequencer_sync_refused_total{reason=rate} = %v, want %d", got, limited)
	}
}

// bigChain is n signed entries after prev, each carrying size bytes of data.
func bigChain(t testing.TB, lg testnode.Log, prev sequencer.Head, n, size int) []*sequencer.Entry {
	t.Helper()
	out := make([]*sequencer.Entry, 0, n)
	for range n {
		e := bigEntry(t, lg, prev, size)
		out, prev = append(out, e), headOf(e)
	}
	return out
}

// A peer fetching more than its byte rate is slowed, not refused: the
// answers come, but no sooner than the token bucket allows.
func TestSyncByteRateLimit(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	es := bigChain(t, lg, sequencer.Head{}, 110, 100_000) // 11 MB, three answers
	const rate = 2 << 20                                  // bytes a second
	server, client, _ := serverWithOpts(t, lg, es, nodeOpts{syncByteRate: rate})
	burst := server.server.limits.byteBurst
	if want := maxRangeBytes + server.maxMsg + envelopeBytes; burst != want {
		t.Fatalf("byte burst %d, want one largest answer, %d", burst, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	start := time.Now()
	total, from := 0, uint64(1)
	for from <= uint64(len(es)) {
		got, err := client.FetchRange(ctx, server.ID(), from, maxRangeEntries)
		if err != nil || len(got) == 0 {
			t.Fatalf("FetchRange(%d): %d entries, %v", from, len(got), err)
		}
		total += recordBytes(got)
		from += uint64(len(got))
	}
	elapsed := time.Since(start)
	least := time.Duration(float64(total-burst) / rate * float64(time.Second))
	t.Logf("%d bytes in %s at %d B/s, burst %d: the limit implies at least %s", total, elapsed.Round(time.Millisecond), rate, burst, least.Round(time.Millisecond))
	if total < 2*burst {
		t.Fatalf("fetched only %d bytes: the test needs more than twice the burst", total)
	}
	if elapsed < least-least/100 {
		t.Errorf("fetched %d bytes in %s; the byte rate allows it no sooner than %s", total, elapsed, least)
	}
	if got := counter(t, server.m.syncRefused.WithLabelValues(refusedRate)); got != 0 {
		t.Errorf("%v answers refused for rate: a slow peer should wait, not be refused", got)
	}
}

// The per-peer map stays bounded however many peers come: idle entries are
// swept, and past limitsMaxPeers every peer without an open stream goes;
// a peer with an open stream keeps its entry.
func TestSyncLimitsBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newSyncLimits(0, 0, 0)
	l.now = func() time.Time { return now }
	if l.reqBurst != DefaultSyncRequestRate || l.byteBurst != DefaultSyncByteRate {
		t.Fatalf("defaults: request burst %d, byte burst %d", l.reqBurst, l.byteBurst)
	}
	holder := peer.ID("holder")
	if _, why := l.open(holder); why != "" {
		t.Fatal(why)
	}
	// 10,000 peers within a minute: the hard bound.
	most := 0
	for i := range 10_000 {
		now = now.Add(time.Millisecond)
		p := peer.ID(fmt.Sprintf("burst-%d", i))
		if _, why := l.open(p); why != "" {
			t.Fatal(why)
		}
		l.close(p)
		most = max(most, l.tracked())
	}
	if most > limitsMaxPeers {
		t.Errorf("%d peers tracked at once, over %d", most, limitsMaxPeers)
	}
	if got := l.streams(holder); got != 1 {
		t.Fatalf("the peer with an open stream lost its entry: %d streams", got)
	}
	l.close(holder)
	// One new peer every 100 ms for ten minutes: 600 are within the idle
	// window at any time, and at most twice that are tracked.
	l = newSyncLimits(0, 0, 0)
	l.now = func() time.Time { return now }
	most = 0
	for i := range 6000 {
		now = now.Add(100 * time.Millisecond)
		p := peer.ID(fmt.Sprintf("steady-%d", i))
		l.open(p)
		l.close(p)
		most = max(most, l.tracked())
	}
	if most > 2*600+1 {
		t.Errorf("%d peers tracked at once with 600 in the idle window", most)
	}
}

// A peer that opens the most streams it may, asks for large answers and
// never reads holds those streams until the deadline, not longer; its
// further streams are refused, and another peer is served meanwhile.
func TestSyncPeerNeverReads(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	es := bigChain(t, lg, sequencer.Head{}, 60, 100_000) // a range answer is 4 MiB
	const deadline = 3 * time.Second
	server, client, _ := serverWithOpts(t, lg, es, nodeOpts{syncTimeout: deadline})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	raw := rawPeer(ctx, t, server)
	rangeReq := binary.AppendUvarint(binary.AppendUvarint([]byte{reqRange}, 1), maxRangeEntries)
	opened := time.Now()
	var stuck []network.Stream
	for range maxSyncPerPeer {
		s, err := raw.NewStream(ctx, server.ID(), syncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(rangeReq)
		s.CloseWrite()
		stuck = append(stuck, s) // never read
	}
	t.Cleanup(func() {
		for _, s := range stuck {
			s.Reset()
		}
	})
	waitFor(t, waitLong, "the server to take the silent reader's streams", func() bool {
		return server.server.limits.streams(raw.ID()) == maxSyncPerPeer
	})
	// One more stream of that peer is refused at once.
	before := counter(t, server.m.syncRefused.WithLabelValues(refusedPeerStreams))
	if b, err := rawRequest(ctx, raw, server.ID(), rangeReq); err == nil {
		t.Fatalf("stream %d of the peer answered %d bytes; want it reset", maxSyncPerPeer+1, len(b))
	}
	if d := counter(t, server.m.syncRefused.WithLabelValues(refusedPeerStreams)) - before; d != 1 {
		t.Errorf("sequencer_sync_refused_total{reason=peer_streams} rose by %v, want 1", d)
	}
	// Another peer is served in full while those streams are stuck.
	got, err := client.FetchRange(ctx, server.ID(), 1, maxRangeEntries)
	if err != nil || len(got) < 40 {
		t.Fatalf("honest FetchRange while a peer does not read: %d entries, %v", len(got), err)
	}
	if h, err := client.FetchHead(ctx, server.ID()); err != nil || h.Seq != 60 {
		t.Fatalf("honest FetchHead while a peer does not read: %v, %v", h, err)
	}
	if n := server.server.limits.streams(raw.ID()); n != maxSyncPerPeer {
		t.Fatalf("the silent reader's streams ended (%d left) before the honest peer was served: the test proves nothing", n)
	}
	// The deadline frees them.
	waitFor(t, waitLong, "the silent reader's streams to be cut", func() bool {
		return server.server.limits.streams(raw.ID()) == 0 && len(server.server.sem) == 0
	})
	if held := time.Since(opened); held < deadline-100*time.Millisecond {
		t.Errorf("streams freed after %s, before the %s deadline: were they stuck?", held, deadline)
	}
	b, err := rawRequest(ctx, raw, server.ID(), headRequest)
	if err != nil || len(b) < 2 || b[0] != 0 {
		t.Fatalf("the peer is not served after its streams were cut: %q, %v", b, err)
	}
	for _, s := range stuck {
		s.SetReadDeadline(time.Now().Add(time.Second))
		n, err := io.Copy(io.Discard, s)
		if err == nil {
			t.Errorf("a stuck stream ended cleanly after %d bytes; want it cut", n)
		}
	}
}

// A client that is answered "rate limited" asks again only after a
// growing pause, and gives up after rateLimitedTries: a follower whose
// only peer limits it does not spin.
func TestClientBacksOffWhenRateLimited(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	fake := newFakeSync(t, func(w *bufio.Writer, typ byte, from, limit uint64) {
		writeStatusError(w, msgRateLimited)
	})
	r := startReplica(t, lg, replicaOpts{noFollower: true, nodeOpts: nodeOpts{peers: []peer.AddrInfo{fake.info()}}})
	waitFor(t, waitLong, "replica to connect to the fake server", func() bool {
		return r.node.host.Network().Connectedness(fake.host.ID()) == network.Connected
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	start := time.Now()
	_, err := r.node.FetchHead(ctx, fake.host.ID())
	elapsed := time.Since(start)
	if !errors.Is(err, errRateLimited) || !errors.Is(err, errRemote) {
		t.Fatalf("FetchHead from a limiting peer: %v", err)
	}
	if n := fake.heads.Load(); n != rateLimitedTries {
		t.Errorf("asked %d times, want %d", n, rateLimitedTries)
	}
	if least := 15 * rateLimitedBackoff; elapsed < least {
		t.Errorf("%d tries in %s; the backoff takes at least %s", rateLimitedTries, elapsed, least)
	}

	asked := func() int64 { return fake.heads.Load() + fake.ranges.Load() }
	before := asked()
	start = time.Now()
	r.startFollower()
	time.Sleep(3 * time.Second)
	r.stopFollower(t)
	n, elapsed := asked()-before, time.Since(start)
	// Each round of rateLimitedTries requests takes at least 1.5 s.
	bound := int64(rateLimitedTries) * (int64(elapsed/(15*rateLimitedBackoff)) + 1)
	t.Logf("follower asked a limiting peer %d times in %s", n, elapsed.Round(time.Millisecond))
	if n > bound {
		t.Errorf("follower asked a limiting peer %d times in %s, over %d", n, elapsed, bound)
	}
	if r.store.Head().Seq != 0 {
		t.Fatal("replica stored something from a peer that only refuses")
	}
}

// A follower whose only peer limits it to two requests a second still
// catches up: the rate-limited answers are waited out, not fatal.
func TestCatchUpThroughRateLimit(t *testing.T) {
	t.Parallel()
	lg := testnode.NewLog(t)
	es := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 3500, "c")
	server, _, st := serverWithOpts(t, lg, es, nodeOpts{syncRequestRate: 2})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, server)}})
	testnode.WaitHead(t, r.store, 3500, "replica behind a rate limit")
	testnode.AssertSameLog(t, st, r.store)
	if got := counter(t, server.m.syncRefused.WithLabelValues(refusedRate)); got == 0 {
		t.Error("the follower was never rate limited: the test proves nothing")
	} else {
		t.Logf("%v requests refused for rate on the way", got)
	}
}
