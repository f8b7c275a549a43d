package rpc

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// streams runs the subscriptions: at most max at once, each on its own
// goroutine, all told to end by stop and waited for by wait (the server's
// shutdown).
type streams struct {
	max     int64
	live    atomic.Int64
	reader  Reader
	backend Backend // its Head says when entries became durable
	log     *slog.Logger

	mu   sync.Mutex     // no stream starts once done is closed
	wg   sync.WaitGroup // stream goroutines
	done chan struct{}
}

func newStreams(max int, reader Reader, backend Backend, log *slog.Logger) *streams {
	return &streams{max: int64(max), reader: reader, backend: backend, log: log, done: make(chan struct{})}
}

// reserve counts one more subscription, unless max are live.
func (s *streams) reserve() bool {
	if s.live.Add(1) > s.max {
		s.live.Add(-1)
		return false
	}
	return true
}

// start runs a reserved subscription's stream, unless the streams stopped
// (shutting down: the connection closes next).
func (s *streams) start(n *gethrpc.Notifier, sub *gethrpc.Subscription, next uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		s.live.Add(-1)
		return
	default:
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.live.Add(-1)
		s.run(n, sub, next)
	}()
}

// stop tells every stream to end; wait waits until they did.
func (s *streams) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

func (s *streams) wait() { s.wg.Wait() }

// Entries streams entries in seq order from `from` (default head+1):
// sequencer_subscribe("entries", {from}). Backfill comes from storage, then
// live entries as they become durable; a slow subscriber reads from storage
// at its own pace, so no buffer grows and no entry is skipped or repeated.
func (api *API) Entries(ctx context.Context, p *SubscribeParams) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	head, _ := api.backend.Head()
	next := head.Seq + 1
	if p != nil && p.From != nil {
		if *p.From < 1 {
			return nil, api.fail(invalidParams("from must be at least 1"))
		}
		next = uint64(*p.From)
	}
	if !api.streams.reserve() {
		return nil, api.fail(&Error{Code: CodeOverloaded, Message: "overloaded: too many subscriptions"})
	}
	sub := notifier.CreateSubscription()
	api.streams.start(notifier, sub, next)
	return sub, nil
}

// run sends the entries from next to the subscriber until it goes away
// or the streams stop.
func (s *streams) run(n *gethrpc.Notifier, sub *gethrpc.Subscription, next uint64) {
	st := s.reader
	for {
		head, changed := s.backend.Head()
		for next <= head.Seq {
			// Small chunks: a subscriber that does not read holds at most one
			// chunk (entries may carry up to --max-data-bytes each).
			es, err := st.Range(next, min(16, int(head.Seq-next+1)))
			if err != nil || len(es) == 0 {
				s.log.Error("subscription read", "from", next, "err", err)
				return
			}
			for _, e := range es {
				if err := n.Notify(sub.ID, entryJSON(e)); err != nil {
					return
				}
				next = e.Seq + 1
			}
		}
		select {
		case <-changed:
		case <-sub.Err():
			return
		case <-s.done:
			return
		}
	}
}
