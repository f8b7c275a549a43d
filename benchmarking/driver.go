package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/sequencer"
)

// callTimeout bounds one call or batch; past it the call counts as a
// "timeout" error.
const callTimeout = 60 * time.Second

const errKeyOverloaded = "4007 Overloaded"

// codeNames are the names SPEC §4 gives the error codes.
var codeNames = map[int]string{
	-32700: "Parse error", -32600: "Invalid request", -32601: "Method not found",
	-32602: "Invalid params", -32603: "Internal error",
	4001: "Unauthorized", 4002: "NotPrimary", 4003: "NotFound", 4004: "TicketFinal",
	4005: "TooManyInFlight", 4006: "TooLarge", 4007: "Overloaded", 4008: "ExternalIdConflict", 4009: "Halted",
}

// classify names an error by its JSON-RPC code when the node answered
// one (answered is then true), else by what went wrong on the way.
func classify(err error) (key string, answered bool) {
	if code := client.Code(err); code != 0 {
		if name, ok := codeNames[code]; ok {
			return fmt.Sprintf("%d %s", code, name), true
		}
		return fmt.Sprintf("%d", code), true
	}
	var he rpc.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("http %d", he.StatusCode), false
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", false
	case errors.Is(err, context.Canceled):
		return "canceled", false
	}
	return "transport", false
}

// loadStats is what the load phase measured beyond the recorder.
type loadStats struct {
	Start, End  time.Time // first send; last call answered
	Scheduled   int64     // open loop: call slots offered
	Sent        int64     // calls sent
	SendDelay   latency   // open loop: how late batches left after their scheduled time
	LineageFull int64
	LeftLeased  int64
	Retried     int64
	Interrupted bool
}

// driver runs the workers against the primary.
type driver struct {
	cfg     *config
	w       *workload
	rec     *recorder
	clients []*client.Client
	end     time.Time // duration mode: no batch is sent after it

	sent atomic.Int64
	dmu  sync.Mutex
	dly  []int64
}

// newClients makes one client per connection, all over one shared HTTP
// transport with an idle connection kept for each of them, spread over
// urls in turn. They never retry (every answer is counted) and sign with
// key when it is set.
func newClients(ctx context.Context, urls []string, n int, domain sequencer.Domain, key *ecdsa.PrivateKey) ([]*client.Client, *http.Transport, error) {
	tr := &http.Transport{
		MaxIdleConns:        2 * n,
		MaxIdleConnsPerHost: 2 * n,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	opts := []client.Option{client.WithHTTPClient(&http.Client{Transport: tr}), client.WithRetries(0, 0), client.WithDomain(domain)}
	if key != nil {
		opts = append(opts, client.WithKey(key))
	}
	var out []*client.Client
	for i := range n {
		url := urls[i%len(urls)]
		c, err := client.Dial(ctx, url, opts...)
		if err != nil {
			for _, c := range out {
				c.Disconnect()
			}
			return nil, nil, fmt.Errorf("dial %s: %w", url, err)
		}
		out = append(out, c)
	}
	return out, tr, nil
}

// run drives load until the duration or count is reached or ctx ends,
// and waits for every call under way.
func (d *driver) run(ctx context.Context, start time.Time) loadStats {
	st := loadStats{Start: start}
	if d.cfg.Count == 0 {
		d.end = start.Add(d.cfg.Duration)
	}
	var wg sync.WaitGroup
	if d.cfg.Rate > 0 {
		tickets := make(chan ticket, 1<<16)
		var scheduled atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.schedule(ctx, start, tickets, &scheduled)
		}()
		for i := range d.cfg.Conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.openWorker(ctx, d.clients[i], newGen(d.w, i), tickets)
			}()
		}
		wg.Wait()
		st.Scheduled = scheduled.Load()
	} else {
		for i := range d.cfg.Conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.closedWorker(ctx, d.clients[i], newGen(d.w, i))
			}()
		}
		wg.Wait()
	}
	st.End = time.Now()
	st.Sent = d.sent.Load()
	st.SendDelay = summarize(append([]int64(nil), d.dly...))
	st.LineageFull = d.w.lineageFull.Load()
	st.LeftLeased = d.w.leftLeased.Load()
	st.Retried = d.w.retried.Load()
	st.Interrupted = ctx.Err() != nil
	return st
}

func (d *driver) expired(now time.Time) bool {
	return !d.end.IsZero() && !now.Before(d.end)
}

// closedWorker sends a batch, waits for its answer, and sends the next.
// Latency is measured from the actual send.
func (d *driver) closedWorker(ctx context.Context, c *client.Client, g *gen) {
	for ctx.Err() == nil && !d.expired(time.Now()) {
		calls := g.next(d.cfg.Batch)
		if len(calls) == 0 {
			return
		}
		if !d.send(ctx, c, calls, time.Now()) {
			// No node answered (a voter being restarted by --failover):
			// back off a little, as a client would, rather than spin.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// ticket is one scheduled batch of the open loop.
type ticket struct {
	at time.Time
	n  int
}

// schedule issues batches at fixed times: batch k is due at
// start + k·batch/rate, whether or not earlier batches have been answered.
// scheduled counts the call slots due before the end, sent or not.
func (d *driver) schedule(ctx context.Context, start time.Time, out chan<- ticket, scheduled *atomic.Int64) {
	defer close(out)
	interval := float64(d.cfg.Batch) / d.cfg.Rate // seconds per batch
	due := func(k int64) time.Time { return start.Add(time.Duration(float64(k) * interval * float64(time.Second))) }
	total := int64(math.MaxInt64)
	if d.cfg.Count > 0 {
		total = d.cfg.Count
	}
	var endC <-chan time.Time
	if !d.end.IsZero() {
		t := time.NewTimer(time.Until(d.end))
		defer t.Stop()
		endC = t.C
	}
	var issued int64
	for k := int64(0); issued < total; k++ {
		at := due(k)
		if d.expired(at) {
			return
		}
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		n := int(min(int64(d.cfg.Batch), total-issued))
		select {
		case out <- ticket{at: at, n: n}:
		case <-ctx.Done():
			return
		case <-endC:
			// The end came while the queue of due batches was full: this
			// slot and every later one due before the end were offered
			// and never sent.
			for {
				issued += int64(n)
				scheduled.Add(int64(n))
				k++
				if issued >= total || d.expired(due(k)) {
					return
				}
				n = int(min(int64(d.cfg.Batch), total-issued))
			}
		}
		issued += int64(n)
		scheduled.Add(int64(n))
	}
}

// openWorker sends each scheduled batch when it is free. Latency is
// measured from the scheduled time, so time spent waiting for a free
// connection counts (no coordinated omission).
func (d *driver) openWorker(ctx context.Context, c *client.Client, g *gen, tickets <-chan ticket) {
	for t := range tickets {
		now := time.Now()
		if ctx.Err() != nil || d.expired(now) {
			continue // not sent: scheduled minus sent shows it
		}
		calls := g.next(t.n)
		if len(calls) == 0 {
			continue
		}
		d.dmu.Lock()
		d.dly = append(d.dly, int64(now.Sub(t.at)))
		d.dmu.Unlock()
		d.send(ctx, c, calls, t.at)
	}
}

// send makes the calls (one plain request with --batch 1, else one batch)
// and records them with latency = answer time - base.
// send sends calls (one batch, or one request) and records their
// outcomes; it reports whether the node answered any of them.
func (d *driver) send(ctx context.Context, c *client.Client, calls []call, base time.Time) bool {
	d.sent.Add(int64(len(calls)))
	res := make([]*client.Receipt, len(calls))
	errs := make([]error, len(calls))
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	if d.cfg.Batch == 1 {
		res[0], errs[0] = d.w.single(cctx, c, &calls[0])
	} else {
		b := c.NewBatch()
		for i := range calls {
			if err := d.w.add(cctx, b, &calls[i]); err != nil {
				panic(fmt.Sprintf("logic error: batch call %d: %v", i, err)) // a domain and a valid key always sign
			}
		}
		out, _ := b.Do(cctx)
		for i := range out {
			res[i], errs[i] = out[i].Receipt, out[i].Err
		}
	}
	done := time.Now()
	cancel()

	outs := make([]outcome, len(calls))
	answered := make([]bool, len(calls))
	for i := range calls {
		o := &outs[i]
		o.kind, o.lineage = calls[i].kind, calls[i].lineage >= 0
		switch {
		case errs[i] != nil:
			o.errKey, answered[i] = classify(errs[i])
			o.errMsg = errs[i].Error()
		case res[i] == nil || res[i].Seq == 0 || res[i].Kind != calls[i].kind.String():
			o.errKey, o.errMsg = "bad receipt", fmt.Sprintf("%s call answered %+v", calls[i].kind, res[i])
		default:
			o.seq, o.existing = res[i].Seq, res[i].Existing
		}
	}
	d.rec.record(done, done.Sub(base), outs)
	any := false
	for i := range calls {
		d.w.done(&calls[i], &outs[i], answered[i])
		any = any || answered[i] || outs[i].errKey == ""
	}
	return any
}
