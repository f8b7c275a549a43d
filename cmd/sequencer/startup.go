package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/chain"
	"github.com/seqnode/sequencer/cluster"
	"github.com/seqnode/sequencer/node"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

// nodeParts are a running node's parts. Each part, once started, pushes
// how to stop it; shutdown stops them in the reverse order, each once:
// stop taking requests, finish in-flight groups, stop the background
// goroutines, stop p2p, close LevelDB.
type nodeParts struct {
	log *slog.Logger
	reg *prometheus.Registry

	store  *sequencer.LevelStore
	p2p    *p2p.Node
	mirror *sequencer.Mirror
	// watcher keeps tickets true to the chain and expires leases (SPEC
	// §9); nil unless --chain-rpc or --lease-ttl asks for it.
	watcher *chain.Watcher
	// isLeader says whether this node writes: a cluster voter sets it once
	// it has joined; nil: a primary, which always writes.
	isLeader atomic.Pointer[func() bool]

	// Background goroutines (the follower, the peer check, the guard):
	// bgCtx ends and bg is waited for at shutdown.
	bgCtx context.Context
	bg    sync.WaitGroup

	stops []stop
}

type stop struct {
	name string
	fn   func() error
}

func (n *nodeParts) push(name string, fn func() error) { n.stops = append(n.stops, stop{name, fn}) }

// shutdown stops every part started, last first; it returns the error of
// closing the store (a failed close may have lost the last writes).
func (n *nodeParts) shutdown() error {
	var storeErr error
	for len(n.stops) > 0 {
		s := n.stops[len(n.stops)-1]
		n.stops = n.stops[:len(n.stops)-1]
		if err := s.fn(); err != nil && s.name == "store" {
			storeErr = fmt.Errorf("close store: %w", err)
		} else if err != nil {
			n.log.Warn(s.name+" shutdown", "err", err)
		}
	}
	return storeErr
}

// go runs fn in the background until shutdown.
// onCommit is the commit hook: gossip, and the watcher's view of leases.
func (n *nodeParts) onCommit(es []*sequencer.Entry) {
	n.p2p.Publish(es)
	if n.watcher != nil {
		n.watcher.OnCommit(es)
	}
}

// newWatcher makes the watcher when the flags ask for one (before the
// writer starts, so that its commit hook sees every commit).
func (n *nodeParts) newWatcher(c *runConfig, v settings) {
	cfg := chain.Config{Endpoints: v.endpoints, Confirmations: c.confirmations, Poll: c.chainPoll,
		LeaseTTL: c.leaseTTL, GapAfter: c.gapAfter, Primary: v.primary, Logger: n.log, Registerer: n.reg}
	if v.role != node.Primary || !cfg.Enabled() {
		return
	}
	cfg.IsLeader = func() bool {
		f := n.isLeader.Load()
		return f == nil || (*f)()
	}
	n.watcher = chain.New(cfg, n.store)
	n.log.Info("watching", "chains", len(v.endpoints), "confirmations", c.confirmations, "leaseTTL", c.leaseTTL, "gapAfter", c.gapAfter)
}

// runWatcher starts the watcher writing through backend.
func (n *nodeParts) runWatcher(backend chain.Writer) {
	if w := n.watcher; w != nil {
		n.goBg(func(ctx context.Context) { w.Run(ctx, backend) })
	}
}

func (n *nodeParts) goBg(fn func(context.Context)) {
	n.bg.Add(1)
	go func() { defer n.bg.Done(); fn(n.bgCtx) }()
}

// open starts what every role runs on: the store, the p2p node, and a
// mirror over the store (a replica's write side, a primary's reads until
// its peer check passes).
func (n *nodeParts) open(ctx context.Context, c *runConfig, v settings) error {
	log := n.log
	store, err := sequencer.OpenLevelStore(filepath.Join(c.datadir, "db"), false)
	if err != nil {
		return err
	}
	n.store = store
	n.push("store", store.Close)
	store.CacheRecords = c.cacheRecords
	if store.Recovered != "" {
		log.Warn("storage recovery dropped a torn journal tail (a write cut short, never acknowledged)", "detail", store.Recovered)
	}
	if store.Damaged != "" {
		log.Error("STORAGE DAMAGE: entries that may have been acknowledged are lost here; a primary recovers them from its --peers, a replica fetches them again",
			"detail", store.Damaged)
		if v.role == node.Primary && v.members == nil && len(v.peers) == 0 && !c.unsafeSkipPeerCheck {
			return fmt.Errorf("refusing to write: the log lost entries that may have been acknowledged (%s); start with --peers to recover them from replicas, or --unsafe-skip-peer-check if no replica ever saw them", store.Damaged)
		}
	}
	if n.p2p, err = p2p.New(p2p.Config{
		DataDir: c.datadir, ListenAddr: c.p2pAddr, Peers: v.peers, Primary: v.primary, Domain: v.domain,
		Store: store, MaxDataBytes: c.maxDataBytes, Logger: log, Registerer: n.reg, DropRate: c.gossipDropRate,
		SyncRequestRate: c.syncRequestRate, SyncByteRate: c.syncByteRate,
	}); err != nil {
		return err
	}
	n.push("p2p", func() error { n.p2p.Close(); return nil })
	for _, a := range n.p2p.Addrs() {
		log.Info("p2p address (pass it to --peers)", "multiaddr", a)
	}
	if n.mirror, err = sequencer.NewMirror(store, v.primary, v.domain, log, nil); err != nil {
		return err
	}
	if c.checkpointKey != "" {
		if err := n.mirror.SetCheckpointKey(c.checkpointKey); err != nil {
			return fmt.Errorf("--checkpoint-key: %w", err)
		}
	}
	bgCtx, stopBg := context.WithCancel(ctx)
	n.bgCtx = bgCtx
	n.push("background", func() error { stopBg(); n.bg.Wait(); return nil })
	return nil
}

// newPrimary starts a primary's writes: at once, or, with --peers, once
// its peer check passed (reads are served meanwhile: the gate answers
// writes with the reason). Its backend is the gate.
func (n *nodeParts) newPrimary(c *runConfig, v settings) (rpc.Backend, rpc.Node, error) {
	log := n.log
	g := node.NewGate(n.mirror)
	n.push("sequencer", func() error { g.Close(); return nil })
	metrics := sequencer.NewMetrics(n.reg)
	start := func() error {
		metrics.Halted.Set(0)
		seq, err := sequencer.New(n.store, sequencer.Config{
			Key: v.key, Domain: v.domain, MaxInFlight: c.maxInFlight, MaxDataBytes: c.maxDataBytes,
			QueueSize: c.queueSize, QueueBytes: c.queueBytes, Logger: log, Metrics: metrics, OnCommit: n.onCommit,
		})
		if err != nil {
			metrics.Halted.Set(1)
			return err
		}
		if !g.Open(seq) {
			return nil
		}
		if !c.unsafeSkipPeerCheck {
			n.goBg(func(ctx context.Context) { node.GuardPrimary(ctx, n.p2p, seq) })
		}
		return nil
	}
	if c.unsafeSkipPeerCheck || len(v.peers) == 0 {
		if c.unsafeSkipPeerCheck {
			log.Warn("--unsafe-skip-peer-check: writing without asking peers for entries this datadir may lack; this can make the primary equivocate")
		}
		if err := start(); err != nil {
			return nil, nil, err
		}
	} else {
		metrics.Halted.Set(1)
		n.goBg(func(ctx context.Context) { node.PeerCheck(ctx, n.p2p, n.mirror, g, c.peerWait, log, start) })
	}
	if v.allow == nil {
		log.Warn("OPEN MODE: no allowlist, anyone who reaches the RPC port can write; use --allow or --allow-file in production")
	} else {
		log.Info("permissioned: every write must be signed by an allowed address", "allowed", len(v.allow))
		if w := crossLogWarning(v.allow, v.domain); w != "" {
			log.Warn(w)
		}
	}
	n.runWatcher(g)
	return g, node.Facts{P2P: n.p2p}, nil
}

// newVoter starts a cluster voter (SPEC §8): Raft decides what is
// written, so there is no peer check and no guard; a voter behind a
// snapshot fetches entries from peers. Its backend is the cluster.
func (n *nodeParts) newVoter(c *runConfig, v settings) (rpc.Backend, rpc.Node, error) {
	log := n.log
	cl, err := cluster.Start(cluster.Config{
		NodeID: c.nodeID, Members: v.members, Join: c.clusterJoin, DataDir: c.datadir, Store: n.store, ListenAddr: c.clusterListen,
		Sequencer: sequencer.Config{
			Key: v.key, Domain: v.domain, MaxInFlight: c.maxInFlight, MaxDataBytes: c.maxDataBytes,
			QueueSize: c.queueSize, QueueBytes: c.queueBytes, Logger: log, Metrics: sequencer.NewMetrics(n.reg),
			OnCommit: n.onCommit,
		},
		ForwardTimeout:    c.forwardTimeout,
		SnapshotThreshold: c.snapshotLogs,
		TrailingLogs:      c.trailingLogs,
		SnapshotInterval:  c.snapshotInterval,
		HeartbeatTimeout:  c.raftHeartbeat,
		ElectionTimeout:   c.raftElection,
		P2PAddrs:          n.p2p.Addrs,
		CatchUp:           node.SnapshotCatchUp(n.p2p, n.store, v.primary, v.domain, log),
		Registerer:        n.reg,
	})
	if err != nil {
		return nil, nil, err
	}
	n.push("cluster", func() error { cl.Close(); return nil })
	isLeader := cl.IsLeader
	n.isLeader.Store(&isLeader)
	n.runWatcher(cl)
	log.Info("cluster voter", "nodeId", c.nodeID, "voters", len(v.members), "join", c.clusterJoin)
	if v.allow == nil {
		log.Warn("OPEN MODE: no allowlist, anyone who reaches the RPC port can write; use --allow or --allow-file in production")
	}
	return cl, node.Facts{P2P: n.p2p, Voter: cl}, nil
}

// newReplica starts following the primary's log; its backend is the
// mirror (rpc answers writes with 4002 before they reach it).
func (n *nodeParts) newReplica(c *runConfig) (rpc.Backend, rpc.Node) {
	f := p2p.NewFollower(n.p2p, n.mirror, n.reg)
	f.MaxLag = c.maxLag
	n.goBg(f.Run)
	return n.mirror, node.Facts{P2P: n.p2p, Follower: f}
}

// serve opens the RPC listener and serves api on it; the channel receives
// the server's error should it stop by itself.
func (n *nodeParts) serve(c *runConfig, api *rpc.API, role node.Role) (<-chan error, error) {
	ln, err := net.Listen("tcp", c.rpcAddr)
	if err != nil {
		return nil, fmt.Errorf("--rpc-addr: %w", err)
	}
	n.push("listener", func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	origins := splitList(c.wsOrigins)
	if len(origins) == 0 {
		// Browsers: only pages served from this node's own address (its
		// status page), not every port of localhost.
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		origins = []string{"http://localhost:" + port, "http://127.0.0.1:" + port, "http://[::1]:" + port}
	}
	srv, err := rpc.NewServer(api, n.reg, rpc.ServerOptions{
		WSOrigins: origins, Pprof: c.pprof, VHosts: splitList(c.rpcVHosts), MaxConns: c.maxConns,
		BodyLimit: c.maxBodyBytes, WSReadLimit: int64(c.maxBodyBytes), BatchItemLimit: c.maxBatchCalls,
		ReadTimeout: c.rpcReadTimeout, WriteTimeout: c.rpcWriteTimeout, IdleTimeout: c.rpcIdleTimeout,
	})
	if err != nil {
		return nil, err
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		n.log.Warn("the RPC listener is not on loopback: put it behind a firewall or proxy", "addr", ln.Addr())
	}
	n.log.Info("serving JSON-RPC (HTTP and WebSocket), /metrics and /healthz", "addr", "http://"+ln.Addr().String(), "role", role)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	n.push("rpc", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	return serveErr, nil
}
