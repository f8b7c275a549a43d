// Command benchmarking drives real sequencer nodes over JSON-RPC and
// measures what a client can rely on: durable throughput (counted from
// receipts), append latency, replica lag, the catch-up rate of a late
// replica, and what the nodes cost in CPU and memory.
//
// With no flags it builds the node, starts a primary and two replicas as
// child processes on 127.0.0.1, drives them for 10 s, prints a progress
// line every second and a summary at the end, and writes
// benchmark-results.json and benchmark.svg. With --rpc it drives a node
// that is already running instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// usage is what --help prints before the flags.
const usage = `Usage: go run ./benchmarking [flags]

Drives real sequencer nodes over JSON-RPC and measures what a client can
rely on: durable throughput (counted from receipts), append latency, replica
lag, the catch-up rate of a late replica (--late-replica), and the nodes' CPU
and memory. With no flags it builds ./cmd/sequencer, starts a primary and two
replicas as child processes on 127.0.0.1, drives them for 10 s, prints a
progress line every second and a summary at the end, and writes
benchmark-results.json and benchmark.svg. With --rpc it drives a node that
is already running instead (and --replica-rpc measures lag on its replicas).
With --cluster 3 it starts three voters instead of the primary, spreads the
connections over them, and with --failover K kills the leader K times during
the load and reports each client-visible write outage.

Flags:
`

// config is everything a run is told by its flags.
type config struct {
	Duration     time.Duration
	Count        int64
	Conns        int
	Batch        int
	Payload      int
	Lineages     int
	LineageShare float64
	// LineagePrefix names the lineages <prefix>:<i>, the same in every
	// run (default: a fresh prefix per run).
	LineagePrefix string
	CloseShare    float64
	ReleaseShare  float64
	MaxInFlight   int
	Signed        bool
	ClientKey     string
	Rate          float64
	Replicas      int
	LateReplica   bool
	Out           string
	Plot          string
	NodeBin       string
	RPC           string
	ReplicaRPC    []string
	Wait          time.Duration
	// Cluster runs N voters (SPEC §8) instead of one primary; the load is
	// spread over them. Failover kills the leader that many times during
	// the load and measures each write outage.
	Cluster  int
	Failover int
	// WatchChain runs go-ethereum's simulated chain (a block every
	// ChainBlock) in the harness and starts the nodes with --chain-rpc on
	// it; the lineages are then eip155:1337:<address> (SPEC §9).
	WatchChain bool
	ChainBlock time.Duration
	// ChainNames names the lineages eip155:1337:<address> as WatchChain
	// does, without a chain or a watcher: WatchChain's baseline, the same
	// names (keys, hashes) unwatched.
	ChainNames bool
	// NodeArgs are extra flags for every node the harness starts.
	NodeArgs []string
	// WebSocket: the clients talk JSON-RPC over WebSocket.
	WebSocket bool
	// CPUProfile: write the harness's own CPU profile here.
	CPUProfile string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("benchmarking", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to drive load (ignored with --count)")
	fs.Int64Var(&c.Count, "count", 0, "send this many write calls (one entry each) instead of running for --duration")
	fs.IntVar(&c.Conns, "conns", 32, "concurrent connections, one goroutine each")
	fs.IntVar(&c.Batch, "batch", 100, "calls per JSON-RPC batch; 1 sends one plain request per entry")
	fs.IntVar(&c.Payload, "payload", 256, "bytes of data per append")
	fs.IntVar(&c.Lineages, "lineages", 100, "number of lineages appends lease nonces from")
	fs.StringVar(&c.LineagePrefix, "lineage-prefix", "", "name lineages <prefix>:<i> (to drive the lineages of an earlier run again); default: fresh names per run")
	fs.Float64Var(&c.LineageShare, "lineage-share", 0.5, "share (0-1) of appends that carry a lineage (lease a nonce)")
	fs.Float64Var(&c.CloseShare, "close-share", 0.9, "share of leased appends followed by sequencer_close")
	fs.Float64Var(&c.ReleaseShare, "release-share", 0.05, "share of leased appends followed by sequencer_release (rejected); the rest stay leased")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 64, "leased tickets per lineage the node allows (passed to the nodes started here; must match the node with --rpc)")
	fs.BoolVar(&c.Signed, "signed", false, "start the primary with --allow and sign every write (EIP-712 Request)")
	fs.StringVar(&c.ClientKey, "client-key", benchClientKeyHex, "hex secp256k1 key the client signs with in --signed mode")
	fs.Float64Var(&c.Rate, "rate", 0, "offered load in entries/s (open loop, scheduled send times); 0 = closed loop, as fast as possible")
	fs.IntVar(&c.Replicas, "replicas", 2, "replicas to start (with --rpc: see --replica-rpc)")
	fs.BoolVar(&c.LateReplica, "late-replica", false, "after the load, start one more replica and measure its catch-up rate")
	fs.StringVar(&c.Out, "out", "benchmark-results.json", "results file (JSON); empty: none")
	fs.StringVar(&c.Plot, "plot", "benchmark.svg", "plot of throughput and p99 latency per second (.svg, .png or .pdf); empty: none")
	fs.StringVar(&c.NodeBin, "node-bin", "", "prebuilt sequencer binary (default: build ./cmd/sequencer)")
	fs.StringVar(&c.RPC, "rpc", "", "drive this running primary (http://host:port/) instead of starting nodes")
	replicaRPC := fs.String("replica-rpc", "", "with --rpc: comma-separated RPC URLs of replicas to measure lag on")
	fs.IntVar(&c.Cluster, "cluster", 0, "start a cluster of this many voters (3 or 5) instead of one primary; connections are spread over the voters")
	fs.IntVar(&c.Failover, "failover", 0, "with --cluster: SIGKILL the leader this many times during the load (restarting it) and measure each write outage")
	fs.BoolVar(&c.ChainNames, "chain-names", false, "name the lineages eip155:1337:<address> as --watch-chain does, without a chain or a watcher: the baseline to compare --watch-chain with")
	fs.BoolVar(&c.WatchChain, "watch-chain", false, "run go-ethereum's simulated chain in the harness and the nodes with --chain-rpc on it; lineages become eip155:1337:<address>, all watched (measures the chain watcher's cost)")
	fs.DurationVar(&c.ChainBlock, "chain-block", time.Second, "with --watch-chain: the simulated chain seals a block this often (the watcher reads each lineage once per block)")
	fs.BoolVar(&c.WebSocket, "ws", false, "send the calls over one WebSocket connection per --conns instead of HTTP (JSON-RPC frames, no HTTP request per call)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the harness's own CPU profile (the client side of the load) to this file")
	nodeArgs := fs.String("node-args", "", "extra flags for every node started, space-separated (e.g. \"--pprof\")")
	fs.DurationVar(&c.Wait, "wait", 60*time.Second, "how long to wait after the load for replicas to converge and a late replica to catch up")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.NodeArgs = strings.Fields(*nodeArgs)
	for _, u := range strings.Split(*replicaRPC, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.ReplicaRPC = append(c.ReplicaRPC, u)
		}
	}
	return c, c.validate()
}

func (c *config) validate() error {
	share := func(name string, v float64) error {
		if v < 0 || v > 1 {
			return fmt.Errorf("--%s must be between 0 and 1", name)
		}
		return nil
	}
	switch {
	case c.Count < 0:
		return errors.New("--count must not be negative")
	case c.Count == 0 && c.Duration <= 0:
		return errors.New("--duration must be positive (or give --count)")
	case c.Conns < 1:
		return errors.New("--conns must be at least 1")
	case c.Batch < 1 || c.Batch > 1000:
		return errors.New("--batch must be 1-1000 (the node's batch limit is 1000)")
	case c.Payload < 0:
		return errors.New("--payload must not be negative")
	case c.Lineages < 1:
		return errors.New("--lineages must be at least 1")
	case c.MaxInFlight < 1:
		return errors.New("--max-in-flight must be at least 1")
	case c.Rate < 0:
		return errors.New("--rate must not be negative")
	case c.Replicas < 0:
		return errors.New("--replicas must not be negative")
	case c.Wait <= 0:
		return errors.New("--wait must be positive")
	}
	for _, s := range []struct {
		name string
		v    float64
	}{{"lineage-share", c.LineageShare}, {"close-share", c.CloseShare}, {"release-share", c.ReleaseShare}} {
		if err := share(s.name, s.v); err != nil {
			return err
		}
	}
	if c.CloseShare+c.ReleaseShare > 1+1e-9 {
		return errors.New("--close-share plus --release-share must be at most 1")
	}
	if c.RPC == "" && len(c.ReplicaRPC) > 0 {
		return errors.New("--replica-rpc needs --rpc (without --rpc the harness starts its own replicas)")
	}
	if c.Cluster != 0 && c.Cluster != 3 && c.Cluster != 5 {
		return errors.New("--cluster must be 3 or 5")
	}
	if c.WatchChain && (c.RPC != "" || c.ChainBlock < 10*time.Millisecond) {
		return errors.New("--watch-chain starts its own nodes (not with --rpc) and needs --chain-block of at least 10ms")
	}
	if c.Cluster != 0 && c.RPC != "" {
		return errors.New("--cluster starts its own voters (not with --rpc)")
	}
	if c.Failover < 0 || (c.Failover > 0 && (c.Cluster == 0 || c.Count > 0)) {
		return errors.New("--failover needs --cluster and a --duration (not --count)")
	}
	if c.RPC != "" && c.LateReplica {
		return errors.New("--late-replica needs nodes started by the harness (not --rpc)")
	}
	return nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchmarking:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C the run winds down (children stopped, temp
		// dirs removed); a second one kills the harness at once.
		<-ctx.Done()
		stop()
	}()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchmarking:", err)
			os.Exit(2)
		}
	}
	res, err := run(ctx, cfg, os.Stdout)
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchmarking:", err)
		os.Exit(1)
	}
	if res.Interrupted {
		os.Exit(130)
	}
}
