package sequencer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the append pipeline, registered under "sequencer_".
type Metrics struct {
	Entries    *prometheus.CounterVec
	Groups     prometheus.Counter
	GroupSize  prometheus.Histogram
	CommitTime prometheus.Histogram
	HeadSeq    prometheus.Gauge
	Halted     prometheus.Gauge
	Overloaded prometheus.Counter
	queueLen   func() float64
}

// NewMetrics creates the pipeline metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sequencer_entries_total", Help: "Entries made durable, by kind.",
		}, []string{"kind"}),
		Groups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sequencer_commits_total", Help: "Synced group commits.",
		}),
		GroupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sequencer_commit_entries", Help: "Entries per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		CommitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sequencer_commit_seconds", Help: "Time of one synced group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		HeadSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sequencer_head_seq", Help: "Seq of the last durable entry.",
		}),
		Halted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sequencer_halted", Help: "1 when the node stopped writing.",
		}),
		Overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sequencer_overloaded_total", Help: "Writes refused because the queue was full.",
		}),
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sequencer_queue_length", Help: "Requests waiting to be ordered.",
	}, func() float64 {
		if m.queueLen == nil {
			return 0
		}
		return m.queueLen()
	})
	reg.MustRegister(m.Entries, m.Groups, m.GroupSize, m.CommitTime, m.HeadSeq, m.Halted, m.Overloaded, queue)
	return m
}

func (m *Metrics) setHead(seq uint64) { m.HeadSeq.Set(float64(seq)) }

func (m *Metrics) observeCommit(entries []*Entry, d time.Duration) {
	if len(entries) == 0 {
		return
	}
	m.Groups.Inc()
	m.GroupSize.Observe(float64(len(entries)))
	m.CommitTime.Observe(d.Seconds())
	for _, e := range entries {
		m.Entries.WithLabelValues(e.Kind.String()).Inc()
	}
	m.setHead(entries[len(entries)-1].Seq)
}
