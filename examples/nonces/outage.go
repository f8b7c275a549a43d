package main

import (
	"sync"
	"time"
)

// barrier lets n executors start something together.
type barrier struct {
	mu    sync.Mutex
	n     int
	ready chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, ready: make(chan struct{})} }

// wait returns when all n arrived, or after limit (reporting false).
func (b *barrier) wait(limit time.Duration) bool {
	b.mu.Lock()
	if b.n--; b.n == 0 {
		close(b.ready)
	}
	b.mu.Unlock()
	select {
	case <-b.ready:
		return true
	case <-time.After(limit):
		return false
	}
}

// outage is the shared signer going down for a moment. Its failures come
// back together: a signing call that fails hangs until the outage's
// window ends, which is when every planned failure has arrived, or after
// at most maxDown. The window never waits for an executor that is stuck
// behind one of its own nonces (the chain cannot mine past a leased,
// unsent nonce), so it cannot deadlock; it only makes the failures
// overlap, so that several released nonces sit in the pool at once.
type outage struct {
	maxDown time.Duration
	mu      sync.Mutex
	left    int // planned failures not yet arrived
	cur     *window
}

// window is one stretch of the outage.
type window struct {
	over     chan struct{} // closed when the signer answers
	once     sync.Once
	lowest   uint64 // the lowest nonce it failed
	failed   int
	released int
	retry    chan struct{} // closed when every failure of the window is released
}

func newOutage(planned int, maxDown time.Duration) *outage {
	return &outage{maxDown: maxDown, left: planned}
}

// fail joins the current window (or opens one) with a failed nonce.
func (o *outage) fail(nonce uint64) *window {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.cur
	if w == nil || w.ended() {
		w = &window{over: make(chan struct{}), retry: make(chan struct{}), lowest: nonce}
		o.cur = w
		time.AfterFunc(o.maxDown, func() { o.end(w) })
	}
	w.failed++
	w.lowest = min(w.lowest, nonce)
	if o.left--; o.left <= 0 {
		w.once.Do(func() { close(w.over) })
	}
	return w
}

func (o *outage) end(w *window) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w.once.Do(func() { close(w.over) })
}

func (w *window) ended() bool {
	select {
	case <-w.over:
		return true
	default:
		return false
	}
}

// released records that one failure of the window was released (after
// the window is over, so no failure joins any more); the last one lets
// them all retry.
func (o *outage) released(w *window) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if w.released++; w.released == w.failed {
		close(w.retry)
	}
}
