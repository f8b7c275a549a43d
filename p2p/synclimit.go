package p2p

import (
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Per-peer limits of the sync protocol server, on top of the bound on
// streams served at once (cap(syncServer.sem), maxSyncPerPeer each): a request
// rate, over which a peer is answered "rate limited" at once, and a byte
// rate, which a response waits for (within the stream's deadline) before
// it is written, so that a greedy peer is slowed rather than served
// without bound. A peer with many identities gets a bucket for each: the
// per-peer limits stop one peer from taking the server, the slot bound
// stops many.
const (
	DefaultSyncRequestRate = 200      // requests a second per peer; the burst is the same
	DefaultSyncByteRate    = 64 << 20 // response bytes a second per peer

	// The per-peer map is swept when it reaches limitsSweepAt entries:
	// peers without an open stream and idle for limitsIdle go. If it is
	// still at limitsMaxPeers, every peer without an open stream goes (it
	// starts again with a full bucket).
	limitsSweepAt  = 1024
	limitsIdle     = time.Minute
	limitsMaxPeers = 4096
)

// Why a sync stream was refused: the label of sequencer_sync_refused_total.
const (
	refusedBusy        = "busy"         // every slot of the server taken
	refusedPeerStreams = "peer_streams" // the peer has maxSyncPerPeer streams being served
	refusedRate        = "rate"         // over the peer's request rate, or its byte rate within the deadline
)

// msgRateLimited is the error message of a refusal for rate; clients back
// off when they read it.
const msgRateLimited = "rate limited"

type peerLimit struct {
	req, bytes *rate.Limiter
	streams    int       // streams of this peer being served
	used       time.Time // last stream opened or closed
}

// syncLimits owns the per-peer state of the sync server: streams being
// served and the two rate limiters.
type syncLimits struct {
	reqRate   rate.Limit
	reqBurst  int
	byteRate  rate.Limit
	byteBurst int
	now       func() time.Time

	mu      sync.Mutex
	peers   map[peer.ID]*peerLimit
	sweepAt int
}

// newSyncLimits allows reqRate requests and byteRate response bytes a
// second per peer (zero: the defaults). The byte burst is at least
// maxResponse, so that the largest answer can always be sent.
func newSyncLimits(reqRate float64, byteRate, maxResponse int) *syncLimits {
	if reqRate <= 0 {
		reqRate = DefaultSyncRequestRate
	}
	if byteRate <= 0 {
		byteRate = DefaultSyncByteRate
	}
	return &syncLimits{
		reqRate: rate.Limit(reqRate), reqBurst: max(1, int(math.Ceil(reqRate))),
		byteRate: rate.Limit(byteRate), byteBurst: max(byteRate, maxResponse),
		now: time.Now, peers: map[peer.ID]*peerLimit{}, sweepAt: limitsSweepAt,
	}
}

// open admits a new stream of p and returns p's byte limiter, or says
// why the stream is refused. An admitted stream must be closed.
func (l *syncLimits) open(p peer.ID) (*rate.Limiter, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	pl := l.peers[p]
	if pl == nil {
		if len(l.peers) >= l.sweepAt {
			l.sweep(now)
		}
		pl = &peerLimit{req: rate.NewLimiter(l.reqRate, l.reqBurst), bytes: rate.NewLimiter(l.byteRate, l.byteBurst)}
		l.peers[p] = pl
	}
	pl.used = now
	if !pl.req.AllowN(now, 1) {
		return nil, refusedRate
	}
	if pl.streams >= maxSyncPerPeer {
		return nil, refusedPeerStreams
	}
	pl.streams++
	return pl.bytes, ""
}

// close ends a stream that open admitted.
func (l *syncLimits) close(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pl := l.peers[p]; pl != nil {
		pl.streams--
		pl.used = l.now()
	}
}

// streams is the number of p's streams being served.
func (l *syncLimits) streams(p peer.ID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pl := l.peers[p]; pl != nil {
		return pl.streams
	}
	return 0
}

func (l *syncLimits) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}

// sweep drops idle peers; the next sweep comes when the map has doubled
// (amortized O(1) per new peer), at the latest at limitsMaxPeers.
func (l *syncLimits) sweep(now time.Time) {
	for p, pl := range l.peers {
		if pl.streams == 0 && now.Sub(pl.used) > limitsIdle {
			delete(l.peers, p)
		}
	}
	if len(l.peers) >= limitsMaxPeers {
		for p, pl := range l.peers {
			if pl.streams == 0 {
				delete(l.peers, p)
			}
		}
	}
	l.sweepAt = min(max(limitsSweepAt, 2*len(l.peers)), limitsMaxPeers)
}
