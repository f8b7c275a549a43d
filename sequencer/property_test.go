package sequencer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// The property test of SPEC §3: long random op streams through the state,
// checked step by step against an independent model of the rules.

// stModel is an independent reading of SPEC §3: the expected ticket and
// nonce state, kept beside the real one in the property test.
type stModel struct {
	max       int
	lineages  map[string]*Lineage
	tickets   map[ticketKey]*Ticket
	plain     map[string]PlainTx
	consumed  map[string]map[uint64]bool // nonces of closed and failed tickets
	reclaimed map[string]int             // reclaim entries per lineage
}

func stNewModel(max int) *stModel {
	return &stModel{max: max, lineages: map[string]*Lineage{}, tickets: map[ticketKey]*Ticket{},
		plain: map[string]PlainTx{}, consumed: map[string]map[uint64]bool{}, reclaimed: map[string]int{}}
}

// stWant is what SPEC §3 says Decide must answer.
type stWant struct {
	newNonce uint64
	newHash  common.Hash
	isNew    bool
	existing uint64
	err      error   // sentinel, for errors.Is
	ticket   *Ticket // for TicketFinal
	anyErr   bool    // nonce space used up: some error, never a lease
}

func (m *stModel) expect(op *Op) stWant {
	switch op.Kind {
	case KindTx:
		if op.Lineage == "" {
			if p, ok := m.plain[op.ExternalID]; ok && op.ExternalID != "" {
				if p.DataHash == op.DataHash {
					return stWant{existing: p.Seq}
				}
				return stWant{err: ErrExternalIDConfl}
			}
			return stWant{isNew: true, newHash: op.DataHash}
		}
		if tk := m.tickets[ticketKey{op.Lineage, op.ExternalID}]; tk != nil {
			switch tk.State {
			case TicketLeased:
				if tk.DataHash == op.DataHash {
					return stWant{existing: tk.LeaseSeq}
				}
				return stWant{err: ErrExternalIDConfl}
			case TicketClosed, TicketFailed:
				// SPEC §4 precedence: 4008 (different data) before 4004.
				if tk.DataHash != op.DataHash {
					return stWant{err: ErrExternalIDConfl}
				}
				c := *tk
				return stWant{err: ErrTicketFinal, ticket: &c}
			}
		}
		l := m.lineages[op.Lineage]
		if l == nil {
			l = &Lineage{}
		}
		switch {
		case len(l.Released) == 0 && l.NextNonce == math.MaxUint64:
			return stWant{anyErr: true}
		case len(l.InFlight) >= m.max && len(l.Released) == 0: // a pooled lease fills a gap (SPEC §3)
			return stWant{err: ErrTooManyInFlight}
		case len(l.Released) > 0:
			return stWant{isNew: true, newNonce: l.Released[0], newHash: op.DataHash}
		}
		return stWant{isNew: true, newNonce: l.NextNonce, newHash: op.DataHash}
	case KindClose, KindRelease, KindFail:
		tk := m.tickets[ticketKey{op.Lineage, op.ExternalID}]
		if tk == nil {
			return stWant{err: ErrNotFound}
		}
		same := map[Kind]TicketState{KindClose: TicketClosed, KindRelease: TicketReleased, KindFail: TicketFailed}[op.Kind]
		switch tk.State {
		case TicketLeased:
			return stWant{isNew: true, newNonce: tk.Nonce, newHash: tk.LeaseHash}
		case same:
			return stWant{existing: tk.FinalSeq}
		}
		c := *tk
		return stWant{err: ErrTicketFinal, ticket: &c}
	case KindSync:
		return stWant{isNew: true, newNonce: op.ChainNonce}
	case KindAttempt, KindConfirm, KindExpire:
		return m.expectChain(op)
	case KindReclaim:
		l := m.lineages[op.Lineage]
		n := op.ChainNonce
		if l == nil {
			return stWant{err: ErrNotFound}
		}
		held := slices.ContainsFunc(l.InFlight, func(f InFlight) bool { return f.Nonce == n })
		if n >= l.NextNonce || n < l.Floor || slices.Contains(l.Released, n) || held {
			return stWant{err: ErrInvalidParams}
		}
		if op.ExternalID == "" {
			return stWant{isNew: true, newNonce: n}
		}
		tk := m.tickets[ticketKey{op.Lineage, op.ExternalID}]
		if tk == nil {
			return stWant{err: ErrNotFound}
		}
		if tk.Nonce != n || tk.State == TicketLeased {
			return stWant{err: ErrInvalidParams}
		}
		return stWant{isNew: true, newNonce: n, newHash: tk.LeaseHash}
	}
	panic("unknown op kind")
}

// expectChain is SPEC §3's reading of attempt, confirm and expire.
func (m *stModel) expectChain(op *Op) stWant {
	tk := m.tickets[ticketKey{op.Lineage, op.ExternalID}]
	if tk == nil {
		return stWant{err: ErrNotFound}
	}
	var known uint64
	for _, a := range tk.Attempts {
		if a.TxHash == op.DataHash {
			known = a.Seq
		}
	}
	final := func() stWant {
		c := *tk
		c.Attempts = slices.Clone(tk.Attempts)
		return stWant{err: ErrTicketFinal, ticket: &c}
	}
	switch op.Kind {
	case KindAttempt:
		switch {
		case tk.State != TicketLeased:
			return final()
		case known != 0:
			return stWant{existing: known}
		case len(tk.Attempts) >= MaxAttempts:
			return stWant{err: ErrInvalidParams}
		}
		return stWant{isNew: true, newNonce: tk.Nonce, newHash: op.DataHash}
	case KindConfirm:
		switch {
		case tk.State == TicketClosed && tk.MinedTx == op.DataHash:
			return stWant{existing: tk.FinalSeq}
		case tk.State != TicketLeased:
			return final()
		case known == 0:
			return stWant{err: ErrInvalidParams}
		}
		return stWant{isNew: true, newNonce: tk.Nonce, newHash: op.DataHash}
	}
	switch { // expire
	case tk.State == TicketExpired:
		return stWant{existing: tk.FinalSeq}
	case tk.State != TicketLeased || len(tk.Attempts) > 0:
		return final()
	}
	return stWant{isNew: true, newNonce: tk.Nonce, newHash: tk.LeaseHash}
}

func (m *stModel) lin(name string) *Lineage {
	if m.lineages[name] == nil {
		m.lineages[name] = &Lineage{Name: name}
		m.consumed[name] = map[uint64]bool{}
	}
	return m.lineages[name]
}

// apply moves the model by one entry and returns the tickets it changed.
func (m *stModel) apply(e *Entry) []ticketKey {
	k := ticketKey{e.Lineage, e.ExternalID}
	switch e.Kind {
	case KindTx:
		if e.Lineage == "" {
			if e.ExternalID != "" {
				m.plain[e.ExternalID] = PlainTx{Seq: e.Seq, DataHash: e.DataHash}
			}
			return nil
		}
		l := m.lin(e.Lineage)
		if len(l.Released) > 0 {
			l.Released = slices.Clone(l.Released[1:])
		} else {
			l.NextNonce++
		}
		l.InFlight = append(slices.Clone(l.InFlight), InFlight{Nonce: e.Nonce, ExternalID: e.ExternalID, Seq: e.Seq})
		sort.Slice(l.InFlight, func(i, j int) bool { return l.InFlight[i].Nonce < l.InFlight[j].Nonce })
		m.tickets[k] = &Ticket{Lineage: e.Lineage, ExternalID: e.ExternalID, Nonce: e.Nonce, State: TicketLeased,
			LeaseSeq: e.Seq, DataHash: e.DataHash, LeaseHash: e.Hash}
		return []ticketKey{k}
	case KindClose, KindRelease, KindFail:
		l := m.lin(e.Lineage)
		tk := m.tickets[k]
		var keep []InFlight
		for _, f := range l.InFlight {
			if f.Nonce != tk.Nonce {
				keep = append(keep, f)
			}
		}
		l.InFlight = keep
		tk.FinalSeq = e.Seq
		switch e.Kind {
		case KindClose:
			tk.State = TicketClosed
			l.Closed++
			m.consumed[e.Lineage][tk.Nonce] = true
		case KindFail:
			tk.State = TicketFailed
			l.Failed++
			m.consumed[e.Lineage][tk.Nonce] = true
		case KindRelease:
			tk.State = TicketReleased
			l.Released = append(slices.Clone(l.Released), tk.Nonce)
			slices.Sort(l.Released)
		}
		return []ticketKey{k}
	case KindSync:
		l := m.lin(e.Lineage)
		c := e.Nonce
		var changed []ticketKey
		var keep []InFlight
		for _, f := range l.InFlight {
			if f.Nonce >= c {
				keep = append(keep, f)
				continue
			}
			fk := ticketKey{e.Lineage, f.ExternalID}
			tk := m.tickets[fk]
			tk.State, tk.FinalSeq = TicketClosed, e.Seq
			l.Closed++
			m.consumed[e.Lineage][tk.Nonce] = true
			changed = append(changed, fk)
		}
		l.InFlight = keep
		var pool []uint64
		for _, n := range l.Released {
			if n >= c {
				pool = append(pool, n)
			}
		}
		l.Released = pool
		l.NextNonce = max(l.NextNonce, c)
		l.Floor = max(l.Floor, c)
		return changed
	case KindAttempt:
		tk := m.tickets[k]
		tk.Attempts = append(slices.Clone(tk.Attempts), Attempt{TxHash: e.DataHash, Seq: e.Seq})
		return []ticketKey{k}
	case KindConfirm, KindExpire:
		l := m.lin(e.Lineage)
		tk := m.tickets[k]
		l.InFlight = slices.DeleteFunc(slices.Clone(l.InFlight), func(f InFlight) bool { return f.Nonce == tk.Nonce })
		tk.FinalSeq = e.Seq
		if e.Kind == KindConfirm {
			tk.State, tk.MinedTx = TicketClosed, e.DataHash
			l.Closed++
			m.consumed[e.Lineage][tk.Nonce] = true
		} else {
			tk.State = TicketExpired
			l.Released = append(slices.Clone(l.Released), tk.Nonce)
			slices.Sort(l.Released)
		}
		return []ticketKey{k}
	case KindReclaim: // the chain never used it
		l := m.lin(e.Lineage)
		l.Released = append(slices.Clone(l.Released), e.Nonce)
		slices.Sort(l.Released)
		delete(m.consumed[e.Lineage], e.Nonce)
		m.reclaimed[e.Lineage]++
		return nil
	}
	panic("unknown entry kind")
}

// diff reports the first difference between the model and a state.
func (m *stModel) diff(s *State) error {
	if len(m.lineages) != len(s.lineages) || len(m.tickets) != len(s.tickets) || len(m.plain) != len(s.plain) {
		return fmt.Errorf("sizes: model %d/%d/%d, state %d/%d/%d", len(m.lineages), len(m.tickets), len(m.plain),
			len(s.lineages), len(s.tickets), len(s.plain))
	}
	for name := range m.lineages {
		if err := m.diffLineage(s, name); err != nil {
			return err
		}
	}
	for k := range m.tickets {
		if err := m.diffTicket(s, k); err != nil {
			return err
		}
	}
	for id, p := range m.plain {
		if q, ok := s.Plain(id); !ok || p != q {
			return fmt.Errorf("plain %q: model %+v, state %+v", id, p, q)
		}
	}
	return nil
}

func (m *stModel) diffLineage(s *State, name string) error {
	got, ok := s.Lineage(name)
	want := m.lineages[name]
	if !ok || !lineageEqual(&got, want) {
		return fmt.Errorf("lineage %q:\n state %+v\n model %+v", name, got, *want)
	}
	return nil
}

func (m *stModel) diffTicket(s *State, k ticketKey) error {
	got, ok := s.Ticket(k.lineage, k.externalID)
	if !ok || !got.Equal(m.tickets[k]) {
		return fmt.Errorf("ticket %s/%s:\n state %+v\n model %+v", k.lineage, k.externalID, got, *m.tickets[k])
	}
	return nil
}

// stCheckInvariants checks one lineage of the real state (SPEC §3): no
// nonce held by two leased tickets; in-flight and pool disjoint, sorted,
// below nextNonce, at or above floor, never a consumed nonce; the in-flight
// list matches the leased tickets; the limit holds.
func stCheckInvariants(s *State, m *stModel, name string, maxInFlight int) error {
	l, ok := s.Lineage(name)
	if !ok {
		return fmt.Errorf("lineage %q missing", name)
	}
	if l.Floor > l.NextNonce {
		return fmt.Errorf("lineage %q: floor %d above nextNonce %d", name, l.Floor, l.NextNonce)
	}
	// A lease from the pool is never refused at the limit (SPEC §3), so
	// each nonce a reclaim put back may take the lineage one past it.
	if len(l.InFlight) > maxInFlight+m.reclaimed[name] {
		return fmt.Errorf("lineage %q: %d in flight, limit %d (+%d reclaimed)", name, len(l.InFlight), maxInFlight, m.reclaimed[name])
	}
	held := map[uint64]string{}
	for i, f := range l.InFlight {
		if i > 0 && l.InFlight[i-1].Nonce >= f.Nonce {
			return fmt.Errorf("lineage %q: in-flight not strictly sorted by nonce: %+v", name, l.InFlight)
		}
		held[f.Nonce] = f.ExternalID
		tk, ok := s.Ticket(name, f.ExternalID)
		if !ok || tk.State != TicketLeased || tk.Nonce != f.Nonce || tk.LeaseSeq != f.Seq {
			return fmt.Errorf("lineage %q: in-flight %+v but ticket %+v", name, f, tk)
		}
	}
	for i, n := range l.Released {
		if i > 0 && l.Released[i-1] >= n {
			return fmt.Errorf("lineage %q: pool not strictly ascending: %v", name, l.Released)
		}
		if id, ok := held[n]; ok {
			return fmt.Errorf("lineage %q: nonce %d both pooled and leased to %s", name, n, id)
		}
		held[n] = ""
	}
	for n := range held {
		if n >= l.NextNonce || n < l.Floor {
			return fmt.Errorf("lineage %q: nonce %d in flight or pooled outside [floor %d, nextNonce %d)", name, n, l.Floor, l.NextNonce)
		}
		if m.consumed[name][n] {
			return fmt.Errorf("lineage %q: consumed nonce %d in flight or pooled again", name, n)
		}
	}
	return nil
}

// stCheckAllTickets: across all tickets of the real state, each lineage's
// leased tickets hold distinct nonces and are exactly its in-flight list,
// and the closed/failed counts match the tickets.
func stCheckAllTickets(s *State) error {
	type agg struct {
		leased         map[uint64]string
		closed, failed uint64
	}
	per := map[string]*agg{}
	for k, tk := range s.tickets {
		a := per[k.lineage]
		if a == nil {
			a = &agg{leased: map[uint64]string{}}
			per[k.lineage] = a
		}
		switch tk.State {
		case TicketLeased:
			if other, dup := a.leased[tk.Nonce]; dup {
				return fmt.Errorf("lineage %q: nonce %d leased to %s and %s", k.lineage, tk.Nonce, other, k.externalID)
			}
			a.leased[tk.Nonce] = k.externalID
		case TicketClosed:
			a.closed++
		case TicketFailed:
			a.failed++
		}
	}
	for name, l := range s.lineages {
		a := per[name]
		if a == nil {
			a = &agg{}
		}
		if len(a.leased) != len(l.InFlight) || a.closed != l.Closed || a.failed != l.Failed {
			return fmt.Errorf("lineage %q: %d leased/%d closed/%d failed tickets, lineage says %d/%d/%d",
				name, len(a.leased), a.closed, a.failed, len(l.InFlight), l.Closed, l.Failed)
		}
	}
	return nil
}

// tx draws a transaction hash for ticket ext: mostly one of its attempts
// when it has some, else one of a few.
func (g *stGen) tx(m *stModel, ln, ext string) string {
	if tk := m.tickets[ticketKey{ln, ext}]; tk != nil && len(tk.Attempts) > 0 && g.r.IntN(3) != 0 {
		h := tk.Attempts[g.r.IntN(len(tk.Attempts))].TxHash
		for i := range 3 {
			if stData(fmt.Sprint("tx", i)) == h {
				return fmt.Sprint("tx", i)
			}
		}
	}
	return fmt.Sprint("tx", g.r.IntN(3))
}

// reclaim draws a reclaim of a nonce below nextNonce (mostly one a final
// ticket held: the only kind that can be reclaimed), naming that ticket or
// another, or none.
func (g *stGen) reclaim(m *stModel, ln string) Op {
	r := g.r
	l := m.lineages[ln]
	if l == nil || l.NextNonce == 0 {
		return stReclaim(ln, "", r.Uint64N(3))
	}
	n := l.NextNonce - 1 - r.Uint64N(min(l.NextNonce, 8))
	var finals []string
	for k, tk := range m.tickets {
		if k.lineage == ln && tk.Nonce == n && tk.State != TicketLeased {
			finals = append(finals, k.externalID)
		}
	}
	slices.Sort(finals)
	switch {
	case len(finals) > 0 && r.IntN(5) != 0:
		return stReclaim(ln, finals[r.IntN(len(finals))], n)
	case r.IntN(2) == 0:
		return stReclaim(ln, "", n)
	}
	return stReclaim(ln, fmt.Sprint("x", g.gen[ln]+r.IntN(6)), n)
}

// stGen draws random ops. Ids come from a window per lineage that slides
// forward, so tickets are retried, conflict, go final and new ones appear.
type stGen struct {
	r        *rand.Rand
	lineages []string
	gen      map[string]int
	data     []string
}

func (g *stGen) op(m *stModel) Op {
	r := g.r
	// The last lineage gets a tenth of the ops and the syncs near the end
	// of the nonce space, which use it up; the others stay lively.
	last := len(g.lineages) - 1
	ln := g.lineages[r.IntN(last)]
	if r.IntN(10) == 0 {
		ln = g.lineages[last]
	}
	id := func() string { return fmt.Sprint("x", g.gen[ln]+r.IntN(6)) }
	live := func() string {
		if l := m.lineages[ln]; l != nil && len(l.InFlight) > 0 && r.IntN(4) != 0 {
			return l.InFlight[r.IntN(len(l.InFlight))].ExternalID
		}
		return id()
	}
	data := g.data[r.IntN(len(g.data))]
	switch k := r.IntN(100); {
	case k < 8: // without lineage, with and without externalId
		ext := ""
		if r.IntN(4) != 0 {
			ext = fmt.Sprint("p", r.IntN(12))
		}
		return stTx("", ext, data)
	case k < 46:
		if r.IntN(2) == 0 {
			g.gen[ln]++
		}
		return stTx(ln, id(), data)
	case k < 50: // a retry of a lease in flight, same data
		ext := live()
		if tk := m.tickets[ticketKey{ln, ext}]; tk != nil {
			for _, d := range g.data {
				if stData(d) == tk.DataHash {
					data = d
				}
			}
		}
		return stTx(ln, ext, data)
	case k < 60:
		return stClose(ln, live())
	case k < 67:
		return stRelease(ln, live())
	case k < 72:
		return stFail(ln, live())
	case k < 79: // a few transaction hashes: fee bumps and retries
		ext := live()
		return stAttempt(ln, ext, g.tx(m, ln, ext))
	case k < 83:
		ext := live()
		return stConfirm(ln, ext, g.tx(m, ln, ext))
	case k < 86:
		return stExpire(ln, live())
	case k < 90:
		return g.reclaim(m, ln)
	}
	var next uint64
	if l := m.lineages[ln]; l != nil {
		next = l.NextNonce
	}
	var c uint64
	switch k := r.IntN(1000); {
	case k < 50 && ln == g.lineages[last]: // near the end of the nonce space
		c = math.MaxUint64 - r.Uint64N(3)
	case k < 500: // behind: closes some leases, trims the pool
		back := r.Uint64N(7)
		if back <= next {
			c = next - back
		}
	default: // at or a little ahead of nextNonce
		c = next + r.Uint64N(4)
		if c < next {
			c = math.MaxUint64
		}
	}
	return stSync(ln, c)
}

// TestPropertyRandomStreams drives long random operation streams through
// Decide and Apply and checks, after every step, the answer against an
// independent model of SPEC §3 (idempotency table, lease rule, sync rule),
// the nonce invariants of §3, and that TakeDirty records rebuild the state;
// at the end, that a replay of the log gives the same state (§3: derived
// from the log alone).
func TestPropertyRandomStreams(t *testing.T) {
	seeds, ops := 20, 3000
	if testing.Short() {
		seeds, ops = 5, 1000
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { stRunStream(t, seed, ops) })
	}
}

func stRunStream(t *testing.T, seed uint64, ops int) {
	r := rand.New(rand.NewPCG(seed, 0x5e9))
	maxInFlight := 1 + r.IntN(4)
	d := stNewDriver(t, maxInFlight)
	m := stNewModel(maxInFlight)
	g := &stGen{r: r, lineages: []string{"eip155:1:0xA", "eip155:1:0xB", "eip155:10:0xA", "eip155:1:0xE"}, gen: map[string]int{}, data: []string{"", "d1", "d2"}}

	persisted := NewState()
	touchedL, mustL := map[string]bool{}, map[string]bool{}
	touchedT, touchedP := map[ticketKey]bool{}, map[string]bool{}
	batch, inBatch, batches := 1+r.IntN(8), 0, 0
	outcomes := map[string]int{}

	for step := range ops {
		op := g.op(m)
		want := m.expect(&op)
		var poolMin *uint64
		if l, ok := d.s.Lineage(op.Lineage); ok && len(l.Released) > 0 {
			poolMin = &l.Released[0]
		}
		n := len(d.log)
		dec := d.do(op)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d step %d op %s %q/%q data %q chain %d (max %d): %s", seed, step, op.Kind, op.Lineage, op.ExternalID,
				op.Data, op.ChainNonce, maxInFlight, fmt.Sprintf(format, args...))
		}
		switch {
		case want.isNew:
			outcomes["new "+op.Kind.String()]++
			e := dec.New
			if e == nil {
				fail("want a new entry, got existing %d err %v", dec.ExistingSeq, dec.Err)
			}
			wantExt := op.ExternalID
			if op.Kind == KindSync {
				wantExt = ""
			}
			var wantData []byte
			if op.Kind == KindTx {
				wantData = op.Data
			}
			if e.Kind != op.Kind || e.Sender != op.Sender || e.Lineage != op.Lineage || e.ExternalID != wantExt ||
				e.Nonce != want.newNonce || e.DataHash != want.newHash || string(e.Data) != string(wantData) {
				fail("entry %+v, want nonce %d dataHash %s", *e, want.newNonce, want.newHash)
			}
			if op.Kind == KindTx && op.Lineage != "" && poolMin != nil && e.Nonce != *poolMin {
				fail("lease of %d while the pool minimum is %d", e.Nonce, *poolMin)
			}
			if op.Kind == KindTx && op.Lineage != "" && m.consumed[op.Lineage][e.Nonce] {
				fail("lease of consumed nonce %d", e.Nonce)
			}
			for _, k := range m.apply(e) {
				touchedT[k] = true
				if err := m.diffTicket(d.s, k); err != nil {
					fail("%v", err)
				}
			}
			if op.Lineage != "" {
				touchedL[op.Lineage] = true
				if op.Kind != KindSync && op.Kind != KindAttempt {
					mustL[op.Lineage] = true
				}
				if err := m.diffLineage(d.s, op.Lineage); err != nil {
					fail("%v", err)
				}
			} else if op.ExternalID != "" {
				touchedP[op.ExternalID] = true
			}
		case want.existing != 0:
			outcomes["existing "+op.Kind.String()]++
			if dec.New != nil || dec.Err != nil || dec.ExistingSeq != want.existing {
				fail("want existing %d, got new %v existing %d err %v", want.existing, dec.New != nil, dec.ExistingSeq, dec.Err)
			}
			ex := d.log[dec.ExistingSeq-1]
			okKind := ex.Kind == op.Kind || (op.Kind == KindClose && (ex.Kind == KindSync || ex.Kind == KindConfirm))
			if !okKind || ex.Lineage != op.Lineage || (ex.Kind != KindSync && ex.ExternalID != op.ExternalID) {
				fail("existing seq %d is %+v", dec.ExistingSeq, *ex)
			}
		case want.anyErr:
			outcomes["exhausted"]++
			if dec.Err == nil {
				fail("want an error (nonce space used up), got new %v existing %d", dec.New != nil, dec.ExistingSeq)
			}
		default:
			outcomes["err "+want.err.Error()]++
			if !errors.Is(dec.Err, want.err) {
				fail("want error %v, got new %v existing %d err %v", want.err, dec.New != nil, dec.ExistingSeq, dec.Err)
			}
			var te *TicketError
			if want.ticket != nil && (!errors.As(dec.Err, &te) || !te.Ticket.Equal(want.ticket)) {
				fail("TicketFinal carries %+v, want %+v", te, *want.ticket)
			}
			var le *LimitError
			if want.err == ErrTooManyInFlight && (!errors.As(dec.Err, &le) || le.Limit != maxInFlight) {
				fail("TooManyInFlight error %v does not carry limit %d", dec.Err, maxInFlight)
			}
		}
		if !want.isNew && len(d.log) != n {
			fail("an answer without a new entry wrote one")
		}
		if op.Lineage != "" {
			if _, ok := d.s.Lineage(op.Lineage); ok {
				if err := stCheckInvariants(d.s, m, op.Lineage, maxInFlight); err != nil {
					fail("%v", err)
				}
			}
		}
		if step%64 == 63 {
			if err := stCheckAllTickets(d.s); err != nil {
				fail("%v", err)
			}
			if err := m.diff(d.s); err != nil {
				fail("model: %v", err)
			}
		}

		// Group commit: take the dirty records every few steps.
		if inBatch++; inBatch == batch || step == ops-1 {
			dirty := d.s.TakeDirty()
			gotL, gotT, gotP := map[string]bool{}, map[ticketKey]bool{}, map[string]bool{}
			for _, l := range dirty.Lineages {
				if gotL[l.Name] || !touchedL[l.Name] {
					fail("dirty lineage %q: duplicate or not named by the batch's entries", l.Name)
				}
				gotL[l.Name] = true
			}
			for name := range mustL {
				if !gotL[name] {
					fail("lineage %q changed but is not dirty", name)
				}
			}
			for _, tk := range dirty.Tickets {
				k := ticketKey{tk.Lineage, tk.ExternalID}
				if gotT[k] || !touchedT[k] {
					fail("dirty ticket %s/%s: duplicate or unchanged", tk.Lineage, tk.ExternalID)
				}
				gotT[k] = true
			}
			for id := range dirty.Plain {
				gotP[id] = true
			}
			if len(gotT) != len(touchedT) || len(gotP) != len(touchedP) {
				fail("dirty has %d tickets %d plain, the batch changed %d and %d", len(gotT), len(gotP), len(touchedT), len(touchedP))
			}
			for id := range touchedP {
				if !gotP[id] {
					fail("plain %q changed but is not dirty", id)
				}
			}
			stMergeDirty(persisted, dirty)
			// The records of this batch every time, the whole state (which
			// the model diff above also pins down) every few batches.
			if batches++; batches%16 == 0 || step == ops-1 {
				if err := persisted.Diff(d.s); err != nil {
					fail("state rebuilt from dirty records differs: %v", err)
				}
			} else {
				if len(persisted.lineages) != len(d.s.lineages) || len(persisted.tickets) != len(d.s.tickets) || len(persisted.plain) != len(d.s.plain) {
					fail("state rebuilt from dirty records has other sizes")
				}
				for name := range touchedL {
					if !lineageEqual(persisted.lineages[name], d.s.lineages[name]) {
						fail("lineage %q rebuilt from dirty records differs", name)
					}
				}
				for k := range touchedT {
					if !persisted.tickets[k].Equal(d.s.tickets[k]) {
						fail("ticket %s/%s rebuilt from dirty records differs", k.lineage, k.externalID)
					}
				}
				for id := range touchedP {
					if persisted.plain[id] != d.s.plain[id] {
						fail("plain %q rebuilt from dirty records differs", id)
					}
				}
			}
			clear(touchedL)
			clear(mustL)
			clear(touchedT)
			clear(touchedP)
			batch, inBatch = 1+r.IntN(8), 0
		}
	}

	if err := m.diff(d.s); err != nil {
		t.Fatalf("seed %d: model: %v", seed, err)
	}
	if err := stCheckAllTickets(d.s); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	replayed := stReplay(t, d.log)
	if err := replayed.Diff(d.s); err != nil {
		t.Fatalf("seed %d: replay of %d entries differs: %v", seed, len(d.log), err)
	}
	if err := d.s.Diff(replayed); err != nil {
		t.Fatalf("seed %d: replay of %d entries differs: %v", seed, len(d.log), err)
	}
	// A follower's Core replays the primary's entries to the same state
	// and the same head.
	f := NewCore(testDomain(), NewState(), Head{}, 0)
	for _, e := range d.log {
		if err := f.Follow(e); err != nil {
			t.Fatalf("seed %d: a follower refuses the primary's entry: %v", seed, err)
		}
	}
	if err := f.State().Diff(d.s); err != nil || f.Head() != d.c.Head() {
		t.Fatalf("seed %d: follower at %+v (%v), primary at %+v", seed, f.Head(), err, d.c.Head())
	}
	// The stream must have exercised the table, not only one corner of it.
	for _, k := range []string{"new tx", "new close", "new release", "new fail", "new sync", "existing tx", "existing close",
		"err " + ErrTicketFinal.Error(), "err " + ErrExternalIDConfl.Error(), "err " + ErrNotFound.Error(), "err " + ErrTooManyInFlight.Error(),
		"new attempt", "existing attempt", "new confirm", "new expire", "new reclaim", "err " + ErrInvalidParams.Error()} {
		if outcomes[k] == 0 {
			t.Errorf("seed %d: no %q in %d ops: %v", seed, k, ops, outcomes)
		}
	}
	t.Logf("seed %d max %d: %d entries, %v", seed, maxInFlight, len(d.log), outcomes)
}
