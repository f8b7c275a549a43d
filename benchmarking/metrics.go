package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seqnode/sequencer/internal/simchain"
)

// scrapeLabelled reads every sample whose name starts with prefix, keyed
// by name and labels as the text format writes them.
func scrapeLabelled(ctx context.Context, rpcURL, prefix string) (map[string]float64, error) {
	return scrapeAll(ctx, rpcURL, prefix, true)
}

// scrape reads the unlabelled samples of the node's /metrics (Prometheus
// text format) whose names start with prefix.
func scrape(ctx context.Context, rpcURL, prefix string) (map[string]float64, error) {
	return scrapeAll(ctx, rpcURL, prefix, false)
}

func scrapeAll(ctx context.Context, rpcURL, prefix string, labelled bool) (map[string]float64, error) {
	u, err := url.Parse(rpcURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/metrics"
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) || (!labelled && strings.ContainsRune(line, '{')) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name, val, ok := line[:i], line[i+1:], true
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// pipelineStats is what the primary's own metrics say about its group
// commits during the load (differences of its counters).
type pipelineStats struct {
	Commits          int64   `json:"commits"`          // synced group commits
	EntriesPerCommit float64 `json:"entriesPerCommit"` // mean group size
	CommitMsMean     float64 `json:"commitMsMean"`     // mean time of one synced LevelDB batch write
	Overloaded       int64   `json:"overloaded"`       // writes refused with 4007
}

func pipelineDelta(before, after map[string]float64) *pipelineStats {
	if before == nil || after == nil {
		return nil
	}
	d := func(k string) float64 { return after[k] - before[k] }
	p := &pipelineStats{Commits: int64(d("sequencer_commits_total")), Overloaded: int64(d("sequencer_overloaded_total"))}
	if n := d("sequencer_commit_entries_count"); n > 0 {
		p.EntriesPerCommit = round(d("sequencer_commit_entries_sum")/n, 1)
	}
	if n := d("sequencer_commit_seconds_count"); n > 0 {
		p.CommitMsMean = round(d("sequencer_commit_seconds_sum")/n*1e3, 2)
	}
	return p
}

// watcherStats is what the node's chain watcher did during the load
// (--watch-chain), from its /metrics.
type watcherStats struct {
	Watched          int64   `json:"watchedLineages"`  // at the end of the load
	Blocks           int64   `json:"blocks"`           // chain head advance during the load
	CallsPerBlock    float64 `json:"callsPerBlock"`    // JSON-RPC calls (batch elements) per block
	RequestsPerBlock float64 `json:"requestsPerBlock"` // HTTP requests (batches) per block
	Errors           int64   `json:"errors"`
	Entries          int64   `json:"entries"` // entries the node wrote on its own
	Syncs            int64   `json:"syncs"`
}

// chainMetrics reads the primary's chain watcher metrics (labelled).
func (b *bench) chainMetrics(ctx context.Context) map[string]float64 {
	m, _ := scrapeLabelled(ctx, b.primaryURL, "sequencer_chain_")
	return m
}

func watcherDelta(before, after map[string]float64) *watcherStats {
	if before == nil || after == nil {
		return nil
	}
	id := fmt.Sprint(simchain.ChainID)
	k := func(name string) string { return name + `{chain="` + id + `"}` }
	d := func(key string) float64 { return after[key] - before[key] }
	w := &watcherStats{Watched: int64(after[k("sequencer_chain_watched_lineages")]), Blocks: int64(d(k("sequencer_chain_head_block"))),
		Errors: int64(d(k("sequencer_chain_rpc_errors_total")))}
	for key, v := range after {
		if strings.HasPrefix(key, "sequencer_chain_entries_total{") {
			w.Entries += int64(v - before[key])
			if strings.Contains(key, `kind="sync"`) {
				w.Syncs += int64(v - before[key])
			}
		}
	}
	if w.Blocks > 0 {
		w.CallsPerBlock = round(d(k("sequencer_chain_rpc_calls_total"))/float64(w.Blocks), 1)
		w.RequestsPerBlock = round(d(k("sequencer_chain_rpc_requests_total"))/float64(w.Blocks), 1)
	}
	return w
}
