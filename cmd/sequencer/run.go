package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

type runConfig struct {
	mode, datadir, rpcAddr, p2pAddr, peers, primary string
	keyFile, passwordFile, allow, allowFile         string
	chainID, verifyingContract, logLevel, logFormat string
	maxInFlight, maxDataBytes, queueSize            int
}

func runFlags(stderr io.Writer) (*flag.FlagSet, *runConfig) {
	c := &runConfig{}
	fs := flag.NewFlagSet("sequencer run", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, log); err != nil {
		log.Error("sequencer stopped", "err", err)
		return 1
	}
	return 0
}

// run wires a node: flags → config → store → pipeline → RPC, then waits for
// ctx and shuts down in order: stop taking requests, finish in-flight
// groups, close LevelDB.
func run(ctx context.Context, c *runConfig, log *slog.Logger) error {
	if c.mode != "primary" {
		if c.mode == "replica" {
			return errors.New("--mode replica: replication is not built yet (SPEC §6)")
		}
		return fmt.Errorf("--mode must be primary or replica, not %q", c.mode)
	}
	if c.maxInFlight < 1 || c.maxDataBytes < 0 || c.queueSize < 1 {
		return errors.New("--max-in-flight and --queue-size must be at least 1, --max-data-bytes at least 0")
	}
	domain, err := c.domain()
	if err != nil {
		return err
	}
	allow, err := c.allowlist()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.datadir, 0o700); err != nil {
		return fmt.Errorf("datadir: %w", err)
	}
	key, err := loadKey(c.keyFile, c.passwordFile, c.datadir, log)
	if err != nil {
		return err
	}
	store, err := sequencer.OpenLevelStore(filepath.Join(c.datadir, "db"), false)
	if err != nil {
		return err
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	seq, err := sequencer.New(store, sequencer.Config{
		Key: key, Domain: domain, MaxInFlight: c.maxInFlight, MaxDataBytes: c.maxDataBytes,
		QueueSize: c.queueSize, Logger: log, Metrics: sequencer.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	defer seq.Close()
	head := store.Head()
	log.Info("log loaded", "primary", seq.Address(), "chainId", domain.ChainID, "verifyingContract", domain.VerifyingContract,
		"head", head.Seq, "headHash", head.Hash)

	api := rpc.NewAPI(seq, rpc.Config{
		Role: "primary", Version: Version, Primary: seq.Address(), Domain: domain,
		MaxDataBytes: c.maxDataBytes, Allow: allow, Logger: log,
	}, reg)
	srv, err := rpc.NewServer(api, reg, rpc.ServerOptions{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.rpcAddr)
	if err != nil {
		return fmt.Errorf("--rpc-addr: %w", err)
	}
	if allow == nil {
		log.Warn("OPEN MODE: no allowlist, anyone who reaches the RPC port can write; use --allow or --allow-file in production")
	} else {
		log.Info("permissioned: every write must be signed by an allowed address", "allowed", len(allow))
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Warn("the RPC listener is not on loopback: put it behind a firewall or proxy", "addr", ln.Addr())
	}
	log.Info("serving JSON-RPC (HTTP and WebSocket), /metrics and /healthz", "addr", "http://"+ln.Addr().String(), "role", "primary")
	if c.peers != "" || c.primary != "" {
		log.Warn("--peers and --primary are ignored until replication is built", "peers", strings.TrimSpace(c.peers))
	}

	serveErr := make(chan error, 1)
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
	seq.Close()
	if err := store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	log.Info("stopped cleanly", "head", store.Head().Seq)
	return nil
}
