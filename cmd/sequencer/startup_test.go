package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// healthz answers the node's /healthz status and body (0 while it does
// not answer).
func healthz(addr string) (int, map[string]any) {
	resp, err := testnode.HealthClient.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

// waitStatus polls /healthz until it answers code, failing after d.
func waitStatus(p *testnode.Proc, addr string, code int, d time.Duration) map[string]any {
	p.T.Helper()
	deadline := time.Now().Add(d)
	last := 0
	for time.Now().Before(deadline) {
		if p.Exited() {
			p.T.Fatalf("node exited (code %d) waiting for /healthz %d; stderr:\n%s", p.Cmd.ProcessState.ExitCode(), code, testnode.Tail(p.Stderr(), 4000))
		}
		st, body := healthz(addr)
		if st == code {
			return body
		}
		last = st
		time.Sleep(50 * time.Millisecond)
	}
	p.T.Fatalf("/healthz answered %d, not %d, within %s; stderr:\n%s", last, code, d, testnode.Tail(p.Stderr(), 4000))
	return nil
}

func metricsText(t testing.TB, addr string) string {
	t.Helper()
	resp, err := testnode.HealthClient.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// SPEC §6, README: a primary whose --peers do not answer serves reads at
// once, answers writes with 4009 and the reason, says so in /healthz
// (503) and the log, and keeps trying past --peer-wait; once a peer
// answers it checks, says so at info level, and writes.
func TestPrimaryServesReadsDuringPeerCheck(t *testing.T) {
	base := t.TempDir()
	prim := testnode.KeyAddress(t, testnode.TestKeyHex).Hex()
	rdir, rp2p := filepath.Join(base, "r"), p2pPort(t)
	rep := startReplica(t, rdir, prim, "", rp2p)
	repP2P := p2pAddr(rep)
	rep.Kill()

	addr := testnode.FreeAddr(t)
	p := testnode.Spawn(t, testnode.ChildEnv("PRIVATE_KEY="+testnode.TestKeyHex), "run", "--datadir", filepath.Join(base, "p"), "--rpc-addr", addr,
		"--p2p-addr", "/ip4/127.0.0.1/tcp/0", "--peers", repP2P, "--peer-wait", "1s")
	body := waitStatus(p, addr, http.StatusServiceUnavailable, 60*time.Second)
	if r, _ := body["reason"].(string); !strings.Contains(r, "peer check") {
		t.Fatalf("/healthz reason %q does not name the peer check", r)
	}
	p.Addr, p.Client = addr, testnode.DialRPC(t, addr)
	if in := p.Info(); in.Head.Seq != 0 || !in.Halted {
		t.Fatalf("info while waiting: %+v", in)
	}
	var read struct {
		Entries []wire.Entry `json:"entries"`
	}
	p.MustCall(&read, "sequencer_read", map[string]any{"from": 1})
	var r wire.Entry
	err := p.Call(&r, "sequencer_append", map[string]any{"data": "0xaa"})
	var re gethrpc.Error
	if !errors.As(err, &re) || re.ErrorCode() != 4009 || !strings.Contains(err.Error(), "peer check") {
		t.Fatalf("append while waiting: %v, want 4009 naming the peer check", err)
	}
	// Past --peer-wait: still up, still refusing, and it says so.
	time.Sleep(2500 * time.Millisecond)
	if p.Exited() {
		t.Fatalf("the primary exited after --peer-wait; stderr:\n%s", testnode.Tail(p.Stderr(), 3000))
	}
	if st, _ := healthz(addr); st != http.StatusServiceUnavailable {
		t.Fatalf("/healthz %d after --peer-wait, want 503", st)
	}
	if !strings.Contains(p.Stderr(), "REFUSING TO WRITE") {
		t.Fatalf("the log does not say writes are refused:\n%s", testnode.Tail(p.Stderr(), 3000))
	}

	// The peer comes back: the check passes and writes start.
	startReplica(t, rdir, prim, "", rp2p)
	waitStatus(p, addr, http.StatusOK, 60*time.Second)
	p.MustCall(&r, "sequencer_append", map[string]any{"data": "0xaa"})
	if r.Seq != 1 {
		t.Fatalf("first write at seq %d", r.Seq)
	}
	if !strings.Contains(p.Stderr(), "peer check passed") {
		t.Fatalf("the log does not say the peer check passed:\n%s", testnode.Tail(p.Stderr(), 3000))
	}
}

// SPEC §6 --max-lag: a replica cut off from its only peer answers /healthz
// 503 with the reason after --max-lag, logs it at warning level, and shows
// it in a metric; 4002 names the primary's RPC URL given by --primary-rpc.
// (Set by environment, so that the test also runs against a node without
// these flags.)
func TestReplicaCutOffUnhealthy(t *testing.T) {
	base := t.TempDir()
	primary := testnode.StartNode(t, filepath.Join(base, "p"), nil)
	prim := primary.Info().Primary
	rpcURL := "http://" + primary.Addr
	rep := testnode.Launch(t, func(addr string) ([]string, []string) {
		return testnode.ChildEnv("SEQUENCER_MAX_LAG=1s", "SEQUENCER_PRIMARY_RPC="+rpcURL), []string{"run", "--mode", "replica", "--primary", prim,
			"--peers", p2pAddr(primary), "--datadir", filepath.Join(base, "r"), "--rpc-addr", addr, "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}
	})
	var r wire.Entry
	primary.MustCall(&r, "sequencer_append", map[string]any{"data": "0xaa"})
	waitHead(t, rep, 1, 30*time.Second)
	if st, _ := healthz(rep.Addr); st != http.StatusOK {
		t.Fatalf("a following replica: /healthz %d", st)
	}

	err := rep.Call(&r, "sequencer_append", map[string]any{"data": "0xaa"})
	var de gethrpc.DataError
	if !errors.As(err, &de) {
		t.Fatalf("append on a replica: %v, want 4002 with data", err)
	}
	if got := fmt.Sprint(de.ErrorData()); !strings.Contains(got, rpcURL) {
		t.Errorf("4002 data %s does not name the primary's RPC URL %s", got, rpcURL)
	}

	primary.Kill()
	body := waitStatus(rep, rep.Addr, http.StatusServiceUnavailable, 30*time.Second)
	if r, _ := body["reason"].(string); !strings.Contains(r, "no connected peer") {
		t.Fatalf("/healthz reason %q", r)
	}
	m := metricsText(t, rep.Addr)
	for _, want := range []string{"sequencer_replica_following 0", "sequencer_halted 0"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(rep.Stderr(), "level=WARN msg=\"replica is not following") {
		t.Errorf("no warning in the log:\n%s", testnode.Tail(rep.Stderr(), 3000))
	}
}
