package main

// Test harness: the test binary re-executes itself as a sequencer node (the
// child runs Main with its own command line), so the crash and CLI tests
// drive a real process that can be killed with SIGKILL.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// childMarker, set to 1 in a child's environment, makes the test binary run
// Main(os.Args[1:]) instead of the tests. The name is outside the
// SEQUENCER_ namespace that the flags read.
const childMarker = "SEQNODE_TEST_CHILD"

// testKeyHex is the fixed signing key of the child nodes, so that a
// restarted node signs with the same key.
const testKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func TestMain(m *testing.M) {
	if os.Getenv(childMarker) == "1" {
		// The testing flags are parsed by m.Run only, so os.Args[1:] is
		// exactly the node's command line.
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func keyAddress(t testing.TB, hexKey string) common.Address {
	t.Helper()
	k, err := crypto.HexToECDSA(strings.TrimPrefix(hexKey, "0x"))
	if err != nil {
		t.Fatalf("test key: %v", err)
	}
	return crypto.PubkeyToAddress(k.PublicKey)
}

// childEnv is the test's environment without anything that configures a
// node (SEQUENCER_*, PRIVATE_KEY), plus the child marker and extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SEQUENCER_") || strings.HasPrefix(kv, "PRIVATE_KEY=") || strings.HasPrefix(kv, childMarker+"=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, childMarker+"=1")
	return append(env, extra...)
}

// proc is one child process of the test binary.
type proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	outPath string
	errPath string
	done    chan struct{} // closed once cmd.Wait returned
	killed  atomic.Bool

	addr   string // RPC address, once known
	client *gethrpc.Client
}

// spawn starts the test binary as a node with env (see childEnv) and args.
// Its output goes to files; t.Cleanup kills and reaps it, and fails the
// test if the child reported a data race or a panic.
func spawn(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir() // a stray default ./data lands in a temp dir
	return startProc(t, cmd)
}

// startProc starts cmd as a child process managed like spawn's.
func startProc(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	args := cmd.Args[1:]
	dir := t.TempDir()
	p := &proc{t: t, cmd: cmd, outPath: filepath.Join(dir, "stdout"), errPath: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	out, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, errf
	if err := p.cmd.Start(); err != nil {
		out.Close()
		errf.Close()
		t.Fatalf("start child: %v", err)
	}
	go func() {
		p.cmd.Wait()
		out.Close()
		errf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if p.client != nil {
			p.client.Close()
		}
		if s := p.stderr(); strings.Contains(s, "WARNING: DATA RACE") || strings.Contains(s, "panic:") {
			t.Errorf("child %v reported a race or panic:\n%s", args, tail(s, 6000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *proc) stdout() string { b, _ := os.ReadFile(p.outPath); return string(b) }
func (p *proc) stderr() string { b, _ := os.ReadFile(p.errPath); return string(b) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (if the child still runs) and reaps it.
func (p *proc) kill() {
	if !p.exited() {
		p.killed.Store(true)
		p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("child did not die within 30s of SIGKILL")
	}
}

// wait waits up to d for the child to exit and returns its exit code; on
// timeout it kills the child and fails the test.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		p.kill()
		p.t.Fatalf("child %v still running after %v; stderr:\n%s", p.cmd.Args[1:], d, tail(p.stderr(), 4000))
		return -1
	}
}

// term sends SIGTERM and returns the exit code (waiting up to d).
func (p *proc) term(d time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	return p.wait(d)
}

// runChild runs the binary to completion (at most d) and returns its exit
// code and output.
func runChild(t testing.TB, env []string, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := spawn(t, env, args...)
	code = p.wait(d)
	return code, p.stdout(), p.stderr()
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var healthClient = &http.Client{Timeout: 2 * time.Second}

// waitHealthy polls http://addr/healthz until it answers 200, the child
// exits, or d passes.
func (p *proc) waitHealthy(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("child exited with code %d before it was healthy", p.cmd.ProcessState.ExitCode())
		}
		resp, err := healthClient.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not healthy within %v", d)
}

// launch starts a node and waits until /healthz answers. build gets the RPC
// address to use and returns the child's environment and args. A start that
// lost its port to another process is retried on a new port.
func launch(t testing.TB, build func(addr string) (env, args []string)) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		env, args := build(addr)
		p := spawn(t, env, args...)
		err := p.waitHealthy(addr, 60*time.Second)
		if err == nil {
			p.addr = addr
			p.client = dialRPC(t, addr)
			return p
		}
		p.kill()
		if attempt < 5 && strings.Contains(p.stderr(), "address already in use") {
			continue
		}
		t.Fatalf("node %v: %v; stderr:\n%s", args, err, tail(p.stderr(), 6000))
	}
}

// startNode starts a primary on datadir with the fixed test key and extra
// args. env may set PRIVATE_KEY=<other key>, or "PRIVATE_KEY=" for a node
// without PRIVATE_KEY in its environment at all.
func startNode(t testing.TB, datadir string, env []string, extra ...string) *proc {
	t.Helper()
	hasKey := false
	var e []string
	for _, kv := range env {
		if kv == "PRIVATE_KEY=" {
			hasKey = true
			continue
		}
		hasKey = hasKey || strings.HasPrefix(kv, "PRIVATE_KEY=")
		e = append(e, kv)
	}
	env = e
	if !hasKey {
		env = append(env, "PRIVATE_KEY="+testKeyHex)
	}
	return launch(t, func(addr string) ([]string, []string) {
		args := append([]string{"run", "--datadir", datadir, "--rpc-addr", addr, "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}, extra...)
		return childEnv(env...), args
	})
}

func dialRPC(t testing.TB, addr string) *gethrpc.Client {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	c, err := gethrpc.DialOptions(context.Background(), "http://"+addr, gethrpc.WithHTTPClient(hc))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c
}

// call makes one JSON-RPC call with a bounded deadline.
func (p *proc) call(result any, method string, params ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p.client.CallContext(ctx, result, method, params...)
}

func (p *proc) mustCall(result any, method string, params ...any) {
	p.t.Helper()
	if err := p.call(result, method, params...); err != nil {
		p.t.Fatalf("%s %v: %v", method, params, err)
	}
}

// rpcCode returns the JSON-RPC error code of err, or 0 if err is not a
// JSON-RPC error (a transport failure).
func rpcCode(err error) int {
	var re gethrpc.Error
	if errors.As(err, &re) {
		return re.ErrorCode()
	}
	return 0
}

// entryJ is an Entry or Receipt as the API writes it (SPEC §4). Hashes are
// kept as the strings on the wire, so comparisons are byte for byte.
type entryJ struct {
	Seq        uint64  `json:"seq"`
	Hash       string  `json:"hash"`
	PrevHash   string  `json:"prevHash"`
	Kind       string  `json:"kind"`
	Sender     string  `json:"sender"`
	Lineage    string  `json:"lineage"`
	Nonce      uint64  `json:"nonce"`
	ExternalID string  `json:"externalId"`
	DataHash   string  `json:"dataHash"`
	Data       *string `json:"data,omitempty"`
	Timestamp  uint64  `json:"timestamp"`
	Signature  string  `json:"signature"`
	Existing   bool    `json:"existing"`
}

// signed is the part of an entry that its receipt repeats.
type signedFields struct {
	Seq                                               uint64
	Hash, PrevHash, Kind, Sender, Lineage, ExternalID string
	DataHash, Signature                               string
	Nonce, Timestamp                                  uint64
}

func (e *entryJ) signed() signedFields {
	return signedFields{Seq: e.Seq, Hash: e.Hash, PrevHash: e.PrevHash, Kind: e.Kind, Sender: e.Sender,
		Lineage: e.Lineage, ExternalID: e.ExternalID, DataHash: e.DataHash, Signature: e.Signature,
		Nonce: e.Nonce, Timestamp: e.Timestamp}
}

type infoJ struct {
	Role    string `json:"role"`
	Primary string `json:"primary"`
	ChainID uint64 `json:"chainId"`
	Head    struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	} `json:"head"`
	Halted bool `json:"halted"`
}

type ticketJ struct {
	Lineage    string `json:"lineage"`
	ExternalID string `json:"externalId"`
	Nonce      uint64 `json:"nonce"`
	State      string `json:"state"`
	LeaseSeq   uint64 `json:"leaseSeq"`
	FinalSeq   uint64 `json:"finalSeq"`
}

type lineageJ struct {
	Lineage   string `json:"lineage"`
	NextNonce uint64 `json:"nextNonce"`
	Floor     uint64 `json:"floor"`
	InFlight  []struct {
		Nonce      uint64 `json:"nonce"`
		ExternalID string `json:"externalId"`
		Seq        uint64 `json:"seq"`
	} `json:"inFlight"`
	Released []uint64 `json:"released"`
	Closed   uint64   `json:"closed"`
	Failed   uint64   `json:"failed"`
}

func (p *proc) info() infoJ {
	p.t.Helper()
	var in infoJ
	p.mustCall(&in, "sequencer_info")
	return in
}

// readAll reads the whole log, 1000 entries per call.
func (p *proc) readAll() []*entryJ {
	p.t.Helper()
	var all []*entryJ
	for range 100000 {
		var r struct {
			Entries []*entryJ `json:"entries"`
			Head    uint64    `json:"head"`
		}
		p.mustCall(&r, "sequencer_read", map[string]any{"from": len(all) + 1, "limit": 1000})
		all = append(all, r.Entries...)
		if len(r.Entries) == 0 || uint64(len(all)) >= r.Head {
			return all
		}
	}
	p.t.Fatal("readAll: log too long")
	return nil
}

// verifyDir runs `sequencer verify --datadir dir` in-process.
func verifyDir(dir string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main([]string{"verify", "--datadir", dir}, &out, &errb)
	return code, out.String(), errb.String()
}
