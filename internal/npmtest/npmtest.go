// Package npmtest installs a Node.js script's pinned npm dependencies for a
// test: the script's files are copied to a temporary directory and `npm ci`
// runs there, so the repository never holds node_modules. A test skips,
// with the reason, where Node.js (>= 18) or npm is missing or the registry
// cannot be reached; any other npm failure fails it.
package npmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Timeout bounds `npm ci`.
const Timeout = 5 * time.Minute

// Install copies files (paths relative to the test's directory) into a
// temporary directory, runs `npm ci` there and returns the directory. what
// names the test in skip messages.
func Install(t *testing.T, what string, files ...string) string {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node is not on PATH: skipping %s", what)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skipf("npm is not on PATH: skipping %s", what)
	}
	v, err := exec.Command(nodeBin, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	version := strings.TrimSpace(string(v))
	var major int
	if _, err := fmt.Sscanf(version, "v%d.", &major); err != nil || major < 18 {
		t.Skipf("node %s is older than 18: skipping %s", version, what)
	}
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			t.Skipf("npm ci did not finish in %v (registry unreachable or slow?): skipping %s\n%s", Timeout, what, Tail(out))
		}
		if unreachable.Match(out) {
			t.Skipf("npm registry unreachable: skipping %s\n%s", what, Tail(out))
		}
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	t.Logf("npm ci (node %s) took %v", version, time.Since(start).Round(time.Millisecond))
	return dir
}

// Tail is the end of a command's output, enough to see why it failed.
func Tail(out []byte) []byte {
	if len(out) > 1500 {
		return append([]byte("…"), out[len(out)-1500:]...)
	}
	return out
}

var unreachable = regexp.MustCompile(`ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|network (request|connectivity)`)
