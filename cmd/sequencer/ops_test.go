package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// The operator commands talk to a running node: readable output, --json,
// SPEC error codes on stderr with a non-zero exit.
func TestOperatorCommands(t *testing.T) {
	node := startNode(t, filepath.Join(t.TempDir(), "d"), nil)
	rpcURL := "http://" + node.addr
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(append(args[:1:1], append([]string{"--rpc", rpcURL}, args[1:]...)...), &out, &errb)
		return code, out.String(), errb.String()
	}
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
