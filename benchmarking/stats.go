package main

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/seqnode/sequencer/sequencer"
)

// latency summarizes a set of durations, in milliseconds.
type latency struct {
	N   int     `json:"n"`
	Min float64 `json:"minMs"`
	P50 float64 `json:"p50Ms"`
	P90 float64 `json:"p90Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

func ms(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }

// percentile is the nearest-rank percentile of sorted (0 < p ≤ 1).
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// summarize sorts ns in place and summarizes it.
func summarize(ns []int64) latency {
	if len(ns) == 0 {
		return latency{}
	}
	slices.Sort(ns)
	return latency{N: len(ns), Min: ms(ns[0]), P50: ms(percentile(ns, 0.50)), P90: ms(percentile(ns, 0.90)),
		P99: ms(percentile(ns, 0.99)), Max: ms(ns[len(ns)-1])}
}

// outcome is the result of one write call.
type outcome struct {
	kind     sequencer.Kind
	lineage  bool
	seq      uint64
	existing bool
	errKey   string // "" on success
	errMsg   string
}

// counts are totals of write calls.
type counts struct {
	Calls       int64            `json:"calls"`
	Entries     int64            `json:"entries"` // new durable entries: successful receipts with existing=false
	Tx          int64            `json:"tx"`
	TxLineage   int64            `json:"txWithLineage"`
	Close       int64            `json:"close"`
	Release     int64            `json:"release"`
	Existing    int64            `json:"existing"` // receipts of an entry already in the log (not counted as entries)
	ErrorsTotal int64            `json:"errorsTotal"`
	Errors      map[string]int64 `json:"errors"` // by JSON-RPC code, or http/timeout/transport
}

func (c *counts) add(o *outcome) {
	c.Calls++
	switch {
	case o.errKey != "":
		c.ErrorsTotal++
		if c.Errors == nil {
			c.Errors = map[string]int64{}
		}
		c.Errors[o.errKey]++
	case o.existing:
		c.Existing++
	default:
		c.Entries++
		switch o.kind {
		case sequencer.KindTx:
			c.Tx++
			if o.lineage {
				c.TxLineage++
			}
		case sequencer.KindClose:
			c.Close++
		case sequencer.KindRelease:
			c.Release++
		}
	}
}

func (c *counts) merge(o counts) {
	c.Calls += o.Calls
	c.Entries += o.Entries
	c.Tx += o.Tx
	c.TxLineage += o.TxLineage
	c.Close += o.Close
	c.Release += o.Release
	c.Existing += o.Existing
	c.ErrorsTotal += o.ErrorsTotal
	for k, v := range o.Errors {
		if c.Errors == nil {
			c.Errors = map[string]int64{}
		}
		c.Errors[k] += v
	}
}

// second is one point of the per-second series, by completion time of the
// calls.
type second struct {
	T         float64 `json:"t"`   // seconds since the load started, at the end of this interval
	Dur       float64 `json:"dur"` // length of the interval in seconds (the last one may be short)
	Calls     int64   `json:"calls"`
	Entries   int64   `json:"entries"`
	EntriesPS float64 `json:"entriesPerSec"`
	P50       float64 `json:"p50Ms"`
	P99       float64 `json:"p99Ms"`
	Max       float64 `json:"maxMs"`
	Errors    int64   `json:"errors"`
}

// recorder collects outcomes and latencies from every worker.
type recorder struct {
	start time.Time

	mu       sync.Mutex
	cur      counts
	curLat   []int64
	curStart time.Time
	total    counts
	all      []int64 // latency of every successful call, ns
	series   []second
	examples map[string]string // first message seen per error key

	receipts *receiptLog
}

func newRecorder(start time.Time, receipts *receiptLog) *recorder {
	return &recorder{start: start, curStart: start, receipts: receipts, examples: map[string]string{}}
}

// record adds the outcomes of one call or batch that completed at done
// after lat (the batch's latency counts for each of its calls).
func (r *recorder) record(done time.Time, lat time.Duration, outs []outcome) {
	r.receipts.put(outs, done)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range outs {
		o := &outs[i]
		r.cur.add(o)
		if o.errKey == "" {
			r.curLat = append(r.curLat, int64(lat))
		} else if _, ok := r.examples[o.errKey]; !ok {
			r.examples[o.errKey] = o.errMsg
		}
	}
}

// cut closes the current interval at now and returns its point.
func (r *recorder) cut(now time.Time) second {
	r.mu.Lock()
	c, lat, from := r.cur, r.curLat, r.curStart
	r.cur, r.curLat, r.curStart = counts{}, nil, now
	r.total.merge(c)
	r.all = append(r.all, lat...)
	r.mu.Unlock()

	dur := now.Sub(from).Seconds()
	s := second{T: now.Sub(r.start).Seconds(), Dur: dur, Calls: c.Calls, Entries: c.Entries,
		Errors: c.ErrorsTotal}
	if dur > 0 {
		s.EntriesPS = float64(c.Entries) / dur
	}
	l := summarize(lat)
	s.P50, s.P99, s.Max = l.P50, l.P99, l.Max
	r.mu.Lock()
	r.series = append(r.series, s)
	r.mu.Unlock()
	return s
}

// receiptLog keeps, per seq, when the client got the entry's receipt.
// Seqs are dense from base on (the harness is normally the only writer),
// so a slice indexed by seq-base is enough.
type receiptLog struct {
	base uint64

	mu     sync.RWMutex
	at     []int64 // unix ns; 0: no receipt (not ours, failed, or not yet)
	maxSeq uint64
}

func newReceiptLog(base uint64) *receiptLog { return &receiptLog{base: base} }

// maxGap bounds how far past the entries already seen one receipt may
// reach; a seq further out (another writer's burst) is not tracked.
const maxGap = 1 << 24

func (l *receiptLog) put(outs []outcome, done time.Time) {
	t := done.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range outs {
		o := &outs[i]
		if o.errKey != "" || o.existing || o.seq < l.base {
			continue
		}
		idx := o.seq - l.base
		if idx >= uint64(len(l.at))+maxGap {
			continue
		}
		if n := idx + 1; n > uint64(len(l.at)) {
			l.at = append(l.at, make([]int64, n-uint64(len(l.at)))...)
		}
		l.at[idx] = t
		l.maxSeq = max(l.maxSeq, o.seq)
	}
}

// get returns the receipt time of seq, or 0.
func (l *receiptLog) get(seq uint64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if seq < l.base || seq-l.base >= uint64(len(l.at)) {
		return 0
	}
	return l.at[seq-l.base]
}

// snapshot returns a copy of the receipt times (index i is seq base+i).
func (l *receiptLog) snapshot() []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.at)
}

func (l *receiptLog) max() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.maxSeq
}
