package cluster

import (
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of a voter (docs/metrics.md).
type metrics struct {
	leaderChanges prometheus.Counter
	forwardErrors prometheus.Counter
	overloaded    prometheus.Counter
	commit        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, c *Cluster) *metrics {
	m := &metrics{
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sequencer_cluster_leader_changes_total",
			Help: "Leaders this voter has seen (a change to no leader counts too).",
		}),
		forwardErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sequencer_cluster_forward_errors_total",
			Help: "Groups of writes this follower could not get answered by a leader.",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sequencer_cluster_overloaded_total",
			Help: "Writes refused because this voter's queue was full.",
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sequencer_cluster_commit_seconds",
			Help:    "From proposing a group to Raft to its entries being durable here (leader).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg == nil {
		return m
	}
	state := func(f func() float64) func() float64 {
		return func() float64 {
			if c.raft == nil {
				return 0
			}
			return f()
		}
	}
	reg.MustRegister(m.leaderChanges, m.forwardErrors, m.overloaded, m.commit,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sequencer_cluster_term",
			Help: "The Raft term this voter is in.",
		}, state(func() float64 { return float64(c.raft.CurrentTerm()) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sequencer_cluster_leader",
			Help: "1 while this voter leads.",
		}, state(func() float64 {
			if c.raft.State() == raft.Leader {
				return 1
			}
			return 0
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sequencer_cluster_has_leader",
			Help: "1 while this voter knows a leader.",
		}, state(func() float64 {
			if id, _ := c.Leader(); id != "" {
				return 1
			}
			return 0
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sequencer_cluster_apply_lag",
			Help: "Raft logs committed but not yet applied to this voter's store.",
		}, state(func() float64 {
			return float64(c.raft.CommitIndex()) - float64(c.raft.AppliedIndex())
		})),
	)
	return m
}
