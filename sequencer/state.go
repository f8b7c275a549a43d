package sequencer

import (
	"fmt"
	"math"
	"slices"

	"github.com/ethereum/go-ethereum/common"
)

// TicketState is the state of a ticket (SPEC §3).
type TicketState uint8

const (
	TicketLeased TicketState = iota
	TicketClosed
	TicketReleased
	TicketFailed
	TicketExpired // SPEC §9: leased with no attempt past --lease-ttl; like released for a later append
)

var ticketStateNames = [...]string{"leased", "closed", "released", "failed", "expired"}

func (s TicketState) String() string {
	if int(s) < len(ticketStateNames) {
		return ticketStateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Ticket is the lease of one nonce of one lineage to one transaction.
// FinalSeq is the seq of the entry that ended the lease (close, release,
// fail, confirm, expire, or the sync that closed it); 0 while leased.
type Ticket struct {
	Lineage    string
	ExternalID string
	Nonce      uint64
	State      TicketState
	LeaseSeq   uint64
	FinalSeq   uint64
	DataHash   common.Hash // keccak256 of the leasing tx's data, for idempotency
	LeaseHash  common.Hash // hash of the leasing tx entry
	Attempts   []Attempt   // the lease's attempts, in the order recorded (SPEC §9)
	MinedTx    common.Hash // the attempt a confirm found mined; zero otherwise
}

// Attempt is one transaction hash recorded for a ticket and the seq of the
// attempt entry that recorded it.
type Attempt struct {
	TxHash common.Hash
	Seq    uint64
}

// MaxAttempts bounds the attempts of one lease (fee bumps and
// replacements): an executor that needs more has lost its transaction and
// should release the ticket.
const MaxAttempts = 64

// attempt is the seq of the attempt that recorded h, if any.
func (t *Ticket) attempt(h common.Hash) (uint64, bool) {
	for _, a := range t.Attempts {
		if a.TxHash == h {
			return a.Seq, true
		}
	}
	return 0, false
}

// Equal reports whether two tickets hold the same.
func (t *Ticket) Equal(u *Ticket) bool {
	return t.Lineage == u.Lineage && t.ExternalID == u.ExternalID && t.Nonce == u.Nonce &&
		t.State == u.State && t.LeaseSeq == u.LeaseSeq && t.FinalSeq == u.FinalSeq &&
		t.DataHash == u.DataHash && t.LeaseHash == u.LeaseHash && t.MinedTx == u.MinedTx &&
		slices.Equal(t.Attempts, u.Attempts)
}

func (t *Ticket) clone() *Ticket {
	c := *t
	c.Attempts = slices.Clone(t.Attempts)
	return &c
}

// holds reports whether a leased ticket of l holds nonce n.
func (l *Lineage) holds(n uint64) bool {
	_, ok := slices.BinarySearchFunc(l.InFlight, n, func(a InFlight, n uint64) int {
		return cmpU64(a.Nonce, n)
	})
	return ok
}

// pooled reports whether n is in l's pool of released nonces.
func (l *Lineage) pooled(n uint64) bool {
	_, ok := slices.BinarySearch(l.Released, n)
	return ok
}

// InFlight is one leased ticket of a lineage.
type InFlight struct {
	Nonce      uint64
	ExternalID string
	Seq        uint64
}

// Lineage is the nonce state of one lineage.
type Lineage struct {
	Name      string
	NextNonce uint64
	Floor     uint64
	InFlight  []InFlight // sorted by nonce
	Released  []uint64   // the pool, sorted ascending
	Closed    uint64
	Failed    uint64
}

func (l *Lineage) leaseNonce() (uint64, bool) {
	if len(l.Released) > 0 {
		return l.Released[0], true
	}
	return l.NextNonce, l.NextNonce != math.MaxUint64
}

func (l *Lineage) addInFlight(f InFlight) {
	i, _ := slices.BinarySearchFunc(l.InFlight, f.Nonce, func(a InFlight, n uint64) int {
		return cmpU64(a.Nonce, n)
	})
	l.InFlight = slices.Insert(l.InFlight, i, f)
}

func (l *Lineage) removeInFlight(nonce uint64) bool {
	i, ok := slices.BinarySearchFunc(l.InFlight, nonce, func(a InFlight, n uint64) int {
		return cmpU64(a.Nonce, n)
	})
	if ok {
		l.InFlight = slices.Delete(l.InFlight, i, i+1)
	}
	return ok
}

func (l *Lineage) addReleased(n uint64) {
	i, found := slices.BinarySearch(l.Released, n)
	if !found {
		l.Released = slices.Insert(l.Released, i, n)
	}
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

func (l *Lineage) clone() *Lineage {
	c := *l
	c.InFlight = slices.Clone(l.InFlight)
	c.Released = slices.Clone(l.Released)
	return &c
}

// PlainTx is a tx without lineage that was given an externalId.
type PlainTx struct {
	Seq      uint64
	DataHash common.Hash
}

type ticketKey struct{ lineage, externalID string }

// Op is one write asked of the primary, already validated and authorized:
// by a client (tx, close, release, fail, sync, attempt) or by the node
// itself (confirm, expire, reclaim, and sync from the chain watcher).
type Op struct {
	Kind       Kind
	Lineage    string
	ExternalID string
	Data       []byte
	DataHash   common.Hash // keccak256(Data) for tx; the transaction hash for attempt and confirm
	ChainNonce uint64      // the chain nonce for sync; the nonce returned to the pool for reclaim
	Sender     common.Address
	Request    RequestID // the signed request, if any: used once
}

// Decision is what the state machine makes of an Op: either a new entry to
// write (New; Core.Step chains it), or the seq of an existing entry that
// answers it (ExistingSeq), or an error.
type Decision struct {
	New         *Entry
	ExistingSeq uint64
	Err         error
}

// State is the ticket and nonce state derived from a log. It is a
// deterministic state machine: no clock, no goroutines, no I/O. Apply(e)
// for every entry of a log, in order, gives the same State on every node.
//
// On a node the final records are a Cache over the store (see cache.go):
// the records an op or an entry names are loaded before Decide and Apply
// look at them, which only ever read the maps.
type State struct {
	lineages map[string]*Lineage
	tickets  map[ticketKey]*Ticket
	plain    map[string]PlainTx

	dirtyLineages map[string]struct{}
	dirtyTickets  map[ticketKey]struct{}
	dirtyPlain    map[string]struct{}
	newLineages   int // created since the last TakeDirty

	// finals are the records that became final since the Cache last
	// looked (only kept when a Cache bounds this state).
	trackFinals bool
	finals      []cacheRef
}

// NewState returns the state of an empty log.
func NewState() *State {
	return &State{
		lineages:      map[string]*Lineage{},
		tickets:       map[ticketKey]*Ticket{},
		plain:         map[string]PlainTx{},
		dirtyLineages: map[string]struct{}{},
		dirtyTickets:  map[ticketKey]struct{}{},
		dirtyPlain:    map[string]struct{}{},
	}
}

// restoreLineage, restoreTicket and restorePlain put back a record read
// from the store; they leave nothing dirty.
func (s *State) restoreLineage(l *Lineage)         { s.lineages[l.Name] = l }
func (s *State) restoreTicket(t *Ticket)           { s.tickets[ticketKey{t.Lineage, t.ExternalID}] = t }
func (s *State) restorePlain(id string, p PlainTx) { s.plain[id] = p }

// Ticket returns a copy of a ticket held in memory.
func (s *State) Ticket(lineage, externalID string) (Ticket, bool) {
	t, ok := s.tickets[ticketKey{lineage, externalID}]
	if !ok {
		return Ticket{}, false
	}
	return *t, true
}

// Lineage returns a copy of a lineage.
func (s *State) Lineage(name string) (Lineage, bool) {
	l, ok := s.lineages[name]
	if !ok {
		return Lineage{}, false
	}
	return *l.clone(), true
}

// Plain returns the tx without lineage recorded under externalID, if held
// in memory.
func (s *State) Plain(externalID string) (PlainTx, bool) {
	p, ok := s.plain[externalID]
	return p, ok
}

// LineageCount is the number of lineages.
func (s *State) LineageCount() int { return len(s.lineages) }

// Decide applies the rules of SPEC §3 to op without changing the state.
// maxInFlight is the --max-in-flight limit for new leases.
func (s *State) Decide(op *Op, maxInFlight int) Decision {
	var t *Ticket
	var l *Lineage
	if op.Lineage != "" {
		if op.ExternalID != "" {
			t = s.tickets[ticketKey{op.Lineage, op.ExternalID}]
		}
		l = s.lineages[op.Lineage]
	}
	var p *PlainTx
	if op.Kind == KindTx && op.Lineage == "" && op.ExternalID != "" {
		if q, ok := s.plain[op.ExternalID]; ok {
			p = &q
		}
	}
	return decide(op, t, l, p, maxInFlight)
}

// decide is the pure rule table of SPEC §3. t, l and p are the current
// ticket, lineage and plain tx named by op (nil when absent).
func decide(op *Op, t *Ticket, l *Lineage, p *PlainTx, maxInFlight int) Decision {
	// Callers validate first; this keeps a malformed op from ever reaching
	// Apply (where it would halt the primary as a broken invariant).
	switch {
	case op.Kind == KindTx && op.Lineage != "" && op.ExternalID == "",
		op.Kind != KindTx && op.Kind != KindSync && op.Kind != KindReclaim && (op.Lineage == "" || op.ExternalID == ""):
		return Decision{Err: fmt.Errorf("%w: lineage and externalId are required", ErrInvalidParams)}
	case (op.Kind == KindSync || op.Kind == KindReclaim) && op.Lineage == "":
		return Decision{Err: fmt.Errorf("%w: lineage is required", ErrInvalidParams)}
	case (op.Kind == KindAttempt || op.Kind == KindConfirm) && op.DataHash == (common.Hash{}):
		return Decision{Err: fmt.Errorf("%w: txHash is required", ErrInvalidParams)}
	}
	e := &Entry{Kind: op.Kind, Sender: op.Sender, Lineage: op.Lineage, ExternalID: op.ExternalID}
	switch op.Kind {
	case KindTx:
		if op.Lineage == "" {
			if p != nil {
				if p.DataHash != op.DataHash {
					return Decision{Err: ErrExternalIDConfl}
				}
				return Decision{ExistingSeq: p.Seq}
			}
			e.Data, e.DataHash = op.Data, op.DataHash
			return Decision{New: e}
		}
		if t != nil {
			switch t.State { // released and expired tickets lease again
			case TicketLeased:
				if t.DataHash != op.DataHash {
					return Decision{Err: ErrExternalIDConfl}
				}
				return Decision{ExistingSeq: t.LeaseSeq}
			case TicketClosed, TicketFailed:
				// SPEC §4: when several errors apply, 4008 ranks before 4004.
				if t.DataHash != op.DataHash {
					return Decision{Err: ErrExternalIDConfl}
				}
				return Decision{Err: &TicketError{Err: ErrTicketFinal, Ticket: *t}}
			}
		}
		if l == nil {
			l = &Lineage{Name: op.Lineage}
		}
		// A lease from the pool fills a gap: never refused at the limit
		// (SPEC §3), or the tickets waiting behind the gap would stall.
		if maxInFlight > 0 && len(l.InFlight) >= maxInFlight && len(l.Released) == 0 {
			return Decision{Err: &LimitError{Err: ErrTooManyInFlight, Limit: maxInFlight}}
		}
		n, ok := l.leaseNonce()
		if !ok {
			return Decision{Err: fmt.Errorf("%w: lineage %q is exhausted: its next nonce would be 2^64-1, which no account can use (EIP-2681)", ErrInvalidParams, op.Lineage)}
		}
		e.Nonce, e.Data, e.DataHash = n, op.Data, op.DataHash
		return Decision{New: e}
	case KindClose, KindRelease, KindFail:
		if t == nil {
			return Decision{Err: ErrNotFound}
		}
		switch {
		case t.State == TicketLeased:
			e.Nonce, e.DataHash = t.Nonce, t.LeaseHash
			return Decision{New: e}
		case op.Kind == KindClose && t.State == TicketClosed,
			op.Kind == KindRelease && t.State == TicketReleased,
			op.Kind == KindFail && t.State == TicketFailed:
			return Decision{ExistingSeq: t.FinalSeq}
		}
		return Decision{Err: &TicketError{Err: ErrTicketFinal, Ticket: *t}}
	case KindSync:
		e.ExternalID = ""
		e.Nonce = op.ChainNonce
		return Decision{New: e}
	case KindAttempt, KindConfirm, KindExpire:
		return decideChain(op, e, t)
	case KindReclaim:
		return decideReclaim(op, e, t, l)
	}
	return Decision{Err: fmt.Errorf("%w: unknown kind %d", ErrInvalidParams, op.Kind)}
}

// decideChain is the rule table of attempt, confirm and expire (SPEC §3,
// §9) for the ticket t that op names.
func decideChain(op *Op, e *Entry, t *Ticket) Decision {
	if t == nil {
		return Decision{Err: ErrNotFound}
	}
	final := Decision{Err: &TicketError{Err: ErrTicketFinal, Ticket: *t.clone()}}
	switch op.Kind {
	case KindAttempt:
		if t.State != TicketLeased {
			return final
		}
		if seq, ok := t.attempt(op.DataHash); ok {
			return Decision{ExistingSeq: seq}
		}
		if len(t.Attempts) >= MaxAttempts {
			return Decision{Err: fmt.Errorf("%w: the ticket already has %d attempts; release it and lease another", ErrInvalidParams, MaxAttempts)}
		}
		e.Nonce, e.DataHash = t.Nonce, op.DataHash
	case KindConfirm:
		if t.State == TicketClosed && t.MinedTx == op.DataHash {
			return Decision{ExistingSeq: t.FinalSeq}
		}
		if t.State != TicketLeased {
			return final
		}
		if _, ok := t.attempt(op.DataHash); !ok {
			return Decision{Err: fmt.Errorf("%w: %s is not an attempt of the ticket", ErrInvalidParams, op.DataHash)}
		}
		e.Nonce, e.DataHash = t.Nonce, op.DataHash
	case KindExpire:
		if t.State == TicketExpired {
			return Decision{ExistingSeq: t.FinalSeq}
		}
		if t.State != TicketLeased || len(t.Attempts) > 0 { // an attempt may still be pending
			return final
		}
		e.Nonce, e.DataHash = t.Nonce, t.LeaseHash
	}
	return Decision{New: e}
}

// decideReclaim returns nonce op.ChainNonce of lineage l to the pool when
// no ticket holds it, it is not pooled and it is below nextNonce; t is the
// final ticket that last held it, named by op.ExternalID (nil when none).
func decideReclaim(op *Op, e *Entry, t *Ticket, l *Lineage) Decision {
	n := op.ChainNonce
	if l == nil {
		return Decision{Err: ErrNotFound}
	}
	if err := reclaimable(l, n); err != nil {
		return Decision{Err: err}
	}
	e.Nonce = n
	if op.ExternalID != "" {
		if t == nil {
			return Decision{Err: ErrNotFound}
		}
		if t.Nonce != n || t.State == TicketLeased {
			return Decision{Err: fmt.Errorf("%w: ticket %q does not hold nonce %d as a final ticket", ErrInvalidParams, op.ExternalID, n)}
		}
		e.DataHash = t.LeaseHash
	}
	return Decision{New: e}
}

func reclaimable(l *Lineage, n uint64) error {
	switch {
	case n >= l.NextNonce:
		return fmt.Errorf("%w: nonce %d was never leased (next nonce %d)", ErrInvalidParams, n, l.NextNonce)
	case n < l.Floor:
		return fmt.Errorf("%w: nonce %d is below the chain's confirmed nonce %d", ErrInvalidParams, n, l.Floor)
	case l.pooled(n):
		return fmt.Errorf("%w: nonce %d is already in the pool", ErrInvalidParams, n)
	case l.holds(n):
		return fmt.Errorf("%w: nonce %d is held by a leased ticket", ErrInvalidParams, n)
	}
	return nil
}

// noteFinal makes a record that just became final a candidate for
// eviction; an empty lineage names a plain tx.
func (s *State) noteFinal(lineage, id string, seq uint64) {
	if s.trackFinals {
		s.finals = append(s.finals, cacheRef{lineage, id, seq})
	}
}

func (s *State) lineage(name string) *Lineage {
	l, ok := s.lineages[name]
	if !ok {
		l = &Lineage{Name: name}
		s.lineages[name] = l
		s.newLineages++
	}
	s.dirtyLineages[name] = struct{}{}
	return l
}

// Apply advances the state by one entry. It returns an error, and leaves the
// state unchanged, when the entry is not one the rules of SPEC §3 allow at
// this point (a nonce other than the one the lease rule gives, a close of a
// ticket that is not leased, a dataHash that does not name the lease...).
func (s *State) Apply(e *Entry) error {
	switch e.Kind {
	case KindTx:
		if e.Lineage == "" {
			if e.Nonce != 0 {
				return fmt.Errorf("seq %d: tx without lineage has nonce %d", e.Seq, e.Nonce)
			}
			if e.ExternalID != "" {
				if _, dup := s.plain[e.ExternalID]; dup {
					return fmt.Errorf("seq %d: externalId %q sequenced twice", e.Seq, e.ExternalID)
				}
				s.plain[e.ExternalID] = PlainTx{Seq: e.Seq, DataHash: e.DataHash}
				s.dirtyPlain[e.ExternalID] = struct{}{}
				s.noteFinal("", e.ExternalID, e.Seq)
			}
			return nil
		}
		if e.ExternalID == "" {
			return fmt.Errorf("seq %d: tx with lineage has no externalId", e.Seq)
		}
		k := ticketKey{e.Lineage, e.ExternalID}
		if t := s.tickets[k]; t != nil && t.State != TicketReleased && t.State != TicketExpired {
			return fmt.Errorf("seq %d: ticket %s/%s is %s, cannot lease", e.Seq, e.Lineage, e.ExternalID, t.State)
		}
		var want uint64
		var ok bool
		if l := s.lineages[e.Lineage]; l != nil {
			want, ok = l.leaseNonce()
		} else {
			want, ok = 0, true
		}
		if !ok || want != e.Nonce {
			return fmt.Errorf("seq %d: lease of nonce %d, the lineage's next lease is %d", e.Seq, e.Nonce, want)
		}
		l := s.lineage(e.Lineage)
		if len(l.Released) > 0 {
			l.Released = l.Released[1:]
		} else {
			l.NextNonce++
		}
		l.addInFlight(InFlight{Nonce: e.Nonce, ExternalID: e.ExternalID, Seq: e.Seq})
		s.tickets[k] = &Ticket{
			Lineage: e.Lineage, ExternalID: e.ExternalID, Nonce: e.Nonce,
			State: TicketLeased, LeaseSeq: e.Seq, DataHash: e.DataHash, LeaseHash: e.Hash,
		}
		s.dirtyTickets[k] = struct{}{}
		return nil
	case KindClose, KindRelease, KindFail:
		k := ticketKey{e.Lineage, e.ExternalID}
		t := s.tickets[k]
		if t == nil || t.State != TicketLeased {
			return fmt.Errorf("seq %d: %s of ticket %s/%s that is not leased", e.Seq, e.Kind, e.Lineage, e.ExternalID)
		}
		if t.Nonce != e.Nonce || t.LeaseHash != e.DataHash {
			return fmt.Errorf("seq %d: %s names nonce %d / lease %s, ticket has %d / %s", e.Seq, e.Kind, e.Nonce, e.DataHash, t.Nonce, t.LeaseHash)
		}
		l := s.lineage(e.Lineage)
		l.removeInFlight(t.Nonce)
		t.FinalSeq = e.Seq
		s.noteFinal(k.lineage, k.externalID, e.Seq)
		switch e.Kind {
		case KindClose:
			t.State = TicketClosed
			l.Closed++
		case KindRelease:
			t.State = TicketReleased
			l.addReleased(t.Nonce)
		case KindFail:
			t.State = TicketFailed
			l.Failed++
		}
		s.dirtyTickets[k] = struct{}{}
		return nil
	case KindAttempt, KindConfirm, KindExpire:
		return s.applyChain(e)
	case KindReclaim:
		return s.applyReclaim(e)
	case KindSync:
		if e.Lineage == "" || e.ExternalID != "" || e.DataHash != (common.Hash{}) {
			return fmt.Errorf("seq %d: malformed sync", e.Seq)
		}
		l := s.lineage(e.Lineage)
		c := e.Nonce
		keep := l.InFlight[:0]
		for _, f := range l.InFlight {
			if f.Nonce < c {
				k := ticketKey{e.Lineage, f.ExternalID}
				t := s.tickets[k] // leased tickets are always in memory
				t.State, t.FinalSeq = TicketClosed, e.Seq
				s.noteFinal(k.lineage, k.externalID, e.Seq)
				s.dirtyTickets[k] = struct{}{}
				l.Closed++
				continue
			}
			keep = append(keep, f)
		}
		l.InFlight = keep
		i, _ := slices.BinarySearch(l.Released, c)
		l.Released = l.Released[i:]
		l.NextNonce = max(l.NextNonce, c)
		l.Floor = max(l.Floor, c)
		return nil
	}
	return fmt.Errorf("seq %d: unknown kind %d", e.Seq, e.Kind)
}

// applyChain applies an attempt, confirm or expire entry.
func (s *State) applyChain(e *Entry) error {
	k := ticketKey{e.Lineage, e.ExternalID}
	t := s.tickets[k]
	if t == nil || t.State != TicketLeased {
		return fmt.Errorf("seq %d: %s of ticket %s/%s that is not leased", e.Seq, e.Kind, e.Lineage, e.ExternalID)
	}
	if t.Nonce != e.Nonce {
		return fmt.Errorf("seq %d: %s names nonce %d, ticket has %d", e.Seq, e.Kind, e.Nonce, t.Nonce)
	}
	_, known := t.attempt(e.DataHash)
	switch e.Kind {
	case KindAttempt:
		switch {
		case e.DataHash == (common.Hash{}):
			return fmt.Errorf("seq %d: attempt without a transaction hash", e.Seq)
		case known: // the same hash again changes nothing (SPEC §3)
			return nil
		case len(t.Attempts) >= MaxAttempts:
			return fmt.Errorf("seq %d: attempt past the %d a ticket may have", e.Seq, MaxAttempts)
		}
		t.Attempts = append(t.Attempts, Attempt{TxHash: e.DataHash, Seq: e.Seq})
		s.dirtyTickets[k] = struct{}{}
		return nil
	case KindConfirm:
		if !known {
			return fmt.Errorf("seq %d: confirm of %s, not an attempt of the ticket", e.Seq, e.DataHash)
		}
		t.State, t.MinedTx = TicketClosed, e.DataHash
		s.lineage(e.Lineage).Closed++
	case KindExpire:
		if len(t.Attempts) > 0 || e.DataHash != t.LeaseHash {
			return fmt.Errorf("seq %d: expire of a ticket with attempts or of another lease", e.Seq)
		}
		t.State = TicketExpired
		s.lineage(e.Lineage).addReleased(t.Nonce)
	}
	l := s.lineage(e.Lineage)
	l.removeInFlight(t.Nonce)
	t.FinalSeq = e.Seq
	s.noteFinal(k.lineage, k.externalID, e.Seq)
	s.dirtyTickets[k] = struct{}{}
	return nil
}

// applyReclaim applies a reclaim entry: its nonce goes back to the pool.
func (s *State) applyReclaim(e *Entry) error {
	l := s.lineages[e.Lineage]
	if l == nil {
		return fmt.Errorf("seq %d: reclaim in unknown lineage %q", e.Seq, e.Lineage)
	}
	if err := reclaimable(l, e.Nonce); err != nil {
		return fmt.Errorf("seq %d: reclaim: %w", e.Seq, err)
	}
	if e.ExternalID != "" {
		t := s.tickets[ticketKey{e.Lineage, e.ExternalID}]
		if t == nil || t.Nonce != e.Nonce || t.State == TicketLeased || t.LeaseHash != e.DataHash {
			return fmt.Errorf("seq %d: reclaim names ticket %s/%s, which is not a final ticket of nonce %d leased by %s", e.Seq, e.Lineage, e.ExternalID, e.Nonce, e.DataHash)
		}
	} else if e.DataHash != (common.Hash{}) {
		return fmt.Errorf("seq %d: reclaim without a ticket carries a dataHash", e.Seq)
	}
	s.lineage(e.Lineage).addReleased(e.Nonce)
	return nil
}

// Dirty is the derived state changed since the last TakeDirty, ready to
// persist next to the entries that changed it.
type Dirty struct {
	Lineages []*Lineage
	Tickets  []*Ticket
	Plain    map[string]PlainTx
	// Signed requests accepted in this group, and expired ones to forget
	// (the pipeline's, not the State's: replicas have none).
	Requests        []RequestRecord
	ExpiredRequests []common.Hash
	// NewLineages counts the lineages created since the last TakeDirty
	// (the store keeps a count for sequencer_info).
	NewLineages int
	// Applied is the last Raft index the group completes, on a cluster
	// voter (0 otherwise): written with the entries, so that a voter that
	// restarts applies every command exactly once.
	Applied uint64
}

// TakeDirty returns copies of every record changed since the last call.
func (s *State) TakeDirty() Dirty {
	var d Dirty
	for name := range s.dirtyLineages {
		d.Lineages = append(d.Lineages, s.lineages[name].clone())
	}
	for k := range s.dirtyTickets {
		d.Tickets = append(d.Tickets, s.tickets[k].clone())
	}
	if len(s.dirtyPlain) > 0 {
		d.Plain = make(map[string]PlainTx, len(s.dirtyPlain))
		for id := range s.dirtyPlain {
			d.Plain[id] = s.plain[id]
		}
	}
	d.NewLineages, s.newLineages = s.newLineages, 0
	clear(s.dirtyLineages)
	clear(s.dirtyTickets)
	clear(s.dirtyPlain)
	return d
}

// Diff describes the first difference between the lineages, tickets and
// plain txs of two states; nil when they hold the same.
func (s *State) Diff(o *State) error {
	if len(s.lineages) != len(o.lineages) {
		return fmt.Errorf("%d lineages, other has %d", len(s.lineages), len(o.lineages))
	}
	for name, l := range s.lineages {
		m, ok := o.lineages[name]
		if !ok {
			return fmt.Errorf("lineage %q missing from other", name)
		}
		if !lineageEqual(l, m) {
			return fmt.Errorf("lineage %q differs: %+v vs %+v", name, *l, *m)
		}
	}
	if len(s.tickets) != len(o.tickets) {
		return fmt.Errorf("%d tickets, other has %d", len(s.tickets), len(o.tickets))
	}
	for k, t := range s.tickets {
		u, ok := o.tickets[k]
		if !ok || !t.Equal(u) {
			return fmt.Errorf("ticket %s/%s differs", k.lineage, k.externalID)
		}
	}
	if len(s.plain) != len(o.plain) {
		return fmt.Errorf("%d plain txs, other has %d", len(s.plain), len(o.plain))
	}
	for k, p := range s.plain {
		if q, ok := o.plain[k]; !ok || p != q {
			return fmt.Errorf("plain tx %q differs", k)
		}
	}
	return nil
}

func lineageEqual(a, b *Lineage) bool {
	return a.Name == b.Name && a.NextNonce == b.NextNonce && a.Floor == b.Floor &&
		a.Closed == b.Closed && a.Failed == b.Failed &&
		slices.Equal(a.InFlight, b.InFlight) && slices.Equal(a.Released, b.Released)
}
