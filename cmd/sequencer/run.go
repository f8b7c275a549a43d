package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/seqnode/sequencer/internal/durable"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

type runConfig struct {
	mode, datadir, rpcAddr, p2pAddr, peers, primary string
	keyFile, passwordFile, allow, allowFile         string
	chainID, verifyingContract, logLevel, logFormat string
	maxInFlight, maxDataBytes, queueSize            int
	peerWait                                        time.Duration
	unsafeSkipPeerCheck                             bool
	gossipDropRate, syncRequestRate                 float64
	syncByteRate                                    int
	wsOrigins                                       string
	config                                          string
	pprof                                           bool
	maxBodyBytes, maxBatchCalls, maxConns           int
	queueBytes                                      int64
	cacheRecords                                    int
	rpcVHosts                                       string
	maxReadBytes                                    int
	rpcReadTimeout, rpcWriteTimeout, rpcIdleTimeout time.Duration
	maxLag                                          time.Duration
	primaryRPC                                      string
}

func runFlags(stderr io.Writer) (*flag.FlagSet, *runConfig) {
	c := &runConfig{}
	fs := flag.NewFlagSet("sequencer run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "", "file of \"flag = value\" lines setting any of these flags (command line and environment win)")
	fs.StringVar(&c.mode, "mode", "primary", "primary or replica")
	fs.StringVar(&c.datadir, "datadir", "./data", "directory of the log, keys and node identity")
	fs.StringVar(&c.rpcAddr, "rpc-addr", "127.0.0.1:24444", "JSON-RPC (HTTP and WebSocket), /metrics and /healthz listen address")
	fs.StringVar(&c.p2pAddr, "p2p-addr", "/ip4/127.0.0.1/tcp/24445", "libp2p listen multiaddr")
	fs.StringVar(&c.peers, "peers", "", "comma-separated multiaddrs of peers to dial")
	fs.StringVar(&c.primary, "primary", "", "address of the primary whose log a replica follows")
	fs.StringVar(&c.keyFile, "key-file", "", "go-ethereum keystore file with the primary's signing key")
	fs.StringVar(&c.passwordFile, "password-file", "", "file holding the keystore password")
	fs.StringVar(&c.allow, "allow", "", "comma-separated addresses allowed to write (enables signed requests)")
	fs.StringVar(&c.allowFile, "allow-file", "", "file of addresses allowed to write, one per line, # comments")
	fs.StringVar(&c.chainID, "chain-id", "1", "EIP-712 domain chain id")
	fs.StringVar(&c.verifyingContract, "verifying-contract", "0x0000000000000000000000000000000000000000", "EIP-712 domain verifying contract")
	fs.IntVar(&c.maxInFlight, "max-in-flight", sequencer.DefaultMaxInFlight, "leased tickets per lineage at once")
	fs.IntVar(&c.maxDataBytes, "max-data-bytes", sequencer.DefaultMaxDataBytes, "largest data of one append")
	fs.IntVar(&c.queueSize, "queue-size", 16384, "write requests waiting to be sequenced before Overloaded")
	fs.DurationVar(&c.peerWait, "peer-wait", 10*time.Second, "primary: how long one peer check waits for --peers (reads are served meanwhile; writes wait for the check, which is retried until it passes)")
	fs.DurationVar(&c.maxLag, "max-lag", p2p.DefaultMaxLag, "replica: how long it may be cut off from its peers or behind their announced head before /healthz answers 503")
	fs.StringVar(&c.primaryRPC, "primary-rpc", "", "replica: the primary's JSON-RPC URL, named in 4002 NotPrimary (data.rpc) so that clients can retry there")
	fs.BoolVar(&c.unsafeSkipPeerCheck, "unsafe-skip-peer-check", false, "primary: write without recovering from --peers first (can equivocate if the datadir lost entries)")
	fs.Float64Var(&c.gossipDropRate, "gossip-drop-rate", 0, "testing aid: drop this share (0-1) of received gossip batches")
	fs.Float64Var(&c.syncRequestRate, "sync-request-rate", p2p.DefaultSyncRequestRate, "sync requests a second served to one peer (burst the same); more are answered \"rate limited\"")
	fs.IntVar(&c.syncByteRate, "sync-byte-rate", p2p.DefaultSyncByteRate, "sync response bytes a second served to one peer (burst at least one largest answer); answers wait for it")
	fs.StringVar(&c.wsOrigins, "ws-origins", "", "comma-separated browser origins allowed to open a WebSocket (* for any); default: pages of this node's own address and non-browser clients")
	fs.IntVar(&c.maxBodyBytes, "max-body-bytes", 0, "largest HTTP request body and WebSocket message (default max(5 MiB, 4×max-data-bytes+1 MiB))")
	fs.IntVar(&c.maxBatchCalls, "max-batch-calls", 1000, "most calls in one JSON-RPC batch")
	fs.IntVar(&c.maxConns, "max-conns", 1024, "most open RPC connections (HTTP and WebSocket); more wait to be accepted")
	fs.Int64Var(&c.queueBytes, "queue-bytes", 256<<20, "data bytes of write requests waiting to be sequenced before Overloaded")
	fs.IntVar(&c.cacheRecords, "cache-records", sequencer.DefaultCacheRecords, "final tickets and externalIds kept in memory (older ones are read from disk when asked for)")
	fs.StringVar(&c.rpcVHosts, "rpc-vhosts", "localhost", "comma-separated Host header names the RPC listener answers (localhost also admits loopback addresses; * any): against DNS rebinding")
	fs.IntVar(&c.maxReadBytes, "max-read-bytes", rpc.DefaultMaxReadBytes, "largest answer of one sequencer_read (entries past it are left for the next call; at least one is returned)")
	fs.DurationVar(&c.rpcReadTimeout, "rpc-read-timeout", 30*time.Second, "time a client has to send a whole HTTP request (headers: 10 s)")
	fs.DurationVar(&c.rpcWriteTimeout, "rpc-write-timeout", 60*time.Second, "time a client has to take an HTTP answer, from the end of its request")
	fs.DurationVar(&c.rpcIdleTimeout, "rpc-idle-timeout", 60*time.Second, "keep-alive connections idle longer are closed (and at --max-conns the longest-idle goes first)")
	fs.BoolVar(&c.pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the RPC listener")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	return fs, c
}

func newLogger(c *runConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json")
}

func (c *runConfig) domain() (sequencer.Domain, error) {
	var d sequencer.Domain
	chain, ok := new(big.Int).SetString(c.chainID, 0)
	if !ok || chain.Sign() < 0 || chain.BitLen() > 256 {
		return d, fmt.Errorf("--chain-id %q is not a uint256", c.chainID)
	}
	if !common.IsHexAddress(c.verifyingContract) {
		return d, fmt.Errorf("--verifying-contract %q is not an address", c.verifyingContract)
	}
	return sequencer.Domain{ChainID: chain, VerifyingContract: common.HexToAddress(c.verifyingContract)}, nil
}

func (c *runConfig) allowlist() (rpc.Allowlist, error) {
	if c.allow == "" && c.allowFile == "" {
		return nil, nil
	}
	out := rpc.Allowlist{}
	if c.allow != "" {
		a, err := rpc.ParseAllowlist(c.allow)
		if err != nil {
			return nil, fmt.Errorf("--allow: %w", err)
		}
		for k := range a {
			out[k] = struct{}{}
		}
	}
	if c.allowFile != "" {
		f, err := os.Open(c.allowFile)
		if err != nil {
			return nil, fmt.Errorf("--allow-file: %w", err)
		}
		defer f.Close()
		a, err := rpc.ReadAllowlist(f)
		if err != nil {
			return nil, fmt.Errorf("--allow-file %s: %w", c.allowFile, err)
		}
		for k := range a {
			out[k] = struct{}{}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the allowlist is empty: nobody could write")
	}
	return out, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs, c := runFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "sequencer:", err)
		return 2
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sequencer:", err)
		return 2
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		// The append path allocates per request: trade some memory for
		// less GC work, within a soft limit that keeps the RSS of a node
		// with a 10M-entry log under 1 GiB (GOGC and GOMEMLIMIT override).
		debug.SetGCPercent(200)
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
			debug.SetMemoryLimit(768 << 20)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, log); err != nil {
		log.Error("sequencer stopped", "err", err)
		return 1
	}
	return 0
}

// run wires a node: flags → config → store → p2p → pipeline or mirror →
// RPC, then waits for ctx and shuts down in order: stop taking requests,
// finish in-flight groups, stop p2p, close LevelDB.
func run(ctx context.Context, c *runConfig, log *slog.Logger) (retErr error) {
	if c.mode != "primary" && c.mode != "replica" {
		return fmt.Errorf("--mode must be primary or replica, not %q", c.mode)
	}
	if c.maxReadBytes < 1 || c.rpcReadTimeout <= 0 || c.rpcWriteTimeout <= 0 || c.rpcIdleTimeout <= 0 {
		return errors.New("--max-read-bytes and the --rpc-*-timeout flags must be positive")
	}
	if c.maxInFlight < 1 || c.maxDataBytes < 0 || c.queueSize < 1 || c.maxBatchCalls < 1 || c.maxBodyBytes < 0 || c.maxConns < 1 || c.queueBytes < 1 || c.cacheRecords < 1 {
		return errors.New("--max-in-flight, --queue-size, --queue-bytes, --max-conns, --max-batch-calls and --cache-records must be at least 1, --max-data-bytes and --max-body-bytes at least 0")
	}
	if c.maxBodyBytes > 0 && c.maxBodyBytes < 2*c.maxDataBytes+4096 {
		return fmt.Errorf("--max-body-bytes %d cannot carry an append of --max-data-bytes %d (hex doubles it): use at least %d", c.maxBodyBytes, c.maxDataBytes, 2*c.maxDataBytes+4096)
	}
	if c.maxLag <= 0 || c.peerWait <= 0 {
		return errors.New("--max-lag and --peer-wait must be positive")
	}
	if c.primaryRPC != "" {
		if u, err := url.Parse(c.primaryRPC); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
			return fmt.Errorf("--primary-rpc %q is not an http(s):// or ws(s):// URL", c.primaryRPC)
		}
	}
	if c.gossipDropRate < 0 || c.gossipDropRate > 1 {
		return errors.New("--gossip-drop-rate must be between 0 and 1")
	}
	if !(c.syncRequestRate > 0) || c.syncByteRate <= 0 { // NaN too
		return errors.New("--sync-request-rate and --sync-byte-rate must be positive")
	}
	domain, err := c.domain()
	if err != nil {
		return err
	}
	var peerList []string
	for _, p := range strings.Split(c.peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			peerList = append(peerList, p)
		}
	}
	peers, err := p2p.ParsePeers(peerList)
	if err != nil {
		return fmt.Errorf("--peers: %w", err)
	}
	// A start that fails before serving leaves no datadir behind that it
	// made itself (with a fresh key and identity nobody will use).
	_, statErr := os.Stat(c.datadir)
	created, serving := errors.Is(statErr, fs.ErrNotExist), false
	defer func() {
		if retErr != nil && created && !serving {
			os.RemoveAll(c.datadir)
		}
	}()
	if err := durable.MkdirAll(durable.OS, c.datadir, 0o700); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var primary common.Address
	var key *ecdsa.PrivateKey
	var allow rpc.Allowlist
	if c.mode == "primary" {
		if allow, err = c.allowlist(); err != nil {
			return err
		}
		if key, err = loadKey(c.keyFile, c.passwordFile, c.datadir, log); err != nil {
			return err
		}
		primary = crypto.PubkeyToAddress(key.PublicKey)
	} else {
		if !common.IsHexAddress(c.primary) {
			return fmt.Errorf("--mode replica needs --primary ADDRESS (got %q)", c.primary)
		}
		primary = common.HexToAddress(c.primary)
		if len(peers) == 0 {
			log.Warn("replica without --peers: it learns the log only from peers that dial it")
		}
	}

	store, err := sequencer.OpenLevelStore(filepath.Join(c.datadir, "db"), false)
	if err != nil {
		return err
	}
	defer store.Close()
	store.CacheRecords = c.cacheRecords
	if store.Recovered != "" {
		log.Warn("storage recovery dropped a torn journal tail (a write cut short, never acknowledged)", "detail", store.Recovered)
	}
	if store.Damaged != "" {
		log.Error("STORAGE DAMAGE: entries that may have been acknowledged are lost here; a primary recovers them from its --peers, a replica fetches them again",
			"detail", store.Damaged)
		if c.mode == "primary" && len(peers) == 0 && !c.unsafeSkipPeerCheck {
			return fmt.Errorf("refusing to write: the log lost entries that may have been acknowledged (%s); start with --peers to recover them from replicas, or --unsafe-skip-peer-check if no replica ever saw them", store.Damaged)
		}
	}
	node, err := p2p.New(p2p.Config{
		DataDir: c.datadir, ListenAddr: c.p2pAddr, Peers: peers, Primary: primary, Domain: domain,
		Store: store, MaxDataBytes: c.maxDataBytes, Logger: log, Registerer: reg, DropRate: c.gossipDropRate,
		SyncRequestRate: c.syncRequestRate, SyncByteRate: c.syncByteRate,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	for _, a := range node.Addrs() {
		log.Info("p2p address (pass it to --peers)", "multiaddr", a)
	}
	mirror, err := sequencer.NewMirror(store, primary, domain, log, nil)
	if err != nil {
		return err
	}
	apiCfg := rpc.Config{
		Role: c.mode, Version: Version, Primary: primary, Domain: domain,
		MaxDataBytes: c.maxDataBytes, Allow: allow, Logger: log, MaxReadBytes: c.maxReadBytes,
		Peers: node.PeerCount, P2PAddrs: node.Addrs,
		Equivocations: func() [][2]*sequencer.Entry {
			eqs, _ := store.Equivocations()
			out := make([][2]*sequencer.Entry, 0, len(eqs))
			for _, e := range eqs {
				out = append(out, [2]*sequencer.Entry{e.A, e.B})
			}
			return out
		},
	}

	var backend rpc.Backend
	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() { stopBg(); bg.Wait() }()
	if c.mode == "primary" {
		// The RPC listener opens at once: reads are served while the peer
		// check runs; writes wait for it (gate, startup.go).
		g := &gate{mirror: mirror}
		defer g.close()
		backend = g
		metrics := sequencer.NewMetrics(reg)
		start := func() error {
			metrics.Halted.Set(0)
			seq, err := sequencer.New(store, sequencer.Config{
				Key: key, Domain: domain, MaxInFlight: c.maxInFlight, MaxDataBytes: c.maxDataBytes,
				QueueSize: c.queueSize, QueueBytes: c.queueBytes, Logger: log, Metrics: metrics, OnCommit: node.Publish,
			})
			if err != nil {
				metrics.Halted.Set(1)
				return err
			}
			if !g.open(seq) {
				return nil
			}
			if !c.unsafeSkipPeerCheck {
				bg.Add(1)
				go func() { defer bg.Done(); p2p.GuardPrimary(bgCtx, node, seq) }()
			}
			return nil
		}
		if c.unsafeSkipPeerCheck || len(peers) == 0 {
			if c.unsafeSkipPeerCheck {
				log.Warn("--unsafe-skip-peer-check: writing without asking peers for entries this datadir may lack; this can make the primary equivocate")
			}
			if err := start(); err != nil {
				return err
			}
		} else {
			metrics.Halted.Set(1)
			bg.Add(1)
			go func() { defer bg.Done(); peerCheck(bgCtx, node, mirror, g, c.peerWait, log, start) }()
		}
		if allow == nil {
			log.Warn("OPEN MODE: no allowlist, anyone who reaches the RPC port can write; use --allow or --allow-file in production")
		} else {
			log.Info("permissioned: every write must be signed by an allowed address", "allowed", len(allow))
			if w := crossLogWarning(allow, domain); w != "" {
				log.Warn(w)
			}
		}
	} else {
		backend = mirror
		apiCfg.PrimaryHead = node.PrimaryHead
		apiCfg.PrimaryRPC = c.primaryRPC
		f := p2p.NewFollower(node, mirror, reg)
		f.MaxLag = c.maxLag
		apiCfg.Health = f.Health
		bg.Add(1)
		go func() { defer bg.Done(); f.Run(bgCtx) }()
	}
	head := store.Head()
	log.Info("log loaded", "role", c.mode, "primary", primary.Hex(), "chainId", domain.ChainID,
		"verifyingContract", domain.VerifyingContract.Hex(), "head", head.Seq, "headHash", head.Hash)

	api := rpc.NewAPI(backend, apiCfg, reg)
	ln, err := net.Listen("tcp", c.rpcAddr)
	if err != nil {
		return fmt.Errorf("--rpc-addr: %w", err)
	}
	defer ln.Close()
	origins := splitList(c.wsOrigins)
	if len(origins) == 0 {
		// Browsers: only pages served from this node's own address (its
		// status page), not every port of localhost.
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		origins = []string{"http://localhost:" + port, "http://127.0.0.1:" + port, "http://[::1]:" + port}
	}
	srv, err := rpc.NewServer(api, reg, rpc.ServerOptions{
		WSOrigins: origins, Pprof: c.pprof, VHosts: splitList(c.rpcVHosts), MaxConns: c.maxConns,
		BodyLimit: c.maxBodyBytes, WSReadLimit: int64(c.maxBodyBytes), BatchItemLimit: c.maxBatchCalls,
		ReadTimeout: c.rpcReadTimeout, WriteTimeout: c.rpcWriteTimeout, IdleTimeout: c.rpcIdleTimeout,
	})
	if err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Warn("the RPC listener is not on loopback: put it behind a firewall or proxy", "addr", ln.Addr())
	}
	log.Info("serving JSON-RPC (HTTP and WebSocket), /metrics and /healthz", "addr", "http://"+ln.Addr().String(), "role", c.mode)

	serveErr := make(chan error, 1)
	serving = true
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		return fmt.Errorf("rpc server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("rpc shutdown", "err", err)
	}
	if g, ok := backend.(*gate); ok {
		g.close()
	}
	stopBg()
	bg.Wait()
	node.Close()
	if err := store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	log.Info("stopped cleanly", "head", store.Head().Seq)
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// crossLogWarning says why an allowlist with the zero verifying contract is
// risky: signed requests name no log, only the EIP-712 domain, so a request
// signed for another log on the same chain id and the same (zero) contract
// is valid here too (SPEC §4).
func crossLogWarning(allow rpc.Allowlist, d sequencer.Domain) string {
	if allow == nil || d.VerifyingContract != (common.Address{}) {
		return ""
	}
	return "permissioned with the zero --verifying-contract: a request signed for another log with chain id " + d.ChainID.String() +
		" and the zero contract is valid here too; give each log its own --verifying-contract"
}
