package sequencer

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// writeState is what a store's writer (the single primary's pipeline, a
// cluster voter's Applier) tells the rest of the node: why it stopped
// writing, and when its durable head moved.
type writeState struct {
	store   Store
	logger  *slog.Logger
	metrics *Metrics

	halted atomic.Pointer[error]
	headMu sync.Mutex
	headCh chan struct{}
}

func newWriteState(store Store, logger *slog.Logger, metrics *Metrics) *writeState {
	return &writeState{store: store, logger: logger, metrics: metrics, headCh: make(chan struct{})}
}

// Halted returns the reason writes stopped, or nil.
func (w *writeState) Halted() error {
	if p := w.halted.Load(); p != nil {
		return *p
	}
	return nil
}

// Halt stops writes with err (for example when a peer shows that this
// primary's datadir lost entries it had signed); the first reason stays.
func (w *writeState) Halt(err error) {
	if w.halted.CompareAndSwap(nil, &err) {
		w.logger.Error("writes halted", "err", err)
		if w.metrics != nil {
			w.metrics.Halted.Set(1)
		}
	}
}

// Head returns the durable head and a channel closed at the next commit.
func (w *writeState) Head() (Head, <-chan struct{}) {
	w.headMu.Lock()
	defer w.headMu.Unlock()
	return w.store.Head(), w.headCh
}

// Wake closes the channel Head last returned: the head moved, or (a
// cluster voter's Applier being replaced after a snapshot) its waiters
// must ask again.
func (w *writeState) Wake() {
	w.headMu.Lock()
	close(w.headCh)
	w.headCh = make(chan struct{})
	w.headMu.Unlock()
}
