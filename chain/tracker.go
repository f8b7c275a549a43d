package chain

import (
	"slices"
	"sync"

	"github.com/seqnode/sequencer/sequencer"
)

// tracker follows the durable log (OnCommit) to know, without reading the
// store on every tick, which lineages have leases and which nonce each
// lease holds. It is a hint, never the truth: every op planned from it is
// decided again by the rules when it is ordered. It is rebuilt from the
// store when the watcher starts or its node becomes a cluster's leader.
type tracker struct {
	// want says which lineages to follow (all with --lease-ttl, else those
	// of a watched chain); set once before use.
	want     func(name string) bool
	mu       sync.Mutex
	ready    bool
	booting  bool
	pending  []*sequencer.Entry // committed while booting, applied after
	lineages map[string]*track
}

type track struct {
	leases map[string]*Lease
	// holders names, for nonces at or above the floor, the externalId of
	// the last tx that leased each one (for reclaim entries).
	holders map[uint64]string
	touched bool // an entry since the last poll
	// floor and next follow the lineage record's floor and nextNonce (a
	// lower bound until the record is first read): the poll reads the
	// record only when the chain says something may be written.
	floor, next uint64
}

func newTracker(want func(string) bool) *tracker {
	return &tracker{want: want, lineages: map[string]*track{}}
}

// commit takes entries the node made durable, in seq order.
func (t *tracker) commit(es []*sequencer.Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.booting:
		t.pending = append(t.pending, es...)
	case t.ready:
		for _, e := range es {
			t.apply(e)
		}
	}
}

func (t *tracker) get(name string) *track {
	tr := t.lineages[name]
	if tr == nil {
		tr = &track{leases: map[string]*Lease{}, holders: map[uint64]string{}}
		t.lineages[name] = tr
	}
	return tr
}

// apply moves the tracker by one entry. Each case is idempotent: an entry
// seen both in the store at boot and in a commit changes nothing twice.
func (t *tracker) apply(e *sequencer.Entry) {
	if e.Lineage == "" || !t.want(e.Lineage) {
		return
	}
	tr := t.get(e.Lineage)
	tr.touched = true
	switch e.Kind {
	case sequencer.KindTx:
		tr.leases[e.ExternalID] = &Lease{ExternalID: e.ExternalID, Nonce: e.Nonce, LeasedAt: e.Timestamp}
		tr.holders[e.Nonce] = e.ExternalID
		tr.next = max(tr.next, e.Nonce+1)
	case sequencer.KindAttempt:
		if l := tr.leases[e.ExternalID]; l != nil && !slices.Contains(l.Attempts, e.DataHash) {
			l.Attempts = append(l.Attempts, e.DataHash)
		}
	case sequencer.KindClose, sequencer.KindRelease, sequencer.KindFail, sequencer.KindConfirm, sequencer.KindExpire:
		delete(tr.leases, e.ExternalID)
	case sequencer.KindSync:
		tr.floor, tr.next = max(tr.floor, e.Nonce), max(tr.next, e.Nonce)
		for id, l := range tr.leases {
			if l.Nonce < e.Nonce {
				delete(tr.leases, id)
			}
		}
		for n := range tr.holders {
			if n < e.Nonce {
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
	t.booting, t.ready, t.pending = true, false, nil
	t.mu.Unlock()
	fresh := map[string]*track{}
	var err error
	scanErr := s.EachLineage(func(l *sequencer.Lineage) bool {
		if !t.want(l.Name) || (len(l.InFlight) == 0 && !keep(l)) {
			return true
		}
		tr := &track{leases: map[string]*Lease{}, holders: map[uint64]string{}, touched: true, floor: l.Floor, next: l.NextNonce}
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
	t.booting = false
	if err == nil {
		err = scanErr
	}
	if err != nil {
		t.pending = nil
		return err
	}
	t.lineages, t.ready = fresh, true
	for _, e := range t.pending {
		t.apply(e)
	}
	t.pending = nil
	return nil
}

// reset forgets everything (the node is no longer the one that writes).
func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ready, t.booting, t.pending = false, false, nil
	t.lineages = map[string]*track{}
}

func (t *tracker) isReady() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready
}

// snapshot is a copy of one lineage's leases, sorted by nonce.
func (t *tracker) leases(name string) []Lease {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leasesLocked(name)
}

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
	slices.SortFunc(out, func(a, b Lease) int { return cmpU64(a.Nonce, b.Nonce) })
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// names lists the tracked lineages that match, sorted, and clears their
// touched marks; touched says whether any of them had an entry since.
func (t *tracker) names(match func(string) bool) (names []string, touched bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, tr := range t.lineages {
		if match(name) {
			names = append(names, name)
			touched = touched || tr.touched
			tr.touched = false
		}
	}
	slices.Sort(names)
	return names, touched
}

// holder is the externalId of the last lease of nonce n in lineage name.
func (t *tracker) holder(name string, n uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.lineages[name]; tr != nil {
		return tr.holders[n]
	}
	return ""
}

// bounds returns what the tracker knows of a lineage's floor and next
// nonce; setBounds corrects it from the lineage's record.
func (t *tracker) bounds(name string) (floor, next uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.lineages[name]; tr != nil {
		return tr.floor, tr.next
	}
	return 0, 0
}

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
	if tr := t.lineages[name]; tr != nil && !tr.touched && len(tr.leases) == 0 {
		delete(t.lineages, name)
	}
}

// allLeases copies the leases of every tracked lineage (for expiry).
func (t *tracker) allLeases() map[string][]Lease {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string][]Lease{}
	for name, tr := range t.lineages {
		if len(tr.leases) > 0 {
			out[name] = t.leasesLocked(name)
		}
	}
	return out
}
