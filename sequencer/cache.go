package sequencer

import (
	"errors"
	"fmt"
)

// Lineages and leased tickets always live in a State. Final tickets and the
// externalIds of txs without lineage only accumulate, so a node keeps them
// in a Cache over the store they are persisted to: Trim evicts the oldest
// of them once they are durable, and Load reads back the records an op or
// an entry names before the Core decides it. Reading happens here, never
// inside the rules, so that a failing disk is never mistaken for a verdict
// on a request or an entry.

// Backing is where a Cache finds the records it evicted: the durable
// derived records (LevelStore implements it). Both methods answer
// ErrNotFound for a record never stored.
type Backing interface {
	Ticket(lineage, externalID string) (*Ticket, error)
	Plain(externalID string) (*PlainTx, error)
}

// DefaultCacheRecords is how many final tickets and plain txs a Cache
// keeps in memory (about 200 bytes each).
const DefaultCacheRecords = 250_000

// cacheRef names a final ticket, or with an empty lineage a plain tx, and
// the seq that made it final.
type cacheRef struct {
	lineage, id string
	seq         uint64
}

// Cache bounds the final records a State holds in memory over the Backing
// that holds them all. Like the State it is owned by one goroutine.
type Cache struct {
	st      *State
	back    Backing
	partial bool // some records are only in back
	limit   int  // final records kept in memory before Trim evicts
	// fifo holds the final tickets and plain txs in the order they became
	// final (or were read from back): eviction candidates, oldest first.
	// A ref whose record changed since is skipped when it comes up.
	fifo     []cacheRef
	fifoHead int
}

// NewCache makes st's final records a cache over back holding about limit
// of them (DefaultCacheRecords if limit <= 0). partial says that back holds
// records st does not (the state was loaded lazily).
func NewCache(st *State, back Backing, limit int, partial bool) *Cache {
	if limit <= 0 {
		limit = DefaultCacheRecords
	}
	st.trackFinals = true
	return &Cache{st: st, back: back, limit: limit, partial: partial}
}

// State is the state the cache bounds.
func (c *Cache) State() *State { return c.st }

// LoadOp reads from the backing the records op names that are not in
// memory, so that deciding op (and applying its entry) needs no read.
func (c *Cache) LoadOp(op *Op) error {
	return c.load(op.Kind, op.Lineage, op.ExternalID)
}

// LoadEntry is LoadOp for an entry to apply.
func (c *Cache) LoadEntry(e *Entry) error {
	return c.load(e.Kind, e.Lineage, e.ExternalID)
}

func (c *Cache) load(kind Kind, lineage, id string) error {
	c.takeFinals()
	if !c.partial || id == "" {
		return nil
	}
	if lineage != "" {
		_, err := c.ticket(ticketKey{lineage, id})
		return err
	}
	if kind == KindTx {
		_, err := c.plainTx(id)
		return err
	}
	return nil
}

// takeFinals moves the records the State saw become final to the end of
// the eviction queue, keeping the order in which they became final.
func (c *Cache) takeFinals() {
	if len(c.st.finals) > 0 {
		c.fifo = append(c.fifo, c.st.finals...)
		clear(c.st.finals)
		c.st.finals = c.st.finals[:0]
	}
}

// ticket finds a ticket in memory or, failing that, in the backing.
func (c *Cache) ticket(k ticketKey) (*Ticket, error) {
	if t, ok := c.st.tickets[k]; ok || !c.partial {
		return t, nil
	}
	t, err := c.back.Ticket(k.lineage, k.externalID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	c.st.restoreTicket(t)
	if t.State != TicketLeased {
		c.fifo = append(c.fifo, cacheRef{k.lineage, k.externalID, t.FinalSeq})
	}
	return t, nil
}

// plainTx finds a tx without lineage in memory or in the backing.
func (c *Cache) plainTx(id string) (*PlainTx, error) {
	if p, ok := c.st.plain[id]; ok {
		return &p, nil
	}
	if !c.partial {
		return nil, nil
	}
	p, err := c.back.Plain(id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	c.st.restorePlain(id, *p)
	c.fifo = append(c.fifo, cacheRef{"", id, p.Seq})
	return p, nil
}

// Ticket returns a copy of a ticket, read from the backing if it was
// evicted (false also when the backing cannot be read).
func (c *Cache) Ticket(lineage, externalID string) (Ticket, bool) {
	c.takeFinals()
	t, err := c.ticket(ticketKey{lineage, externalID})
	if err != nil || t == nil {
		return Ticket{}, false
	}
	return *t, true
}

// Plain returns the tx without lineage recorded under externalID, read
// from the backing if it was evicted.
func (c *Cache) Plain(externalID string) (PlainTx, bool) {
	c.takeFinals()
	p, err := c.plainTx(externalID)
	if err != nil || p == nil {
		return PlainTx{}, false
	}
	return *p, true
}

// Cached is the number of tickets and plain txs held in memory.
func (c *Cache) Cached() int { return len(c.st.tickets) + len(c.st.plain) }

// Trim evicts the oldest final records from memory while more than the
// limit are held; only records whose last change is at or below durable
// (so the backing holds them as they are) can go.
func (c *Cache) Trim(durable uint64) {
	c.takeFinals()
	for c.fifoHead < len(c.fifo) && c.Cached() > c.limit {
		r := c.fifo[c.fifoHead]
		if r.seq > durable {
			break
		}
		c.fifo[c.fifoHead] = cacheRef{}
		c.fifoHead++
		if !c.current(r) {
			continue
		}
		if r.lineage == "" {
			delete(c.st.plain, r.id)
		} else {
			delete(c.st.tickets, ticketKey{r.lineage, r.id})
		}
		c.partial = true
	}
	if c.fifoHead > 1024 && c.fifoHead > len(c.fifo)/2 {
		c.fifo = append(c.fifo[:0], c.fifo[c.fifoHead:]...)
		c.fifoHead = 0
	}
	// Refs go stale when a ticket goes final again (release, re-lease,
	// release...); under the limit nothing pops them, so drop them once
	// they outnumber the records.
	if live := c.Cached(); len(c.fifo)-c.fifoHead > 2*live+1024 {
		keep := c.fifo[:0]
		for _, r := range c.fifo[c.fifoHead:] {
			if c.current(r) {
				keep = append(keep, r)
			}
		}
		clear(c.fifo[len(keep):])
		c.fifo, c.fifoHead = keep, 0
	}
}

// current reports whether ref r still names a final record as it is.
func (c *Cache) current(r cacheRef) bool {
	if r.lineage == "" {
		p, ok := c.st.plain[r.id]
		return ok && p.Seq == r.seq
	}
	t, ok := c.st.tickets[ticketKey{r.lineage, r.id}]
	return ok && t.State != TicketLeased && t.FinalSeq == r.seq
}
