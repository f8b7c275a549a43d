package sequencer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Tests of the ticket and nonce state machine (state.go) against SPEC §2 and
// §3. Helpers are prefixed with st to stay clear of the other test files.

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

func (d *stDriver) mustExisting(op Op) uint64 {
	d.t.Helper()
	n := len(d.log)
	dec := d.do(op)
	if dec.Err != nil || dec.New != nil {
		d.t.Fatalf("%s %s/%s: want an existing receipt, got new %v, err %v", op.Kind, op.Lineage, op.ExternalID, dec.New != nil, dec.Err)
	}
	if len(d.log) != n {
		d.t.Fatalf("an existing receipt wrote an entry")
	}
	d.checkReplay()
	return dec.ExistingSeq
}

func (d *stDriver) mustErr(op Op, target error) error {
	d.t.Helper()
	n := len(d.log)
	dec := d.do(op)
	if !errors.Is(dec.Err, target) {
		d.t.Fatalf("%s %s/%s: want error %v, got new %v, existing %d, err %v", op.Kind, op.Lineage, op.ExternalID, target, dec.New != nil, dec.ExistingSeq, dec.Err)
	}
	if len(d.log) != n {
		d.t.Fatalf("a refused call wrote an entry")
	}
	d.checkReplay()
	return dec.Err
}

// mustTicketFinal checks a TicketFinal error carrying the ticket as it is.
func (d *stDriver) mustTicketFinal(op Op) {
	d.t.Helper()
	err := d.mustErr(op, ErrTicketFinal)
	var te *TicketError
	if !errors.As(err, &te) {
		d.t.Fatalf("TicketFinal error %T does not carry the ticket", err)
	}
	want, ok := d.s.Ticket(op.Lineage, op.ExternalID)
	if !ok || te.Ticket != want {
		d.t.Fatalf("TicketFinal carries %+v, the ticket is %+v", te.Ticket, want)
	}
}

func (d *stDriver) ticket(lineage, ext string) Ticket {
	d.t.Helper()
	tk, ok := d.s.Ticket(lineage, ext)
	if !ok {
		d.t.Fatalf("no ticket %s/%s", lineage, ext)
	}
	return tk
}

func (d *stDriver) lineage(name string) Lineage {
	d.t.Helper()
	l, ok := d.s.Lineage(name)
	if !ok {
		d.t.Fatalf("no lineage %q", name)
	}
	return l
}

// checkReplay: the state is exactly what a replay of the log gives (SPEC §3:
// "All of it is derived from the log alone").
func (d *stDriver) checkReplay() {
	d.t.Helper()
	r := stReplay(d.t, d.log)
	if err := d.s.Diff(r); err != nil {
		d.t.Fatalf("state differs from a replay of its log: %v", err)
	}
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

// stCheckEntry compares the fields SPEC §2 fixes per kind.
func stCheckEntry(t testing.TB, got *Entry, want Entry) {
	t.Helper()
	if got.Kind != want.Kind || got.Sender != want.Sender || got.Lineage != want.Lineage ||
		got.Nonce != want.Nonce || got.ExternalID != want.ExternalID || got.DataHash != want.DataHash ||
		string(got.Data) != string(want.Data) {
		t.Fatalf("entry fields\n got  kind=%s sender=%s lineage=%q nonce=%d externalId=%q dataHash=%s data=%q\n want kind=%s sender=%s lineage=%q nonce=%d externalId=%q dataHash=%s data=%q",
			got.Kind, got.Sender, got.Lineage, got.Nonce, got.ExternalID, got.DataHash, got.Data,
			want.Kind, want.Sender, want.Lineage, want.Nonce, want.ExternalID, want.DataHash, want.Data)
	}
}

func stCheckLineage(t testing.TB, got Lineage, want Lineage) {
	t.Helper()
	if !lineageEqual(&got, &want) {
		t.Fatalf("lineage\n got  %+v\n want %+v", got, want)
	}
}

// TestStateIdempotencyTable walks every row of the idempotency table of
// SPEC §3, checking the new entries' fields against SPEC §2 "Field values
// per kind" and the ticket and lineage each row leaves.
func TestStateIdempotencyTable(t *testing.T) {
	const L = "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7"
	cases := []struct {
		name string
		run  func(t *testing.T, d *stDriver)
	}{
		{"append/none: new tx, ticket leased", func(t *testing.T, d *stDriver) {
			e := d.mustNew(stTx(L, "a", "hello"))
			stCheckEntry(t, e, Entry{Kind: KindTx, Sender: stSender, Lineage: L, ExternalID: "a", Nonce: 0, DataHash: stData("hello"), Data: []byte("hello")})
			want := Ticket{Lineage: L, ExternalID: "a", Nonce: 0, State: TicketLeased, LeaseSeq: 1, DataHash: stData("hello"), LeaseHash: e.Hash}
			if got := d.ticket(L, "a"); got != want {
				t.Fatalf("ticket %+v, want %+v", got, want)
			}
			// Empty data is allowed; the next lease is the next nonce.
			e = d.mustNew(stTx(L, "b", ""))
			stCheckEntry(t, e, Entry{Kind: KindTx, Sender: stSender, Lineage: L, ExternalID: "b", Nonce: 1, DataHash: stData("")})
			stCheckLineage(t, d.lineage(L), Lineage{Name: L, NextNonce: 2, InFlight: []InFlight{{0, "a", 1}, {1, "b", 2}}})
		}},
		{"append same data/leased: existing tx receipt", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "hello"))
			d.mustNew(stTx(L, "b", "other"))
			d.mustNew(stSync("eip155:5:0x00", 3))
			if got := d.mustExisting(stTx(L, "a", "hello")); got != 1 {
				t.Fatalf("existing seq %d, want 1 (the leasing tx)", got)
			}
			if got := d.mustExisting(stTx(L, "b", "other")); got != 2 {
				t.Fatalf("existing seq %d, want 2", got)
			}
		}},
		{"append different data/leased: ExternalIdConflict", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "hello"))
			before := d.ticket(L, "a")
			d.mustErr(stTx(L, "a", "hello2"), ErrExternalIDConfl)
			d.mustErr(stTx(L, "a", ""), ErrExternalIDConfl)
			if got := d.ticket(L, "a"); got != before {
				t.Fatalf("conflict changed the ticket: %+v -> %+v", before, got)
			}
		}},
		{"append/released: new lease with the new data, same nonce again", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "v1"))
			d.mustNew(stTx(L, "b", "x"))
			d.mustNew(stRelease(L, "a")) // seq 3, nonce 0 to the pool
			e := d.mustNew(stTx(L, "a", "v2"))
			stCheckEntry(t, e, Entry{Kind: KindTx, Sender: stSender, Lineage: L, ExternalID: "a", Nonce: 0, DataHash: stData("v2"), Data: []byte("v2")})
			want := Ticket{Lineage: L, ExternalID: "a", Nonce: 0, State: TicketLeased, LeaseSeq: 4, DataHash: stData("v2"), LeaseHash: e.Hash}
			if got := d.ticket(L, "a"); got != want {
				t.Fatalf("ticket %+v, want %+v", got, want)
			}
			stCheckLineage(t, d.lineage(L), Lineage{Name: L, NextNonce: 2, InFlight: []InFlight{{0, "a", 4}, {1, "b", 2}}})
			// The re-leased ticket answers retries with the new lease.
			if got := d.mustExisting(stTx(L, "a", "v2")); got != 4 {
				t.Fatalf("existing %d, want 4", got)
			}
			d.mustErr(stTx(L, "a", "v1"), ErrExternalIDConfl)
		}},
		{"append/released, same data, nonce taken meanwhile: next nonce", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "v1"))
			d.mustNew(stRelease(L, "a"))
			d.mustNew(stTx(L, "c", "c")) // takes the pooled nonce 0
			e := d.mustNew(stTx(L, "a", "v1"))
			if e.Nonce != 1 {
				t.Fatalf("re-lease got nonce %d, want 1", e.Nonce)
			}
			if tk := d.ticket(L, "a"); tk.State != TicketLeased || tk.FinalSeq != 0 || tk.LeaseSeq != e.Seq || tk.Nonce != 1 {
				t.Fatalf("re-leased ticket %+v", tk)
			}
		}},
		{"append/closed: TicketFinal with the ticket", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "v1"))
			d.mustNew(stClose(L, "a"))
			d.mustTicketFinal(stTx(L, "a", "v1"))
		}},
		{"append/closed by sync: TicketFinal with the ticket", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "v1"))
			d.mustNew(stSync(L, 1))
			d.mustTicketFinal(stTx(L, "a", "v1"))
		}},
		{"append/failed: TicketFinal with the ticket", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "v1"))
			d.mustNew(stFail(L, "a"))
			d.mustTicketFinal(stTx(L, "a", "v1"))
		}},
		{"append different data/closed or failed: refused, no entry", func(t *testing.T, d *stDriver) {
			// SPEC §3 names 4004 for a final ticket, and §4 ranks 4008
			// first when "same id, different data" also applies: 4008.
			d.mustNew(stTx(L, "a", "v1"))
			d.mustNew(stClose(L, "a"))
			d.mustNew(stTx(L, "b", "v1"))
			d.mustNew(stFail(L, "b"))
			for _, id := range []string{"a", "b"} {
				n := len(d.log)
				dec := d.do(stTx(L, id, "v2"))
				if !errors.Is(dec.Err, ErrExternalIDConfl) {
					t.Fatalf("%s: want ExternalIdConflict, got %+v", id, dec)
				}
				if len(d.log) != n {
					t.Fatal("refusal wrote an entry")
				}
			}
		}},
		{"append without lineage: same externalId same data existing, different data conflict", func(t *testing.T, d *stDriver) {
			e := d.mustNew(stTx("", "p1", "x"))
			stCheckEntry(t, e, Entry{Kind: KindTx, Sender: stSender, Lineage: "", ExternalID: "p1", Nonce: 0, DataHash: stData("x"), Data: []byte("x")})
			if p, ok := d.s.Plain("p1"); !ok || p != (PlainTx{Seq: 1, DataHash: stData("x")}) {
				t.Fatalf("plain tx %+v %v", p, ok)
			}
			d.mustNew(stTx("", "p2", "x"))
			if got := d.mustExisting(stTx("", "p1", "x")); got != 1 {
				t.Fatalf("existing %d, want 1", got)
			}
			d.mustErr(stTx("", "p1", "y"), ErrExternalIDConfl)
			// A tx with a lineage is named by (lineage, externalId): no clash.
			if e := d.mustNew(stTx(L, "p1", "y")); e.Nonce != 0 {
				t.Fatalf("lineage tx nonce %d", e.Nonce)
			}
			if d.s.LineageCount() != 1 {
				t.Fatalf("%d lineages, want 1: a tx without lineage creates none", d.s.LineageCount())
			}
		}},
		{"append without lineage or externalId: never deduplicated", func(t *testing.T, d *stDriver) {
			a := d.mustNew(stTx("", "", "same"))
			b := d.mustNew(stTx("", "", "same"))
			if a.Seq == b.Seq || a.Nonce != 0 || b.Nonce != 0 || b.ExternalID != "" {
				t.Fatalf("entries %+v %+v", *a, *b)
			}
		}},
		{"close/leased: new close entry", func(t *testing.T, d *stDriver) {
			tx0 := d.mustNew(stTx(L, "a", "A"))
			tx1 := d.mustNew(stTx(L, "b", "B"))
			e := d.mustNew(stClose(L, "b"))
			stCheckEntry(t, e, Entry{Kind: KindClose, Sender: stSender, Lineage: L, ExternalID: "b", Nonce: 1, DataHash: tx1.Hash})
			want := Ticket{Lineage: L, ExternalID: "b", Nonce: 1, State: TicketClosed, LeaseSeq: 2, FinalSeq: 3, DataHash: stData("B"), LeaseHash: tx1.Hash}
			if got := d.ticket(L, "b"); got != want {
				t.Fatalf("ticket %+v, want %+v", got, want)
			}
			stCheckLineage(t, d.lineage(L), Lineage{Name: L, NextNonce: 2, InFlight: []InFlight{{0, "a", tx0.Seq}}, Closed: 1})
		}},
		{"close/closed: the close receipt", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "A"))
			d.mustNew(stClose(L, "a"))
			d.mustNew(stTx(L, "b", "B"))
			if got := d.mustExisting(stClose(L, "a")); got != 2 {
				t.Fatalf("existing %d, want 2", got)
			}
		}},
		{"close/closed by a sync: the sync receipt", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "A"))
			d.mustNew(stTx(L, "b", "B"))
			s3 := d.mustNew(stSync(L, 1)) // closes a
			d.mustNew(stTx(L, "c", "C"))
			s5 := d.mustNew(stSync(L, 2)) // closes b, a stays closed by seq 3
			if d.log[2].Kind != KindSync || s3.Seq != 3 || s5.Seq != 5 {
				t.Fatalf("unexpected log layout")
			}
			if got := d.mustExisting(stClose(L, "a")); got != 3 {
				t.Fatalf("close of ticket closed by sync: existing %d, want the sync's seq 3", got)
			}
			if got := d.mustExisting(stClose(L, "b")); got != 5 {
				t.Fatalf("existing %d, want 5", got)
			}
			if tk := d.ticket(L, "a"); tk.State != TicketClosed || tk.FinalSeq != 3 {
				t.Fatalf("ticket %+v", tk)
			}
			// c (nonce 2) is not below the chain nonce 2: still leased.
			if tk := d.ticket(L, "c"); tk.State != TicketLeased || tk.FinalSeq != 0 {
				t.Fatalf("ticket %+v", tk)
			}
		}},
		{"release rejected/leased: new release entry, nonce to the pool", func(t *testing.T, d *stDriver) {
			tx0 := d.mustNew(stTx(L, "a", "A"))
			d.mustNew(stTx(L, "b", "B"))
			e := d.mustNew(stRelease(L, "a"))
			stCheckEntry(t, e, Entry{Kind: KindRelease, Sender: stSender, Lineage: L, ExternalID: "a", Nonce: 0, DataHash: tx0.Hash})
			want := Ticket{Lineage: L, ExternalID: "a", Nonce: 0, State: TicketReleased, LeaseSeq: 1, FinalSeq: 3, DataHash: stData("A"), LeaseHash: tx0.Hash}
			if got := d.ticket(L, "a"); got != want {
				t.Fatalf("ticket %+v, want %+v", got, want)
			}
			stCheckLineage(t, d.lineage(L), Lineage{Name: L, NextNonce: 2, InFlight: []InFlight{{1, "b", 2}}, Released: []uint64{0}})
		}},
		{"release broadcast/leased: new fail entry, nonce consumed", func(t *testing.T, d *stDriver) {
			tx0 := d.mustNew(stTx(L, "a", "A"))
			d.mustNew(stTx(L, "b", "B"))
			e := d.mustNew(stFail(L, "a"))
			stCheckEntry(t, e, Entry{Kind: KindFail, Sender: stSender, Lineage: L, ExternalID: "a", Nonce: 0, DataHash: tx0.Hash})
			want := Ticket{Lineage: L, ExternalID: "a", Nonce: 0, State: TicketFailed, LeaseSeq: 1, FinalSeq: 3, DataHash: stData("A"), LeaseHash: tx0.Hash}
			if got := d.ticket(L, "a"); got != want {
				t.Fatalf("ticket %+v, want %+v", got, want)
			}
			stCheckLineage(t, d.lineage(L), Lineage{Name: L, NextNonce: 2, InFlight: []InFlight{{1, "b", 2}}, Failed: 1})
			if e := d.mustNew(stTx(L, "c", "C")); e.Nonce != 2 {
				t.Fatalf("lease after fail got nonce %d, want 2 (0 is consumed)", e.Nonce)
			}
		}},
		{"release rejected, same reason/released: existing", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "A"))
			d.mustNew(stRelease(L, "a"))
			d.mustNew(stTx(L, "b", "B")) // takes the pooled nonce
			if got := d.mustExisting(stRelease(L, "a")); got != 2 {
				t.Fatalf("existing %d, want 2", got)
			}
		}},
		{"release broadcast, same reason/failed: existing", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "A"))
			d.mustNew(stFail(L, "a"))
			d.mustNew(stTx(L, "b", "B"))
			if got := d.mustExisting(stFail(L, "a")); got != 2 {
				t.Fatalf("existing %d, want 2", got)
			}
		}},
		{"close or release/any other state: TicketFinal with the ticket", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "rel", "1"))
			d.mustNew(stRelease(L, "rel"))
			d.mustNew(stTx(L, "fail", "2"))
			d.mustNew(stFail(L, "fail"))
			d.mustNew(stTx(L, "clo", "3"))
			d.mustNew(stClose(L, "clo"))
			d.mustNew(stTx(L, "syn", "4"))
			d.mustNew(stSync(L, d.ticket(L, "syn").Nonce+1))
			for _, op := range []Op{
				stClose(L, "rel"), stFail(L, "rel"),
				stClose(L, "fail"), stRelease(L, "fail"),
				stRelease(L, "clo"), stFail(L, "clo"),
				stRelease(L, "syn"), stFail(L, "syn"),
			} {
				outer := d.t
				t.Run(op.Kind.String()+"/"+op.ExternalID, func(t *testing.T) {
					d.t = t
					defer func() { d.t = outer }()
					d.mustTicketFinal(op)
				})
			}
		}},
		{"close or release/no such ticket: NotFound", func(t *testing.T, d *stDriver) {
			d.mustNew(stTx(L, "a", "A"))
			d.mustNew(stTx("", "plain", "A"))
			for _, op := range []Op{
				stClose(L, "b"), stRelease(L, "b"), stFail(L, "b"), // known lineage
				stClose("eip155:1:0xnone", "a"), stRelease("eip155:1:0xnone", "a"), stFail("eip155:1:0xnone", "a"),
				stClose(L, "plain"), // a plain tx's id is not a ticket
			} {
				d.mustErr(op, ErrNotFound)
			}
			if _, ok := d.s.Lineage("eip155:1:0xnone"); ok {
				t.Fatal("a refused close created a lineage")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := stNewDriver(t, 64)
			c.run(t, d)
			d.checkReplay()
		})
	}
}

// TestStateSyncEntryFields: a sync entry carries the lineage, the chain
// nonce, externalId "" and a zero dataHash (SPEC §2 "Field values per kind").
func TestStateSyncEntryFields(t *testing.T) {
	d := stNewDriver(t, 64)
	e := d.mustNew(stSync("L", 7))
	stCheckEntry(t, e, Entry{Kind: KindSync, Sender: stSender, Lineage: "L", Nonce: 7})
	// Stray fields in the op do not leak into the entry.
	op := stSync("L", 9)
	op.ExternalID, op.DataHash, op.Data = "junk", stData("junk"), []byte("junk")
	e = d.mustNew(op)
	stCheckEntry(t, e, Entry{Kind: KindSync, Sender: stSender, Lineage: "L", Nonce: 9})
}

// TestStateLeaseRule: SPEC §3 "Lease": the lowest pooled nonce first, else
// nextNonce; at most --max-in-flight leased tickets per lineage (4005 with
// the limit), counting only leased tickets.
func TestStateLeaseRule(t *testing.T) {
	const L = "L"
	t.Run("released nonces re-leased lowest first", func(t *testing.T) {
		d := stNewDriver(t, 64)
		for i := range 6 {
			if e := d.mustNew(stTx(L, fmt.Sprint("t", i), "d")); e.Nonce != uint64(i) {
				t.Fatalf("lease %d got nonce %d", i, e.Nonce)
			}
		}
		for _, id := range []string{"t4", "t1", "t3"} {
			d.mustNew(stRelease(L, id))
		}
		if got := d.lineage(L).Released; !slices.Equal(got, []uint64{1, 3, 4}) {
			t.Fatalf("pool %v, want [1 3 4]", got)
		}
		for i, want := range []uint64{1, 3, 4, 6, 7} {
			if e := d.mustNew(stTx(L, fmt.Sprint("u", i), "d")); e.Nonce != want {
				t.Fatalf("lease u%d got nonce %d, want %d", i, e.Nonce, want)
			}
		}
		l := d.lineage(L)
		if len(l.Released) != 0 || l.NextNonce != 8 || len(l.InFlight) != 8 {
			t.Fatalf("lineage %+v", l)
		}
		// A pooled nonce that is released again goes back in order.
		d.mustNew(stRelease(L, "u2")) // 4
		d.mustNew(stRelease(L, "u0")) // 1
		if got := d.lineage(L).Released; !slices.Equal(got, []uint64{1, 4}) {
			t.Fatalf("pool %v, want [1 4]", got)
		}
		if e := d.mustNew(stTx(L, "u0", "again")); e.Nonce != 1 {
			t.Fatalf("re-lease of u0 got nonce %d, want 1", e.Nonce)
		}
		d.checkReplay()
	})
	t.Run("max in flight counts only leased tickets", func(t *testing.T) {
		d := stNewDriver(t, 3)
		for i := range 3 {
			d.mustNew(stTx(L, fmt.Sprint("t", i), "d"))
		}
		err := d.mustErr(stTx(L, "t3", "d"), ErrTooManyInFlight)
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != 3 {
			t.Fatalf("error %v does not carry limit 3", err)
		}
		d.mustNew(stTx("other", "t3", "d")) // the limit is per lineage
		d.mustNew(stClose(L, "t0"))
		d.mustNew(stTx(L, "t3", "d")) // a close frees a slot
		d.mustErr(stTx(L, "t4", "d"), ErrTooManyInFlight)
		d.mustNew(stRelease(L, "t1"))
		if e := d.mustNew(stTx(L, "t4", "d")); e.Nonce != 1 { // a release frees a slot
			t.Fatalf("got nonce %d, want the pooled 1", e.Nonce)
		}
		d.mustErr(stTx(L, "t5", "d"), ErrTooManyInFlight)
		d.mustNew(stFail(L, "t2"))
		d.mustNew(stTx(L, "t5", "d"))                     // a fail frees a slot
		d.mustErr(stTx(L, "t1", "d"), ErrTooManyInFlight) // a released ticket re-leasing counts too
		d.mustNew(stSync(L, 4))                           // closes t3 (3) and t4 (1)
		d.mustNew(stTx(L, "t1", "d"))                     // a sync frees slots
		l := d.lineage(L)
		if len(l.InFlight) != 2 || l.Closed != 3 || l.Failed != 1 {
			t.Fatalf("lineage %+v", l)
		}
		d.checkReplay()
	})
	t.Run("errors before the limit", func(t *testing.T) {
		// SPEC §4: when several apply, 4008 and 4004 come before 4005; and
		// a retry of a lease in flight is answered even at the limit.
		d := stNewDriver(t, 1)
		d.mustNew(stTx(L, "c", "d"))
		d.mustNew(stClose(L, "c"))
		d.mustNew(stTx(L, "a", "d"))
		if got := d.mustExisting(stTx(L, "a", "d")); got != 3 {
			t.Fatalf("existing %d, want 3", got)
		}
		d.mustErr(stTx(L, "a", "other"), ErrExternalIDConfl)
		d.mustTicketFinal(stTx(L, "c", "d"))
		d.mustErr(stTx(L, "b", "d"), ErrTooManyInFlight)
		d.mustNew(stClose(L, "a")) // close is not a lease: never limited
	})
}

// TestStateSync: SPEC §3 "Sync" and the paragraph after the idempotency
// table (sync is not deduplicated, creates unknown lineages).
func TestStateSync(t *testing.T) {
	const L = "L"
	t.Run("closes leases below c, trims the pool, raises nextNonce and floor", func(t *testing.T) {
		d := stNewDriver(t, 64)
		for i := range 6 { // a..f get nonces 0..5
			d.mustNew(stTx(L, string(rune('a'+i)), "d"))
		}
		d.mustNew(stRelease(L, "b")) // pool [1]
		d.mustNew(stRelease(L, "e")) // pool [1 4]
		d.mustNew(stTx("M", "m", "d"))
		sy := d.mustNew(stSync(L, 3)) // seq 10
		for _, id := range []string{"a", "c"} {
			if tk := d.ticket(L, id); tk.State != TicketClosed || tk.FinalSeq != sy.Seq {
				t.Fatalf("ticket %s below the chain nonce: %+v, want closed at %d", id, tk, sy.Seq)
			}
		}
		if tk := d.ticket(L, "b"); tk.State != TicketReleased || tk.FinalSeq != 7 {
			t.Fatalf("released ticket b changed by sync: %+v", tk)
		}
		for _, id := range []string{"d", "f"} {
			if tk := d.ticket(L, id); tk.State != TicketLeased || tk.FinalSeq != 0 {
				t.Fatalf("ticket %s at or above the chain nonce: %+v, want untouched", id, tk)
			}
		}
		stCheckLineage(t, d.lineage(L), Lineage{Name: L, NextNonce: 6, Floor: 3,
			InFlight: []InFlight{{3, "d", 4}, {5, "f", 6}}, Released: []uint64{4}, Closed: 2})
		if m := d.lineage("M"); m.Floor != 0 || len(m.InFlight) != 1 {
			t.Fatalf("sync of %s touched lineage M: %+v", L, m)
		}
		// Leases after the sync: pooled 4, then 6; never 3 or 5 (in flight).
		for i, want := range []uint64{4, 6, 7} {
			if e := d.mustNew(stTx(L, fmt.Sprint("n", i), "d")); e.Nonce != want {
				t.Fatalf("lease after sync got %d, want %d", e.Nonce, want)
			}
		}
		// A lower chain nonce lowers nothing.
		d.mustNew(stSync(L, 1))
		if l := d.lineage(L); l.Floor != 3 || l.NextNonce != 8 {
			t.Fatalf("lower sync moved floor/nextNonce back: %+v", l)
		}
		// A chain nonce past everything closes every lease and jumps ahead.
		sy = d.mustNew(stSync(L, 100))
		l := d.lineage(L)
		stCheckLineage(t, l, Lineage{Name: L, NextNonce: 100, Floor: 100, Closed: 7})
		if tk := d.ticket(L, "f"); tk.State != TicketClosed || tk.FinalSeq != sy.Seq {
			t.Fatalf("ticket f %+v", tk)
		}
		if e := d.mustNew(stTx(L, "late", "d")); e.Nonce != 100 {
			t.Fatalf("lease after sync 100 got %d", e.Nonce)
		}
		d.checkReplay()
	})
	t.Run("in-flight nonces at or above c are never re-issued", func(t *testing.T) {
		d := stNewDriver(t, 64)
		for i := range 4 {
			d.mustNew(stTx(L, fmt.Sprint("t", i), "d"))
		}
		d.mustNew(stSync(L, 2)) // closes 0, 1; 2, 3 stay in flight
		seen := map[uint64]bool{2: true, 3: true}
		for i := range 5 {
			e := d.mustNew(stTx(L, fmt.Sprint("u", i), "d"))
			if seen[e.Nonce] {
				t.Fatalf("nonce %d leased twice", e.Nonce)
			}
			seen[e.Nonce] = true
		}
		if l := d.lineage(L); l.NextNonce != 9 || len(l.InFlight) != 7 {
			t.Fatalf("lineage %+v", l)
		}
	})
	t.Run("unknown lineage is created", func(t *testing.T) {
		d := stNewDriver(t, 64)
		e := d.mustNew(stSync("new", 5))
		stCheckEntry(t, e, Entry{Kind: KindSync, Sender: stSender, Lineage: "new", Nonce: 5})
		stCheckLineage(t, d.lineage("new"), Lineage{Name: "new", NextNonce: 5, Floor: 5})
		if e := d.mustNew(stTx("new", "a", "d")); e.Nonce != 5 {
			t.Fatalf("first lease after sync 5 got %d", e.Nonce)
		}
		d.mustNew(stSync("zero", 0))
		stCheckLineage(t, d.lineage("zero"), Lineage{Name: "zero"})
	})
	t.Run("same sync twice changes nothing but writes an entry", func(t *testing.T) {
		d := stNewDriver(t, 64)
		for i := range 3 {
			d.mustNew(stTx(L, fmt.Sprint("t", i), "d"))
		}
		d.mustNew(stRelease(L, "t2"))
		first := d.mustNew(stSync(L, 1))
		after := stReplay(t, d.log)
		second := d.mustNew(stSync(L, 1))
		if second.Seq != first.Seq+1 || len(d.log) != int(second.Seq) {
			t.Fatalf("second sync seq %d, first %d", second.Seq, first.Seq)
		}
		if err := d.s.Diff(after); err != nil {
			t.Fatalf("second identical sync changed the state: %v", err)
		}
		if tk := d.ticket(L, "t0"); tk.FinalSeq != first.Seq {
			t.Fatalf("ticket closed by the first sync now has finalSeq %d", tk.FinalSeq)
		}
		if got := d.mustExisting(stClose(L, "t0")); got != first.Seq {
			t.Fatalf("close after two syncs: existing %d, want %d", got, first.Seq)
		}
	})
	t.Run("chain nonce MaxUint64: no lease wraps to 0", func(t *testing.T) {
		d := stNewDriver(t, 64)
		d.mustNew(stTx(L, "a", "d"))
		d.mustNew(stTx(L, "b", "d"))
		d.mustNew(stRelease(L, "b"))
		d.mustNew(stSync(L, math.MaxUint64))
		stCheckLineage(t, d.lineage(L), Lineage{Name: L, NextNonce: math.MaxUint64, Floor: math.MaxUint64, Closed: 1})
		n := len(d.log)
		dec := d.do(stTx(L, "c", "d"))
		if dec.Err == nil || dec.New != nil {
			t.Fatalf("lease after sync MaxUint64: %+v, want an error", dec)
		}
		if len(d.log) != n {
			t.Fatal("refused lease wrote an entry")
		}
		// And Apply refuses a forged lease of 0 or MaxUint64.
		ref := stReplay(t, d.log)
		for _, nonce := range []uint64{0, math.MaxUint64} {
			e := &Entry{Seq: uint64(n + 1), Kind: KindTx, Lineage: L, ExternalID: "c", Nonce: nonce, DataHash: stData("d"), Hash: stHash(uint64(n + 1))}
			if err := d.s.Apply(e); err == nil {
				t.Fatalf("Apply accepted a lease of nonce %d past MaxUint64", nonce)
			}
			if err := d.s.Diff(ref); err != nil {
				t.Fatalf("rejected Apply changed the state: %v", err)
			}
		}
	})
	t.Run("the last nonce below MaxUint64 is leased once", func(t *testing.T) {
		d := stNewDriver(t, 64)
		d.mustNew(stSync(L, math.MaxUint64-1))
		if e := d.mustNew(stTx(L, "a", "d")); e.Nonce != math.MaxUint64-1 {
			t.Fatalf("got nonce %d", e.Nonce)
		}
		if dec := d.do(stTx(L, "b", "d")); dec.Err == nil || dec.New != nil {
			t.Fatalf("second lease: %+v, want an error", dec)
		}
		d.mustNew(stRelease(L, "a"))
		if e := d.mustNew(stTx(L, "b", "d")); e.Nonce != math.MaxUint64-1 {
			t.Fatalf("pooled nonce re-lease got %d", e.Nonce)
		}
		d.checkReplay()
	})
}

// TestStateApplyRejects: Apply refuses entries that the rules of SPEC §3 do
// not allow at this point of the log, and leaves the state unchanged.
func TestStateApplyRejects(t *testing.T) {
	const L = "L"
	d := stNewDriver(t, 64)
	for _, id := range []string{"a", "b", "c", "d"} { // nonces 0..3
		d.mustNew(stTx(L, id, id))
	}
	d.mustNew(stClose(L, "a"))
	d.mustNew(stRelease(L, "b")) // pool [1]
	d.mustNew(stFail(L, "c"))
	d.mustNew(stTx("", "p", "p"))
	lease := func(id string) common.Hash { return d.ticket(L, id).LeaseHash }
	ref := stReplay(t, d.log)
	seq := uint64(len(d.log)) + 1
	mk := func(kind Kind, lineage, ext string, nonce uint64, dh common.Hash) *Entry {
		return &Entry{Seq: seq, Kind: kind, Lineage: lineage, ExternalID: ext, Nonce: nonce, DataHash: dh, Hash: stHash(seq)}
	}
	cases := []struct {
		name string
		e    *Entry
	}{
		{"tx nonce nextNonce while the pool has one", mk(KindTx, L, "e", 4, stData("e"))},
		{"tx nonce of a failed ticket", mk(KindTx, L, "e", 2, stData("e"))},
		{"tx nonce in flight", mk(KindTx, L, "e", 3, stData("e"))},
		{"tx nonce of a closed ticket", mk(KindTx, L, "e", 0, stData("e"))},
		{"tx nonce past nextNonce", mk(KindTx, L, "e", 9, stData("e"))},
		{"tx on a new lineage not at 0", mk(KindTx, "N", "e", 1, stData("e"))},
		{"tx re-leasing a leased ticket", mk(KindTx, L, "d", 1, stData("d"))},
		{"tx re-leasing a closed ticket", mk(KindTx, L, "a", 1, stData("a"))},
		{"tx re-leasing a failed ticket", mk(KindTx, L, "c", 1, stData("c"))},
		{"tx with lineage without externalId", mk(KindTx, L, "", 1, stData("e"))},
		{"tx without lineage with a nonce", mk(KindTx, "", "q", 1, stData("q"))},
		{"tx without lineage, duplicate externalId", mk(KindTx, "", "p", 0, stData("p"))},
		{"tx without lineage, duplicate externalId, other data", mk(KindTx, "", "p", 0, stData("other"))},
		{"close of a closed ticket", mk(KindClose, L, "a", 0, lease("a"))},
		{"close of a released ticket", mk(KindClose, L, "b", 1, lease("b"))},
		{"release of a released ticket", mk(KindRelease, L, "b", 1, lease("b"))},
		{"fail of a failed ticket", mk(KindFail, L, "c", 2, lease("c"))},
		{"close of an unknown ticket", mk(KindClose, L, "zz", 3, lease("d"))},
		{"close naming the data hash, not the lease", mk(KindClose, L, "d", 3, stData("d"))},
		{"close with zero dataHash", mk(KindClose, L, "d", 3, common.Hash{})},
		{"close naming another ticket's lease", mk(KindClose, L, "d", 3, lease("a"))},
		{"close with the wrong nonce", mk(KindClose, L, "d", 1, lease("d"))},
		{"release naming the data hash", mk(KindRelease, L, "d", 3, stData("d"))},
		{"fail naming the data hash", mk(KindFail, L, "d", 3, stData("d"))},
		{"sync with an externalId", mk(KindSync, L, "x", 9, common.Hash{})},
		{"sync with a dataHash", mk(KindSync, L, "", 9, stData("x"))},
		{"sync without lineage", mk(KindSync, "", "", 9, common.Hash{})},
		{"unknown kind", mk(Kind(9), L, "d", 3, lease("d"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := d.s.Apply(c.e); err == nil {
				t.Fatalf("Apply accepted %+v", *c.e)
			}
			if err := d.s.Diff(ref); err != nil {
				t.Fatalf("rejected Apply changed the state: %v", err)
			}
		})
	}
	// The same positions accept the right entries: the rejections above are
	// about the fields, not the position.
	for _, mkValid := range []func() *Entry{
		func() *Entry { return mk(KindTx, L, "e", 1, stData("e")) },
		func() *Entry { return mk(KindClose, L, "d", 3, lease("d")) },
		func() *Entry { return mk(KindTx, "", "q", 0, stData("q")) },
		func() *Entry { return mk(KindSync, L, "", 9, common.Hash{}) },
	} {
		e := mkValid()
		if err := d.s.Apply(e); err != nil {
			t.Fatalf("Apply refused a valid %s: %v", e.Kind, err)
		}
		seq++
	}
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
			if cur := d.ticket(tk.Lineage, tk.ExternalID); *tk != cur {
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

// stModel is an independent reading of SPEC §3: the expected ticket and
// nonce state, kept beside the real one in the property test.
type stModel struct {
	max      int
	lineages map[string]*Lineage
	tickets  map[ticketKey]*Ticket
	plain    map[string]PlainTx
	consumed map[string]map[uint64]bool // nonces of closed and failed tickets
}

func stNewModel(max int) *stModel {
	return &stModel{max: max, lineages: map[string]*Lineage{}, tickets: map[ticketKey]*Ticket{},
		plain: map[string]PlainTx{}, consumed: map[string]map[uint64]bool{}}
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
		case len(l.InFlight) >= m.max:
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
	}
	panic("unknown op kind")
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
	if !ok || got != *m.tickets[k] {
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
	if len(l.InFlight) > maxInFlight {
		return fmt.Errorf("lineage %q: %d in flight, limit %d", name, len(l.InFlight), maxInFlight)
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
	case k < 50:
		if r.IntN(2) == 0 {
			g.gen[ln]++
		}
		return stTx(ln, id(), data)
	case k < 55: // a retry of a lease in flight, same data
		ext := live()
		if tk := m.tickets[ticketKey{ln, ext}]; tk != nil {
			for _, d := range g.data {
				if stData(d) == tk.DataHash {
					data = d
				}
			}
		}
		return stTx(ln, ext, data)
	case k < 67:
		return stClose(ln, live())
	case k < 77:
		return stRelease(ln, live())
	case k < 84:
		return stFail(ln, live())
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
				if op.Kind != KindSync {
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
			okKind := ex.Kind == op.Kind || (op.Kind == KindClose && ex.Kind == KindSync)
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
			if want.ticket != nil && (!errors.As(dec.Err, &te) || te.Ticket != *want.ticket) {
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
					if *persisted.tickets[k] != *d.s.tickets[k] {
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
		"err " + ErrTicketFinal.Error(), "err " + ErrExternalIDConfl.Error(), "err " + ErrNotFound.Error(), "err " + ErrTooManyInFlight.Error()} {
		if outcomes[k] == 0 {
			t.Errorf("seed %d: no %q in %d ops: %v", seed, k, ops, outcomes)
		}
	}
	t.Logf("seed %d max %d: %d entries, %v", seed, maxInFlight, len(d.log), outcomes)
}
