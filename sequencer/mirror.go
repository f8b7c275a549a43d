package sequencer

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/syndtr/goleveldb/leveldb"
	"golang.org/x/mod/sumdb/note"
)

// Equivocation is a self-contained proof: two entries with one seq and
// different hashes, both validly signed by the primary (SPEC §2).
type Equivocation struct {
	A, B *Entry
}

// Mirror is the write side of a replica: it accepts only entries signed by
// the primary that continue its log (next seq, matching prevHash), stores
// them durably with the derived ticket state, and keeps equivocation proofs.
// It is safe for concurrent use; applies are serialized.
type Mirror struct {
	store   Store
	primary common.Address
	domain  Domain
	log     *slog.Logger

	mu      sync.Mutex // serializes Apply; owns core, cache and hasher
	core    *Core
	cache   *Cache
	hasher  *Hasher
	stopped error  // why following stopped (Halted): an equivocation, a forbidden entry, a dead store
	limit   uint64 // entries past this seq are not applied (0: no limit)

	headMu sync.Mutex
	headCh chan struct{}

	onApply func([]*Entry)
	rot     rot

	// The primary's checkpoints (mirror_checkpoint.go), owned under mu.
	cpLatest  *Checkpoint
	cpPending []*Checkpoint
	cpNote    note.Verifier // the notes' key when the operator gave it (SetCheckpointKey)
}

// NewMirror opens the replica side of a log of primary under domain.
// onApply, if set, is called after each durable apply.
func NewMirror(store Store, primary common.Address, d Domain, log *slog.Logger, onApply func([]*Entry)) (*Mirror, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := checkMetaFor(store, primary, d); err != nil {
		return nil, err
	}
	m := &Mirror{store: store, primary: primary, domain: d, log: log,
		hasher: NewHasher(d), headCh: make(chan struct{}), onApply: onApply}
	if err := m.loadState(); err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	if eqs, err := store.Equivocations(); err != nil {
		return nil, err
	} else if len(eqs) > 0 {
		m.stopped = fmt.Errorf("%w at seq %d (proof stored)", ErrEquivocation, eqs[0].A.Seq)
	}
	if err := m.loadCheckpoints(); err != nil {
		return nil, fmt.Errorf("load checkpoints: %w", err)
	}
	return m, nil
}

// checkMetaFor makes sure the datadir holds the log of primary under d, or
// claims an empty datadir for it.
func checkMetaFor(store Store, primary common.Address, d Domain) error {
	if d.ChainID == nil {
		return errors.New("domain has no chain id")
	}
	m, ok, err := store.Meta()
	if err != nil {
		return err
	}
	if !ok {
		if store.Head().Seq != 0 {
			return fmt.Errorf("%w: log without meta record", ErrCorrupt)
		}
		return store.PutMeta(Meta{Primary: primary, ChainID: d.ChainID, VerifyingContract: d.VerifyingContract})
	}
	if m.Primary != primary {
		return fmt.Errorf("datadir holds the log of %s, not of %s", m.Primary, primary)
	}
	if m.ChainID.Cmp(d.ChainID) != 0 || m.VerifyingContract != d.VerifyingContract {
		return fmt.Errorf("datadir holds a log of chain %s, contract %s; configured: chain %s, contract %s",
			m.ChainID, m.VerifyingContract, d.ChainID, d.VerifyingContract)
	}
	return nil
}

// Primary is the address whose log this mirror follows.
func (m *Mirror) Primary() common.Address { return m.primary }

// Domain is the log's EIP-712 domain.
func (m *Mirror) Domain() Domain { return m.domain }

// Store is the replica's store; a read that finds rot notes it (Damage).
func (m *Mirror) Store() Store { return guardedStore{Store: m.store, rot: &m.rot} }

// Limit makes the mirror apply no entry past seq: a cluster voter that
// catches up to a snapshot's head must stop exactly there, for Raft's log
// to go on from it.
func (m *Mirror) Limit(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.limit = seq
}

// Halted returns why the mirror stopped following (an equivocation, an
// entry the rules forbid, a store that can no longer write), or nil.
func (m *Mirror) Halted() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopped
}

// Head returns the durable head and a channel closed at the next apply.
func (m *Mirror) Head() (Head, <-chan struct{}) {
	m.headMu.Lock()
	defer m.headMu.Unlock()
	return m.store.Head(), m.headCh
}

// Apply stores the entries that continue the log, in one synced batch,
// checking each one first (CheckSigned). Entries must be in seq order;
// those at or below the head are compared with the stored ones (a validly
// signed difference is an equivocation). It returns how many entries were
// new and stored, and ErrGap when the first new entry is past head+1.
func (m *Mirror) Apply(entries []*Entry) (int, error) {
	return m.apply(entries, false)
}

// ApplyVerified is Apply for entries the caller has checked with
// CheckSigned already (the gossip validator does, in parallel).
func (m *Mirror) ApplyVerified(entries []*Entry) (int, error) {
	return m.apply(entries, true)
}

func (m *Mirror) apply(entries []*Entry, verified bool) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped != nil {
		return 0, m.stopped
	}
	head := m.store.Head()
	var fresh []*Entry
	for i, e := range entries {
		if m.limit > 0 && e.Seq > m.limit {
			break
		}
		if i > 0 && e.Seq != entries[i-1].Seq+1 {
			return 0, m.drop(fresh, fmt.Errorf("entries out of order: %d after %d", e.Seq, entries[i-1].Seq))
		}
		if !verified {
			if err := CheckSigned(m.hasher, m.primary, e); err != nil {
				return 0, m.drop(fresh, err)
			}
		}
		if e.Seq <= head.Seq {
			if err := m.compareStored(e); err != nil {
				return 0, err
			}
			continue
		}
		if err := m.cache.LoadEntry(e); err != nil {
			// Our disk, not the primary.
			return 0, m.drop(fresh, err)
		}
		if err := m.core.Follow(e); err != nil {
			switch {
			case errors.Is(err, ErrRejected):
				// The primary signed an entry the rules forbid: stop trusting it.
				m.stopped = fmt.Errorf("primary signed an invalid entry: %w", err)
				m.log.Error("stopped following the primary", "err", m.stopped)
				return 0, m.stopped
			case errors.Is(err, ErrNotChained) && len(fresh) == 0:
				// A validly signed entry that does not chain onto our head:
				// the primary signed another entry at head.Seq. The caller
				// fetches that one and hands it to Apply, which proves it.
				err = fmt.Errorf("%w: entry %d does not chain onto our entry %d (fork)", ErrForkSuspected, e.Seq, head.Seq)
			}
			return 0, m.drop(fresh, err)
		}
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	if err := m.store.Commit(fresh, m.core.State().TakeDirty()); err != nil {
		if IsCorrupted(err) || errors.Is(err, leveldb.ErrClosed) {
			// LevelDB stops writing for good once a compaction meets a
			// damaged block (bit rot in a table): no retry can succeed.
			// Halt with what to do, rather than lag behind in silence.
			m.stopped = fmt.Errorf("%w: the store can no longer write (%v): stop this replica, move its datadir aside and start it again to fetch the log from its peers", ErrHalted, err)
			m.log.Error("stopped following the primary: storage damaged", "err", m.stopped)
			return 0, m.stopped
		}
		m.reloadState(err)
		return 0, err
	}
	m.cache.Trim(m.store.Head().Seq)
	m.headMu.Lock()
	close(m.headCh)
	m.headCh = make(chan struct{})
	m.headMu.Unlock()
	if m.onApply != nil {
		m.onApply(fresh)
	}
	if len(m.cpPending) > 0 {
		if err := m.checkPending(); err != nil {
			return len(fresh), err
		}
	}
	return len(fresh), nil
}

// drop returns err after undoing what this call applied to the core (the
// entries in fresh, or records a failed read left half loaded): the state
// and head go back to the stored ones.
func (m *Mirror) drop(fresh []*Entry, err error) error {
	if len(fresh) > 0 || errors.Is(err, ErrStorage) {
		m.reloadState(err)
	}
	return err
}

// loadState makes the core and cache those of the stored log.
func (m *Mirror) loadState() error {
	c, err := m.store.LoadCache()
	if err != nil {
		return err
	}
	m.cache = c
	m.core = NewCore(m.domain, c.State(), m.store.Head(), 0)
	return nil
}

// reloadState replaces the in-memory state, which is ahead of the disk
// after a failed apply or commit, with the stored one; if that fails too
// the mirror stops.
func (m *Mirror) reloadState(cause error) {
	if err := m.loadState(); err != nil {
		m.stopped = fmt.Errorf("%w: %v", ErrHalted, cause)
	}
}

// compareStored checks a signed entry against ours at the same seq; a
// difference is an equivocation, kept durably.
func (m *Mirror) compareStored(e *Entry) error {
	ours, err := m.store.Entry(e.Seq)
	if err != nil {
		return err
	}
	if ours.Hash == e.Hash {
		return nil
	}
	proof := Equivocation{A: ours, B: e}
	if err := m.store.PutEquivocation(proof); err != nil {
		m.log.Error("storing equivocation proof", "err", err)
	}
	m.stopped = fmt.Errorf("%w at seq %d: %s and %s", ErrEquivocation, e.Seq, ours.Hash, e.Hash)
	m.log.Error("EQUIVOCATION: the primary signed two entries at one seq; stopped following it",
		"seq", e.Seq, "ours", ours.Hash, "theirs", e.Hash, "primary", m.primary.Hex())
	return m.stopped
}

// Wake closes the channel Head returned, as an apply does, so that those
// waiting on it look again: a primary whose reads move from the mirror
// (during its peer check) to the sequencer wakes them.
func (m *Mirror) Wake() {
	m.headMu.Lock()
	defer m.headMu.Unlock()
	close(m.headCh)
	m.headCh = make(chan struct{})
}

// Enqueue refuses writes: a replica does not write its primary's log.
func (m *Mirror) Enqueue(Op) *Future { return Refused(ErrNotPrimary) }
