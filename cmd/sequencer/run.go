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
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/seqnode/sequencer/chain"
	"github.com/seqnode/sequencer/cluster"
	"github.com/seqnode/sequencer/contracts"
	"github.com/seqnode/sequencer/internal/durable"
	"github.com/seqnode/sequencer/node"
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
	primaryRPC, checkpointKey                       string
	clusterSpec, nodeID, clusterListen              string
	clusterJoin                                     bool
	forwardTimeout, snapshotInterval                time.Duration
	raftHeartbeat, raftElection                     time.Duration
	snapshotLogs, trailingLogs                      uint64
	chainRPC                                        string
	confirmations                                   uint64
	chainPoll, leaseTTL, gapAfter                   time.Duration
	anchorRPC, anchorContract, anchorKeyFile        string
	anchorEvery                                     time.Duration
}

// appendEnvelopeBytes is the JSON-RPC call around an append's hex data
// (method, id, lineage, externalId, a signed request's auth).
const appendEnvelopeBytes = 4096

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
	fs.StringVar(&c.checkpointKey, "checkpoint-key", "", "replica: the primary's info.checkpointKey; every checkpoint note it relays must verify with it (without it the EIP-712 signature and the note's form are checked)")
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
	fs.StringVar(&c.clusterSpec, "cluster", "", "cluster voters ID=HOST:PORT,... (the TCP address each listens on for consensus); the same on every voter (SPEC §8)")
	fs.StringVar(&c.nodeID, "node-id", "", "this voter's ID in --cluster")
	fs.StringVar(&c.clusterListen, "cluster-listen", "", "cluster: listen here for the cluster's traffic (default: this voter's address in --cluster, which the others dial)")
	fs.BoolVar(&c.clusterJoin, "cluster-join", false, "this voter has an empty datadir and is being added to a running cluster (sequencer cluster add): do not form a new one")
	fs.DurationVar(&c.forwardTimeout, "forward-timeout", cluster.DefaultForwardTimeout, "cluster: how long a voter waits for a leader to answer a write before 4010 NoQuorum")
	fs.DurationVar(&c.raftHeartbeat, "cluster-heartbeat-timeout", 500*time.Millisecond, "cluster: a follower that hears nothing from the leader for this long (to twice it, at random) starts an election; the leader steps down after half of it without a majority")
	fs.DurationVar(&c.raftElection, "cluster-election-timeout", 500*time.Millisecond, "cluster: how long a candidate waits for votes (to twice it, at random) before it tries again")
	fs.Uint64Var(&c.snapshotLogs, "cluster-snapshot-logs", 8192, "cluster: Raft log entries (groups of writes) between snapshots; a snapshot holds the head, not the log")
	fs.Uint64Var(&c.trailingLogs, "cluster-trailing-logs", 10240, "cluster: Raft log entries kept after a snapshot, so that a voter that was briefly away catches up from Raft, not from peers")
	fs.DurationVar(&c.snapshotInterval, "cluster-snapshot-interval", 2*time.Minute, "cluster: how often a voter checks whether --cluster-snapshot-logs have passed")
	fs.StringVar(&c.chainRPC, "chain-rpc", "", "primary/voter: Ethereum JSON-RPC endpoints CHAINID=URL[,...] (http(s) or ws(s)); lineages named eip155:CHAINID:ADDRESS are kept true to their chain (SPEC §9)")
	fs.Uint64Var(&c.confirmations, "confirmations", chain.DefaultConfirmations, "blocks below the head at which the chain's nonce counts as confirmed (--chain-rpc)")
	fs.DurationVar(&c.chainPoll, "chain-poll", chain.DefaultPoll, "how often the chain is read (and on each new head over WebSocket)")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", 0, "a leased ticket with no attempt older than this expires and its nonce returns to the pool (0: never; works without --chain-rpc)")
	fs.DurationVar(&c.gapAfter, "gap-after", chain.DefaultGapAfter, "with --chain-rpc: a nonce the chain has stood at this long, below nextNonce and held by no ticket, returns to the pool (0: never)")
	fs.StringVar(&c.anchorRPC, "anchor-rpc", "", "primary/voter: JSON-RPC endpoint of the chain holding SequencerAccountability; the log's checkpoints are anchored there (SPEC §10), paid by $"+anchorKeyEnv+" or --anchor-key-file")
	fs.StringVar(&c.anchorContract, "anchor-contract", "", "address of SequencerAccountability (--anchor-rpc)")
	fs.DurationVar(&c.anchorEvery, "anchor-every", contracts.DefaultAnchorEvery, "how often the latest checkpoint is anchored while the log grows (--anchor-rpc)")
	fs.StringVar(&c.anchorKeyFile, "anchor-key-file", "", "file holding the hex private key that pays for anchors (default: $"+anchorKeyEnv+")")
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
	if code, ok := parseCommand(fs, args, stderr, "sequencer"); !ok {
		return code
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

// run wires a node — validate, open the parts every role has, then
// newPrimary or newReplica, then serve — and waits for ctx; shutdown then
// stops every part once, in the reverse order of their start.
func run(ctx context.Context, c *runConfig, log *slog.Logger) (retErr error) {
	v, err := c.validate()
	if err != nil {
		return err
	}
	anchorCfg, err := c.anchoring(v.role)
	if err != nil {
		return err
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
	if err := c.identity(&v, log); err != nil {
		return err
	}
	n := &nodeParts{log: log, reg: reg}
	defer func() {
		if retErr != nil {
			n.shutdown()
		}
	}()
	if err := n.open(ctx, c, v); err != nil {
		return err
	}
	n.newWatcher(c, v)
	var checkpoints *sequencer.CheckpointSigner
	if v.key != nil {
		if checkpoints, err = sequencer.NewCheckpointSigner(v.key, v.domain); err != nil {
			return err
		}
		n.p2p.SignCheckpoints(checkpoints) // gossip them to replicas (SPEC §10)
	}
	apiCfg := rpc.Config{
		Role: string(v.role), Version: Version, Primary: v.primary, Domain: v.domain,
		MaxDataBytes: c.maxDataBytes, Allow: v.allow, Logger: log, MaxReadBytes: c.maxReadBytes,
		Checkpoints: checkpoints, CheckpointKey: c.checkpointKey,
	}
	if w := n.watcher; w != nil {
		apiCfg.Chain = func(lineage string) *rpc.ChainJSON {
			st, ok := w.Status(lineage)
			if !ok {
				return nil
			}
			j := &rpc.ChainJSON{ConfirmedNonce: st.ConfirmedNonce, LatestNonce: st.LatestNonce, Block: st.Block}
			if !st.StuckSince.IsZero() {
				ms := uint64(st.StuckSince.UnixMilli())
				j.StuckSince = &ms
			}
			return j
		}
	}
	var backend rpc.Backend
	switch {
	case v.members != nil:
		backend, apiCfg.Node, err = n.newVoter(c, v)
	case v.role == node.Primary:
		backend, apiCfg.Node, err = n.newPrimary(c, v)
	default:
		backend, apiCfg.Node = n.newReplica(c)
		apiCfg.PrimaryRPC = c.primaryRPC
	}
	if err != nil {
		return err
	}
	if err := n.runAnchorer(anchorCfg, checkpoints); err != nil {
		return err
	}
	head := n.store.Head()
	log.Info("log loaded", "role", v.role, "primary", v.primary.Hex(), "chainId", v.domain.ChainID,
		"verifyingContract", v.domain.VerifyingContract.Hex(), "head", head.Seq, "headHash", head.Hash)

	serveErr, err := n.serve(c, rpc.NewAPI(backend, n.mirror.Store(), apiCfg, reg), v.role)
	if err != nil {
		return err
	}
	serving = true
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		return fmt.Errorf("rpc server: %w", err)
	}
	if err := n.shutdown(); err != nil {
		return err
	}
	log.Info("stopped cleanly", "head", n.store.Head().Seq)
	return nil
}

// settings are what validate and identity make of the flags.
type settings struct {
	role    node.Role
	domain  sequencer.Domain
	peers   []peer.AddrInfo
	primary common.Address    // whose log this is
	key     *ecdsa.PrivateKey // a primary's
	allow   rpc.Allowlist     // a primary's; nil: open mode
	members []cluster.Member  // a cluster voter's --cluster; nil: no cluster
	// endpoints are --chain-rpc's, by chain id.
	endpoints map[uint64]string
}

// validate checks the flags that need no file.
func (c *runConfig) validate() (settings, error) {
	var v settings
	var err error
	if v.role, err = node.ParseRole(c.mode); err != nil {
		return v, err
	}
	if c.maxReadBytes < 1 || c.rpcReadTimeout <= 0 || c.rpcWriteTimeout <= 0 || c.rpcIdleTimeout <= 0 {
		return v, errors.New("--max-read-bytes and the --rpc-*-timeout flags must be positive")
	}
	if c.maxInFlight < 1 || c.maxDataBytes < 0 || c.queueSize < 1 || c.maxBatchCalls < 1 || c.maxBodyBytes < 0 || c.maxConns < 1 || c.queueBytes < 1 || c.cacheRecords < 1 {
		return v, errors.New("--max-in-flight, --queue-size, --queue-bytes, --max-conns, --max-batch-calls and --cache-records must be at least 1, --max-data-bytes and --max-body-bytes at least 0")
	}
	if least := 2*c.maxDataBytes + appendEnvelopeBytes; c.maxBodyBytes > 0 && c.maxBodyBytes < least {
		return v, fmt.Errorf("--max-body-bytes %d cannot carry an append of --max-data-bytes %d (hex doubles it): use at least %d", c.maxBodyBytes, c.maxDataBytes, least)
	}
	if c.maxLag <= 0 || c.peerWait <= 0 {
		return v, errors.New("--max-lag and --peer-wait must be positive")
	}
	if c.primaryRPC != "" {
		if u, err := url.Parse(c.primaryRPC); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
			return v, fmt.Errorf("--primary-rpc %q is not an http(s):// or ws(s):// URL", c.primaryRPC)
		}
	}
	if c.checkpointKey != "" && c.mode != "replica" {
		return v, errors.New("--checkpoint-key is a replica's: a node that holds the log key signs its own notes")
	}
	if c.gossipDropRate < 0 || c.gossipDropRate > 1 {
		return v, errors.New("--gossip-drop-rate must be between 0 and 1")
	}
	if !(c.syncRequestRate > 0) || c.syncByteRate <= 0 { // NaN too
		return v, errors.New("--sync-request-rate and --sync-byte-rate must be positive")
	}
	if v.domain, err = c.domain(); err != nil {
		return v, err
	}
	if v.peers, err = p2p.ParsePeers(splitList(c.peers)); err != nil {
		return v, fmt.Errorf("--peers: %w", err)
	}
	if err := c.watch(&v); err != nil {
		return v, err
	}
	if c.clusterSpec == "" {
		if c.nodeID != "" || c.clusterJoin {
			return v, errors.New("--node-id and --cluster-join need --cluster")
		}
		return v, nil
	}
	if v.role != node.Primary {
		return v, errors.New("--cluster runs voters: use it with --mode primary; replicas follow a cluster with --primary and --peers")
	}
	if v.members, err = cluster.ParseMembers(c.clusterSpec); err != nil {
		return v, err
	}
	if c.nodeID == "" {
		return v, errors.New("--cluster needs --node-id, this voter's ID in it")
	}
	if !slices.ContainsFunc(v.members, func(m cluster.Member) bool { return m.ID == c.nodeID }) {
		return v, fmt.Errorf("--node-id %q is not one of --cluster", c.nodeID)
	}
	if c.forwardTimeout <= 0 || c.snapshotInterval <= 0 || c.snapshotLogs < 1 || c.trailingLogs < 1 {
		return v, errors.New("--forward-timeout, --cluster-snapshot-interval, --cluster-snapshot-logs and --cluster-trailing-logs must be positive")
	}
	if c.raftHeartbeat < 10*time.Millisecond || c.raftElection < 10*time.Millisecond {
		return v, errors.New("--cluster-heartbeat-timeout and --cluster-election-timeout must be at least 10ms")
	}
	return v, nil
}

// watch reads the chain-aware flags (SPEC §9).
func (c *runConfig) watch(v *settings) error {
	var err error
	if v.endpoints, err = chain.ParseEndpoints(c.chainRPC); err != nil {
		return err
	}
	if c.chainPoll < 10*time.Millisecond || c.leaseTTL < 0 || c.gapAfter < 0 || c.confirmations > 1<<20 {
		return errors.New("--chain-poll must be at least 10ms, --lease-ttl and --gap-after at least 0, --confirmations at most 1048576")
	}
	if v.role != node.Primary && (len(v.endpoints) > 0 || c.leaseTTL > 0) {
		return errors.New("--chain-rpc and --lease-ttl are for the node that writes (a primary or cluster voter): a replica derives tickets from the log alone")
	}
	return nil
}

// identity finds whose log this is: a primary's key (made in the datadir
// on first start) and allowlist, or a replica's --primary.
func (c *runConfig) identity(v *settings, log *slog.Logger) error {
	var err error
	if v.role == node.Primary {
		if v.allow, err = c.allowlist(); err != nil {
			return err
		}
		if v.key, err = loadKey(c.keyFile, c.passwordFile, c.datadir, log); err != nil {
			return err
		}
		v.primary = crypto.PubkeyToAddress(v.key.PublicKey)
		return nil
	}
	if !common.IsHexAddress(c.primary) {
		return fmt.Errorf("--mode replica needs --primary ADDRESS (got %q)", c.primary)
	}
	v.primary = common.HexToAddress(c.primary)
	if c.checkpointKey != "" { // checked before the datadir is touched
		if _, err := sequencer.CheckpointVerifier(c.checkpointKey, v.primary, v.domain); err != nil {
			return fmt.Errorf("--checkpoint-key: %w", err)
		}
	}
	if len(v.peers) == 0 {
		log.Warn("replica without --peers: it learns the log only from peers that dial it")
	}
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
