package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

var rewrite = flag.Bool("rewrite", false, "write the answers of this run into testdata/*.txt instead of comparing")

// TestRecordedExchanges replays the JSON-RPC exchanges of testdata/*.txt,
// as go-ethereum's rpc/testdata does: "--> " lines are sent as they are,
// each "<-- " line below one is its answer, byte for byte. A node with a
// fixed key and a frozen clock answers the same bytes every time
// (secp256k1 signatures are deterministic, RFC 6979), so the files are the
// wire format of SPEC §4, readable and diffable.
//
// Every file runs on two fresh nodes: one over HTTP on 127.0.0.1 with the
// server's fast paths, one through go-ethereum's own handler alone; both
// must answer what the file says. Lines starting with "//" are comments,
// except "//! " lines, which set the node up:
//
//	//! max-in-flight N     --max-in-flight (default 64)
//	//! max-data-bytes N    --max-data-bytes (default 131072)
//	//! allow 0xADDR        an allowlist of one: every write must be signed
//	//! role replica        the API answers as a replica
//	//! fail-storage        from here on, every commit fails (the node halts)
//
// Run with -rewrite to record the answers; then read the diff against SPEC.
func TestRecordedExchanges(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no exchanges in testdata: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { replayExchanges(t, path) })
	}
}

// The fixed signer of the recorded nodes and their frozen clock.
const (
	exchangeKey   = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	exchangeClock = 1_800_000_000_000 // Unix ms
)

type exchangeLine struct {
	kind string // "--> ", "<-- ", "//! " or "" (a comment or a blank line)
	text string
}

func readExchanges(t *testing.T, path string) []exchangeLine {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []exchangeLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		kind := ""
		for _, k := range []string{"--> ", "<-- ", "//! "} {
			if strings.HasPrefix(l, k) {
				kind, l = k, strings.TrimPrefix(l, k)
			}
		}
		out = append(out, exchangeLine{kind, l})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func replayExchanges(t *testing.T, path string) {
	lines := readExchanges(t, path)
	// The setup lines come first; they hold for the whole file.
	frozen := time.UnixMilli(exchangeClock)
	opts := nodeOptions{key: mustKey(t, exchangeKey), seq: func(c *sequencer.Config) { c.Now = func() time.Time { return frozen } }}
	var apiOpts []func(*Config)
	for _, l := range lines {
		if l.kind != "//! " {
			continue
		}
		name, arg, _ := strings.Cut(l.text, " ")
		switch name {
		case "max-in-flight":
			n := exchangeInt(t, arg)
			prev := opts.seq
			opts.seq = func(c *sequencer.Config) { prev(c); c.MaxInFlight = n }
		case "max-data-bytes":
			n := exchangeInt(t, arg)
			apiOpts = append(apiOpts, func(c *Config) { c.MaxDataBytes = n })
		case "allow":
			allow, err := ParseAllowlist(arg)
			if err != nil {
				t.Fatal(err)
			}
			apiOpts = append(apiOpts, func(c *Config) { c.Allow = allow })
		case "role":
			apiOpts = append(apiOpts, func(c *Config) { c.Role = arg })
		case "fail-storage":
		default:
			t.Fatalf("%s: unknown setup %q", path, l.text)
		}
	}
	opts.api = func(c *Config) {
		c.Now = func() time.Time { return frozen }
		for _, o := range apiOpts {
			o(c)
		}
	}
	fast, geth := newNode(t, opts), newNode(t, opts)

	var out bytes.Buffer
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch l.kind {
		case "//! ":
			if l.text == "fail-storage" {
				for _, n := range []*node{fast, geth} {
					n.store.failWith(errors.New("injected: the disk is gone"))
				}
			}
		case "<-- ":
			t.Fatalf("%s:%d: an answer without a request", path, i+1)
		case "--> ":
			got := exchangePost(t, fast.url, l.text)
			if viaGeth := exchangeGeth(geth, l.text); viaGeth != got {
				t.Errorf("%s:%d: the fast path and go-ethereum answer differently:\nfast:        %s\ngo-ethereum: %s", path, i+1, got, viaGeth)
			}
			var want []string
			for i+1 < len(lines) && lines[i+1].kind == "<-- " {
				i++
				want = append(want, lines[i].text)
			}
			fmt.Fprintf(&out, "--> %s\n", l.text)
			if got != "" {
				fmt.Fprintf(&out, "<-- %s\n", got)
			}
			if *rewrite {
				continue
			}
			if w := strings.Join(want, "\n"); w != got {
				t.Errorf("%s:%d: %s\nwant %s\ngot  %s", path, i+1-len(want), l.text, w, got)
			}
			continue
		}
		out.WriteString(l.kind + l.text + "\n")
	}
	if *rewrite {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func exchangeInt(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}

// exchangePost sends body to the node's HTTP server; an answer other than
// 200 is recorded as "HTTP status: body".
func exchangePost(t *testing.T, url, body string) string {
	status, b := wire.Post(t, url, body)
	return exchangeAnswer(status, b)
}

// exchangeGeth serves body with go-ethereum's handler alone, bypassing the
// server's fast paths.
func exchangeGeth(n *node, body string) string {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	n.srv.rpc.ServeHTTP(rec, req)
	return exchangeAnswer(rec.Code, rec.Body.Bytes())
}

func exchangeAnswer(status int, b []byte) string {
	s := string(bytes.TrimSpace(b))
	if status != http.StatusOK {
		return fmt.Sprintf("HTTP %d: %s", status, s)
	}
	return s
}
