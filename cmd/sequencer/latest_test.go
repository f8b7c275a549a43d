package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/seqnode/sequencer/internal/testnode"
)

// `sequencer read --latest N` prints the log's last N entries in seq order.
func TestReadLatestCommand(t *testing.T) {
	node := testnode.StartNode(t, filepath.Join(t.TempDir(), "d"), nil)
	run := func(args ...string) (int, string, string) { return runCommand("http://"+node.Addr, args...) }
	for _, text := range []string{"a", "b", "c", "d"} {
		if code, _, errs := run("append", "--text", text); code != 0 {
			t.Fatalf("append: %d %s", code, errs)
		}
	}
	code, out, errs := run("read", "--latest", "2")
	if code != 0 || !strings.Contains(out, "(2 entries; head 4)") {
		t.Fatalf("read --latest 2: %d %q %q", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "3 ") || !strings.HasPrefix(lines[2], "4 ") {
		t.Fatalf("read --latest 2: want seqs 3 and 4 in order:\n%s", out)
	}
	if code, _, errs = run("read", "--latest", "2000"); code != 1 || !strings.Contains(errs, "-32602") {
		t.Fatalf("read --latest 2000: %d %q", code, errs)
	}
}
