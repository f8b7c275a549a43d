package rpc

import (
	"context"
	"crypto/ecdsa"
	"io"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/internal/testnode/wire"
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

func hexData(b []byte) string { return hexutil.Encode(b) }

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

func loadVectors(t testing.TB) *wire.Vectors {
	t.Helper()
	return wire.LoadVectors(t, filepath.Join("..", "testdata", "eip712.json"))
}

func vectorDomain(l *wire.VectorLog) sequencer.Domain {
	return sequencer.Domain{ChainID: new(big.Int).SetUint64(l.Domain.ChainID), VerifyingContract: l.Domain.VerifyingContract}
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
