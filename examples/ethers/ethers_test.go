// Package ethers_test runs check.mjs, a Node.js script using ethers v6,
// against a real node: ethers' JsonRpcProvider with its default request
// batching, TypedDataEncoder.hash and verifyTypedData on every entry, and
// EIP-712 Requests signed by an ethers Wallet. It needs node (>= 18) and
// npm on PATH and the npm registry for `npm ci`; without them it skips.
package ethers_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/npmtest"
	"github.com/seqnode/sequencer/internal/testnode"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

const (
	scriptTimeout = 120 * time.Second
	// The Go-written entries include a sync to 2^53+1: a JS number rounds it
	// to 2^53, a valid uint64, so only the exact value gives the right hash.
	bigChainNonce = 1<<53 + 1
)

// A domain other than the defaults, so that a client that assumed chain 1
// or the zero verifying contract would fail.
var domain = sequencer.Domain{
	ChainID:           big.NewInt(31337),
	VerifyingContract: common.HexToAddress("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"),
}

func TestEthers(t *testing.T) {
	dir := installScript(t)

	t.Run("compat", func(t *testing.T) {
		r := runCheck(t, dir, nil, "")
		if r.err != nil {
			t.Fatalf("check.mjs: %v\n%s", r.err, r.out)
		}
		t.Logf("check.mjs output:\n%s", r.out)
		for _, l := range lines(r.out) {
			if strings.HasPrefix(l, "FAIL") {
				t.Errorf("failure line: %s", l)
			}
		}
		wantLines := []string{
			"ok default-provider sequencer_info answered",
			"ok info primary=" + r.primary.Hex() + " chainId=31337 verifyingContract=0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
			"ok batch 5 concurrent sequencer_append calls went out as 1 HTTP batch of 5",
			"ok signed-write Request signed by ethers Wallet " + r.wallet.Hex() + " accepted; receipt sender=" + r.wallet.Hex(),
			"ok unsigned-write rejected",
			"ok close/release",
			"ok error-4003 close of an unknown ticket rejected",
			`ok ticket ethers-0 {"lineage":`,
			`ok big-nonce syncLineage chainNonce "18446744073709551615" (string) accepted; ethers-parsed receipt nonce=18446744073709552000 (rounded), raw body nonce=18446744073709551615`,
			"ok log ",
		}
		for _, w := range wantLines {
			if !hasLine(r.out, w) {
				t.Errorf("no line starting %q", w)
			}
		}

		// What the script wrote, read back in Go: the log is complete and
		// valid, the Wallet is the sender, the big nonce is exact.
		ctx := context.Background()
		c, err := client.Dial(ctx, r.url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Disconnect()
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		page, err := c.Read(ctx, 1, 1000, "")
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(page.Entries)) != info.Head.Seq {
			t.Fatalf("read %d entries, head %d", len(page.Entries), info.Head.Seq)
		}
		if err := client.VerifyChain(domain, r.primary, common.Hash{}, page.Entries); err != nil {
			t.Fatal(err)
		}
		// One "ok entry" line per entry, each with the node's hash and the
		// primary as signer.
		entryLines := 0
		for _, l := range lines(r.out) {
			if strings.HasPrefix(l, "ok entry seq=") {
				entryLines++
			}
		}
		if entryLines != len(page.Entries) {
			t.Errorf("%d 'ok entry' lines, %d entries", entryLines, len(page.Entries))
		}
		byWallet, maxNonce := 0, false
		for _, e := range page.Entries {
			want := fmt.Sprintf("ok entry seq=%d kind=%s nonce=%d sender=%s hash=%s signer=%s",
				e.Seq, e.Kind, e.Nonce, common.Address(e.Sender).Hex(), e.Hash.Hex(), r.primary.Hex())
			if !hasLine(r.out, want) {
				t.Errorf("no line %q", want)
			}
			if common.Address(e.Sender) == r.wallet {
				byWallet++
			}
			if e.Kind == "sync" && e.Nonce == math.MaxUint64 && common.Address(e.Sender) == r.wallet {
				maxNonce = true
			}
		}
		if byWallet < 8 || !maxNonce {
			t.Errorf("entries by the wallet: %d (want >= 8), sync to 2^64-1 by the wallet: %v", byWallet, maxNonce)
		}
		// The lossy JSON.parse of both big nonces was seen and not used.
		for _, w := range []string{
			fmt.Sprintf("[ethers JSON.parse nonce=9007199254740992, exact %d: hash would be", bigChainNonce),
			"[ethers JSON.parse nonce=18446744073709552000, exact 18446744073709551615: TypedDataEncoder throws",
		} {
			if !strings.Contains(r.out, w) {
				t.Errorf("output lacks %q", w)
			}
		}

		// Server side: ethers' default batching reached the node as HTTP
		// batches.
		batches := r.rec.batches()
		if !containsBatch(batches, strings.Repeat("sequencer_append,", 5)) {
			t.Errorf("no HTTP batch of 5 sequencer_append; batches: %v", batches)
		}
		if !containsBatch(batches, "sequencer_close,sequencer_ticket,sequencer_ticket,sequencer_read,") {
			t.Errorf("no HTTP batch [close, ticket, ticket, read]; batches: %v", batches)
		}
		if !containsBatch(batches, "eth_chainId,sequencer_info,") {
			t.Errorf("no HTTP batch [eth_chainId, sequencer_info] from the default provider; batches: %v", batches)
		}
	})

	// Each check can fail: break one thing and the script must exit
	// non-zero with the matching FAIL line.
	negative := []struct {
		name, sabotage string
		wrongPrimary   bool
		want           *regexp.Regexp
	}{
		{name: "wrong-primary", wrongPrimary: true, want: regexp.MustCompile(`(?m)^FAIL default provider: sequencer_info primary: got "0x`)},
		{name: "domain-name", sabotage: "domain-name", want: regexp.MustCompile(`(?m)^FAIL receipt seq 20 hash: got "0x[0-9a-f]{64}", want "0x`)},
		{name: "lossy-uint64", sabotage: "lossy-uint64", want: regexp.MustCompile(`(?m)^FAIL seq 11 hash mismatch: TypedDataEncoder.hash 0x`)},
		{name: "request-kind", sabotage: "request-kind", want: regexp.MustCompile(`(?m)^FAIL batch append ethers-0: node answered \{"code":4001,"message":"unauthorized: bad signature"\}`)},
	}
	for _, n := range negative {
		t.Run("fails/"+n.name, func(t *testing.T) {
			var primary *common.Address
			if n.wrongPrimary {
				a := common.HexToAddress("0x52908400098527886E0F7030069857D2E4169EE7")
				primary = &a
			}
			r := runCheck(t, dir, primary, n.sabotage)
			var ee *exec.ExitError
			if !errors.As(r.err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v\n%s", r.err, r.out)
			}
			if !n.want.MatchString(r.out) {
				t.Fatalf("output does not match %s:\n%s", n.want, r.out)
			}
			t.Logf("failed as expected: %s", failLine(r.out))
		})
	}
}

// installScript installs check.mjs and its pinned ethers in a temporary
// directory (the repository gets no node_modules); it skips without node or
// npm, or without the registry.
func installScript(t *testing.T) string {
	t.Helper()
	return npmtest.Install(t, "the ethers compatibility test", "package.json", "package-lock.json", "check.mjs")
}

type checkRun struct {
	out             string
	err             error
	url             string
	primary, wallet common.Address
	rec             *batchRecorder
}

// runCheck starts a node whose allowlist holds a fresh wallet and a Go
// writer, writes entries of every kind from Go, and runs
// `node check.mjs <url> <primary> <wallet-key>`.
func runCheck(t *testing.T, dir string, primaryArg *common.Address, sabotage string) checkRun {
	t.Helper()
	wallet, _ := crypto.GenerateKey()
	writer, _ := crypto.GenerateKey()
	walletAddr := crypto.PubkeyToAddress(wallet.PublicKey)
	allow := rpc.Allowlist{walletAddr: {}, crypto.PubkeyToAddress(writer.PublicKey): {}}
	rec := &batchRecorder{}
	n := testnode.New(t, testnode.Options{Domain: domain, Allow: allow, Wrap: rec.wrap})
	writeEntries(t, n.URL, writer, n.Sequencer)

	primary := n.Sequencer.Address()
	if primaryArg != nil {
		primary = *primaryArg
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "check.mjs", n.URL, primary.Hex(), "0x"+hex.EncodeToString(crypto.FromECDSA(wallet)))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SEQ_ETHERS_SABOTAGE="+sabotage)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("check.mjs did not finish in %v\n%s", scriptTimeout, out)
	}
	t.Logf("check.mjs ran %v", time.Since(start).Round(time.Millisecond))
	return checkRun{out: string(out), err: err, url: n.URL, primary: n.Sequencer.Address(), wallet: walletAddr, rec: rec}
}

// writeEntries writes seq 1..19 with the Go client: tx, close, release,
// fail, a re-lease of a released nonce, syncs (one to 2^53+1), txs
// without lineage, and an attempt; and, as the chain watcher does, through
// the node's own write path, the entries the node writes itself (SPEC §9):
// a confirm of the attempt, an expire, and a reclaim of a nonce a failed
// ticket left.
func writeEntries(t *testing.T, url string, key *ecdsa.PrivateKey, seq *sequencer.Sequencer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.WithKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	const l = "eip155:31337:0x52908400098527886E0F7030069857D2E4169EE7"
	attemptHash := crypto.Keccak256Hash([]byte("a signed transaction"))
	node := func(op sequencer.Op) func() (*client.Receipt, error) {
		return func() (*client.Receipt, error) {
			op.Sender = seq.Address()
			res, err := seq.Submit(ctx, op)
			if err != nil {
				return nil, err
			}
			return &client.Receipt{Seq: res.Entry.Seq, Kind: res.Entry.Kind.String()}, nil
		}
	}
	tx := func(data, lineage, id string) func() (*client.Receipt, error) {
		return func() (*client.Receipt, error) {
			return c.Append(ctx, client.AppendRequest{Data: []byte(data), Lineage: lineage, ExternalID: id})
		}
	}
	steps := []func() (*client.Receipt, error){
		tx("go tx 1", l, "go-1"),
		tx("go tx 2", l, "go-2"),
		tx("go tx 3", l, "go-3"),
		func() (*client.Receipt, error) { return c.Close(ctx, l, "go-1") },
		func() (*client.Receipt, error) { return c.Release(ctx, l, "go-2", "rejected") },
		func() (*client.Receipt, error) { return c.Release(ctx, l, "go-3", "broadcast") },
		tx("go tx 4", l, "go-4"), // leases the released nonce 1 again
		func() (*client.Receipt, error) { return c.SyncLineage(ctx, l, 3) },
		tx("plain", "", "plain-1"),
		tx("", "", ""), // empty data, no lineage, no externalId
		func() (*client.Receipt, error) { return c.SyncLineage(ctx, "eip155:31337:big-nonce", bigChainNonce) },
		tx("go tx 5", l, "go-5"), // nonce 3
		func() (*client.Receipt, error) { return c.Attempt(ctx, l, "go-5", attemptHash) },
		node(sequencer.Op{Kind: sequencer.KindConfirm, Lineage: l, ExternalID: "go-5", DataHash: attemptHash}),
		tx("go tx 6", l, "go-6"), // nonce 4
		node(sequencer.Op{Kind: sequencer.KindExpire, Lineage: l, ExternalID: "go-6"}),
		tx("go tx 7", l, "go-7"), // nonce 4 again
		func() (*client.Receipt, error) { return c.Release(ctx, l, "go-7", "broadcast") },
		node(sequencer.Op{Kind: sequencer.KindReclaim, Lineage: l, ExternalID: "go-7", ChainNonce: 4}),
	}
	wantKinds := []string{"tx", "tx", "tx", "close", "release", "fail", "tx", "sync", "tx", "tx", "sync",
		"tx", "attempt", "confirm", "tx", "expire", "tx", "fail", "reclaim"}
	for i, step := range steps {
		r, err := step()
		if err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
		if r.Seq != uint64(i+1) || r.Kind != wantKinds[i] {
			t.Fatalf("write %d: seq %d kind %s, want seq %d kind %s", i+1, r.Seq, r.Kind, i+1, wantKinds[i])
		}
	}
	// The released nonce 1 was leased again to go-4.
	if tk, err := c.Ticket(ctx, l, "go-4"); err != nil || tk.Nonce != 1 || tk.State != "closed" {
		t.Fatalf("ticket go-4: %+v, %v", tk, err)
	}
}

// batchRecorder keeps the method names of every HTTP JSON-RPC batch the
// node received.
type batchRecorder struct {
	mu  sync.Mutex
	all []string
}

func (b *batchRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var calls []struct {
				Method string `json:"method"`
			}
			if json.Unmarshal(body, &calls) == nil {
				var s strings.Builder
				for _, c := range calls {
					s.WriteString(c.Method + ",")
				}
				b.mu.Lock()
				b.all = append(b.all, s.String())
				b.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (b *batchRecorder) batches() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.all...)
}

func containsBatch(batches []string, methods string) bool {
	for _, b := range batches {
		if b == methods {
			return true
		}
	}
	return false
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func hasLine(out, prefix string) bool {
	for _, l := range lines(out) {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func failLine(out string) string {
	for _, l := range lines(out) {
		if strings.HasPrefix(l, "FAIL") {
			return strconv.Quote(l)
		}
	}
	return "(none)"
}
