package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/seqnode/sequencer/sequencer"
)

// The write path of a voter. Enqueue puts an op in one bounded queue; the
// batcher takes what is queued as one group: on the leader it proposes the
// group to Raft as one command (the FSM answers each op once the command
// is committed and applied), elsewhere it forwards the group whole to the
// leader and hands back the leader's answers. While maxProposals groups
// are in flight the next one keeps growing, as the single primary's group
// does while it syncs.

const maxProposals = 8

// maxGroupData cuts a group at this much data (the single primary's bound).
const maxGroupData = 64 << 20

type pendingOp struct {
	op      sequencer.Op
	resolve func(sequencer.Result, error)
	// forwarded: a follower sent it; if leadership moved meanwhile it is
	// answered NoQuorum, never forwarded a second hop.
	forwarded bool
}

// Enqueue gives op its place; the Future resolves once its entry is
// committed by a majority and durable on this voter (SPEC §8). op must be
// validated and authorized already.
func (c *Cluster) Enqueue(op sequencer.Op) *sequencer.Future {
	f, resolve := sequencer.NewFuture()
	c.enqueue(&pendingOp{op: op, resolve: resolve})
	return f
}

func (c *Cluster) enqueue(p *pendingOp) {
	if err := c.Halted(); err != nil {
		p.resolve(sequencer.Result{}, fmt.Errorf("%w: %v", sequencer.ErrHalted, err))
		return
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		p.resolve(sequencer.Result{}, sequencer.ErrClosed)
		return
	}
	size := int64(len(p.op.Data))
	if c.queuedBytes.Reserve(size) {
		select {
		case c.queue <- p:
			return
		default:
			c.queuedBytes.Release(size)
		}
	}
	c.metrics.overloaded.Inc()
	p.resolve(sequencer.Result{}, sequencer.ErrOverloaded)
}

// take is the batcher's receipt of a queued op: its bytes leave the queue.
func (c *Cluster) take(p *pendingOp) *pendingOp {
	c.queuedBytes.Release(int64(len(p.op.Data)))
	return p
}

func (c *Cluster) batcher() {
	defer c.wg.Done()
	slots := make(chan struct{}, maxProposals)
	for {
		var p *pendingOp
		select {
		case q, ok := <-c.queue:
			if !ok {
				return
			}
			p = q
		case <-c.sigKick:
			// Signatures to hand on and no op waiting: a command of its own.
			if c.IsLeader() {
				c.propose(nil, func() {})
			}
			continue
		}
		slots <- struct{}{} // wait for a free slot: meanwhile the queue fills
		group := []*pendingOp{c.take(p)}
		bytes := len(p.op.Data)
	drain:
		for len(group) < c.cfg.Sequencer.MaxBatch && bytes < maxGroupData {
			select {
			case p, ok := <-c.queue:
				if !ok {
					break drain
				}
				group = append(group, c.take(p))
				bytes += len(p.op.Data)
			default:
				break drain
			}
		}
		if c.IsLeader() {
			c.propose(group, func() { <-slots })
			continue
		}
		c.forwardGroup(group)
		<-slots
	}
}

// propose appends the group to Raft as one command and answers it from
// the FSM's outcomes, without blocking the batcher; release runs once the
// command is answered (it frees the batcher's slot).
func (c *Cluster) propose(group []*pendingOp, release func()) {
	cmd := sequencer.Command{
		Log:         c.fsm.applier().LogID(),
		NowMillis:   uint64(c.cfg.Sequencer.Now().UnixMilli()),
		MaxInFlight: c.cfg.Sequencer.MaxInFlight,
		Ops:         make([]sequencer.Op, len(group)),
	}
	for i, p := range group {
		cmd.Ops[i] = p.op
	}
	cmd.SigsFrom, cmd.Sigs = c.takeSigs()
	if len(group) == 0 && len(cmd.Sigs) == 0 {
		release()
		return
	}
	start := time.Now()
	fut := c.raft.Apply(encodeCommand(&cmd), c.cfg.ForwardTimeout)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer release()
		outs, err := c.proposed(fut)
		c.metrics.commit.Observe(time.Since(start).Seconds())
		answer(group, outs, err)
	}()
}

// proposed waits for a proposed command like awaitCommand, or until Raft
// has shut down: hashicorp/raft (v1.7.2, with BatchApplyCh) never answers
// a future still in its apply queue when it shuts down, and Close waits
// for every command's answer.
func (c *Cluster) proposed(fut raft.ApplyFuture) ([]sequencer.Outcome, error) {
	type result struct {
		outs []sequencer.Outcome
		err  error
	}
	done := make(chan result, 1)
	go func() {
		outs, err := awaitCommand(fut)
		done <- result{outs, err}
	}()
	select {
	case r := <-done:
		return r.outs, r.err
	case <-c.raftDown:
		select {
		case r := <-done:
			return r.outs, r.err
		default:
			return nil, fmt.Errorf("%w: the voter shut down before its command was answered", sequencer.ErrNoQuorum)
		}
	}
}

// awaitCommand waits for a proposed command and returns its ops'
// outcomes. Any Raft failure is NoQuorum: the command may or may not
// commit later, and a retry (idempotent by externalId) finds out.
func awaitCommand(fut raft.ApplyFuture) ([]sequencer.Outcome, error) {
	if err := fut.Error(); err != nil {
		return nil, fmt.Errorf("%w: %v", sequencer.ErrNoQuorum, err)
	}
	r, ok := fut.Response().(response)
	if !ok {
		return nil, errNotApplied
	}
	return r.outcomes, r.err
}

func answer(group []*pendingOp, outs []sequencer.Outcome, err error) {
	if err == nil && len(outs) != len(group) {
		err = fmt.Errorf("%w: %d outcomes for %d ops", errNotApplied, len(outs), len(group))
	}
	for i, p := range group {
		if err != nil {
			p.resolve(sequencer.Result{}, err)
			continue
		}
		if e := outs[i].Result.Entry; outs[i].Err == nil && e != nil && e.Signature == ([65]byte{}) {
			// This voter lost its leadership between the command's commit
			// and its apply, and applied it as a follower: the entry waits,
			// unwritten, for the next leader's signatures. A receipt is
			// signed and durable; a retry (same externalId) finds the entry
			// once it is.
			p.resolve(sequencer.Result{}, fmt.Errorf("%w: leadership moved before entry %d was signed", sequencer.ErrNoQuorum, e.Seq))
			continue
		}
		p.resolve(outs[i].Result, outs[i].Err)
	}
}

// forwardGroup sends the group to the leader, waiting for one to be known
// for up to --forward-timeout; ops a follower forwarded here are not sent
// on (one hop).
func (c *Cluster) forwardGroup(group []*pendingOp) {
	var mine []*pendingOp
	for _, p := range group {
		if p.forwarded {
			p.resolve(sequencer.Result{}, fmt.Errorf("%w: leadership moved", sequencer.ErrNoQuorum))
			continue
		}
		mine = append(mine, p)
	}
	if len(mine) == 0 {
		return
	}
	outs, err := c.fwd.send(mine)
	if errors.Is(err, errBecameLeader) {
		c.propose(mine, func() {})
		return
	}
	if err != nil {
		c.metrics.forwardErrors.Inc()
	} else {
		err = c.awaitApplied(outs)
	}
	answer(mine, outs, err)
}

// awaitApplied waits until this voter's store holds every entry the
// leader answered with: a receipt means durable on the answering node too
// (SPEC §8). A voter that does not get there within --forward-timeout
// answers NoQuorum; a retry finds the entries committed.
func (c *Cluster) awaitApplied(outs []sequencer.Outcome) error {
	var want uint64
	for _, o := range outs {
		if o.Err == nil && o.Result.Entry != nil {
			want = max(want, o.Result.Entry.Seq)
		}
	}
	timeout := time.NewTimer(c.cfg.ForwardTimeout)
	defer timeout.Stop()
	for {
		h, moved := c.Head()
		if h.Seq >= want {
			return nil
		}
		select {
		case <-moved:
		case <-timeout.C:
			return fmt.Errorf("%w: committed entries up to %d not applied here within the forward timeout", sequencer.ErrNoQuorum, want)
		case <-c.fwd.done:
			return sequencer.ErrClosed
		}
	}
}

// addSigs keeps the signatures of entries this voter wrote as leader for
// its next command, and wakes the batcher.
func (c *Cluster) addSigs(from uint64, sigs [][65]byte) {
	c.sigMu.Lock()
	c.sigs = append(c.sigs, sigRange{from, sigs})
	c.sigMu.Unlock()
	select {
	case c.sigKick <- struct{}{}:
	default:
	}
}

// takeSigs takes the kept signatures of consecutive entries, from the
// first; a run that does not continue them waits for the next command.
func (c *Cluster) takeSigs() (uint64, [][65]byte) {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	if len(c.sigs) == 0 {
		return 0, nil
	}
	from, sigs := c.sigs[0].from, c.sigs[0].sigs
	n := 1
	for ; n < len(c.sigs) && c.sigs[n].from == from+uint64(len(sigs)); n++ {
		sigs = append(sigs, c.sigs[n].sigs...)
	}
	c.sigs = c.sigs[n:]
	if len(c.sigs) > 0 {
		select {
		case c.sigKick <- struct{}{}:
		default:
		}
	}
	return from, sigs
}
