package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineWriter hands complete lines of the harness's output to t.Log.
type lineWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	s := w.buf.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		sc := bufio.NewScanner(strings.NewReader(s[:i]))
		for sc.Scan() {
			w.t.Log(sc.Text())
		}
		w.buf.Reset()
		w.buf.WriteString(s[i+1:])
	}
	return len(p), nil
}

func testConfig(t *testing.T, bin string) *config {
	dir := t.TempDir()
	return &config{
		Duration: 2 * time.Second, Conns: 4, Batch: 10, Payload: 64, Lineages: 10,
		LineageShare: 0.5, CloseShare: 0.9, ReleaseShare: 0.05, MaxInFlight: 64,
		ClientKey: benchClientKeyHex, Replicas: 1, Wait: 30 * time.Second, NodeBin: bin,
		Out: filepath.Join(dir, "results.json"), Plot: filepath.Join(dir, "plot.svg"),
	}
}

func readResults(t *testing.T, path string) *results {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("results JSON: %v", err)
	}
	return &r
}

// TestHarness runs the harness end to end against real child nodes, in
// tiny configurations, and checks that the results it writes are sane.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "sequencer")
	if err := buildNode(ctx, bin, &lineWriter{t: t}); err != nil {
		t.Fatal(err)
	}

	t.Run("closed loop, batches, replica, late replica", func(t *testing.T) {
		cfg := testConfig(t, bin)
		cfg.LateReplica = true
		if _, err := run(ctx, cfg, &lineWriter{t: t}); err != nil {
			t.Fatal(err)
		}
		r := readResults(t, cfg.Out)
		s := r.Summary
		if s.Counts.Entries == 0 || s.EntriesPerSec <= 0 {
			t.Fatalf("no entries: %+v", s.Counts)
		}
		if s.Counts.ErrorsTotal != 0 {
			t.Fatalf("errors: %v %v", s.Counts.Errors, s.ErrorExamples)
		}
		if s.Counts.Entries != s.Counts.Tx+s.Counts.Close+s.Counts.Release || s.Counts.Close == 0 {
			t.Errorf("entries by kind do not add up, or no close: %+v", s.Counts)
		}
		if len(r.Target.NodeSHA) != 64 {
			t.Errorf("node binary sha256 %q", r.Target.NodeSHA)
		}
		if got := r.Target.EndHead - r.Target.StartHead; got != uint64(s.Counts.Entries) {
			t.Errorf("primary head moved by %d, receipts counted %d entries", got, s.Counts.Entries)
		}
		if s.Latency.N != int(s.Counts.Entries) || s.Latency.P50 <= 0 || s.Latency.P99 < s.Latency.P50 || s.Latency.Max < s.Latency.P99 {
			t.Errorf("latency: %+v", s.Latency)
		}
		if len(r.Series) < 2 {
			t.Errorf("series has %d points", len(r.Series))
		}
		if len(s.Replicas) != 1 {
			t.Fatalf("replicas: %+v", s.Replicas)
		}
		rep := s.Replicas[0]
		if !rep.Converged || rep.Head != r.Target.EndHead {
			t.Errorf("replica not converged: %+v", rep)
		}
		if rep.Matched != int(s.Counts.Entries) || rep.Missing != 0 || rep.Lag.N != rep.Matched {
			t.Errorf("replica lag matched %d of %d entries (missing %d)", rep.Matched, s.Counts.Entries, rep.Missing)
		}
		if rep.LagFromEntryTS.N != int(s.Counts.Entries) || rep.LagFromEntryTS.P50 < 0 {
			t.Errorf("replica lag from timestamps: %+v", rep.LagFromEntryTS)
		}
		if p := s.Pipeline; p == nil || p.Commits == 0 || p.EntriesPerCommit < 1 {
			t.Errorf("primary pipeline: %+v", p)
		}
		if c := s.Calibration; c == nil || c.SignUs <= 0 || c.SignMedianUs < c.SignUs || c.RecoverUs <= 0 {
			t.Fatalf("calibration: %+v", c)
		}
		lr := s.LateReplica
		if lr == nil || !lr.CaughtUp || lr.Entries != r.Target.EndHead || lr.EntriesPerSec <= 0 ||
			lr.CPUUsPerEntry <= 0 || lr.PerRecover != round(lr.CPUUsPerEntry/s.Calibration.RecoverUs, 2) {
			t.Errorf("late replica: %+v", lr)
		}
		if len(s.Nodes) != 3 {
			t.Fatalf("nodes: %+v", s.Nodes)
		}
		for _, n := range s.Nodes {
			if n.CPUSecTotal <= 0 || n.MaxRSSMiB <= 0 || (n.CPUSecLoad == nil) != (n.Name == "late-replica") {
				t.Errorf("node stats: %+v", n)
			}
			// CPU per entry as a multiple of one signature (issue 15).
			if n.CPUUsPerEntry != nil && (n.PerSignature == nil || *n.PerSignature != round(*n.CPUUsPerEntry/s.Calibration.SignUs, 2)) {
				t.Errorf("%s: %v µs per entry, %v signatures", n.Name, *n.CPUUsPerEntry, n.PerSignature)
			}
			if n.CPUUsPerEntry != nil && (n.PerSignatureAllCores == nil || *n.PerSignatureAllCores != round(*n.CPUUsPerEntry/s.Calibration.SignAllCoresUs, 2)) {
				t.Errorf("%s: %v µs per entry, %v all-core signatures", n.Name, *n.CPUUsPerEntry, n.PerSignatureAllCores)
			}
			// And over the crypto its role cannot skip: a replica checks
			// one signature per entry (ecrecover), a primary makes one.
			work, cost := "signature", s.Calibration.SignUs
			if n.Role == "replica" {
				work, cost = "ecrecover", s.Calibration.RecoverUs
			}
			if n.CPUUsPerEntry != nil && (n.Work != work || n.PerWork == nil || *n.PerWork != round(*n.CPUUsPerEntry/cost, 2)) {
				t.Errorf("%s (%s): %v µs per entry, %v × %q", n.Name, n.Role, *n.CPUUsPerEntry, n.PerWork, n.Work)
			}
		}
		if fi, err := os.Stat(cfg.Plot); err != nil || fi.Size() == 0 {
			t.Errorf("plot: %v", err)
		}
	})

	t.Run("open loop, signed, one request per entry, count", func(t *testing.T) {
		cfg := testConfig(t, bin)
		cfg.Signed, cfg.Replicas, cfg.Batch, cfg.Rate, cfg.Count = true, 0, 1, 300, 240
		if _, err := run(ctx, cfg, &lineWriter{t: t}); err != nil {
			t.Fatal(err)
		}
		r := readResults(t, cfg.Out)
		s := r.Summary
		if s.Counts.Calls != cfg.Count || s.Counts.Entries != cfg.Count || s.Counts.ErrorsTotal != 0 {
			t.Fatalf("want %d entries and no error: %+v %v", cfg.Count, s.Counts, s.ErrorExamples)
		}
		if s.OpenLoop == nil || s.OpenLoop.Scheduled != cfg.Count || s.OpenLoop.Sent != cfg.Count || s.LatencyFrom != "scheduled send" {
			t.Errorf("open loop: %+v, latency from %q", s.OpenLoop, s.LatencyFrom)
		}
		// 240 calls at 300/s take about 0.8 s.
		if s.LoadSec < 0.7 || s.LoadSec > 10 {
			t.Errorf("load took %.2f s", s.LoadSec)
		}
		if r.Target.Client == "" || !r.Config.Signed {
			t.Errorf("target: %+v", r.Target)
		}
		if len(s.Replicas) != 0 || len(s.Nodes) != 1 {
			t.Errorf("replicas %d, nodes %d", len(s.Replicas), len(s.Nodes))
		}
	})

	t.Run("chain watcher on a simulated chain", func(t *testing.T) {
		cfg := testConfig(t, bin)
		cfg.WatchChain, cfg.ChainBlock, cfg.Replicas, cfg.Lineages, cfg.Duration = true, 300*time.Millisecond, 0, 200, 3*time.Second
		if _, err := run(ctx, cfg, &lineWriter{t: t}); err != nil {
			t.Fatal(err)
		}
		r := readResults(t, cfg.Out)
		s := r.Summary
		w := s.Watcher
		if s.Counts.Entries == 0 || s.Counts.ErrorsTotal != 0 || w == nil {
			t.Fatalf("counts %+v, watcher %+v", s.Counts, w)
		}
		// Each watched lineage is read twice per block (its confirmed and
		// latest nonce), plus the head: never more.
		if w.Blocks < 2 || w.Watched == 0 || w.Watched > int64(cfg.Lineages) || w.CallsPerBlock > float64(2*cfg.Lineages+2) || w.CallsPerBlock < 1 || w.Errors != 0 {
			t.Fatalf("watcher: %+v", w)
		}
	})

	t.Run("cluster of 3, leader killed twice, signed, replica", func(t *testing.T) {
		cfg := testConfig(t, bin)
		cfg.Cluster, cfg.Failover, cfg.Signed, cfg.Duration = 3, 2, true, 6*time.Second
		if _, err := run(ctx, cfg, &lineWriter{t: t}); err != nil {
			t.Fatal(err)
		}
		r := readResults(t, cfg.Out)
		s := r.Summary
		f := s.Failover
		if f == nil || f.Kills != 2 || len(f.OutageMs) != 2 || f.Note != "" {
			t.Fatalf("failover: %+v", f)
		}
		for _, o := range f.OutageMs {
			if o <= 0 || o > 60_000 || o > f.MaxMs || f.P50Ms > f.MaxMs {
				t.Fatalf("outages %v, p50 %v, max %v", f.OutageMs, f.P50Ms, f.MaxMs)
			}
		}
		if s.Counts.Entries == 0 {
			t.Fatalf("no entries: %+v", s.Counts)
		}
		// No acknowledged write is lost: the replica, following whichever
		// voter leads, holds every entry a receipt named, at the head the
		// cluster reached.
		if len(s.Replicas) != 1 {
			t.Fatalf("replicas: %+v", s.Replicas)
		}
		rep := s.Replicas[0]
		if !rep.Converged || rep.Head != r.Target.EndHead || rep.Matched != int(s.Counts.Entries) || rep.Missing != 0 {
			t.Errorf("replica: %+v (entries %d)", rep, s.Counts.Entries)
		}
		voters := 0
		for _, n := range s.Nodes {
			if n.Role == "voter" {
				voters++
			}
		}
		if voters != 3 || r.Config.Cluster != 3 {
			t.Errorf("nodes: %+v", s.Nodes)
		}
	})
}
