package rpc

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// getPage GETs url as a browser would and returns the status and body.
func getPage(t *testing.T, url, accept string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := wire.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// tricky is an externalId (printable ASCII without space) that is markup
// if a page does not escape it.
const tricky = `<b>x</b>&"'`

// GET / from a browser shows the status page: role, head, peers, health
// and the latest entries, every value escaped; JSON-RPC over POST and
// WebSocket on "/" and a GET that does not ask for HTML are unchanged.
func TestStatusPage(t *testing.T) {
	n := newNode(t, nodeOptions{})
	wire.AppendTx(t, n.url, []byte("one"), "", "")
	wire.AppendTx(t, n.url, []byte("two"), "eip155:1:0xab", tricky)
	resp, page := getPage(t, n.url, browserAccept)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<span id="role">primary</span>`, `<span id="head">2</span>`, `id="peers">0<`,
		`id="health" class="ok">ok<`, `<td>eip155:1:0xab</td>`, `&lt;b&gt;x&lt;/b&gt;&amp;&#34;&#39;`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, tricky) || strings.Contains(page, "<script") || strings.Contains(page, "src=") {
		t.Errorf("page has unescaped input, a script or an external asset:\n%s", page)
	}
	if i, j := strings.Index(page, "<tr><td>2</td>"), strings.Index(page, "<tr><td>1</td>"); i < 0 || j < 0 || i > j {
		t.Errorf("entries not shown newest first:\n%s", page)
	}
	// Not a browser: go-ethereum's answer, as before.
	if resp, body := getPage(t, n.url, ""); strings.Contains(body, "<html") || resp.StatusCode == http.StatusServiceUnavailable {
		t.Errorf("plain GET got the page: %d", resp.StatusCode)
	}
	// JSON-RPC keeps working on "/", over HTTP and WebSocket.
	var w wire.Info
	wire.MustCall(t, n.url, "sequencer_info", nil, &w)
	if w.Head.Seq != 2 {
		t.Fatalf("info: %+v", w)
	}
	var v string
	if err := wsClient(t, n).Call(&v, "web3_clientVersion"); err != nil || !strings.HasPrefix(v, "sequencer/") {
		t.Fatalf("WebSocket: %q %v", v, err)
	}

	// A halted node says so, with /healthz's status code.
	n.store.failWith(errors.New("disk on fire"))
	wire.Call(t, n.url, "sequencer_append", map[string]any{"data": "0x01"})
	resp, page = getPage(t, n.url, browserAccept)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, `class="bad">halted`) {
		t.Fatalf("halted node: %d\n%s", resp.StatusCode, page)
	}
}
