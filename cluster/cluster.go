package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/sequencer"
)

// Member is one voter of --cluster: its node id and the TCP address it
// listens on for the cluster's traffic.
type Member struct {
	ID   string `json:"id"`
	Addr string `json:"address"`
}

// ParseMembers parses --cluster: ID=HOST:PORT,ID=HOST:PORT,...
func ParseMembers(s string) ([]Member, error) {
	var out []Member
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--cluster: %q is not ID=HOST:PORT", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--cluster: %s: %v", id, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("--cluster: node id %q twice", id)
		}
		seen[id] = true
		out = append(out, Member{ID: id, Addr: addr})
	}
	if len(out) == 0 {
		return nil, errors.New("--cluster: no voters")
	}
	return out, nil
}

// Config configures a voter.
type Config struct {
	NodeID  string
	Members []Member
	// Join: this voter starts with an empty datadir to be added to a
	// running cluster (sequencer cluster add); it does not form a cluster
	// of its own.
	Join    bool
	DataDir string // Raft's state lives in DataDir/raft
	// ListenAddr is where this voter listens for the cluster's traffic;
	// default its own address in Members (which the others dial). They
	// differ where a name resolves late or not to a local interface
	// (Kubernetes: listen on 0.0.0.0:24446, be dialed by DNS name).
	ListenAddr string
	Store      *sequencer.LevelStore
	// Sequencer: Key, Domain, MaxInFlight (the leader's travels with each
	// command), QueueSize, QueueBytes, MaxBatch, Signers, Logger, Metrics.
	// OnCommit is called on the leader only (gossip publishes there).
	Sequencer      sequencer.Config
	ForwardTimeout time.Duration // default 5 s
	// P2PAddrs are this voter's libp2p addresses (written into snapshots).
	P2PAddrs func() []string
	// CatchUp fetches verified entries from peers up to a snapshot's head.
	CatchUp    func(ctx context.Context, to sequencer.Head, addrs []string) error
	Registerer prometheus.Registerer
	// Raft timing; zero: hashicorp/raft's defaults (1 s heartbeat and
	// election timeouts). Tests shorten them.
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	SnapshotThreshold uint64        // Raft logs between snapshots; default 8192
	TrailingLogs      uint64        // Raft logs kept after a snapshot; default 10240
	SnapshotInterval  time.Duration // how often to check SnapshotThreshold; default 2 min
}

// DefaultForwardTimeout is --forward-timeout's default (SPEC §8).
const DefaultForwardTimeout = 5 * time.Second

// Cluster is one voter: the Raft node, its state machine, and the write
// path (propose on the leader, forward to it elsewhere). It is the write
// backend of the voter's RPC server.
type Cluster struct {
	cfg     Config
	self    Member
	raft    *raft.Raft
	fsm     *fsm
	rstore  *raftStore
	trans   *raft.NetworkTransport
	mux     *mux
	fwdSrv  *http.Server
	fwd     *forwarder
	metrics *metrics

	queue       chan *pendingOp
	queuedBytes *sequencer.ByteBudget // data of the queued ops, within QueueBytes
	closeMu     sync.RWMutex
	closed      bool
	// raftDown is closed once Raft has shut down (Close): a command still
	// waiting then is answered NoQuorum (see proposed).
	raftDown  chan struct{}
	wg        sync.WaitGroup
	halted    atomic.Pointer[error]
	observer  *raft.Observer
	observeCh chan raft.Observation

	// sigs are the signatures of entries this voter wrote as leader, for
	// its next command (followers write those entries with them instead of
	// signing); sigKick wakes the batcher when no op is queued.
	sigMu   sync.Mutex
	sigs    []sigRange
	sigKick chan struct{}
}

type sigRange struct {
	from uint64
	sigs [][65]byte
}

// Start opens the voter's Raft state in cfg.DataDir, listens on its
// cluster address and joins (or forms) the cluster.
func Start(cfg Config) (*Cluster, error) {
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	c := &Cluster{cfg: cfg, sigKick: make(chan struct{}, 1)}
	var ok bool
	for _, m := range cfg.Members {
		if m.ID == cfg.NodeID {
			c.self, ok = m, true
		}
	}
	if !ok {
		return nil, fmt.Errorf("--node-id %q is not one of --cluster", cfg.NodeID)
	}
	seqCfg := cfg.Sequencer
	seqCfg.SetDefaults()
	publish := seqCfg.OnCommit
	seqCfg.OnCommit = func(es []*sequencer.Entry) {
		if publish != nil && c.raft != nil && c.raft.State() == raft.Leader {
			publish(es)
		}
	}
	c.cfg.Sequencer = seqCfg
	c.metrics = newMetrics(cfg.Registerer, c)

	var err error
	if c.fsm, err = newFSM(cfg.Store, seqCfg); err != nil {
		return nil, err
	}
	c.fsm.leader = func() bool { return c.raft != nil && c.raft.State() == raft.Leader }
	c.fsm.signed = c.addSigs
	c.fsm.wire(c.fsm.app)
	c.fsm.addrs = cfg.P2PAddrs
	c.fsm.catchUp = cfg.CatchUp
	c.fsm.onHalt = c.halt

	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	listen := cfg.ListenAddr
	if listen == "" {
		listen = c.self.Addr
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("cluster listen %s: %w", listen, err)
	}
	c.mux = newMux(ln, c.self.Addr)
	hlog := newRaftLogger(seqCfg.Logger)
	c.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftStream{c.mux.raft},
		MaxPool: 4,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})
	fail := func(err error) (*Cluster, error) {
		c.trans.Close()
		c.mux.close()
		if c.rstore != nil {
			c.rstore.Close()
		}
		return nil, err
	}
	if c.rstore, err = openRaftStore(filepath.Join(dir, "log")); err != nil {
		return fail(err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		return fail(err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	logs, err := raft.NewLogCache(1024, c.rstore)
	if err != nil {
		return fail(err)
	}
	existing, err := raft.HasExistingState(logs, c.rstore, snaps)
	if err != nil {
		return fail(err)
	}
	if h := cfg.Store.Head(); !existing && !cfg.Join && h.Seq > 0 {
		// A new cluster's Raft log begins at the first entry: over a log
		// that holds entries, a voter added later would be sent commands
		// that continue a log it does not have.
		return fail(fmt.Errorf("the log holds %d entries but there is no cluster state in %s: to make this log the first voter of a new cluster, run `sequencer cluster reset` (docs/cluster.md); to join a running cluster, start with --cluster-join", h.Seq, dir))
	}
	if c.raft, err = raft.NewRaft(rc, c.fsm, logs, c.rstore, snaps, c.trans); err != nil {
		return fail(fmt.Errorf("start raft: %w", err))
	}
	if !existing && !cfg.Join {
		// Every voter of a new cluster bootstraps with the same
		// configuration; the first to win an election leads.
		var servers []raft.Server
		for _, m := range cfg.Members {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Addr)})
		}
		if err := c.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			c.raft.Shutdown()
			return fail(fmt.Errorf("bootstrap cluster: %w", err))
		}
	}
	c.observeCh = make(chan raft.Observation, 16)
	c.observer = raft.NewObserver(c.observeCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	c.raft.RegisterObserver(c.observer)

	c.raftDown = make(chan struct{})
	c.queue = make(chan *pendingOp, seqCfg.QueueSize)
	c.queuedBytes = sequencer.NewByteBudget(seqCfg.QueueBytes)
	c.fwd = newForwarder(c)
	c.fwdSrv = &http.Server{Handler: c.forwardHandler(), ReadHeaderTimeout: 10 * time.Second}
	c.wg.Add(3)
	go func() {
		defer c.wg.Done()
		_ = c.fwdSrv.Serve(c.mux.forward)
	}()
	go c.batcher()
	go c.observe()
	if c.fsm.restoredReset.Load() {
		c.wg.Add(1)
		go c.snapshotAfterReset()
	}
	return c, nil
}

// snapshotAfterReset takes a snapshot once this voter leads the cluster a
// reset made (and has applied a command past the reset's snapshot): the
// reset's snapshot names no peers to fetch entries from, this one names
// this voter's, and it is what voters added later are sent.
func (c *Cluster) snapshotAfterReset() {
	defer c.wg.Done()
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		switch c.raft.State() {
		case raft.Shutdown:
			return
		case raft.Leader:
			if err := c.raft.Snapshot().Error(); err == nil {
				return
			}
		}
	}
}

// NodeID is this voter's id.
func (c *Cluster) NodeID() string { return c.self.ID }

// IsLeader reports whether this voter leads.
func (c *Cluster) IsLeader() bool { return c.raft.State() == raft.Leader }

// Leader is the leader's node id and cluster address ("" when none is
// known).
func (c *Cluster) Leader() (id, addr string) {
	a, i := c.raft.LeaderWithID()
	return string(i), string(a)
}

// Info is sequencer_info's cluster object (SPEC §8).
type Info struct {
	NodeID string   `json:"nodeId"`
	Leader string   `json:"leader"`
	Term   uint64   `json:"term"`
	Voters []Member `json:"voters"`
}

// Info describes the cluster as this voter sees it.
func (c *Cluster) Info() Info {
	id, _ := c.Leader()
	in := Info{NodeID: c.self.ID, Leader: id, Term: c.raft.CurrentTerm(), Voters: []Member{}}
	f := c.raft.GetConfiguration()
	if f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				in.Voters = append(in.Voters, Member{ID: string(s.ID), Addr: string(s.Address)})
			}
		}
	}
	return in
}

// Health is nil while this voter knows a leader (SPEC §8: /healthz).
func (c *Cluster) Health() error {
	if err := c.Halted(); err != nil {
		return err
	}
	if id, _ := c.Leader(); id == "" {
		return errors.New("cluster: no leader known")
	}
	return nil
}

// Halted returns why this voter stopped writing, or nil.
func (c *Cluster) Halted() error {
	if p := c.halted.Load(); p != nil {
		return *p
	}
	return c.fsm.applier().Halted()
}

// halt stops this voter for good: its state machine could not apply a
// committed command, so it must not vote or lead on a state the others do
// not share. It keeps serving reads.
func (c *Cluster) halt(err error) {
	if c.halted.CompareAndSwap(nil, &err) {
		c.cfg.Sequencer.Logger.Error("cluster voter halted: leaving consensus", "err", err)
		go c.raft.Shutdown()
	}
}

// Head is the durable head of this voter's store and a channel closed
// when it moves.
func (c *Cluster) Head() (sequencer.Head, <-chan struct{}) { return c.fsm.applier().Head() }

// Raft is the underlying Raft node (membership commands use it).
func (c *Cluster) Raft() *raft.Raft { return c.raft }

// observe counts leadership changes.
func (c *Cluster) observe() {
	defer c.wg.Done()
	for {
		select {
		case o, ok := <-c.observeCh:
			if !ok {
				return
			}
			if lo, ok := o.Data.(raft.LeaderObservation); ok {
				c.metrics.leaderChanges.Inc()
				c.cfg.Sequencer.Logger.Info("cluster leader", "leader", string(lo.LeaderID), "term", c.raft.CurrentTerm())
			}
		case <-c.fwd.done:
			return
		}
	}
}

// Close stops taking writes, answers what is queued, leaves Raft and
// closes the Raft state. It does not close the entries' store.
func (c *Cluster) Close() {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return
	}
	c.closed = true
	close(c.queue)
	c.closeMu.Unlock()
	c.fwd.close()
	_ = c.fwdSrv.Close()
	c.raft.DeregisterObserver(c.observer)
	_ = c.raft.Shutdown().Error()
	close(c.raftDown)
	c.wg.Wait()
	c.trans.Close()
	c.mux.close()
	c.rstore.Close()
}
