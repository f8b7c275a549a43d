package client

import (
	"context"
	"fmt"
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Subscribe streams entries in seq order from seq from (0: the head+1 at
// subscription time) over WebSocket. When the connection drops it redials
// and resubscribes from the seq after the last one delivered, so the
// stream has no gap and no duplicate. The channel closes when ctx ends; a
// failure that redialing cannot mend is sent on the error channel first.
func (c *Client) Subscribe(ctx context.Context, from uint64) (<-chan *Entry, <-chan error) {
	out := make(chan *Entry, 256)
	errc := make(chan error, 1)
	url := c.url
	switch {
	case strings.HasPrefix(url, "http://"):
		url = "ws://" + strings.TrimPrefix(url, "http://")
	case strings.HasPrefix(url, "https://"):
		url = "wss://" + strings.TrimPrefix(url, "https://")
	}
	go func() {
		defer close(out)
		next := from
		wait := c.backoff
		failures := 0
		for ctx.Err() == nil {
			n, err := c.stream(ctx, url, next, out)
			if n > 0 {
				next = n + 1
				failures, wait = 0, c.backoff
			}
			if ctx.Err() != nil {
				return
			}
			if Code(err) != 0 && Code(err) != CodeOverloaded { // the node refused: redialing will not help
				errc <- err
				return
			}
			failures++
			if failures > 20 {
				errc <- fmt.Errorf("subscription: giving up after %d reconnects: %w", failures-1, err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}()
	return out, errc
}

// stream runs one subscription until it fails and returns the last seq it
// delivered (0 if none).
func (c *Client) stream(ctx context.Context, url string, from uint64, out chan<- *Entry) (uint64, error) {
	rc, err := gethrpc.DialContext(ctx, url)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	ch := make(chan *Entry, 256)
	args := []any{"entries"}
	if from > 0 {
		args = append(args, map[string]any{"from": from})
	}
	sub, err := rc.Subscribe(ctx, "sequencer", ch, args...)
	if err != nil {
		return 0, wrap(err)
	}
	defer sub.Unsubscribe()
	var last uint64
	want := from // the seq the next entry must have; 0: whatever comes first
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case err := <-sub.Err():
			if err == nil {
				err = fmt.Errorf("subscription ended")
			}
			return last, err
		case e := <-ch:
			if want != 0 && e.Seq != want {
				return last, fmt.Errorf("subscription: got seq %d, expected %d", e.Seq, want)
			}
			select {
			case out <- e:
				last, want = e.Seq, e.Seq+1
			case <-ctx.Done():
				return last, ctx.Err()
			}
		}
	}
}
