package main

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
)

// nodeInfo is the part of sequencer_info the harness uses.
type nodeInfo struct {
	Role              string         `json:"role"`
	Version           string         `json:"version"`
	Primary           common.Address `json:"primary"`
	ChainID           *big.Int       `json:"chainId"`
	VerifyingContract common.Address `json:"verifyingContract"`
	Head              struct {
		Seq  uint64      `json:"seq"`
		Hash common.Hash `json:"hash"`
	} `json:"head"`
	Peers   int      `json:"peers"`
	P2P     []string `json:"p2p"`
	Halted  bool     `json:"halted"`
	Cluster *struct {
		NodeID string `json:"nodeId"`
		Leader string `json:"leader"`
	} `json:"cluster"`
}

// getInfoURL dials url for one sequencer_info.
func getInfoURL(ctx context.Context, url string) (*nodeInfo, error) {
	c, err := rpc.DialOptions(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return getInfo(ctx, c)
}

func getInfo(ctx context.Context, c *rpc.Client) (*nodeInfo, error) {
	var info nodeInfo
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.CallContext(cctx, &info, "sequencer_info"); err != nil {
		return nil, fmt.Errorf("sequencer_info: %w", err)
	}
	return &info, nil
}

// entryHash reads the hash of the entry at seq.
func entryHash(ctx context.Context, c *rpc.Client, seq uint64) (common.Hash, error) {
	var res struct {
		Entries []struct {
			Seq  uint64      `json:"seq"`
			Hash common.Hash `json:"hash"`
		} `json:"entries"`
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.CallContext(cctx, &res, "sequencer_read", map[string]any{"from": seq, "limit": 1}); err != nil {
		return common.Hash{}, fmt.Errorf("sequencer_read %d: %w", seq, err)
	}
	if len(res.Entries) != 1 || res.Entries[0].Seq != seq {
		return common.Hash{}, fmt.Errorf("sequencer_read %d: entry not there", seq)
	}
	return res.Entries[0].Hash, nil
}

// wsURL turns an http(s) RPC URL into the ws(s) URL of the same endpoint.
func wsURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("%q: want an http:// or ws:// URL", raw)
	}
	return u.String(), nil
}

// watcher follows one replica's entries over a WebSocket subscription and
// records, per seq, when the entry reached the client.
type watcher struct {
	name, url string
	base      uint64
	client    *rpc.Client
	done      chan struct{}

	mu      sync.Mutex
	arr     []int64 // arrival unix ns, index seq-base
	sinceTS []int64 // arrival − the entry's own timestamp (primary clock, ms), ns
	next    uint64  // next seq expected
	cursor  uint64  // next seq the live view matches
	resubs  int
	gaps    int
	lastErr string
}

// seqOnly decodes just the seq and timestamp of a notified entry.
type seqOnly struct {
	Seq       uint64 `json:"seq"`
	Timestamp int64  `json:"timestamp"` // Unix ms at the primary when it ordered the entry
}

// startWatcher subscribes to the entries of the replica at rawURL from seq from on.
func startWatcher(ctx context.Context, name, rawURL string, from uint64) (*watcher, error) {
	ws, err := wsURL(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := rpc.DialOptions(ctx, ws)
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", name, ws, err)
	}
	w := &watcher{name: name, url: rawURL, base: from, next: from, cursor: from, client: c, done: make(chan struct{})}
	ch := make(chan seqOnly, 4096)
	sub, err := w.subscribe(ctx, ch, from)
	if err != nil {
		c.Close()
		return nil, err
	}
	go w.loop(ctx, ch, sub)
	return w, nil
}

func (w *watcher) subscribe(ctx context.Context, ch chan seqOnly, from uint64) (*rpc.ClientSubscription, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sub, err := w.client.Subscribe(cctx, "sequencer", ch, "entries", map[string]any{"from": from})
	if err != nil {
		return nil, fmt.Errorf("%s: subscribe: %w", w.name, err)
	}
	return sub, nil
}

func (w *watcher) loop(ctx context.Context, ch chan seqOnly, sub *rpc.ClientSubscription) {
	defer close(w.done)
	defer w.client.Close()
	for {
		select {
		case e := <-ch:
			t := time.Now().UnixNano()
			w.mu.Lock()
			w.put(e, t)
			w.mu.Unlock()
		case err := <-sub.Err():
			// The subscription broke (connection lost, or the client fell
			// 20,000 notifications behind): subscribe again from the next
			// seq; what comes again from storage arrives late, and says so
			// in the lag.
			sub.Unsubscribe()
			if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			w.resubs++
			if err != nil {
				w.lastErr = err.Error()
			}
			from := w.next
			w.mu.Unlock()
			for {
				ch = make(chan seqOnly, 4096)
				var serr error
				if sub, serr = w.subscribe(ctx, ch, from); serr == nil {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		case <-ctx.Done():
			sub.Unsubscribe()
			return
		}
	}
}

// put records the arrival of seq; callers hold w.mu.
func (w *watcher) put(e seqOnly, t int64) {
	seq := e.Seq
	if seq < w.next {
		return // sent again after a resubscription
	}
	if seq > w.next {
		w.gaps++ // the node promises seq order without gaps; count it if not
	}
	idx := seq - w.base
	if n := idx + 1; n > uint64(len(w.arr)) {
		grow := n - uint64(len(w.arr))
		w.arr = append(w.arr, make([]int64, grow)...)
		w.sinceTS = append(w.sinceTS, make([]int64, grow)...)
	}
	w.arr[idx] = t
	w.sinceTS[idx] = t - e.Timestamp*int64(time.Millisecond)
	w.next = seq + 1
}

// live matches the arrivals since the last call with their receipts and
// returns their lags (ns) and how many entries the replica is behind the
// highest receipt. An arrival whose receipt is not known yet waits for the
// next call, up to a second; the summary matches everything exactly.
func (w *watcher) live(receipts *receiptLog, now time.Time) (lags []int64, behind int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.cursor < w.next {
		a := w.arr[w.cursor-w.base]
		r := receipts.get(w.cursor)
		if r == 0 && a != 0 && now.UnixNano()-a < int64(time.Second) {
			break
		}
		if r != 0 && a != 0 {
			lags = append(lags, a-r)
		}
		w.cursor++
	}
	return lags, max(0, int64(receipts.max())-int64(w.next-1))
}

// waitFor waits until the subscription has delivered seq, up to deadline.
func (w *watcher) waitFor(ctx context.Context, seq uint64, deadline time.Time) bool {
	for {
		w.mu.Lock()
		ok := w.next > seq
		w.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lagSecond is one point of a replica's lag series, by arrival time.
type lagSecond struct {
	T   float64 `json:"t"` // seconds since the load started, end of the interval
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P99 float64 `json:"p99Ms"`
}

// replicaResult is what the harness measured on one replica.
type replicaResult struct {
	Name             string      `json:"name"`
	RPC              string      `json:"rpc"`
	Lag              latency     `json:"lag"`                   // subscription arrival at the client − receipt at the client, per entry
	LagFromEntryTS   latency     `json:"lagFromEntryTimestamp"` // subscription arrival − the entry's timestamp (same host clock; ms resolution)
	Matched          int         `json:"matched"`               // entries with both a receipt and an arrival
	Missing          int         `json:"missing"`               // receipts whose entry never arrived from this replica
	Resubscribes     int         `json:"resubscribes"`
	Gaps             int         `json:"gaps"`
	Converged        bool        `json:"converged"`        // head reached the primary's, same hash there
	ConvergedAfterMs float64     `json:"convergedAfterMs"` // after the last call of the load was answered
	Head             uint64      `json:"head"`
	Note             string      `json:"note,omitempty"`
	Series           []lagSecond `json:"series"`                   // lag, by arrival second
	SeriesFromTS     []lagSecond `json:"seriesFromEntryTimestamp"` // lagFromEntryTimestamp, by arrival second
}

// finish stops the watcher and matches every arrival with its receipt.
func (w *watcher) finish(receipts []int64, start time.Time, cancel context.CancelFunc) replicaResult {
	cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	r := replicaResult{Name: w.name, RPC: w.url, Resubscribes: w.resubs, Gaps: w.gaps}
	if w.lastErr != "" {
		r.Note = "subscription broke: " + w.lastErr
	}
	var lags []int64
	bySec := map[int][]int64{}
	for i, rt := range receipts {
		if rt == 0 {
			continue
		}
		if i >= len(w.arr) || w.arr[i] == 0 {
			r.Missing++
			continue
		}
		lag := w.arr[i] - rt
		lags = append(lags, lag)
		sec := int(time.Duration(w.arr[i] - start.UnixNano()).Seconds())
		bySec[sec] = append(bySec[sec], lag)
	}
	r.Matched = len(lags)
	r.Lag = summarize(lags)
	r.Series = bySecond(bySec)

	var ts []int64
	tsBySec := map[int][]int64{}
	for i, a := range w.arr {
		if a == 0 {
			continue
		}
		ts = append(ts, w.sinceTS[i])
		sec := int(time.Duration(a - start.UnixNano()).Seconds())
		tsBySec[sec] = append(tsBySec[sec], w.sinceTS[i])
	}
	r.LagFromEntryTS = summarize(ts)
	r.SeriesFromTS = bySecond(tsBySec)
	return r
}

func bySecond(m map[int][]int64) []lagSecond {
	secs := make([]int, 0, len(m))
	for s := range m {
		secs = append(secs, s)
	}
	slices.Sort(secs)
	out := make([]lagSecond, 0, len(secs))
	for _, s := range secs {
		l := summarize(m[s])
		out = append(out, lagSecond{T: float64(s + 1), N: l.N, P50: l.P50, P99: l.P99})
	}
	return out
}

// convergence is how one replica reached the primary's head after the load.
type convergence struct {
	ok    bool
	after time.Duration
	head  uint64
	note  string
}

// waitConverged polls the replica until its head reaches target and its
// entry there has the primary's hash, or until deadline.
func waitConverged(ctx context.Context, rep *rpc.Client, target uint64, want common.Hash, since, deadline time.Time) convergence {
	var cv convergence
	for {
		info, err := getInfo(ctx, rep)
		now := time.Now()
		if err == nil {
			cv.head = info.Head.Seq
			if info.Head.Seq >= target {
				cv.after = now.Sub(since)
				if target == 0 {
					cv.ok = true
					return cv
				}
				h, err := entryHash(ctx, rep, target)
				switch {
				case err != nil:
					cv.note = err.Error()
				case h != want:
					cv.note = fmt.Sprintf("hash at seq %d differs from the primary's: %s vs %s", target, h, want)
				default:
					cv.ok = true
				}
				return cv
			}
			if info.Halted {
				cv.note = "replica halted (equivocation seen?)"
				return cv
			}
		} else {
			cv.note = err.Error()
		}
		if now.After(deadline) || ctx.Err() != nil {
			if cv.note == "" {
				cv.note = fmt.Sprintf("head %d of %d when the wait ended", cv.head, target)
			}
			return cv
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lateResult is the catch-up of a replica started after the load.
type lateResult struct {
	Entries       uint64  `json:"entries"`       // the primary's head: what it had to fetch
	ReadyAfterMs  float64 `json:"readyAfterMs"`  // process start → /healthz answered
	CatchUpSec    float64 `json:"catchUpSec"`    // process start → head equal to the primary's (same hash)
	EntriesPerSec float64 `json:"entriesPerSec"` // entries / catchUpSec
	CaughtUp      bool    `json:"caughtUp"`
	// CPUUsPerEntry is the replica's CPU from its start to caught up per
	// entry it fetched and verified; PerRecover that over one ecrecover
	// (issue 15: what a replica spends beside the check it must make).
	CPUUsPerEntry float64 `json:"cpuUsPerEntry,omitempty"`
	PerRecover    float64 `json:"cpuPerEntryOverRecover,omitempty"`
	Note          string  `json:"note,omitempty"`
}

// runLateReplica starts one more replica and times its catch-up to target.
func runLateReplica(ctx context.Context, cl *cluster, args, env []string, target uint64, want common.Hash, wait time.Duration) (lateResult, error) {
	lr := lateResult{Entries: target}
	n, err := cl.start(ctx, "late-replica", "replica", args, env)
	if err != nil {
		return lr, err
	}
	lr.ReadyAfterMs = ms(int64(n.ready.Sub(n.started)))
	c, err := rpc.DialOptions(ctx, n.url())
	if err != nil {
		return lr, err
	}
	defer c.Close()
	cv := waitConverged(ctx, c, target, want, n.started, time.Now().Add(wait))
	lr.CaughtUp, lr.Note = cv.ok, cv.note
	if cv.ok {
		lr.CatchUpSec = cv.after.Seconds()
		if lr.CatchUpSec > 0 {
			lr.EntriesPerSec = float64(target) / lr.CatchUpSec
		}
		if ps, err := readProc(n.pid()); err == nil && target > 0 {
			lr.CPUUsPerEntry = round(ps.CPU.Seconds()*1e6/float64(target), 1)
		}
	}
	return lr, nil
}

// waitPeers waits until the primary sees want peers and every replica at
// least one, so that gossip has somewhere to go when the load starts.
func waitPeers(ctx context.Context, primary *rpc.Client, replicas []*rpc.Client, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		info, err := getInfo(ctx, primary)
		if err != nil {
			return err
		}
		if info.Peers < want {
			missing = append(missing, fmt.Sprintf("primary has %d of %d peers", info.Peers, want))
		}
		for i, r := range replicas {
			ri, err := getInfo(ctx, r)
			if err != nil {
				return err
			}
			if ri.Peers < 1 {
				missing = append(missing, fmt.Sprintf("replica %d has no peer", i+1))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("peers did not connect: " + strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
