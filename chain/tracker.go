package chain

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

// tracker follows the durable log (OnCommit) to know, without reading the
// store on every tick, which lineages have leases and which nonce each
// lease holds. It is a hint, never the truth: every op planned from it is
// decided again by the rules when it is ordered. It is rebuilt from the
// store when the watcher starts or its node becomes a cluster's leader.
//
// The commit hook runs on the node's writer, the critical path of every
// write: it only appends what it needs of each entry to an inbox under a
// mutex of its own, and the watcher's goroutines apply the inbox before
// they read, so a poll of many lineages never holds up a commit.
type tracker struct {
	// want says which lineages to follow (all with --lease-ttl, else those
	// of a watched chain); set once before use.
	want func(name string) bool

	in struct {
		sync.Mutex
		open  bool   // ready or booting: commits are kept
		notes []note // committed, not applied yet
	}

	mu       sync.Mutex
	ready    bool
	lineages map[string]*track
	// unwanted remembers names want refused (bounded), so that the
	// entries of a lineage the watcher cannot act on cost one lookup.
	unwanted map[string]struct{}
}

// note is what the tracker needs of one committed entry.
type note struct {
	kind       sequencer.Kind
	lineage    string
	externalID string
	nonce      uint64
	timestamp  uint64
	dataHash   [32]byte
}

type track struct {
	leases map[string]*Lease
	// holders names, for nonces at or above the floor, the externalId of
	// the last tx that leased each one (for reclaim entries).
	holders map[uint64]string
	touched bool           // an entry since the last poll
	chainID uint64         // of an eip155 lineage; 0 otherwise
	account common.Address // and its account
	// floor and next follow the lineage record's floor and nextNonce (a
	// lower bound until the record is first read): the poll reads the
	// record only when the chain says something may be written.
	floor, next uint64
}

func newTracker(want func(string) bool) *tracker {
	return &tracker{want: want, lineages: map[string]*track{}, unwanted: map[string]struct{}{}}
}

// commit takes entries the node made durable, in seq order.
func (t *tracker) commit(es []*sequencer.Entry) {
	t.in.Lock()
	defer t.in.Unlock()
	if !t.in.open {
		return
	}
	for _, e := range es {
		if e.Lineage != "" {
			t.in.notes = append(t.in.notes, note{kind: e.Kind, lineage: e.Lineage, externalID: e.ExternalID,
				nonce: e.Nonce, timestamp: e.Timestamp, dataHash: e.DataHash})
		}
	}
}

// drainLocked applies the inbox; t.mu is held.
func (t *tracker) drainLocked() {
	t.in.Lock()
	notes := t.in.notes
	t.in.notes = nil
	t.in.Unlock()
	if !t.ready {
		return
	}
	for i := range notes {
		t.apply(&notes[i])
	}
}

func (t *tracker) get(name string) *track {
	tr := t.lineages[name]
	if tr == nil {
		tr = newTrack(name)
		t.lineages[name] = tr
	}
	return tr
}

func newTrack(name string) *track {
	id, a, _ := ParseLineage(name)
	return &track{leases: map[string]*Lease{}, holders: map[uint64]string{}, chainID: id, account: a}
}

// tracked is one lineage of a chain as a poll sees it.
type tracked struct {
	name        string
	account     common.Address
	floor, next uint64 // never above the record's
	leases      []Lease
}

// snapshot copies what a poll needs of every tracked lineage of a chain,
// sorted by name, under one lock, and clears their touched marks.
func (t *tracker) snapshot(chainID uint64) []tracked {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drainLocked()
	var out []tracked
	for name, tr := range t.lineages {
		if tr.chainID == chainID {
			out = append(out, tracked{name: name, account: tr.account, floor: tr.floor, next: tr.next, leases: t.leasesLocked(name)})
			tr.touched = false
		}
	}
	slices.SortFunc(out, func(a, b tracked) int { return strings.Compare(a.name, b.name) })
	return out
}

// apply moves the tracker by one entry. Each case is idempotent: an entry
// seen both in the store at boot and in a commit changes nothing twice.
func (t *tracker) apply(e *note) {
	tr := t.lineages[e.lineage]
	if tr == nil {
		if _, no := t.unwanted[e.lineage]; no {
			return
		}
		if !t.want(e.lineage) {
			if len(t.unwanted) >= 100_000 {
				clear(t.unwanted)
			}
			t.unwanted[e.lineage] = struct{}{}
			return
		}
		tr = t.get(e.lineage)
	}
	tr.touched = true
	switch e.kind {
	case sequencer.KindTx:
		tr.leases[e.externalID] = &Lease{ExternalID: e.externalID, Nonce: e.nonce, LeasedAt: e.timestamp}
		tr.holders[e.nonce] = e.externalID
		tr.next = max(tr.next, e.nonce+1)
	case sequencer.KindAttempt:
		if l := tr.leases[e.externalID]; l != nil && !slices.Contains(l.Attempts, e.dataHash) {
			l.Attempts = append(l.Attempts, e.dataHash)
		}
	case sequencer.KindClose, sequencer.KindRelease, sequencer.KindFail, sequencer.KindConfirm, sequencer.KindExpire:
		delete(tr.leases, e.externalID)
	case sequencer.KindSync:
		tr.floor, tr.next = max(tr.floor, e.nonce), max(tr.next, e.nonce)
		for id, l := range tr.leases {
			if l.Nonce < e.nonce {
				delete(tr.leases, id)
			}
		}
		for n := range tr.holders {
			if n < e.nonce {
				delete(tr.holders, n)
			}
		}
	}
}

// bootStore is what booting reads.
type bootStore interface {
	EachLineage(func(*sequencer.Lineage) bool) error
	Ticket(lineage, externalID string) (*sequencer.Ticket, error)
	Entry(seq uint64) (*sequencer.Entry, error)
}

// boot rebuilds the tracker from the store: every lineage with leases, and
// every lineage keep says to watch although it has none (a chain lineage
// whose nonces the chain has not confirmed yet).
func (t *tracker) boot(s bootStore, keep func(*sequencer.Lineage) bool) error {
	t.mu.Lock()
	t.ready = false
	t.mu.Unlock()
	t.in.Lock()
	t.in.open, t.in.notes = true, nil // what commits from now on is applied after the scan
	t.in.Unlock()
	fresh := map[string]*track{}
	var err error
	scanErr := s.EachLineage(func(l *sequencer.Lineage) bool {
		if !t.want(l.Name) || (len(l.InFlight) == 0 && !keep(l)) {
			return true
		}
		tr := newTrack(l.Name)
		tr.touched, tr.floor, tr.next = true, l.Floor, l.NextNonce
		for _, f := range l.InFlight {
			var tk *sequencer.Ticket
			var e *sequencer.Entry
			if tk, err = s.Ticket(l.Name, f.ExternalID); err != nil {
				return false
			}
			if e, err = s.Entry(f.Seq); err != nil {
				return false
			}
			ls := &Lease{ExternalID: f.ExternalID, Nonce: f.Nonce, LeasedAt: e.Timestamp}
			for _, a := range tk.Attempts {
				ls.Attempts = append(ls.Attempts, a.TxHash)
			}
			tr.leases[f.ExternalID] = ls
			tr.holders[f.Nonce] = f.ExternalID
		}
		fresh[l.Name] = tr
		return true
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		err = scanErr
	}
	if err != nil {
		t.in.Lock()
		t.in.open, t.in.notes = false, nil
		t.in.Unlock()
		return err
	}
	t.lineages, t.ready = fresh, true
	t.drainLocked() // idempotent: an entry both scanned and noted changes nothing twice
	return nil
}

// reset forgets everything (the node is no longer the one that writes).
func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.in.Lock()
	t.in.open, t.in.notes = false, nil
	t.in.Unlock()
	t.ready = false
	t.lineages = map[string]*track{}
}

func (t *tracker) isReady() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready
}

// leasesLocked copies a lineage's leases, sorted by nonce; t.mu is held.
func (t *tracker) leasesLocked(name string) []Lease {
	tr := t.lineages[name]
	if tr == nil {
		return nil
	}
	out := make([]Lease, 0, len(tr.leases))
	for _, l := range tr.leases {
		c := *l
		c.Attempts = slices.Clone(l.Attempts)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Compare(a.Nonce, b.Nonce) })
	return out
}

// holder is the externalId of the last lease of nonce n in lineage name.
func (t *tracker) holder(name string, n uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drainLocked()
	if tr := t.lineages[name]; tr != nil {
		return tr.holders[n]
	}
	return ""
}

// setBounds corrects a lineage's floor and next nonce from its record.
func (t *tracker) setBounds(name string, floor, next uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.lineages[name]; tr != nil {
		tr.floor, tr.next = max(tr.floor, floor), max(tr.next, next)
	}
}

// drop forgets a lineage with nothing left to watch, unless an entry came
// since it was looked at.
func (t *tracker) drop(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drainLocked()
	if tr := t.lineages[name]; tr != nil && !tr.touched && len(tr.leases) == 0 {
		delete(t.lineages, name)
	}
}

// allLeases copies the leases of every tracked lineage (for expiry).
func (t *tracker) allLeases() map[string][]Lease {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drainLocked()
	out := map[string][]Lease{}
	for name, tr := range t.lineages {
		if len(tr.leases) > 0 {
			out[name] = t.leasesLocked(name)
		}
	}
	return out
}
