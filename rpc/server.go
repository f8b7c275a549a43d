package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/seqnode/sequencer/logtree"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/semaphore"
)

// ServerOptions bound what one connection may send.
type ServerOptions struct {
	BodyLimit      int   // max HTTP request body; default max(5 MiB, 4×maxData+1 MiB)
	WSReadLimit    int64 // max WebSocket message; default the same
	BatchItemLimit int   // max calls in one batch; default 1000
	BatchRespLimit int   // max bytes of one batch response; default 25 MB
	// WSOrigins are the browser origins allowed to open a WebSocket ("*":
	// any). Empty: only http://localhost and clients that send no Origin
	// (non-browser software), so a web page cannot write to a local node.
	WSOrigins []string
	// Pprof serves net/http/pprof under /debug/pprof/ (off by default:
	// profiles reveal internals).
	Pprof bool
	// BodyBytesInFlight bounds the request bodies being read and decoded
	// at once (each is copied a few times while decoded); room is taken as
	// the bytes arrive, and requests past it wait. WebSocket frames count
	// too, each from when it is read until its writes are answered.
	// Default 64 MiB.
	BodyBytesInFlight int64
	// ReadBytesInFlight bounds the answers of sequencer_read calls being
	// built and written at once (each reserves its most); requests past it
	// wait. Default 256 MiB.
	ReadBytesInFlight int64
	// VHosts are the Host header values admitted on "/" (--rpc-vhosts):
	// "localhost" also admits loopback addresses, "*" any. Default
	// ["localhost"].
	VHosts []string
	// MaxConns bounds open connections; at the bound the longest-idle one
	// is closed for a new one. 0: unbounded.
	MaxConns int
	// Deadlines: request headers, the whole request (headers and body),
	// writing the answer, and keep-alive idleness. Defaults 10 s, 30 s,
	// 60 s, 60 s. WebSocket connections clear them once upgraded.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Server serves JSON-RPC over HTTP and WebSocket at "/", Prometheus
// metrics at /metrics and a health check at /healthz, on one listener.
type Server struct {
	opts   ServerOptions
	bodies *semaphore.Weighted // request body bytes being processed
	reads  *semaphore.Weighted // read answer bytes being built or written
	limit  *connLimiter        // set by Serve when MaxConns > 0
	api    *API
	rpc    *gethrpc.Server
	mux    *http.ServeMux
	http   *http.Server
	ws     wsConns // the WebSocket connections open
}

// NewServer builds the handler over api; gatherer serves /metrics.
func NewServer(api *API, gatherer prometheus.Gatherer, o ServerOptions) (*Server, error) {
	if o.BodyLimit <= 0 {
		o.BodyLimit = max(5<<20, 4*api.cfg.MaxDataBytes+1<<20)
	}
	if o.WSReadLimit <= 0 {
		o.WSReadLimit = int64(o.BodyLimit)
	}
	if o.BatchItemLimit <= 0 {
		o.BatchItemLimit = 1000
	}
	if o.BatchRespLimit <= 0 {
		o.BatchRespLimit = 25_000_000
	}
	if o.BodyBytesInFlight <= 0 {
		o.BodyBytesInFlight = 64 << 20
	}
	o.BodyBytesInFlight = max(o.BodyBytesInFlight, int64(o.BodyLimit), o.WSReadLimit)
	if o.ReadBytesInFlight <= 0 {
		o.ReadBytesInFlight = 256 << 20
	}
	o.ReadBytesInFlight = max(o.ReadBytesInFlight, int64(o.BatchRespLimit), int64(api.cfg.MaxReadBytes))
	if len(o.VHosts) == 0 {
		o.VHosts = []string{"localhost"}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.ReadHeaderTimeout, 10 * time.Second}, {&o.ReadTimeout, 30 * time.Second}, {&o.WriteTimeout, 60 * time.Second}, {&o.IdleTimeout, 60 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	srv := gethrpc.NewServer()
	srv.SetHTTPBodyLimit(o.BodyLimit)
	srv.SetBatchLimits(o.BatchItemLimit, o.BatchRespLimit)
	discover := &DiscoverAPI{}
	svcs := services(api, discover)
	for _, svc := range svcs {
		if err := srv.RegisterName(svc.name, svc.rcvr); err != nil {
			return nil, fmt.Errorf("register %s api: %w", svc.name, err)
		}
	}
	doc, err := openRPC(svcs, api.cfg.Version)
	if err != nil {
		return nil, err
	}
	discover.doc = doc
	s := &Server{opts: o, api: api, rpc: srv, mux: http.NewServeMux(), bodies: semaphore.NewWeighted(o.BodyBytesInFlight),
		reads: semaphore.NewWeighted(o.ReadBytesInFlight)}
	// Made here, not in Serve: Shutdown runs on another goroutine than Serve
	// and must see the same http.Server without a data race.
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: o.ReadTimeout,
		WriteTimeout: o.WriteTimeout, IdleTimeout: o.IdleTimeout}
	if o.MaxConns > 0 {
		s.limit = &connLimiter{slots: make(chan struct{}, o.MaxConns), idle: map[*limitedConn]time.Time{}}
		s.http.ConnState = s.limit.connState
	}
	ws := s.websocketHandler(o.WSOrigins)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if !hostAllowed(o.VHosts, r.Host) {
			http.Error(w, "invalid host specified (see --rpc-vhosts)", http.StatusForbidden)
			return
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws.ServeHTTP(w, r)
			return
		}
		if wantsStatusPage(r) { // a browser: the status page (status.go)
			s.statusPage(w, r)
			return
		}
		s.serveHTTP(w, r)
	})
	s.mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/healthz", s.health)
	s.mux.HandleFunc("GET /checkpoint", s.checkpoint)
	s.mux.HandleFunc("GET /tile/", s.tile)
	if o.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return s, nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	head, _ := s.api.backend.Head()
	body := map[string]any{"status": "ok", "role": s.api.cfg.Role, "head": head.Seq}
	w.Header().Set("Content-Type", "application/json")
	if err := s.api.backend.Halted(); err != nil {
		body["status"] = "halted"
		body["reason"] = err.Error()
		w.WriteHeader(http.StatusServiceUnavailable)
	} else if err := s.api.health(); err != nil {
		body["status"] = "unhealthy"
		body["reason"] = err.Error()
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(body)
}

// Handler is the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if s.limit != nil {
		s.limit.Listener = ln
		ln = s.limit
	}
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops taking connections, waits (up to ctx) for HTTP calls and
// the write calls of WebSocket connections under way to be answered, and
// closes subscriptions and WebSocket connections; every subscription
// goroutine has returned when it does.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.ws.stop()
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	if werr := s.ws.wait(ctx); err == nil {
		err = werr
	}
	s.api.streams.stop()
	s.rpc.Stop() // closes the connections: a stream blocked writing returns
	s.api.streams.wait()
	return err
}

// checkpoint serves the signed note of the head's checkpoint (C2SP
// tlog-tiles' /checkpoint, SPEC §10), for tlog clients and witnesses.
func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := s.api.checkpoint(nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(cp.Note)
}

// tile serves the tree in the C2SP tlog-tiles layout (SPEC §10):
// /tile/<L>/<N>[.p/<W>] hash tiles and /tile/entries/<N>[.p/<W>] bundles
// whose entries are the 32-byte entry hashes (each with its big-endian
// 16-bit length, as bundles are). A full tile never changes.
func (s *Server) tile(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/tile/")
	if strings.HasPrefix(rest, "entries/") {
		rest = "data/" + strings.TrimPrefix(rest, "entries/")
	}
	t, err := tlog.ParseTilePath("tile/8/" + rest) // sumdb's paths name the height; C2SP's do not
	if err != nil || t.H != logtree.Height {
		http.Error(w, "not a tile path", http.StatusNotFound)
		return
	}
	var body []byte
	if t.L < 0 { // an entry bundle
		first := uint64(t.N)<<logtree.Height + 1
		es, err := s.api.reader.Range(first, t.W)
		if err != nil || len(es) != t.W {
			http.Error(w, "no such entry bundle", http.StatusNotFound)
			return
		}
		body = make([]byte, 0, t.W*34)
		for _, e := range es {
			body = append(body, 0, 32)
			body = append(body, e.Hash[:]...)
		}
	} else {
		data, err := s.api.reader.ReadTile(logtree.TileID{Level: t.L, Index: t.N})
		if err != nil || len(data) < t.W*32 {
			http.Error(w, "no such tile", http.StatusNotFound)
			return
		}
		body = data[:t.W*32]
	}
	if t.W == 1<<logtree.Height {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(body)
}
