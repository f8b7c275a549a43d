package sequencer

import (
	"errors"
	"fmt"
	"sync"

	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
)

// A replica's store can rot (flipped bytes in a table): SPEC §6 wants the
// range fetched again from peers, not answered as an internal error
// forever. The mirror's Store notes the first seq it could not read; the
// follower fetches that range from a peer and hands it to Repair, which
// checks every entry against what it can still verify and writes the
// unreadable ones again. Until then Damage says why (/healthz 503).

// IsCorrupted says whether err is damage found while reading the store (a
// block checksum, a record that does not decode): bit rot, not a missing
// entry or a failing disk.
func IsCorrupted(err error) bool {
	if errors.Is(err, ErrCorrupt) {
		return true
	}
	// goleveldb's own test looks at the error itself, not what it wraps.
	for ; err != nil; err = errors.Unwrap(err) {
		if lerrors.IsCorrupted(err) {
			return true
		}
	}
	return false
}

// rot is the damage a mirror's reads found and not yet repaired.
type rot struct {
	mu    sync.Mutex
	from  uint64 // first seq found unreadable; 0: none
	cause error
}

func (r *rot) mark(seq uint64, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from == 0 || seq < r.from {
		r.from, r.cause = max(seq, 1), cause
	}
}

// Damage returns the first seq the store could not read (0: none) and why.
func (m *Mirror) Damage() (uint64, error) {
	m.rot.mu.Lock()
	defer m.rot.mu.Unlock()
	if m.rot.from == 0 {
		return 0, nil
	}
	return m.rot.from, fmt.Errorf("the store cannot read entries from seq %d (%v): fetching them again from peers", m.rot.from, m.rot.cause)
}

// Repaired clears the damage noted at or after from (a later read that
// fails notes it again).
func (m *Mirror) Repaired(from uint64) {
	m.rot.mu.Lock()
	defer m.rot.mu.Unlock()
	if m.rot.from >= from {
		m.rot.from, m.rot.cause = 0, nil
	}
}

type entryRewriter interface{ RewriteEntries([]*Entry) error }

// Repair checks consecutive entries fetched from a peer against the log:
// each must be signed by the primary and chain onto the one before it
// (the first onto our entry before it, or the zero hash), an entry we can
// still read must be the same (a validly signed different one is an
// equivocation, kept as proof), and the last must match our head or
// chain into our next entry where we can read it. Those we cannot read
// are written again. It returns how many were rewritten.
func (m *Mirror) Repair(fetched []*Entry) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped != nil {
		return 0, m.stopped
	}
	rw, ok := m.store.(entryRewriter)
	if !ok {
		return 0, errors.New("this store cannot rewrite entries")
	}
	head := m.store.Head()
	var prev *Entry // the entry before fetched[i], checked
	var rewrite []*Entry
	for i, e := range fetched {
		if e.Seq > head.Seq {
			break
		}
		if i > 0 && e.Seq != fetched[i-1].Seq+1 {
			return 0, fmt.Errorf("fetched entries out of order: %d after %d", e.Seq, fetched[i-1].Seq)
		}
		if err := CheckSigned(m.hasher, m.primary, e); err != nil {
			return 0, err
		}
		if i == 0 && e.Seq > 1 {
			p, err := m.store.Entry(e.Seq - 1)
			if err != nil {
				return 0, fmt.Errorf("%w: %v", ErrUnanchored, err)
			}
			prev = p
		}
		if want := prevHashOf(prev); e.PrevHash != want {
			return 0, fmt.Errorf("fetched entry %d does not chain onto entry %d", e.Seq, e.Seq-1)
		}
		ours, err := m.store.Entry(e.Seq)
		switch {
		case err == nil:
			if ours.Hash != e.Hash {
				return 0, m.compareStored(e)
			}
		case IsCorrupted(err):
			rewrite = append(rewrite, e)
		default:
			return 0, err
		}
		prev = e
	}
	if prev == nil {
		return 0, nil
	}
	if prev.Seq == head.Seq && prev.Hash != head.Hash {
		return 0, fmt.Errorf("fetched entry %d is not our head", prev.Seq)
	}
	if next, err := m.store.Entry(prev.Seq + 1); err == nil && next.PrevHash != prev.Hash {
		return 0, fmt.Errorf("our entry %d does not chain onto fetched entry %d", next.Seq, prev.Seq)
	}
	if err := rw.RewriteEntries(rewrite); err != nil {
		return 0, err
	}
	if len(rewrite) > 0 {
		m.log.Warn("bit rot repaired: entries the store could not read were fetched again from a peer, checked and rewritten",
			"from", rewrite[0].Seq, "to", rewrite[len(rewrite)-1].Seq, "n", len(rewrite))
	}
	return len(rewrite), nil
}

func prevHashOf(e *Entry) (h [32]byte) {
	if e != nil {
		h = e.Hash
	}
	return h
}

// guardedStore is the mirror's store as readers see it: a read that finds
// rot notes it for repair, and a range whose iterator stops on a damaged
// block is read on entry by entry (a repaired entry reads again).
type guardedStore struct {
	Store
	rot *rot
}

func (s guardedStore) Entry(seq uint64) (*Entry, error) {
	e, err := s.Store.Entry(seq)
	if IsCorrupted(err) {
		s.rot.mark(seq, err)
		return nil, rotError(seq, err)
	}
	return e, err
}

func (s guardedStore) Range(from uint64, limit int) ([]*Entry, error) {
	es, err := s.Store.Range(from, limit)
	if !IsCorrupted(err) {
		return es, err
	}
	head := s.Store.Head().Seq
	for seq := max(from, 1) + uint64(len(es)); len(es) < limit && seq <= head; seq++ {
		e, err := s.Entry(seq)
		if err != nil {
			return es, err
		}
		es = append(es, e)
	}
	return es, nil
}

func (s guardedStore) LineageRange(lineage string, from uint64, limit int) ([]*Entry, error) {
	es, err := s.Store.LineageRange(lineage, from, limit)
	if IsCorrupted(err) {
		at := from
		if len(es) > 0 {
			at = es[len(es)-1].Seq + 1
		}
		s.rot.mark(at, err)
		return es, rotError(at, err)
	}
	return es, err
}

func rotError(seq uint64, err error) error {
	return fmt.Errorf("entry %d cannot be read from this replica's store (%v): it is being fetched again from peers; retry shortly or read from another node", seq, err)
}
