package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/freeport"
)

// Fixed keys, so runs are repeatable and nothing is left to configure.
// They guard nothing: never use them outside a benchmark.
var (
	benchPrimaryKeyHex = crypto.Keccak256Hash([]byte("seqnode benchmark primary key")).Hex()[2:]
	benchClientKeyHex  = crypto.Keccak256Hash([]byte("seqnode benchmark client key")).Hex()[2:]
)

// node is one sequencer child process.
type node struct {
	name    string
	role    string
	dir     string // its own temp dir: data/ and node.log
	rpcAddr string // host:port
	p2pAddr string // /ip4/127.0.0.1/tcp/port
	cmd     *exec.Cmd
	logFile *os.File
	started time.Time // when the process was started
	ready   time.Time // when /healthz first answered 200
	exited  chan struct{}
	waitErr error // valid after exited is closed

	full []string // its command line, to start it again (failover)
	env  []string
}

func (n *node) url() string { return "http://" + n.rpcAddr + "/" }
func (n *node) pid() int    { return n.cmd.Process.Pid }

// cluster owns the child processes and the temp dir they live in.
type cluster struct {
	out   io.Writer
	tmp   string
	bin   string
	nodes []*node
}

// moduleRoot walks up from the working directory to the directory of go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from inside the module, or give --node-bin")
		}
		dir = parent
	}
}

// buildNode builds ./cmd/sequencer of the module into bin, saying what it does.
func buildNode(ctx context.Context, bin string, out io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go tool not found (give --node-bin): %w", err)
	}
	fmt.Fprintf(out, "building the node: (cd %s && go build -o %s ./cmd/sequencer)\n", root, bin)
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/sequencer")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, stderr.String())
	}
	fmt.Fprintf(out, "built in %.1f s\n", time.Since(start).Seconds())
	return nil
}

// newCluster makes the temp dir and finds or builds the node binary.
func newCluster(ctx context.Context, nodeBin string, out io.Writer) (*cluster, error) {
	tmp, err := os.MkdirTemp("", "sequencer-bench-")
	if err != nil {
		return nil, err
	}
	c := &cluster{out: out, tmp: tmp, bin: nodeBin}
	if c.bin == "" {
		c.bin = filepath.Join(tmp, "sequencer")
		if err := buildNode(ctx, c.bin, out); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
	} else if c.bin, err = filepath.Abs(nodeBin); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return c, nil
}

// binarySum is the SHA-256 of the node binary, to tell later which build
// produced a set of figures (the working tree may have changed since).
func binarySum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// freePort is a loopback port no other node of this run was given.
func freePort() (int, error) { return freeport.Port() }

// childEnv is our environment without anything that would configure the
// node behind the flags' back (SEQUENCER_* and PRIVATE_KEY), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SEQUENCER_") || strings.HasPrefix(kv, "PRIVATE_KEY=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// start launches a node with args (datadir and addresses are added here)
// and waits until its /healthz answers.
// A port picked free can be taken by someone else before the node binds
// it (the machine may be running other tests): then the node is started
// again on other ports, a few times.
func (c *cluster) start(ctx context.Context, name, role string, args []string, env []string) (*node, error) {
	for attempt := 1; ; attempt++ {
		n, err := c.startOnce(ctx, name, role, args, env)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 {
			return n, err
		}
		c.nodes = c.nodes[:len(c.nodes)-1] // it has exited
		n.logFile.Close()
		fmt.Fprintf(c.out, "%s: a port was taken meanwhile; starting it again\n", name)
	}
}

var errPortTaken = errors.New("address already in use")

func (c *cluster) startOnce(ctx context.Context, name, role string, args []string, env []string) (*node, error) {
	n, err := c.spawn(name, role, args, env)
	if err != nil {
		return nil, err
	}
	if err := n.waitHealthy(ctx, 30*time.Second); err != nil {
		return n, err
	}
	return n, nil
}

// spawn starts a node on fresh ports without waiting for it.
func (c *cluster) spawn(name, role string, args []string, env []string) (*node, error) {
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	p2pPort, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &node{
		name: name, role: role, dir: filepath.Join(c.tmp, name),
		rpcAddr: fmt.Sprintf("127.0.0.1:%d", rpcPort),
		p2pAddr: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2pPort),
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return nil, err
	}
	mode := role
	if role == "voter" {
		mode = "primary"
	}
	n.full = append([]string{"--mode", mode, "--datadir", filepath.Join(n.dir, "data"),
		"--rpc-addr", n.rpcAddr, "--p2p-addr", n.p2pAddr}, args...)
	n.env = env
	if err := c.exec(n); err != nil {
		return nil, err
	}
	c.nodes = append(c.nodes, n)
	return n, nil
}

// exec runs n's command line (again, after a kill: same datadir, same
// ports), its output appended to its log.
func (c *cluster) exec(n *node) error {
	f, err := os.OpenFile(filepath.Join(n.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if n.logFile != nil {
		n.logFile.Close()
	}
	n.logFile = f
	n.exited = make(chan struct{})
	n.cmd = exec.Command(c.bin, n.full...)
	n.cmd.Env = n.env
	n.cmd.Stdout, n.cmd.Stderr = n.logFile, n.logFile
	// Own process group: a Ctrl-C reaches only the harness, which then stops
	// the nodes in order. Pdeathsig: if the harness dies, so do they.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(c.out, "starting %s: %s %s\n", n.name, c.bin, strings.Join(n.full, " "))
	n.started = time.Now()
	if err := n.cmd.Start(); err != nil {
		n.logFile.Close()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	cmd, exited := n.cmd, n.exited
	go func() {
		n.waitErr = cmd.Wait()
		close(exited)
	}()
	return nil
}

// waitHealthy polls /healthz until it answers 200.
func (n *node) waitHealthy(ctx context.Context, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get("http://" + n.rpcAddr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				n.ready = time.Now()
				return nil
			}
		}
		select {
		case <-n.exited:
			tail := n.logTail(20)
			if strings.Contains(tail, errPortTaken.Error()) {
				return fmt.Errorf("%s: %w", n.name, errPortTaken)
			}
			return fmt.Errorf("%s exited before it was healthy (%v); its log ends:\n%s", n.name, n.waitErr, tail)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %v; its log ends:\n%s", n.name, timeout, n.logTail(20))
		}
	}
}

// logTail returns the last lines of the node's log.
func (n *node) logTail(lines int) string {
	b, err := os.ReadFile(filepath.Join(n.dir, "node.log"))
	if err != nil {
		return err.Error()
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// stop asks a node to shut down (SIGTERM), and kills it if it has not
// stopped after grace.
func (n *node) stop(grace time.Duration) {
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(grace):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// close stops every node (replicas first, the primary last) and removes
// the temp dir.
func (c *cluster) close() {
	for i := len(c.nodes) - 1; i >= 0; i-- {
		c.nodes[i].stop(10 * time.Second)
		c.nodes[i].logFile.Close()
	}
	if err := os.RemoveAll(c.tmp); err != nil {
		fmt.Fprintf(c.out, "warning: could not remove %s: %v\n", c.tmp, err)
	}
}
