package sequencer

import (
	"encoding/binary"
	"slices"
	"sort"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Tests of the ticket and nonce state machine (state.go) against SPEC §2 and
// §3. The rules themselves are scripts in testdata/*.txt (scenario_test.go);
// here are the random streams against a model, the persisted records and
// Equal. Helpers are prefixed with st to stay clear of the other test files.

var stSender = common.HexToAddress("0x52908400098527886E0F7030069857D2E4169EE7")

// stDriver plays the ordering step of the primary through a Core (at a
// clock that ticks one millisecond per entry) and keeps every entry it
// wrote. With a cache, the records an op names are loaded first, as the
// pipeline does.
type stDriver struct {
	t     testing.TB
	c     *Core
	s     *State
	cache *Cache
	max   int
	log   []*Entry
}

func stNewDriver(t testing.TB, maxInFlight int) *stDriver {
	d := &stDriver{t: t, max: maxInFlight}
	d.reset(NewState(), nil)
	return d
}

// reset drives st, bounded by cache if not nil, from the last entry on.
func (d *stDriver) reset(st *State, cache *Cache) {
	var head Head
	if n := len(d.log); n > 0 {
		e := d.log[n-1]
		head = Head{Seq: e.Seq, Hash: e.Hash, Timestamp: e.Timestamp}
	}
	d.c, d.s, d.cache = NewCore(testDomain(), st, head, d.max), st, cache
}

// bound makes the driver's state a cache over back.
func (d *stDriver) bound(back Backing, limit int, partial bool) {
	d.cache = NewCache(d.s, back, limit, partial)
}

// stHash is a unique, non-zero stand-in for the EIP-712 hash of entry seq.
func stHash(seq uint64) common.Hash {
	var h common.Hash
	h[0] = 0xe7
	binary.BigEndian.PutUint64(h[24:], seq)
	return h
}

func stData(data string) common.Hash { return crypto.Keccak256Hash([]byte(data)) }

func stTx(lineage, ext, data string) Op {
	return Op{Kind: KindTx, Lineage: lineage, ExternalID: ext, Data: []byte(data), DataHash: stData(data), Sender: stSender}
}

func stClose(lineage, ext string) Op {
	return Op{Kind: KindClose, Lineage: lineage, ExternalID: ext, Sender: stSender}
}

// stRelease is sequencer_release with reason "rejected".
func stRelease(lineage, ext string) Op {
	return Op{Kind: KindRelease, Lineage: lineage, ExternalID: ext, Sender: stSender}
}

// stFail is sequencer_release with reason "broadcast".
func stFail(lineage, ext string) Op {
	return Op{Kind: KindFail, Lineage: lineage, ExternalID: ext, Sender: stSender}
}

func stSync(lineage string, c uint64) Op {
	return Op{Kind: KindSync, Lineage: lineage, ChainNonce: c, Sender: stSender}
}

// stAttempt records the transaction hash stData(tx) for a ticket.
func stAttempt(lineage, ext, tx string) Op {
	return Op{Kind: KindAttempt, Lineage: lineage, ExternalID: ext, DataHash: stData(tx), Sender: stSender}
}

// stConfirm, stExpire and stReclaim are written by the node (SPEC §9).
func stConfirm(lineage, ext, tx string) Op {
	return Op{Kind: KindConfirm, Lineage: lineage, ExternalID: ext, DataHash: stData(tx), Sender: stSender}
}

func stExpire(lineage, ext string) Op {
	return Op{Kind: KindExpire, Lineage: lineage, ExternalID: ext, Sender: stSender}
}

func stReclaim(lineage, ext string, n uint64) Op {
	return Op{Kind: KindReclaim, Lineage: lineage, ExternalID: ext, ChainNonce: n, Sender: stSender}
}

// do runs one op. A New entry that Apply rejects fails the test at once:
// Decide and Apply must agree.
func (d *stDriver) do(op Op) Decision {
	d.t.Helper()
	if d.cache != nil {
		if err := d.cache.LoadOp(&op); err != nil {
			return Decision{Err: err}
		}
	}
	dec, err := d.c.Step(&op, 1_700_000_000_000+uint64(len(d.log))+1)
	if err != nil {
		d.t.Fatalf("Step(%+v): %v", op, err)
	}
	n := 0
	if dec.New != nil {
		n++
	}
	if dec.ExistingSeq != 0 {
		n++
	}
	if dec.Err != nil {
		n++
	}
	if n != 1 {
		d.t.Fatalf("Decide(%+v) = %+v: want exactly one of New, ExistingSeq, Err", op, dec)
	}
	if dec.New != nil {
		if want := uint64(len(d.log)) + 1; dec.New.Seq != want {
			d.t.Fatalf("Step chained seq %d, want %d", dec.New.Seq, want)
		}
		d.log = append(d.log, dec.New)
	}
	return dec
}

func (d *stDriver) mustNew(op Op) *Entry {
	d.t.Helper()
	dec := d.do(op)
	if dec.New == nil {
		d.t.Fatalf("%s %s/%s: want a new entry, got existing %d, err %v", op.Kind, op.Lineage, op.ExternalID, dec.ExistingSeq, dec.Err)
	}
	return dec.New
}

func (d *stDriver) ticket(lineage, ext string) Ticket {
	d.t.Helper()
	tk, ok := d.s.Ticket(lineage, ext)
	if !ok {
		d.t.Fatalf("no ticket %s/%s", lineage, ext)
	}
	return tk
}

func stReplay(t testing.TB, log []*Entry) *State {
	t.Helper()
	s := NewState()
	for _, e := range log {
		if err := s.Apply(e); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	return s
}

// TestStateEqual: Equal, used by the replay checks of SPEC §3 ("replaying
// the log reproduces it exactly"), sees differences, so those checks can fail.
func TestStateEqual(t *testing.T) {
	build := func(ops ...Op) *State {
		d := stNewDriver(t, 64)
		for _, op := range ops {
			d.mustNew(op)
		}
		return d.s
	}
	base := []Op{stTx("L", "a", "1"), stTx("L", "b", "2"), stTx("", "p", "3")}
	a := build(base...)
	if err := a.Diff(build(base...)); err != nil {
		t.Fatalf("equal states differ: %v", err)
	}
	for name, other := range map[string]*State{
		"other data":    build(stTx("L", "a", "1"), stTx("L", "b", "X"), stTx("", "p", "3")),
		"other id":      build(stTx("L", "a", "1"), stTx("L", "c", "2"), stTx("", "p", "3")),
		"other plain":   build(stTx("L", "a", "1"), stTx("L", "b", "2"), stTx("", "q", "3")),
		"one more sync": build(append(slices.Clone(base), stSync("L", 1))...),
		"extra lineage": build(append(slices.Clone(base), stSync("M", 0))...),
	} {
		if a.Diff(other) == nil || other.Diff(a) == nil {
			t.Errorf("%s: Equal sees no difference", name)
		}
	}
}

// stMergeDirty applies one TakeDirty output to a state built only from such
// outputs, the way LoadCache rebuilds it from the stored records.
func stMergeDirty(p *State, d Dirty) {
	for _, l := range d.Lineages {
		p.lineages[l.Name] = l.clone()
	}
	for _, tk := range d.Tickets {
		c := *tk
		p.tickets[ticketKey{tk.Lineage, tk.ExternalID}] = &c
	}
	for id, px := range d.Plain {
		p.plain[id] = px
	}
}

func stDirtyNames(d Dirty) (lineages, tickets, plain []string) {
	for _, l := range d.Lineages {
		lineages = append(lineages, l.Name)
	}
	for _, tk := range d.Tickets {
		tickets = append(tickets, tk.Lineage+"/"+tk.ExternalID)
	}
	for id := range d.Plain {
		plain = append(plain, id)
	}
	sort.Strings(lineages)
	sort.Strings(tickets)
	sort.Strings(plain)
	return
}

// TestStateTakeDirty: TakeDirty returns exactly the records changed since
// the last call, as copies, and those records alone rebuild the state (the
// derived state persisted next to the entries, SPEC §3 and §5).
func TestStateTakeDirty(t *testing.T) {
	d := stNewDriver(t, 64)
	persisted := NewState()
	step := func(wantL, wantT, wantP []string, ops ...Op) {
		t.Helper()
		for _, op := range ops {
			d.do(op)
		}
		dirty := d.s.TakeDirty()
		gl, gt, gp := stDirtyNames(dirty)
		if !slices.Equal(gl, wantL) || !slices.Equal(gt, wantT) || !slices.Equal(gp, wantP) {
			t.Fatalf("after %v: dirty lineages %v tickets %v plain %v; want %v %v %v", ops, gl, gt, gp, wantL, wantT, wantP)
		}
		for _, l := range dirty.Lineages {
			if !lineageEqual(l, d.s.lineages[l.Name]) {
				t.Fatalf("dirty lineage %+v is not the current one", *l)
			}
		}
		for _, tk := range dirty.Tickets {
			if cur := d.ticket(tk.Lineage, tk.ExternalID); !tk.Equal(&cur) {
				t.Fatalf("dirty ticket %+v is not the current one %+v", *tk, cur)
			}
		}
		stMergeDirty(persisted, dirty)
		if err := persisted.Diff(d.s); err != nil {
			t.Fatalf("after %v: state rebuilt from dirty records differs: %v", ops, err)
		}
		// Dirty records are copies: scribbling on them changes nothing.
		for _, l := range dirty.Lineages {
			l.NextNonce += 1000
			if len(l.InFlight) > 0 {
				l.InFlight[0].Nonce += 1000
			}
			if len(l.Released) > 0 {
				l.Released[0] += 1000
			}
		}
		for _, tk := range dirty.Tickets {
			tk.State = TicketFailed
		}
		if err := persisted.Diff(d.s); err != nil {
			t.Fatalf("changing a dirty record changed the state: %v", err)
		}
	}
	none := []string(nil)
	step(none, none, none)
	step([]string{"A"}, []string{"A/x"}, none, stTx("A", "x", "1"))
	step(none, none, []string{"p"}, stTx("", "p", "1"))
	step(none, none, none, stTx("", "", "1"))
	// Answers from Decide alone (existing, errors) dirty nothing.
	step(none, none, none, stTx("A", "x", "1"), stTx("A", "x", "2"), stTx("", "p", "1"), stClose("A", "nope"))
	step([]string{"A"}, []string{"A/x"}, none, stClose("A", "x"))
	step([]string{"A", "B"}, []string{"A/y", "A/z", "B/v", "B/w"}, none, stTx("A", "y", "1"), stTx("A", "z", "1"), stTx("B", "w", "1"), stTx("B", "v", "1"))
	// Sync with c=2 closes only y (nonce 1); z (nonce 2) and B stay clean.
	step([]string{"A"}, []string{"A/y"}, none, stSync("A", 2))
	step([]string{"B"}, []string{"B/w"}, none, stRelease("B", "w"))
	step([]string{"B"}, []string{"B/u", "B/v"}, none, stTx("B", "u", "1"), stFail("B", "v"))
	step([]string{"C"}, none, none, stSync("C", 3))
	step(none, none, none)
}
