package client_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/seqnode/sequencer/client"
)

// Lineage safety under concurrency (SPEC §3): many executors hammer the
// same lineages with appends, duplicate appends (retries), closes and
// releases of tickets in any order, including ones not leased yet or final
// already. Afterwards, per lineage, every nonce below nextNonce is exactly
// one of: held by a leased, closed or failed ticket (and by one ticket
// only), or in the released pool; in-flight and released agree with the
// tickets; and no answer was anything but a receipt or a SPEC error that
// the ticket's state explains.
func TestLineageSafetyUnderConcurrency(t *testing.T) {
	n := startNode(t, nil, nil)
	c := dial(t, n.URL, client.WithRetries(5, 0))
	ctx := context.Background()
	lineages := []string{"eip155:1:0xA", "eip155:1:0xB", "eip155:1:0xC"}
	const workers, ops, ids = 12, 150, 40
	var mu sync.Mutex
	unexpected := map[int]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range ops {
				lin := lineages[r.IntN(len(lineages))]
				id := fmt.Sprint("job-", r.IntN(ids))
				var err error
				switch k := r.IntN(10); {
				case k < 5: // append, often a retry of someone else's
					_, err = c.Append(ctx, client.AppendRequest{Data: []byte(id), Lineage: lin, ExternalID: id})
				case k < 7:
					_, err = c.Close(ctx, lin, id)
				case k < 9:
					_, err = c.Release(ctx, lin, id, "rejected")
				default:
					_, err = c.Release(ctx, lin, id, "broadcast")
				}
				switch client.Code(err) {
				case 0:
					if err != nil {
						mu.Lock()
						unexpected[-1]++
						mu.Unlock()
					}
				case client.CodeNotFound, client.CodeTicketFinal, client.CodeTooManyInFlight:
				default:
					mu.Lock()
					unexpected[client.Code(err)]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(unexpected) > 0 {
		t.Fatalf("unexpected answers by code: %v", unexpected)
	}
	for _, lin := range lineages {
		l, err := c.Lineage(ctx, lin)
		if err != nil {
			t.Fatal(err)
		}
		holders := map[uint64][]string{}
		states := map[string]int{}
		for i := range ids {
			id := fmt.Sprint("job-", i)
			tk, err := c.Ticket(ctx, lin, id)
			if client.Code(err) == client.CodeNotFound {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			states[tk.State]++
			if tk.State != "released" {
				holders[tk.Nonce] = append(holders[tk.Nonce], id+"("+tk.State+")")
			}
		}
		pool := map[uint64]bool{}
		for _, r := range l.Released {
			pool[r] = true
		}
		for nonce := range l.NextNonce {
			h := holders[nonce]
			switch {
			case pool[nonce] && len(h) == 0:
			case !pool[nonce] && len(h) == 1:
			default:
				t.Fatalf("%s nonce %d: pooled %v, held by %v", lin, nonce, pool[nonce], h)
			}
		}
		for nonce, h := range holders {
			if nonce >= l.NextNonce {
				t.Fatalf("%s: nonce %d held by %v at or past nextNonce %d", lin, nonce, h, l.NextNonce)
			}
		}
		var inflight []uint64
		for _, f := range l.InFlight {
			inflight = append(inflight, f.Nonce)
			if h := holders[f.Nonce]; len(h) != 1 || h[0] != f.ExternalID+"(leased)" {
				t.Fatalf("%s in-flight nonce %d (%s) but held by %v", lin, f.Nonce, f.ExternalID, h)
			}
		}
		if !sort.SliceIsSorted(inflight, func(i, j int) bool { return inflight[i] < inflight[j] }) || len(inflight) != states["leased"] {
			t.Fatalf("%s: in-flight %v, %d leased tickets", lin, inflight, states["leased"])
		}
		if uint64(states["closed"]) != l.Closed || uint64(states["failed"]) != l.Failed {
			t.Fatalf("%s: counts %+v, lineage closed %d failed %d", lin, states, l.Closed, l.Failed)
		}
		t.Logf("%s: nextNonce %d, tickets %v, pool %v", lin, l.NextNonce, states, l.Released)
	}
}
