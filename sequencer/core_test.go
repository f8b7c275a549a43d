package sequencer

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Tests of Core (SPEC §2): Step chains what the rules decide, Follow takes
// only an entry that continues the head.

// TestCoreStepChains: each new entry takes the next seq, the head's hash
// as prevHash, its EIP-712 hash, and a timestamp that never goes back even
// when the clock does; an answer from an existing entry moves nothing.
func TestCoreStepChains(t *testing.T) {
	c := NewCore(testDomain(), NewState(), Head{}, 64)
	h := NewHasher(testDomain())
	clock := []uint64{1000, 900, 1000, 1500}
	var prev Head
	for i, now := range clock {
		op := stTx("L", string(rune('a'+i)), "d")
		d, err := c.Step(&op, now)
		if err != nil || d.New == nil {
			t.Fatalf("step %d: %+v %v", i, d, err)
		}
		e := d.New
		if e.Seq != prev.Seq+1 || e.PrevHash != prev.Hash || e.Hash != h.EntryHash(e) || e.Timestamp != max(now, prev.Timestamp) {
			t.Fatalf("entry %+v does not chain onto %+v at clock %d", *e, prev, now)
		}
		prev = Head{Seq: e.Seq, Hash: e.Hash, Timestamp: e.Timestamp}
		if c.Head() != prev {
			t.Fatalf("head %+v, want %+v", c.Head(), prev)
		}
	}
	op := stTx("L", "a", "d")
	if d, err := c.Step(&op, 2000); err != nil || d.ExistingSeq != 1 || c.Head() != prev {
		t.Fatalf("retry: %+v %v, head %+v", d, err, c.Head())
	}
}

// TestCoreFollowRefuses: Follow refuses an entry that does not continue
// the head, whose hash or data do not match its fields, or that the rules
// forbid, naming which, and changes nothing.
func TestCoreFollowRefuses(t *testing.T) {
	p := NewCore(testDomain(), NewState(), Head{}, 64)
	var log []*Entry
	for _, op := range []Op{stTx("L", "a", "d"), stTx("L", "b", "d"), stClose("L", "a")} {
		d, err := p.Step(&op, 1000)
		if err != nil || d.New == nil {
			t.Fatal(d, err)
		}
		log = append(log, d.New)
	}
	f := NewCore(testDomain(), NewState(), Head{}, 0)
	for _, e := range log[:2] {
		if err := f.Follow(e); err != nil {
			t.Fatal(err)
		}
	}
	ref := stReplay(t, log[:2])
	h := NewHasher(testDomain())
	next := func(edit func(e *Entry), rehash bool) *Entry {
		e := *log[2]
		edit(&e)
		if rehash {
			e.Hash = h.EntryHash(&e)
		}
		return &e
	}
	cases := []struct {
		name string
		e    *Entry
		is   error
		want string
	}{
		{"past the head", next(func(e *Entry) { e.Seq++ }, true), ErrGap, ""},
		{"at the head", log[1], nil, "follows"},
		{"another prevHash", next(func(e *Entry) { e.PrevHash[0] ^= 1 }, true), ErrNotChained, ""},
		{"timestamp goes back", next(func(e *Entry) { e.Timestamp-- }, true), nil, "goes back"},
		{"hash of other fields", next(func(e *Entry) { e.Nonce++ }, false), nil, "recomputed"},
		{"data on a close", next(func(e *Entry) { e.Data = []byte("x") }, false), nil, "carries data"},
		{"close of another nonce", next(func(e *Entry) { e.Nonce++ }, true), ErrRejected, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := f.Follow(c.e)
			if err == nil || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Follow: %v, want %v %q", err, c.is, c.want)
			}
			if c.is != ErrRejected && errors.Is(err, ErrRejected) {
				t.Fatalf("%v is not a rule violation", err)
			}
			if f.Head() != (Head{Seq: 2, Hash: log[1].Hash, Timestamp: log[1].Timestamp}) {
				t.Fatalf("refused entry moved the head to %+v", f.Head())
			}
			if err := f.State().Diff(ref); err != nil {
				t.Fatalf("refused entry changed the state: %v", err)
			}
		})
	}
	if err := f.Follow(log[2]); err != nil {
		t.Fatalf("the primary's entry: %v", err)
	}
}

// TestNodeWrittenSender: an entry the node writes on its own (confirm,
// expire, reclaim) must name the primary as sender (SPEC §2): one that
// names anyone else is refused even with the primary's valid signature,
// by CheckSigned (replicas, clients) and so by Verify.
func TestNodeWrittenSender(t *testing.T) {
	key, _ := crypto.GenerateKey()
	primary := crypto.PubkeyToAddress(key.PublicKey)
	h := NewHasher(testDomain())
	for _, k := range []Kind{KindConfirm, KindExpire, KindReclaim, KindTx, KindAttempt, KindSync} {
		for _, sender := range []common.Address{primary, {0x01}} {
			e := &Entry{Seq: 1, Kind: k, Sender: sender, Lineage: "L", ExternalID: "a", DataHash: common.Hash{2}, Timestamp: 1}
			if k == KindTx {
				e.DataHash = crypto.Keccak256Hash(nil)
			}
			e.Hash = h.EntryHash(e)
			sig, err := Sign(e.Hash, key)
			if err != nil {
				t.Fatal(err)
			}
			e.Signature = sig
			err = CheckSigned(h, primary, e)
			if want := k.NodeWritten() && sender != primary; (err != nil) != want {
				t.Errorf("%s from %s: %v, want refused %v", k, sender, err, want)
			}
		}
	}
}
