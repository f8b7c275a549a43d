package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/sequencer"
)

// Config configures a node's libp2p side.
type Config struct {
	DataDir    string          // holds the identity key
	ListenAddr string          // --p2p-addr
	Peers      []peer.AddrInfo // dialed, and redialed when they go away
	Primary    common.Address  // whose log this is
	Domain     sequencer.Domain
	Store      Log // served to peers by the sync protocol
	// MaxDataBytes is --max-data-bytes; the gossip message limit is derived
	// from it so that any single entry fits one message.
	MaxDataBytes int
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	// DropRate drops this share of received gossip batches after
	// validation: a testing aid that simulates message loss.
	DropRate float64
	// SyncRequestRate and SyncByteRate limit what one peer gets from the
	// sync protocol server: requests a second (the burst is the same) and
	// response bytes a second (the burst is at least one largest
	// answer). Zero: DefaultSyncRequestRate, DefaultSyncByteRate.
	SyncRequestRate float64
	SyncByteRate    int

	syncTimeout time.Duration   // deadline of a sync stream; zero: syncTimeout (tests shorten it)
	pubsubOpts  []pubsub.Option // more GossipSub options (tests add tracers)
}

// Log is what a node reads of its store: the sync protocol serves it, the
// gossip validator compares what it receives with it. p2p never writes.
type Log interface {
	Head() sequencer.Head
	Entry(seq uint64) (*sequencer.Entry, error)
	Range(from uint64, limit int) ([]*sequencer.Entry, error)
}

var _ Log = sequencer.Store(nil)

// Queue sizes, raised from GossipSub's defaults of 32: at 100–1,000
// entries per message a burst of commits must not overflow a peer's
// outbound queue (dropped silently) or the validation queue.
// envelopeBytes is what a gossip message or a sync record may carry
// beyond its payload limit (maxMsg): the framing of the batch and
// GossipSub's RPC envelope around it.
const envelopeBytes = 4096

const (
	peerOutboundQueue = 4096
	validateQueue     = 4096
	subscriptionBuf   = 4096
	publishQueue      = 4096 // committed groups waiting to be published
	maxBatchEntries   = 1000 // entries per gossip message
)

// Node is a libp2p host with the log's gossip topic and sync protocol.
type Node struct {
	cfg     Config
	log     *slog.Logger
	host    host.Host
	ps      *pubsub.PubSub
	topic   *pubsub.Topic
	sub     *pubsub.Subscription
	maxMsg  int
	hashers sync.Pool

	pubq    chan []*sequencer.Entry
	batches chan []*sequencer.Entry // validated gossip batches for the follower

	cps      chan *sequencer.Checkpoint // validated checkpoints for the follower
	cpKick   chan struct{}              // the log grew: publish a checkpoint (checkpoints.go)
	cpSigner atomic.Pointer[sequencer.CheckpointSigner]

	primaryHead atomic.Uint64 // highest seq seen signed by the primary
	scoresMu    sync.Mutex
	scores      map[peer.ID]float64
	penalties   *penalties
	server      *syncServer // answers the sync protocol
	sync        *syncClient // asks peers over it

	m         *metrics
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type metrics struct {
	published, publishDropped, rejected, ignored, received prometheus.Counter
	refusedFrames, syncServed, syncFetched, checkpoints    prometheus.Counter
	syncRefused                                            *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		published:      c("sequencer_gossip_published_entries_total", "Entries published on the gossip topic."),
		publishDropped: c("sequencer_gossip_publish_dropped_total", "Committed groups not published because the publish queue was full (peers repair by sync)."),
		rejected:       c("sequencer_gossip_rejected_total", "Gossip messages rejected by the validator (the sender is penalized)."),
		ignored:        c("sequencer_gossip_ignored_total", "Gossip messages ignored as replays of entries this node holds (not forwarded, the sender not penalized)."),
		refusedFrames:  c("sequencer_gossip_refused_frames_total", "Inbound gossip frames refused unread (over the message limit, or a malformed length): the stream is reset and the sender charged as for an invalid message."),
		received:       c("sequencer_gossip_received_entries_total", "Entries received by gossip and passed to the follower."),
		syncServed:     c("sequencer_sync_served_entries_total", "Entries served to peers by the sync protocol."),
		syncFetched:    c("sequencer_sync_fetched_entries_total", "Entries fetched from peers by the sync protocol."),
		checkpoints:    c("sequencer_gossip_published_checkpoints_total", "Checkpoints of the head signed and published on the gossip topic (SPEC §10)."),
		syncRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sequencer_sync_refused_total",
			Help: "Sync protocol streams refused, by reason: busy (every slot taken), peer_streams (the peer's limit of streams at once), rate (the peer's request or byte rate).",
		}, []string{"reason"}),
	}
	for _, r := range []string{refusedBusy, refusedPeerStreams, refusedRate} {
		m.syncRefused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.published, m.publishDropped, m.rejected, m.ignored, m.refusedFrames, m.received, m.syncServed, m.syncFetched, m.syncRefused, m.checkpoints)
	}
	return m
}

// TopicName is the gossip topic of a log: its primary and its domain.
func TopicName(primary common.Address, d sequencer.Domain) string {
	return fmt.Sprintf("/sequencer/1/log/%s/%s/%s", strings.ToLower(primary.Hex()), d.ChainID, strings.ToLower(d.VerifyingContract.Hex()))
}

// New starts the host, joins the log's topic, serves the sync protocol and
// keeps dialing cfg.Peers.
func New(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxDataBytes <= 0 {
		cfg.MaxDataBytes = sequencer.DefaultMaxDataBytes
	}
	if cfg.SyncRequestRate < 0 || cfg.SyncByteRate < 0 {
		return nil, fmt.Errorf("sync rate limits must not be negative (request rate %v, byte rate %d)", cfg.SyncRequestRate, cfg.SyncByteRate)
	}
	if cfg.syncTimeout <= 0 {
		cfg.syncTimeout = syncTimeout
	}
	h, err := newHost(cfg.DataDir, cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("p2p host: %w", err)
	}
	checkPeers(cfg.Logger, h.ID(), cfg.Peers)
	ctx, cancel := context.WithCancel(context.Background())
	maxMsg := max(1<<20, cfg.MaxDataBytes+64<<10)
	n := &Node{
		cfg: cfg, log: cfg.Logger, host: h,
		maxMsg:    maxMsg,
		pubq:      make(chan []*sequencer.Entry, publishQueue),
		batches:   make(chan []*sequencer.Entry, 64),
		cps:       make(chan *sequencer.Checkpoint, checkpointQueue),
		cpKick:    make(chan struct{}, 1),
		scores:    map[peer.ID]float64{},
		penalties: newPenalties(),
		m:         newMetrics(cfg.Registerer),
		ctx:       ctx, cancel: cancel,
	}
	n.server = &syncServer{
		store: cfg.Store, log: cfg.Logger, m: n.m, ctx: ctx,
		sem:     make(chan struct{}, 16),
		timeout: cfg.syncTimeout,
		// The largest answer: maxRangeBytes, or one record of the largest
		// size a client reads.
		limits:     newSyncLimits(cfg.SyncRequestRate, cfg.SyncByteRate, maxRangeBytes+maxMsg+envelopeBytes),
		checkpoint: n.heldCheckpoint,
	}
	n.sync = &syncClient{host: h, timeout: cfg.syncTimeout, maxRecord: uint64(maxMsg + envelopeBytes), m: n.m}
	n.hashers.New = func() any { return sequencer.NewHasher(cfg.Domain) }
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sequencer_p2p_peers", Help: "Connected libp2p peers.",
		}, func() float64 { return float64(n.PeerCount()) }))
	}
	topic := TopicName(cfg.Primary, cfg.Domain)
	maxRPC := n.maxMsg + envelopeBytes // a message of maxMsg in its RPC envelope
	opts := []pubsub.Option{
		// Entries carry their own EIP-712 signatures: no libp2p envelope
		// signature, and messages are identified by their content.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			s := sha256.Sum256(m.Data)
			return string(s[:])
		}),
		pubsub.WithMaxMessageSize(maxRPC),
		pubsub.WithPeerOutboundQueueSize(peerOutboundQueue),
		pubsub.WithValidateQueueSize(validateQueue),
		pubsub.WithPeerScore(scoreParams(topic, n.penalties.score), scoreThresholds()),
		pubsub.WithPeerScoreInspect(func(s map[peer.ID]float64) {
			n.scoresMu.Lock()
			n.scores = s
			n.scoresMu.Unlock()
		}, time.Second),
	}
	// GossipSub gets the host with its stream handlers wrapped, so that
	// the senders of frames it refuses unread are charged.
	wh := watchHost{Host: h, wrap: watchFrames(maxRPC, n.frameRefused)}
	n.ps, err = pubsub.NewGossipSub(ctx, wh, append(opts, cfg.pubsubOpts...)...)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("gossipsub: %w", err)
	}
	if err := n.ps.RegisterTopicValidator(topic, n.validate); err != nil {
		n.Close()
		return nil, err
	}
	if n.topic, err = n.ps.Join(topic); err != nil {
		n.Close()
		return nil, err
	}
	if n.sub, err = n.topic.Subscribe(pubsub.WithBufferSize(subscriptionBuf)); err != nil {
		n.Close()
		return nil, err
	}
	h.SetStreamHandler(syncProtocol, n.server.serve)
	n.wg.Add(3)
	go n.readGossip()
	go n.publisher()
	go n.dialLoop()
	n.log.Info("p2p listening", "addrs", strings.Join(n.Addrs(), ","), "topic", topic)
	return n, nil
}

// The invalid-message penalty (P4): a peer whose messages fail validation
// loses 100×(count²) points, the count decaying by 10% a second (to zero
// below 0.01). Two bad messages put it under the graylist threshold, so
// its traffic is dropped unread until the count decays under √3.
const (
	invalidWeight    = -100
	invalidDecay     = 0.9
	scoreDecayToZero = 0.01
)

// scoreParams turn on GossipSub peer scoring for the log's topic. Only two
// parts are used: the invalid-message penalty (P4), and, as the
// application-specific part (P5), app: the node's own charges, counted
// and decayed the same way (gossipwatch.go).
func scoreParams(topic string, app func(peer.ID) float64) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		AppSpecificScore:     app,
		AppSpecificWeight:    1,
		DecayInterval:        time.Second,
		DecayToZero:          scoreDecayToZero,
		RetainScore:          10 * time.Minute,
		Topics: map[string]*pubsub.TopicScoreParams{topic: {
			SkipAtomicValidation: true,
			TopicWeight:          1,
			// Unused (weight 0) but must not be zero: pubsub v0.17.0
			// divides by it for every peer in the mesh.
			TimeInMeshQuantum:              time.Second,
			InvalidMessageDeliveriesWeight: invalidWeight,
			InvalidMessageDeliveriesDecay:  invalidDecay,
		}},
	}
}

func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:   -100,
		PublishThreshold:  -200,
		GraylistThreshold: -300,
	}
}

// Addrs are the node's listen multiaddrs, each ending in /p2p/<peer id>.
func (n *Node) Addrs() []string { return FullAddrs(n.host) }

// ID is the node's peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host is the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// ConfiguredPeers is the number of --peers entries.
func (n *Node) ConfiguredPeers() int { return len(n.cfg.Peers) }

// PeerCount is the number of connected peers.
func (n *Node) PeerCount() int { return len(n.host.Network().Peers()) }

// PrimaryHead is the highest seq this node has seen signed by the primary.
func (n *Node) PrimaryHead() uint64 { return n.primaryHead.Load() }

func (n *Node) seenHead(seq uint64) {
	for {
		cur := n.primaryHead.Load()
		if seq <= cur || n.primaryHead.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Score is the GossipSub score of a peer as last inspected (0 if unknown).
func (n *Node) Score(p peer.ID) float64 {
	n.scoresMu.Lock()
	defer n.scoresMu.Unlock()
	return n.scores[p]
}

// Close stops the node.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		n.cancel()
		if n.sub != nil {
			n.sub.Cancel()
		}
		n.wg.Wait()
		if n.topic != nil {
			n.topic.Close()
		}
		n.host.Close()
	})
}

func (n *Node) dialLoop() {
	defer n.wg.Done()
	if len(n.cfg.Peers) == 0 {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		for _, ai := range n.cfg.Peers {
			ctx, cancel := context.WithTimeout(n.ctx, 3*time.Second)
			if err := connect(ctx, n.host, ai); errors.Is(err, swarm.ErrDialToSelf) {
				// Said at start-up (checkPeers); libp2p never dials it.
			} else if err != nil && n.ctx.Err() == nil {
				n.log.Debug("dial peer", "peer", ai.ID, "err", err)
			}
			cancel()
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkPeers says loudly when a --peers entry has this node's own peer id
// (libp2p refuses to dial it: two nodes started on copies of one datadir
// share it, and would hide one another from replicas that dial by peer
// id) or when two entries share one.
func checkPeers(log *slog.Logger, self peer.ID, peers []peer.AddrInfo) {
	seen := map[peer.ID]bool{}
	for _, ai := range peers {
		switch {
		case ai.ID == self:
			log.Error("peer "+ai.ID.String()+" has this node's own peer id: a copied datadir? Give each node its own datadir (a new p2p-identity.key)",
				"peer", ai.ID, "addrs", fmt.Sprint(ai.Addrs))
		case seen[ai.ID]:
			log.Error("two --peers entries have one peer id: the same node twice, or nodes on copies of one datadir (only one of them can be reached)",
				"peer", ai.ID, "addrs", fmt.Sprint(ai.Addrs))
		}
		seen[ai.ID] = true
	}
}

// frameRefused charges p for a gossip frame GossipSub refuses unread.
func (n *Node) frameRefused(p peer.ID) {
	n.m.refusedFrames.Inc()
	n.penalties.charge(p)
	n.log.Debug("gossip frame refused: over the message limit or malformed", "from", p)
}

// validate is the topic validator: it accepts only well-formed batches of
// entries signed by the primary (checking every signature), ignores pure
// replays of what we hold, and rejects everything else, which penalizes
// the peer that sent it.
func (n *Node) validate(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if msg.Local || from == n.host.ID() {
		return pubsub.ValidationAccept // our own publication of durable entries
	}
	if len(msg.Data) > n.maxMsg+envelopeBytes {
		n.m.rejected.Inc()
		return pubsub.ValidationReject
	}
	if len(msg.Data) > 0 && msg.Data[0] == msgCheckpoint {
		return n.validateCheckpoint(from, msg)
	}
	entries, err := decodeBatch(msg.Data, maxBatchEntries)
	if err != nil {
		n.m.rejected.Inc()
		n.log.Debug("gossip rejected", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	if n.isReplay(entries) {
		// Byte for byte what we hold: nothing to check, nothing to pass on.
		// Not penalized: a replica that caught up by sync gets the
		// primary's gossip as replays.
		n.m.ignored.Inc()
		return pubsub.ValidationIgnore
	}
	h := n.hashers.Get().(*sequencer.Hasher)
	defer n.hashers.Put(h)
	for i, e := range entries {
		if len(e.Data) > n.cfg.MaxDataBytes {
			n.m.rejected.Inc()
			return pubsub.ValidationReject
		}
		if i > 0 && e.PrevHash != entries[i-1].Hash {
			// No primary publishes a batch that does not chain: reject it
			// here, before it is forwarded, and penalize the sender.
			n.m.rejected.Inc()
			n.log.Debug("gossip rejected", "from", from, "err", "entries do not chain", "seq", e.Seq)
			return pubsub.ValidationReject
		}
		if err := sequencer.CheckSigned(h, n.cfg.Primary, e); err != nil {
			n.m.rejected.Inc()
			n.log.Debug("gossip rejected", "from", from, "err", err)
			return pubsub.ValidationReject
		}
	}
	last := entries[len(entries)-1]
	if n.cfg.Store != nil && last.Seq <= n.cfg.Store.Head().Seq {
		// Old news. Equal to ours (the last hash commits to the whole
		// batch): a replay, not forwarded. Different: an equivocation,
		// which the follower must see.
		if ours, err := n.cfg.Store.Entry(last.Seq); err == nil && ours.Hash == last.Hash {
			n.m.ignored.Inc()
			return pubsub.ValidationIgnore
		}
	}
	n.seenHead(last.Seq)
	msg.ValidatorData = entries
	return pubsub.ValidationAccept
}

// isReplay says whether a batch is, byte for byte, entries this node
// stores. Checking that costs one read of the store, far less than the
// signatures, so a flood of replays cannot buy a signature check each.
func (n *Node) isReplay(entries []*sequencer.Entry) bool {
	st := n.cfg.Store
	first, last := entries[0].Seq, entries[len(entries)-1].Seq
	if st == nil || first == 0 || last > st.Head().Seq {
		return false
	}
	ours, err := st.Range(first, len(entries))
	if err != nil || len(ours) != len(entries) {
		return false
	}
	var a, b []byte
	for i, e := range entries {
		a, _ = e.AppendBinary(a[:0])
		b, _ = ours[i].AppendBinary(b[:0])
		if !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}

func (n *Node) readGossip() {
	defer n.wg.Done()
	defer close(n.batches)
	defer close(n.cps)
	for {
		msg, err := n.sub.Next(n.ctx)
		if err != nil {
			return
		}
		if msg.Local {
			continue
		}
		if cp, ok := msg.ValidatorData.(*sequencer.Checkpoint); ok {
			n.deliverCheckpoint(n.ctx, cp)
			continue
		}
		entries, ok := msg.ValidatorData.([]*sequencer.Entry)
		if !ok {
			continue
		}
		if n.cfg.DropRate > 0 && rand.Float64() < n.cfg.DropRate {
			continue
		}
		select {
		case n.batches <- entries:
			n.m.received.Add(float64(len(entries)))
		default:
			// The follower is behind: it will fetch these by sync.
		}
	}
}

// Batches delivers validated gossip batches (signatures checked) in the
// order received; a full channel drops (the sync protocol repairs it).
func (n *Node) Batches() <-chan []*sequencer.Entry { return n.batches }

// Publish queues durable entries for gossip without blocking: when the
// queue is full the group is dropped and peers repair the gap by sync.
func (n *Node) Publish(entries []*sequencer.Entry) {
	select {
	case n.pubq <- entries:
	default:
		n.m.publishDropped.Inc()
	}
	if n.cpSigner.Load() != nil {
		n.kickCheckpoint()
	}
}

// publisher coalesces queued groups into messages of at most maxMsg bytes
// and maxBatchEntries entries (a single large entry goes alone) and
// publishes them in seq order.
func (n *Node) publisher() {
	defer n.wg.Done()
	var batch []*sequencer.Entry
	size := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		b, err := encodeBatch(batch)
		if err == nil {
			err = n.topic.Publish(n.ctx, b)
		}
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("gossip publish", "from", batch[0].Seq, "n", len(batch), "err", err)
		} else if err == nil {
			n.m.published.Add(float64(len(batch)))
		}
		batch, size = nil, 0
	}
	for {
		var group []*sequencer.Entry
		select {
		case <-n.ctx.Done():
			return
		case group = <-n.pubq:
		}
		for {
			for _, e := range group {
				es := recordSize(e)
				if len(batch) > 0 && (size+es > n.maxMsg || len(batch) >= maxBatchEntries) {
					flush()
				}
				batch = append(batch, e)
				size += es
			}
			select {
			case group = <-n.pubq:
				continue
			default:
			}
			break
		}
		flush()
	}
}

func recordSize(e *sequencer.Entry) int {
	return 200 + len(e.Lineage) + len(e.ExternalID) + len(e.Data) + 10
}
