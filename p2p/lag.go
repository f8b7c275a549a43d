package p2p

import (
	"fmt"
	"sync"
	"time"
)

// DefaultMaxLag is the default --max-lag.
const DefaultMaxLag = 10 * time.Second

// lagTracker says whether a replica follows: it is behind while a head its
// peers announced has not been reached; under load the head trails the
// announcements by a few entries all the time, so what counts is how long
// the oldest announced head not yet reached has been waiting. The loop
// writes it; mu is for Health, read by RPC handlers.
type lagTracker struct {
	mu          sync.Mutex
	target      uint64    // an announced head not yet reached (0: none)
	targetAt    time.Time // when it was seen
	noPeerSince time.Time // zero while a peer is connected
	reason      error     // nil while following
	caughtUp    bool      // logged "caught up" once
}

// Health is nil while the replica follows, else why it does not (SPEC §6:
// cut off from its peers, or behind their head, for longer than MaxLag).
// A stopped mirror is reported by its Halted.
func (f *Follower) Health() error {
	if _, err := f.mirror.Damage(); err != nil {
		return err
	}
	f.lagging.mu.Lock()
	defer f.lagging.mu.Unlock()
	return f.lagging.reason
}

// checkLag updates Health; it logs a change at warning level (not
// following) or info (following again, or caught up the first time).
func (f *Follower) checkLag(now time.Time) {
	maxLag := f.MaxLag
	if maxLag <= 0 {
		maxLag = DefaultMaxLag
	}
	head, announced, peers := f.mirror.Store().Head().Seq, f.node.PrimaryHead(), f.node.PeerCount()
	t := &f.lagging
	t.mu.Lock()
	defer t.mu.Unlock()
	if peers > 0 {
		t.noPeerSince = time.Time{}
	} else if t.noPeerSince.IsZero() {
		t.noPeerSince = now
	}
	if head >= t.target {
		if !t.caughtUp && t.target > 0 {
			t.caughtUp = true
			f.log.Info("caught up with peers", "head", head, "peers", peers)
		}
		t.target, t.targetAt = 0, time.Time{}
		if announced > head {
			t.target, t.targetAt = announced, now
		}
	}
	var reason error
	switch {
	case !t.noPeerSince.IsZero() && now.Sub(t.noPeerSince) > maxLag:
		reason = fmt.Errorf("not following: no connected peer for %s (--max-lag %s); head %d", now.Sub(t.noPeerSince).Round(time.Second), maxLag, head)
	case t.target > 0 && now.Sub(t.targetAt) > maxLag:
		reason = fmt.Errorf("not following: head %d has not reached seq %d, announced by peers %s ago (--max-lag %s)", head, t.target, now.Sub(t.targetAt).Round(time.Second), maxLag)
	}
	switch {
	case reason != nil && t.reason == nil:
		f.log.Warn("replica is not following its peers: /healthz answers 503", "reason", reason)
	case reason == nil && t.reason != nil:
		f.log.Info("replica follows its peers again", "head", head, "peers", peers)
	}
	t.reason = reason
}
