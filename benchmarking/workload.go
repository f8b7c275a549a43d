package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/sequencer"
)

// What the client does with a leased ticket once its append has a receipt.
type follow uint8

const (
	followNone    follow = iota // an append without lineage, or a close/release
	followClose                 // sequencer_close
	followRelease               // sequencer_release, reason "rejected"
	followKeep                  // nothing: the ticket stays leased
)

// call is one write the client sends; each success makes one entry.
type call struct {
	kind    sequencer.Kind // KindTx, KindClose or KindRelease
	lineage int            // index into workload.lineages; -1: none
	extID   string
	data    []byte
	follow  follow
}

// workload decides what to send: fresh appends (some leasing a nonce of a
// lineage) and, once a lease has its receipt, the close or release that
// ends it. It is shared by all workers.
type workload struct {
	cfg      *config
	runID    string
	lineages []string
	// leased counts, per lineage, the tickets that may be leased at the node
	// right now, as far as the client knows (an upper bound): a lineage at
	// --max-in-flight gets no new lease, so the node never answers 4005.
	leased []atomic.Int32
	maxIF  int32

	counted   bool
	remaining atomic.Int64 // --count: calls still to send
	extIDs    atomic.Uint64

	fmu       sync.Mutex
	followups []call // FIFO of closes and releases ready to send

	lineageFull atomic.Int64 // appends that should have leased but went without lineage: all lineages full
	leftLeased  atomic.Int64 // tickets left leased on purpose
	retried     atomic.Int64 // closes and releases sent again after Overloaded or a transport error
}

func newWorkload(cfg *config) *workload {
	w := &workload{
		cfg:    cfg,
		runID:  strconv.FormatInt(time.Now().UnixMilli(), 36),
		leased: make([]atomic.Int32, cfg.Lineages),
		maxIF:  int32(cfg.MaxInFlight),
	}
	prefix := cfg.LineagePrefix
	if prefix == "" {
		// Fresh names per run: a node driven again (--rpc) has no tickets
		// of them in flight yet.
		prefix = "bench:" + w.runID
	}
	for i := range cfg.Lineages {
		name := fmt.Sprintf("%s:%d", prefix, i)
		if cfg.WatchChain || cfg.ChainNames { // an account on the simulated chain, which the watcher reads
			name = fmt.Sprintf("eip155:%d:%s", simchain.ChainID, common.BytesToAddress(crypto.Keccak256([]byte(name))[12:]).Hex())
		}
		w.lineages = append(w.lineages, name)
	}
	if cfg.Count > 0 {
		w.counted = true
		w.remaining.Store(cfg.Count)
	}
	return w
}

// reserve takes up to n calls from the --count budget.
func (w *workload) reserve(n int) int {
	if !w.counted {
		return n
	}
	for {
		r := w.remaining.Load()
		take := min(int64(n), r)
		if take <= 0 {
			return 0
		}
		if w.remaining.CompareAndSwap(r, r-take) {
			return int(take)
		}
	}
}

// lease picks a lineage with room for one more leased ticket, or -1.
func (w *workload) lease(rng *rand.Rand) int {
	n := len(w.leased)
	start := rng.IntN(n)
	for i := range n {
		li := (start + i) % n
		if w.leased[li].Add(1) <= w.maxIF {
			return li
		}
		w.leased[li].Add(-1)
	}
	return -1
}

func (w *workload) pushFollowup(c call) {
	w.fmu.Lock()
	w.followups = append(w.followups, c)
	w.fmu.Unlock()
}

// popFollowups appends up to n ready follow-ups to calls.
func (w *workload) popFollowups(calls []call, n int) []call {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	k := min(n, len(w.followups))
	calls = append(calls, w.followups[:k]...)
	w.followups = w.followups[k:]
	if len(w.followups) == 0 {
		w.followups = nil // let the backing array go
	}
	return calls
}

// done updates the ticket bookkeeping with a call's outcome.
func (w *workload) done(c *call, o *outcome, answered bool) {
	if c.lineage < 0 {
		return
	}
	switch c.kind {
	case sequencer.KindTx:
		switch {
		case o.errKey != "" && answered:
			w.leased[c.lineage].Add(-1) // the node refused it: no ticket
		case o.errKey != "":
			// Unknown whether the node leased it: keep counting it.
		case c.follow == followClose:
			w.pushFollowup(call{kind: sequencer.KindClose, lineage: c.lineage, extID: c.extID})
		case c.follow == followRelease:
			w.pushFollowup(call{kind: sequencer.KindRelease, lineage: c.lineage, extID: c.extID})
		case c.follow == followKeep:
			w.leftLeased.Add(1)
		}
	case sequencer.KindClose, sequencer.KindRelease:
		switch {
		case o.errKey == "":
			w.leased[c.lineage].Add(-1)
		case o.errKey == "canceled":
		case !answered || o.errKey == errKeyOverloaded:
			// Closes and releases are idempotent: retry, as a client would.
			w.retried.Add(1)
			w.pushFollowup(call{kind: c.kind, lineage: c.lineage, extID: c.extID})
		}
	}
}

// leftLeasedPerEntry is the expected number of tickets the mix leaves
// leased per call sent, in steady state.
func (c *config) leftLeasedPerEntry() float64 {
	f := c.CloseShare + c.ReleaseShare
	fresh := 1 / (1 + c.LineageShare*f) // share of calls that are fresh appends
	return fresh * c.LineageShare * (1 - f)
}

// gen makes calls for one worker; not safe for concurrent use.
type gen struct {
	w   *workload
	rng *rand.Rand
}

func newGen(w *workload, id int) *gen {
	return &gen{w: w, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)))}
}

// next returns up to n calls: ready follow-ups first, then fresh appends.
// It returns none when the --count budget is spent.
func (g *gen) next(n int) []call {
	n = g.w.reserve(n)
	if n == 0 {
		return nil
	}
	calls := g.w.popFollowups(make([]call, 0, n), n)
	for len(calls) < n {
		calls = append(calls, g.fresh())
	}
	return calls
}

func (g *gen) fresh() call {
	c := call{kind: sequencer.KindTx, lineage: -1, data: make([]byte, g.w.cfg.Payload)}
	for i := 0; i < len(c.data); i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], g.rng.Uint64())
		copy(c.data[i:], b[:])
	}
	if g.rng.Float64() < g.w.cfg.LineageShare {
		if li := g.w.lease(g.rng); li >= 0 {
			c.lineage = li
			c.extID = g.w.runID + "-" + strconv.FormatUint(g.w.extIDs.Add(1), 10)
			switch r := g.rng.Float64(); {
			case r < g.w.cfg.CloseShare:
				c.follow = followClose
			case r < g.w.cfg.CloseShare+g.w.cfg.ReleaseShare:
				c.follow = followRelease
			default:
				c.follow = followKeep
			}
		} else {
			g.w.lineageFull.Add(1)
		}
	}
	return c
}

func (w *workload) lineageOf(c *call) string {
	if c.lineage < 0 {
		return ""
	}
	return w.lineages[c.lineage]
}

// single makes one call as a plain request (signed by the client in
// signed mode).
func (w *workload) single(ctx context.Context, cl *client.Client, c *call) (*client.Receipt, error) {
	switch c.kind {
	case sequencer.KindClose:
		return cl.Close(ctx, w.lineageOf(c), c.extID)
	case sequencer.KindRelease:
		return cl.Release(ctx, w.lineageOf(c), c.extID, "rejected")
	}
	return cl.Append(ctx, client.AppendRequest{Data: c.data, Lineage: w.lineageOf(c), ExternalID: c.extID})
}

// add adds one call to a batch.
func (w *workload) add(ctx context.Context, b *client.Batch, c *call) error {
	switch c.kind {
	case sequencer.KindClose:
		return b.Close(ctx, w.lineageOf(c), c.extID)
	case sequencer.KindRelease:
		return b.Release(ctx, w.lineageOf(c), c.extID, "rejected")
	}
	return b.Append(ctx, client.AppendRequest{Data: c.data, Lineage: w.lineageOf(c), ExternalID: c.extID})
}
