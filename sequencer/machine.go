package sequencer

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Machine is everything a writer decides with: the Core (state and head),
// the Cache of final records over the store, and the ledger of signed
// requests used once. It turns ops into a Group of chained, unsigned
// entries and the answers of their callers. It has no goroutine, no clock
// and no I/O beyond reading the records an op names, and is owned by one
// goroutine: the single primary's orderer, or a cluster's state machine,
// which gives it the leader's clock and the leader's limits so that every
// voter decides the same.
type Machine struct {
	core     *Core
	cache    *Cache
	requests *requestLedger
	store    Store
}

// Group is the work of one group commit: chained entries, not yet signed,
// and the records they changed.
type Group struct {
	Entries []*Entry
	Dirty   Dirty
	bytes   int // data of the entries
}

// maxGroupBytes cuts a group at this much data, so that the three stages
// of the pipeline hold a bounded amount of memory whatever MaxBatch is.
const maxGroupBytes = 64 << 20

// Full reports whether the group holds maxBatch entries or maxGroupBytes
// of data.
func (g *Group) Full(maxBatch int) bool {
	return len(g.Entries) >= maxBatch || g.bytes >= maxGroupBytes
}

// Answer is what one op got in its group: the index of its new entry in
// the group, or the seq of the existing entry that answers it, or an
// error.
type Answer struct {
	Idx         int // -1: no new entry
	ExistingSeq uint64
	Err         error
}

// NewMachine loads the derived state of store. Signed requests past their
// deadline at nowSec (Unix seconds) are forgotten; a replicated machine
// passes 0 and forgets them only by the log's own clock (see Order).
func NewMachine(store Store, d Domain, maxInFlight int, nowSec uint64) (*Machine, error) {
	cache, err := store.LoadCache()
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	requests, err := loadRequests(store, nowSec)
	if err != nil {
		return nil, err
	}
	return &Machine{
		core:     NewCore(d, cache.State(), store.Head(), maxInFlight),
		cache:    cache,
		requests: requests,
		store:    store,
	}, nil
}

// Head is the head of the last op ordered (ahead of the store's while a
// group is being written).
func (m *Machine) Head() Head { return m.core.Head() }

// SetMaxInFlight sets the --max-in-flight limit for the next ops (a
// cluster applies the leader's, carried in each command).
func (m *Machine) SetMaxInFlight(n int) { m.core.maxInFlight = n }

// Order decides op into g at time nowMillis (Unix milliseconds; the entry's
// timestamp never goes back, whatever the clock says). The error is not
// the op's: the rules broke an invariant of our own and the machine must
// not go on.
func (m *Machine) Order(g *Group, op *Op, nowMillis uint64) (Answer, error) {
	none := Answer{Idx: -1}
	if op.Request.Hash != (common.Hash{}) {
		// The log's clock (never back) judges a deadline here, so that
		// every voter of a cluster judges alike; the node's own clock
		// judged it already before the op was queued.
		if op.Request.Deadline < max(nowMillis, m.core.Head().Timestamp)/1000 {
			none.Err = fmt.Errorf("%w: deadline past", ErrUnauthorized)
			return none, nil
		}
		if r, ok := m.requests.used(op.Request.Hash); ok {
			// This signed request wrote an entry already: answer it, even
			// if the ticket has moved on since (SPEC §4: used once).
			none.ExistingSeq = r.Seq
			return none, nil
		}
	}
	if err := m.cache.LoadOp(op); err != nil {
		none.Err = err
		return none, nil
	}
	d, err := m.core.Step(op, nowMillis)
	switch {
	case err != nil:
		none.Err = ErrHalted
		return none, err
	case d.Err != nil:
		none.Err = d.Err
	case d.New == nil:
		none.ExistingSeq = d.ExistingSeq
	default:
		e := d.New
		if op.Request.Hash != (common.Hash{}) {
			m.requests.accept(RequestRecord{RequestID: op.Request, Seq: e.Seq})
		}
		none.Idx = len(g.Entries)
		g.Entries = append(g.Entries, e)
		g.bytes += len(e.Data)
	}
	return none, nil
}

// Seal closes g: it takes the records the group changed and the signed
// requests that expired by nowSec, and lets the cache evict what the store
// holds durably.
func (m *Machine) Seal(g *Group, nowSec uint64) {
	g.Dirty = m.core.State().TakeDirty()
	m.requests.take(&g.Dirty, nowSec, len(g.Entries) > 0)
	m.cache.Trim(m.store.Head().Seq)
}

// Requests returns the signed requests used once that are still live, for
// a cluster's snapshot.
func (m *Machine) Requests() []RequestRecord { return m.requests.live.records() }

// precheck applies the rules to the durable records, for the error to give
// instead of Overloaded. Safe to call from any goroutine: it reads the
// store, not the machine.
func precheck(store Store, op *Op, maxInFlight int) error {
	var t *Ticket
	var l *Lineage
	var p *PlainTx
	if op.Lineage != "" {
		t, _ = store.Ticket(op.Lineage, op.ExternalID)
		l, _ = store.Lineage(op.Lineage)
	} else if op.ExternalID != "" {
		p, _ = store.Plain(op.ExternalID)
	}
	return decide(op, t, l, p, maxInFlight).Err
}
