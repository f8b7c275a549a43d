package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/sequencer"
)

// startVoters starts a cluster of n voters (SPEC §8) at once (a cluster
// forms once a majority is up, so none is healthy before the others have
// started) and waits until each knows a leader.
func (c *cluster) startVoters(ctx context.Context, n int, args, env []string) ([]*node, error) {
	var spec []string
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		spec = append(spec, fmt.Sprintf("v%d=127.0.0.1:%d", i+1, port))
	}
	var voters []*node
	for i := range n {
		a := append([]string{"--cluster", strings.Join(spec, ","), "--node-id", fmt.Sprintf("v%d", i+1)}, args...)
		v, err := c.spawn(fmt.Sprintf("v%d", i+1), "voter", a, env)
		if err != nil {
			return nil, err
		}
		voters = append(voters, v)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, v := range voters {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = v.waitHealthy(ctx, 60*time.Second) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return voters, nil
}

// leader is the voter that says it leads (nil if none does).
func leader(ctx context.Context, voters []*node) *node {
	for _, v := range voters {
		in, err := getInfoURL(ctx, v.url())
		if err == nil && in.Cluster != nil && in.Cluster.Leader == in.Cluster.NodeID {
			return v
		}
	}
	return nil
}

// failoverOut is what --failover measured: per leader kill, the
// client-visible write outage — from the SIGKILL until a write sent after
// it is acknowledged by a voter (a probe client tries every voter in turn,
// as a client that retries elsewhere does).
type failoverOut struct {
	Kills    int       `json:"kills"`
	Killed   []string  `json:"killed"`   // the leader killed each time
	AtSec    []float64 `json:"atSec"`    // when, in seconds since the load start
	OutageMs []float64 `json:"outageMs"` // the outage of each kill
	P50Ms    float64   `json:"outageP50Ms"`
	MaxMs    float64   `json:"outageMaxMs"`
	Note     string    `json:"note,omitempty"`
}

// failover kills the leader k times, spread over the load, restarting
// each on its datadir at once, and measures each outage.
func (b *bench) failover(ctx context.Context, start time.Time, k int, span time.Duration) *failoverOut {
	out := &failoverOut{}
	hc := &http.Client{Timeout: 2 * time.Second}
	opts := []client.Option{client.WithHTTPClient(hc), client.WithRetries(0, 0),
		client.WithDomain(sequencer.Domain{ChainID: b.info.ChainID, VerifyingContract: b.info.VerifyingContract})}
	if b.key != nil {
		opts = append(opts, client.WithKey(b.key))
	}
	probe := make([]*client.Client, len(b.voters))
	for i, v := range b.voters {
		c, err := client.Dial(ctx, v.url(), opts...)
		if err != nil {
			out.Note = err.Error()
			return out
		}
		defer c.Disconnect()
		probe[i] = c
	}
	gap := span / time.Duration(k+1)
	for i := range k {
		select {
		case <-ctx.Done():
			return out
		case <-time.After(time.Until(start.Add(time.Duration(i+1) * gap))):
		}
		l := leader(ctx, b.voters)
		if l == nil {
			out.Note = "no leader to kill"
			continue
		}
		killed := time.Now()
		l.cmd.Process.Kill()
		<-l.exited
		if err := b.cl.exec(l); err != nil {
			out.Note = fmt.Sprintf("restart %s: %v", l.name, err)
			return out
		}
		outage := probeWrite(ctx, probe, fmt.Sprintf("failover-%d-%d", start.UnixNano(), i))
		out.Kills++
		out.Killed = append(out.Killed, l.name)
		out.AtSec = append(out.AtSec, round(killed.Sub(start).Seconds(), 3))
		out.OutageMs = append(out.OutageMs, round(float64(outage.Sub(killed).Microseconds())/1000, 1))
		fmt.Fprintf(b.out, "failover %d: killed leader %s; writes acknowledged again after %.0f ms\n", i+1, l.name, out.OutageMs[i])
	}
	if len(out.OutageMs) > 0 {
		sorted := append([]float64(nil), out.OutageMs...)
		sort.Float64s(sorted)
		out.P50Ms, out.MaxMs = sorted[(len(sorted)-1)/2], sorted[len(sorted)-1]
	}
	return out
}

// probeWrite appends until a voter acknowledges (a minute at most),
// trying the voters in turn, and returns when it was acknowledged.
func probeWrite(ctx context.Context, voters []*client.Client, id string) time.Time {
	ctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	for i := 0; ctx.Err() == nil; i++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := voters[i%len(voters)].Append(cctx, client.AppendRequest{Data: []byte(id), ExternalID: id})
		cancel()
		if err == nil {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Now()
}
