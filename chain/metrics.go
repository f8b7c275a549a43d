package chain

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	entries  *prometheus.CounterVec // by kind: what the watcher wrote
	refused  *prometheus.CounterVec // by kind: ops the rules refused (the log moved on) or that failed
	watched  *prometheus.GaugeVec   // by chain
	stuck    *prometheus.GaugeVec   // by chain
	head     *prometheus.GaugeVec   // by chain
	lastPoll *prometheus.GaugeVec   // by chain: Unix seconds of the last complete poll
	up       *prometheus.GaugeVec   // by chain: 1 while the endpoint answers
	requests *prometheus.CounterVec // by chain: HTTP/WS requests (a batch is one)
	calls    *prometheus.CounterVec // by chain: JSON-RPC calls (each element of a batch)
	errors   *prometheus.CounterVec // by chain: failed polls and bad answers
}

func newMetrics(reg prometheus.Registerer) *metrics {
	chain := []string{"chain"}
	m := &metrics{
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sequencer_chain_entries_total",
			Help: "Entries the node wrote on its own (SPEC §9), by kind: confirm, sync, expire, reclaim."}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sequencer_chain_refused_total",
			Help: "Ops the watcher planned that were not written (the log moved on, or the write failed), by kind."}, []string{"kind"}),
		watched: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sequencer_chain_watched_lineages",
			Help: "Lineages the watcher follows (read when a new block shows their account active, and in turn)."}, chain),
		stuck: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sequencer_chain_stuck_lineages",
			Help: "Lineages with a broadcast transaction waiting at an account nonce that does not move."}, chain),
		head: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sequencer_chain_head_block",
			Help: "The chain head at the last poll."}, chain),
		lastPoll: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sequencer_chain_last_poll_timestamp_seconds",
			Help: "When the last complete poll ran (Unix seconds); the watcher's lag is now minus this."}, chain),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sequencer_chain_endpoint_up",
			Help: "1 while the chain endpoint answers, 0 while the watcher retries it."}, chain),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sequencer_chain_rpc_requests_total",
			Help: "Requests sent to the chain endpoint (a JSON-RPC batch is one)."}, chain),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sequencer_chain_rpc_calls_total",
			Help: "JSON-RPC calls sent to the chain endpoint (each call of a batch counts)."}, chain),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sequencer_chain_rpc_errors_total",
			Help: "Failed polls and bad answers of the chain endpoint."}, chain),
	}
	if reg != nil {
		reg.MustRegister(m.entries, m.refused, m.watched, m.stuck, m.head, m.lastPoll, m.up, m.requests, m.calls, m.errors)
	}
	return m
}
