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
)

// scrape reads the unlabelled samples of the node's /metrics (Prometheus
// text format) whose names start with prefix.
func scrape(ctx context.Context, rpcURL, prefix string) (map[string]float64, error) {
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
		if !strings.HasPrefix(line, prefix) || strings.ContainsRune(line, '{') {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
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
