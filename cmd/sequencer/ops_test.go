package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seqnode/sequencer/internal/testnode"
)

// The operator commands talk to a running node: readable output, --json,
// SPEC error codes on stderr with a non-zero exit.
func TestOperatorCommands(t *testing.T) {
	node := testnode.StartNode(t, filepath.Join(t.TempDir(), "d"), nil)
	rpcURL := "http://" + node.Addr
	run := func(args ...string) (int, string, string) { return runCommand(rpcURL, args...) }
	code, out, errs := run("append", "--text", "hello", "--lineage", "eip155:1:0xab", "--external-id", "j1")
	if code != 0 || !strings.Contains(out, "seq          1") || !strings.Contains(out, "existing     false") {
		t.Fatalf("append: %d %q %q", code, out, errs)
	}
	code, out, _ = run("append", "--json", "--data", "0x68656c6c6f", "--lineage", "eip155:1:0xab", "--external-id", "j1")
	var r struct {
		Seq      uint64 `json:"seq"`
		Existing bool   `json:"existing"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Seq != 1 || !r.Existing {
		t.Fatalf("append retry --json: %d %q", code, out)
	}
	code, _, errs = run("append", "--text", "other", "--lineage", "eip155:1:0xab", "--external-id", "j1")
	if code != 1 || !strings.Contains(errs, "error 4008") {
		t.Fatalf("conflict: %d %q", code, errs)
	}
	if code, out, _ = run("ticket", "--lineage", "eip155:1:0xab", "--external-id", "j1"); code != 0 || !strings.Contains(out, "leased") {
		t.Fatalf("ticket: %d %q", code, out)
	}
	if code, _, errs = run("ticket", "--lineage", "x", "--external-id", "nope"); code != 1 || !strings.Contains(errs, "error 4003") {
		t.Fatalf("missing ticket: %d %q", code, errs)
	}
	if code, out, _ = run("read", "--from", "1"); code != 0 || !strings.Contains(out, "(1 entries; head 1)") {
		t.Fatalf("read: %d %q", code, out)
	}
	if code, out, _ = run("lineage", "--lineage", "eip155:1:0xab"); code != 0 || !strings.Contains(out, "next nonce  1") {
		t.Fatalf("lineage: %d %q", code, out)
	}
	if code, out, _ = run("info"); code != 0 || !strings.Contains(out, "role                primary") || !strings.Contains(out, "/p2p/") {
		t.Fatalf("info: %d %q", code, out)
	}
	if code, _, _ = run("append", "--data", "zz"); code != 1 {
		t.Fatalf("bad hex: exit %d", code)
	}
	if code, _, _ = run("read", "--bogus"); code != 2 {
		t.Fatalf("unknown flag: exit %d", code)
	}
}

// Every write method has a command (close, release, sync), equivocations
// can be read, an append without a payload is refused rather than writing
// an empty entry, --rpc takes host:port, and with --json errors are JSON.
func TestOperatorCommandsComplete(t *testing.T) {
	node := testnode.StartNode(t, filepath.Join(t.TempDir(), "d"), nil)
	run := func(args ...string) (int, string, string) { return runCommand(node.Addr, args...) }
	const L = "eip155:1:0xcd"
	if code, out, errs := run("append"); code != 2 || !strings.Contains(out+errs, "--empty") {
		t.Fatalf("append with no payload: exit %d %q %q", code, out, errs)
	}
	if head := node.Info().Head.Seq; head != 0 {
		t.Fatalf("an append with no payload wrote %d entries", head)
	}
	if code, out, errs := run("append", "--empty"); code != 0 || !strings.Contains(out, "seq          1") {
		t.Fatalf("append --empty (--rpc host:port): %d %q %q", code, out, errs)
	}
	for i, id := range []string{"a", "b", "c"} {
		if code, _, errs := run("append", "--text", id, "--lineage", L, "--external-id", id); code != 0 {
			t.Fatalf("append %d: %q", i, errs)
		}
	}
	if code, out, errs := run("close", "--lineage", L, "--external-id", "a"); code != 0 || !strings.Contains(out, "close") {
		t.Fatalf("close: %d %q %q", code, out, errs)
	}
	if code, out, errs := run("release", "--lineage", L, "--external-id", "b", "--reason", "rejected"); code != 0 || !strings.Contains(out, "release") {
		t.Fatalf("release: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("release", "--lineage", L, "--external-id", "c"); code != 2 || !strings.Contains(errs, "--reason") {
		t.Fatalf("release without a reason: %d %q", code, errs)
	}
	if code, out, errs := run("sync", "--lineage", L, "--chain-nonce", "3"); code != 0 || !strings.Contains(out, "sync") {
		t.Fatalf("sync: %d %q %q", code, out, errs)
	}
	if code, out, _ := run("ticket", "--lineage", L, "--external-id", "c"); code != 0 || !strings.Contains(out, "closed") {
		t.Fatalf("ticket closed by the sync: %d %q", code, out)
	}
	if code, out, errs := run("equivocations"); code != 0 || !strings.Contains(out, "no equivocation") {
		t.Fatalf("equivocations: %d %q %q", code, out, errs)
	}
	code, out, errs := run("close", "--json", "--lineage", L, "--external-id", "nope")
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code != 4003 {
		t.Fatalf("--json error: %d stdout %q stderr %q", code, out, errs)
	}
	var o, eb bytes.Buffer
	if code := Main([]string{"info", "--rpc", "ftp://x"}, &o, &eb); code != 2 || !strings.Contains(eb.String(), "not a node URL") {
		t.Fatalf("--rpc ftp://x: %d %q", code, eb.String())
	}
}

// sequencer --help names the commands and the run flags; version prints.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{"keygen", "verify", "release", "equivocations", "-rpc-addr", "-datadir"} {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("%v does not mention %s:\n%s", args, want, out.String())
			}
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 0 || out.String() != "sequencer "+Version+"\n" {
			t.Fatalf("%v: %d %q", args, code, out.String())
		}
	}
}

// A start that fails leaves no datadir it made (with a key and identity
// nobody will use); a datadir held by a running node is named as such, and
// is left alone.
func TestFailedStartCleansUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "fresh")
	var out, errb bytes.Buffer
	code := Main([]string{"run", "--datadir", dir, "--rpc-addr", ln.Addr().String(), "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}, &out, &errb)
	if code == 0 {
		t.Fatal("a node started on a port in use")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the failed start left %s behind (%v)", dir, err)
	}

	busy := filepath.Join(t.TempDir(), "busy")
	node := testnode.StartNode(t, busy, nil)
	_ = node
	errb.Reset()
	code = Main([]string{"run", "--datadir", busy, "--rpc-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "node already running") {
		t.Fatalf("second node on a datadir in use: exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(busy, "db")); err != nil {
		t.Fatalf("the datadir of the running node was touched: %v", err)
	}
}
