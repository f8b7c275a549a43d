package testnode

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/freeport"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// childMarker, set to 1 in a child's environment, makes the test binary run
// the node's main instead of the tests. The name is outside the SEQUENCER_
// namespace that the flags read.
const childMarker = "SEQNODE_TEST_CHILD"

// TestKeyHex is the fixed signing key of the child nodes, so that a
// restarted node signs with the same key.
const TestKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

// ServeChild makes the test binary a node: call it first in TestMain. In a
// child started by Spawn it runs main with the child's command line and
// exits; in the test process it returns at once.
func ServeChild(main func(args []string, stdout, stderr io.Writer) int) {
	if os.Getenv(childMarker) == "1" {
		// The testing flags are parsed by m.Run only, so os.Args[1:] is
		// exactly the node's command line.
		os.Exit(main(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// KeyAddress returns the address of a hex private key.
func KeyAddress(t testing.TB, hexKey string) common.Address {
	t.Helper()
	k, err := crypto.HexToECDSA(strings.TrimPrefix(hexKey, "0x"))
	if err != nil {
		t.Fatalf("test key: %v", err)
	}
	return crypto.PubkeyToAddress(k.PublicKey)
}

// ChildEnv is the test's environment without anything that configures a
// node (SEQUENCER_*, PRIVATE_KEY), plus the child marker and extra.
func ChildEnv(extra ...string) []string {
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

// Proc is one child process.
type Proc struct {
	T   testing.TB
	Cmd *exec.Cmd

	Addr   string          // RPC address, once known
	Client *gethrpc.Client // dialled to Addr; closed at cleanup

	outPath string
	errPath string
	done    chan struct{} // closed once Cmd.Wait returned
}

// Spawn starts the test binary as a node with env (see ChildEnv) and args.
// Its output goes to files; t.Cleanup kills and reaps it, and fails the
// test if the child reported a data race or a panic.
func Spawn(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir() // a stray default ./data lands in a temp dir
	return StartProc(t, cmd)
}

// StartProc starts cmd as a child process managed like Spawn's.
func StartProc(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	args := cmd.Args[1:]
	dir := t.TempDir()
	p := &Proc{T: t, Cmd: cmd, outPath: filepath.Join(dir, "stdout"), errPath: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	out, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	p.Cmd.Stdout, p.Cmd.Stderr = out, errf
	if err := p.Cmd.Start(); err != nil {
		out.Close()
		errf.Close()
		t.Fatalf("start child: %v", err)
	}
	go func() {
		p.Cmd.Wait()
		out.Close()
		errf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if p.Client != nil {
			p.Client.Close()
		}
		if s := p.Stderr(); strings.Contains(s, "WARNING: DATA RACE") || strings.Contains(s, "panic:") {
			t.Errorf("child %v reported a race or panic:\n%s", args, Tail(s, 6000))
		}
	})
	return p
}

// Tail returns the last n bytes of s, marked as cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Stdout and Stderr return what the child wrote so far.
func (p *Proc) Stdout() string { b, _ := os.ReadFile(p.outPath); return string(b) }
func (p *Proc) Stderr() string { b, _ := os.ReadFile(p.errPath); return string(b) }

// Exited reports whether the child has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL (if the child still runs) and reaps it.
func (p *Proc) Kill() {
	if !p.Exited() {
		p.Cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.T.Errorf("child did not die within 30s of SIGKILL")
	}
}

// Wait waits up to d for the child to exit and returns its exit code; on
// timeout it kills the child and fails the test.
func (p *Proc) Wait(d time.Duration) int {
	p.T.Helper()
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(d):
		p.Kill()
		p.T.Fatalf("child %v still running after %v; stderr:\n%s", p.Cmd.Args[1:], d, Tail(p.Stderr(), 4000))
		return -1
	}
}

// Term sends SIGTERM and returns the exit code (waiting up to d).
func (p *Proc) Term(d time.Duration) int {
	p.T.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.T.Fatalf("SIGTERM: %v", err)
	}
	return p.Wait(d)
}

// RunChild runs the binary to completion (at most d) and returns its exit
// code and output.
func RunChild(t testing.TB, env []string, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := Spawn(t, env, args...)
	code = p.Wait(d)
	return code, p.Stdout(), p.Stderr()
}

// FreeAddr returns a loopback address whose port was free a moment ago
// and was not handed out before in this test binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// HealthClient polls /healthz and /metrics; a node that hangs fails the poll.
var HealthClient = &http.Client{Timeout: 2 * time.Second}

// WaitHealthy polls http://addr/healthz until it answers 200, the child
// exits, or d passes.
func (p *Proc) WaitHealthy(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("child exited with code %d before it was healthy", p.Cmd.ProcessState.ExitCode())
		}
		resp, err := HealthClient.Get("http://" + addr + "/healthz")
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

// Launch starts a node and waits until /healthz answers. build gets the RPC
// address to use and returns the child's environment and args. A start that
// lost its port to another process is retried on a new port.
func Launch(t testing.TB, build func(addr string) (env, args []string)) *Proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := FreeAddr(t)
		env, args := build(addr)
		p := Spawn(t, env, args...)
		err := p.WaitHealthy(addr, 60*time.Second)
		if err == nil {
			p.Addr = addr
			p.Client = DialRPC(t, addr)
			return p
		}
		p.Kill()
		if attempt < 5 && strings.Contains(p.Stderr(), "address already in use") {
			continue
		}
		t.Fatalf("node %v: %v; stderr:\n%s", args, err, Tail(p.Stderr(), 6000))
	}
}

// StartNode starts a primary on datadir with the fixed test key and extra
// args. env may set PRIVATE_KEY=<other key>, or "PRIVATE_KEY=" for a node
// without PRIVATE_KEY in its environment at all.
func StartNode(t testing.TB, datadir string, env []string, extra ...string) *Proc {
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
		env = append(env, "PRIVATE_KEY="+TestKeyHex)
	}
	return Launch(t, func(addr string) ([]string, []string) {
		args := append([]string{"run", "--datadir", datadir, "--rpc-addr", addr, "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}, extra...)
		return ChildEnv(env...), args
	})
}

// DialRPC dials http://addr with go-ethereum's client, with enough idle
// connections for the tests' concurrent batches.
func DialRPC(t testing.TB, addr string) *gethrpc.Client {
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

// Call makes one JSON-RPC call with a bounded deadline.
func (p *Proc) Call(result any, method string, params ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p.Client.CallContext(ctx, result, method, params...)
}

// MustCall makes a call that must succeed.
func (p *Proc) MustCall(result any, method string, params ...any) {
	p.T.Helper()
	if err := p.Call(result, method, params...); err != nil {
		p.T.Fatalf("%s %v: %v", method, params, err)
	}
}

// Info returns sequencer_info.
func (p *Proc) Info() wire.Info {
	p.T.Helper()
	var in wire.Info
	p.MustCall(&in, "sequencer_info")
	return in
}

// ReadAll reads the whole log, 1000 entries per call.
func (p *Proc) ReadAll() []*wire.Entry {
	p.T.Helper()
	var all []*wire.Entry
	for range 100000 {
		var r struct {
			Entries []*wire.Entry `json:"entries"`
			Head    uint64        `json:"head"`
		}
		p.MustCall(&r, "sequencer_read", map[string]any{"from": len(all) + 1, "limit": 1000})
		all = append(all, r.Entries...)
		if len(r.Entries) == 0 || uint64(len(all)) >= r.Head {
			return all
		}
	}
	p.T.Fatal("readAll: log too long")
	return nil
}
