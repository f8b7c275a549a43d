//go:build unix

package rpc

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// chromiumPath is the browser the test drives: $CHROMIUM, else chromium
// (Debian's package) or chromium-browser on PATH.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if p, err := exec.LookPath(p); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// The status page as a real browser renders it: headless Chromium loads
// GET / and dumps the DOM it built (no script runs: the page has none).
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		t.Skip("Chromium not found (install the Debian package chromium, or set CHROMIUM): the browser check of the status page is skipped")
	}
	n := newNode(t, nodeOptions{})
	wire.AppendTx(t, n.url, []byte("one"), "", "")
	wire.AppendTx(t, n.url, []byte("two"), "eip155:1:0xab", tricky)
	wire.AppendTx(t, n.url, []byte("three"), "", "third")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--dump-dom", n.url)
	// Chromium starts helper processes: its own process group, killed as a
	// whole when the test is done or out of time.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := string(out)
	for _, want := range []string{
		`<span id="role">primary</span>`, `<span id="head">3</span>`, `id="peers">0<`, `class="ok">ok<`,
		`<td>eip155:1:0xab</td>`, `<td>third</td>`,
		`&lt;b&gt;x&lt;/b&gt;&amp;"'`, // the externalId as text, not markup
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, "<b>x</b>") {
		t.Errorf("the externalId became markup:\n%s", dom)
	}
	if rows := strings.Count(dom, "<tr><td>"); rows != 3 {
		t.Errorf("%d entry rows, want 3:\n%s", rows, dom)
	}
}
