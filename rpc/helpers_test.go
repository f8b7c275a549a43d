package rpc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/sequencer"
)

// The harness runs a real node in-process: a LevelDB store on a temp dir,
// the sequencer pipeline, the API and the Server, served by httptest on
// 127.0.0.1. Every test talks to it over HTTP or WebSocket with the exact
// bytes a client would send.

// testNow is the fixed clock of the API in permissioned tests (Unix seconds).
const testNow = 1_800_000_000

var (
	testLineage = "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7"
	chain1      = sequencer.Domain{ChainID: big.NewInt(1)}
)

// faultStore wraps the LevelDB store so a test can hold or fail group
// commits: the way to fill the pipeline (4007) or halt the node (4009)
// without touching the code under test.
type faultStore struct {
	*sequencer.LevelStore
	mu   sync.Mutex
	gate chan struct{} // non-nil: Commit waits until it is closed
	fail error         // non-nil: Commit fails with it
}

func (f *faultStore) Commit(es []*sequencer.Entry, d sequencer.Dirty) error {
	f.mu.Lock()
	gate, fail := f.gate, f.fail
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	return f.LevelStore.Commit(es, d)
}

// hold makes every later Commit wait; the returned func releases them.
func (f *faultStore) hold() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.gate = ch
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.gate = nil
			f.mu.Unlock()
			close(ch)
		})
	}
}

func (f *faultStore) failWith(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

type nodeOptions struct {
	key     *ecdsa.PrivateKey
	domain  sequencer.Domain
	seq     func(*sequencer.Config)
	api     func(*Config)
	metrics bool
}

type node struct {
	t     testing.TB
	key   *ecdsa.PrivateKey
	store *faultStore
	seq   *sequencer.Sequencer
	api   *API
	srv   *Server
	reg   *prometheus.Registry
	mets  *sequencer.Metrics
	url   string // http://127.0.0.1:port/
	ws    string // ws://127.0.0.1:port/
}

// newNode starts a primary over a fresh store. Cleanup shuts the server
// down, then the sequencer, then the store.
func newNode(t testing.TB, o nodeOptions) *node {
	t.Helper()
	if o.key == nil {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		o.key = k
	}
	if o.domain.ChainID == nil {
		o.domain = chain1
	}
	ls, err := sequencer.OpenLevelStore(filepath.Join(t.TempDir(), "db"), false)
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{LevelStore: ls}
	reg := prometheus.NewRegistry()
	scfg := sequencer.Config{Key: o.key, Domain: o.domain, Logger: quietLogger()}
	if o.metrics {
		scfg.Metrics = sequencer.NewMetrics(reg)
	}
	if o.seq != nil {
		o.seq(&scfg)
	}
	seq, err := sequencer.New(fs, scfg)
	if err != nil {
		ls.Close()
		t.Fatal(err)
	}
	n := &node{t: t, key: o.key, store: fs, seq: seq, reg: reg, mets: scfg.Metrics}
	t.Cleanup(func() {
		seq.Close()
		if err := ls.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	cfg := Config{Role: "primary", Version: "test", Primary: seq.Address(), Domain: o.domain, Logger: quietLogger()}
	if o.api != nil {
		o.api(&cfg)
	}
	n.api, n.url, n.srv = serveAPI(t, seq, cfg, reg)
	n.ws = "ws" + strings.TrimPrefix(n.url, "http")
	return n
}

// serveAPI serves an API over seq on a new loopback listener. Several
// APIs may share one sequencer (an open and a permissioned one over the same
// log, or a "replica" role over a halted node).
func serveAPI(t testing.TB, seq *sequencer.Sequencer, cfg Config, reg *prometheus.Registry) (*API, string, *Server) {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	api := NewAPI(seq, seq.Store(), cfg, reg)
	srv, err := NewServer(api, reg, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Start() // httptest listens on 127.0.0.1
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.CloseClientConnections()
		hs.Close()
	})
	return api, hs.URL + "/", srv
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rpcError is a JSON-RPC error object as it is on the wire.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("code %d: %s (data %s)", e.Code, e.Message, e.Data)
}

// response is one JSON-RPC response as it is on the wire.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *rpcError       `json:"error"`
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// post sends body as is and returns the HTTP status and the raw answer.
func post(t testing.TB, url, body string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp.StatusCode, b
}

// rawCall posts one request and decodes the single response.
func rawCall(t testing.TB, url, body string) response {
	t.Helper()
	status, b := post(t, url, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, b)
	}
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer is not one JSON-RPC response: %v: %s", err, b)
	}
	if r.JSONRPC != "2.0" {
		t.Fatalf("answer without jsonrpc 2.0: %s", b)
	}
	return r
}

// request builds the exact bytes of a call with one params object (or
// none when params is nil).
func request(method string, params any) string {
	if params == nil {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q}`, method)
	}
	p, err := json.Marshal(params)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":[%s]}`, method, p)
}

// tryCall posts one request and decodes the single response; unlike
// rawCall it may run on any goroutine.
func tryCall(url, body string) (response, error) {
	resp, err := httpClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		return response{}, fmt.Errorf("HTTP %d, not one JSON-RPC response: %s", resp.StatusCode, b)
	}
	if r.Error == nil && r.Result == nil {
		return response{}, fmt.Errorf("neither result nor error: %s", b)
	}
	return r, nil
}

// call makes one call with one params object; it returns the raw result,
// or the error.
func call(t testing.TB, url, method string, params any) (json.RawMessage, *rpcError) {
	t.Helper()
	r := rawCall(t, url, request(method, params))
	if r.Error != nil {
		return nil, r.Error
	}
	if r.Result == nil {
		t.Fatalf("%s: neither result nor error", method)
	}
	return r.Result, nil
}

// mustCall makes a call that must succeed and decodes its result into out
// (if non-nil); it returns the raw result.
func mustCall(t testing.TB, url, method string, params any, out any) json.RawMessage {
	t.Helper()
	res, e := call(t, url, method, params)
	if e != nil {
		t.Fatalf("%s %v: %v", method, params, e)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("%s: decode %s: %v", method, res, err)
		}
	}
	return res
}

// wantError makes a call that must fail with code and, if data is not
// empty, exactly that data (compared as JSON values).
func wantError(t testing.TB, url, method string, params any, code int, data string) *rpcError {
	t.Helper()
	_, e := call(t, url, method, params)
	if e == nil {
		t.Fatalf("%s %v: succeeded, want error %d", method, params, code)
	}
	checkError(t, e, code, data)
	return e
}

func checkError(t testing.TB, e *rpcError, code int, data string) {
	t.Helper()
	if e.Code != code {
		t.Fatalf("error %v, want code %d", e, code)
	}
	if data != "" && !jsonEqual(e.Data, []byte(data)) {
		t.Fatalf("error %d data %s, want %s", code, e.Data, data)
	}
	if data == "" && codeHasNoData[code] && len(e.Data) != 0 && string(e.Data) != "null" {
		t.Fatalf("error %d has data %s; SPEC §4 gives none", code, e.Data)
	}
}

// codeHasNoData: the SPEC §4 codes whose table row gives no data.
var codeHasNoData = map[int]bool{4001: true, 4003: true, 4007: true, 4008: true, 4009: true}

func jsonEqual(a, b []byte) bool {
	var x, y any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// Wire types, decoded independently of the package's own JSON types.

type wEntry struct {
	Seq        uint64          `json:"seq"`
	Hash       common.Hash     `json:"hash"`
	PrevHash   common.Hash     `json:"prevHash"`
	Kind       string          `json:"kind"`
	Sender     common.Address  `json:"sender"`
	Lineage    string          `json:"lineage"`
	Nonce      uint64          `json:"nonce"`
	ExternalID string          `json:"externalId"`
	DataHash   common.Hash     `json:"dataHash"`
	Data       *hexutil.Bytes  `json:"data"`
	Timestamp  uint64          `json:"timestamp"`
	Signature  hexutil.Bytes   `json:"signature"`
	Existing   *bool           `json:"existing"`
	Raw        json.RawMessage `json:"-"`
}

type wTicket struct {
	Lineage    string  `json:"lineage"`
	ExternalID string  `json:"externalId"`
	Nonce      uint64  `json:"nonce"`
	State      string  `json:"state"`
	LeaseSeq   uint64  `json:"leaseSeq"`
	FinalSeq   *uint64 `json:"finalSeq"`
}

type wLineage struct {
	Lineage   string `json:"lineage"`
	NextNonce uint64 `json:"nextNonce"`
	Floor     uint64 `json:"floor"`
	InFlight  []struct {
		Nonce      uint64 `json:"nonce"`
		ExternalID string `json:"externalId"`
		Seq        uint64 `json:"seq"`
	} `json:"inFlight"`
	Released []uint64 `json:"released"`
	Closed   uint64   `json:"closed"`
	Failed   uint64   `json:"failed"`
}

type wRead struct {
	Entries []wEntry `json:"entries"`
	Head    uint64   `json:"head"`
}

type wInfo struct {
	Role              string `json:"role"`
	Version           string `json:"version"`
	Primary           string `json:"primary"`
	ChainID           uint64 `json:"chainId"`
	VerifyingContract string `json:"verifyingContract"`
	Head              struct {
		Seq  uint64      `json:"seq"`
		Hash common.Hash `json:"hash"`
	} `json:"head"`
	Lineages    int      `json:"lineages"`
	Peers       int      `json:"peers"`
	P2P         []string `json:"p2p"`
	Halted      bool     `json:"halted"`
	PrimaryHead *uint64  `json:"primaryHead"`
}

// Calls used everywhere.

func hexData(b []byte) string { return hexutil.Encode(b) }

func appendTx(t testing.TB, url string, data []byte, lineage, externalID string) wEntry {
	t.Helper()
	p := map[string]any{"data": hexData(data)}
	if lineage != "" {
		p["lineage"] = lineage
	}
	if externalID != "" {
		p["externalId"] = externalID
	}
	var r wEntry
	r.Raw = mustCall(t, url, "sequencer_append", p, &r)
	return r
}

func ticketCall(t testing.TB, url, method, lineage, externalID string, extra map[string]any) wEntry {
	t.Helper()
	p := map[string]any{"lineage": lineage, "externalId": externalID}
	for k, v := range extra {
		p[k] = v
	}
	var r wEntry
	r.Raw = mustCall(t, url, method, p, &r)
	return r
}

func closeTicket(t testing.TB, url, lineage, externalID string) wEntry {
	t.Helper()
	return ticketCall(t, url, "sequencer_close", lineage, externalID, nil)
}

func releaseTicket(t testing.TB, url, lineage, externalID, reason string) wEntry {
	t.Helper()
	return ticketCall(t, url, "sequencer_release", lineage, externalID, map[string]any{"reason": reason})
}

func syncLineage(t testing.TB, url, lineage string, chainNonce uint64) wEntry {
	t.Helper()
	var r wEntry
	r.Raw = mustCall(t, url, "sequencer_syncLineage", map[string]any{"lineage": lineage, "chainNonce": chainNonce}, &r)
	return r
}

func getTicket(t testing.TB, url, lineage, externalID string) (wTicket, json.RawMessage) {
	t.Helper()
	var tk wTicket
	raw := mustCall(t, url, "sequencer_ticket", map[string]any{"lineage": lineage, "externalId": externalID}, &tk)
	return tk, raw
}

func getLineage(t testing.TB, url, lineage string) (wLineage, json.RawMessage) {
	t.Helper()
	var l wLineage
	raw := mustCall(t, url, "sequencer_lineage", map[string]any{"lineage": lineage}, &l)
	return l, raw
}

func readLog(t testing.TB, url string, params map[string]any) (wRead, json.RawMessage) {
	t.Helper()
	var r wRead
	raw := mustCall(t, url, "sequencer_read", params, &r)
	return r, raw
}

func info(t testing.TB, url string) (wInfo, json.RawMessage) {
	t.Helper()
	var i wInfo
	raw := mustCall(t, url, "sequencer_info", nil, &i)
	return i, raw
}

// readAll reads the whole log through the API, 1000 at a time.
func readAll(t testing.TB, url string) []wEntry {
	t.Helper()
	var out []wEntry
	for from := uint64(1); ; {
		r, _ := readLog(t, url, map[string]any{"from": from, "limit": 1000})
		out = append(out, r.Entries...)
		if len(r.Entries) == 0 || out[len(out)-1].Seq >= r.Head {
			return out
		}
		from = out[len(out)-1].Seq + 1
	}
}

// checkReadable asserts that every receipt is in the log, unchanged.
func checkReadable(t testing.TB, url string, receipts []wEntry) {
	t.Helper()
	log := readAll(t, url)
	for _, r := range receipts {
		if r.Seq < 1 || r.Seq > uint64(len(log)) {
			t.Fatalf("receipt of seq %d, log has %d entries", r.Seq, len(log))
		}
		e := log[r.Seq-1]
		if e.Seq != r.Seq || e.Hash != r.Hash || e.PrevHash != r.PrevHash || e.Kind != r.Kind ||
			e.Sender != r.Sender || e.Lineage != r.Lineage || e.Nonce != r.Nonce ||
			e.ExternalID != r.ExternalID || e.DataHash != r.DataHash || e.Timestamp != r.Timestamp ||
			!bytes.Equal(e.Signature, r.Signature) {
			t.Fatalf("seq %d: receipt %+v, log %+v", r.Seq, r, e)
		}
	}
}

// verifyLog checks the stored log offline (SPEC §5), once the node has
// stopped writing.
func verifyLog(t testing.TB, n *node) {
	t.Helper()
	if _, err := sequencer.Verify(n.store.LevelStore); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// Signed Requests (SPEC §4 Permissioning).

func signRequest(t testing.TB, key *ecdsa.PrivateKey, d sequencer.Domain, req sequencer.Request) hexutil.Bytes {
	t.Helper()
	sig, err := sequencer.Sign(sequencer.NewHasher(d).RequestHash(&req), key)
	if err != nil {
		t.Fatal(err)
	}
	return sig[:]
}

// signed adds from, deadline and signature over req to params.
func signed(t testing.TB, key *ecdsa.PrivateKey, d sequencer.Domain, req sequencer.Request, params map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range params {
		out[k] = v
	}
	out["from"] = crypto.PubkeyToAddress(key.PublicKey).Hex()
	out["deadline"] = req.Deadline
	out["signature"] = signRequest(t, key, d, req)
	return out
}

func mustKey(t testing.TB, hexKey string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.HexToECDSA(strings.TrimPrefix(hexKey, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The fixed vectors of testdata/eip712.json (made by internal/vectorgen).

type vectorRequest struct {
	Kind       uint8          `json:"kind"`
	Lineage    string         `json:"lineage"`
	ExternalID string         `json:"externalId"`
	DataHash   common.Hash    `json:"dataHash"`
	Nonce      uint64         `json:"nonce"`
	Deadline   uint64         `json:"deadline"`
	From       common.Address `json:"from"`
	Hash       common.Hash    `json:"hash"`
	Signature  hexutil.Bytes  `json:"signature"`
}

type vectorLog struct {
	Domain struct {
		ChainID           uint64         `json:"chainId"`
		VerifyingContract common.Address `json:"verifyingContract"`
	} `json:"domain"`
	Entries  []json.RawMessage `json:"entries"`
	Requests []vectorRequest   `json:"requests"`
}

func (l *vectorLog) entry(t testing.TB, i int) wEntry {
	t.Helper()
	var e wEntry
	if err := json.Unmarshal(l.Entries[i], &e); err != nil {
		t.Fatalf("vector entry %d: %v", i, err)
	}
	e.Raw = l.Entries[i]
	return e
}

type vectors struct {
	Client     common.Address `json:"client"`
	ClientKey  string         `json:"clientKey"`
	Primary    common.Address `json:"primary"`
	PrimaryKey string         `json:"primaryKey"`
	Logs       []vectorLog    `json:"logs"`
}

func (l *vectorLog) domain() sequencer.Domain {
	return sequencer.Domain{ChainID: new(big.Int).SetUint64(l.Domain.ChainID), VerifyingContract: l.Domain.VerifyingContract}
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "eip712.json"))
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	if len(v.Logs) != 2 {
		t.Fatalf("test vectors: %d logs, want 2", len(v.Logs))
	}
	return &v
}

// wsClient dials the node over WebSocket with go-ethereum's client.
func wsClient(t testing.TB, n *node) *gethrpc.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gethrpc.DialWebsocket(ctx, n.ws, "")
	if err != nil {
		t.Fatalf("dial %s: %v", n.ws, err)
	}
	t.Cleanup(c.Close)
	return c
}

func httpRPCClient(t testing.TB, url string) *gethrpc.Client {
	t.Helper()
	c, err := gethrpc.DialHTTP(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// codeOf returns the JSON-RPC code of an error from go-ethereum's client.
func codeOf(err error) int {
	var e gethrpc.Error
	if errors.As(err, &e) {
		return e.ErrorCode()
	}
	return 0
}

func dataOf(err error) json.RawMessage {
	var e gethrpc.DataError
	if errors.As(err, &e) {
		b, _ := json.Marshal(e.ErrorData())
		return b
	}
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
