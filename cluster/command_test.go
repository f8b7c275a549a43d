package cluster

import (
	"bytes"
	"errors"
	"math/big"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/hashicorp/raft"
	"github.com/seqnode/sequencer/sequencer"
)

func randomCommand(r *rand.Rand) sequencer.Command {
	c := sequencer.Command{Log: common.Hash{byte(r.Uint32()), 9}, NowMillis: r.Uint64(), MaxInFlight: r.IntN(1 << 20)}
	for range r.IntN(8) {
		op := sequencer.Op{Kind: sequencer.Kind(r.IntN(int(sequencer.KindSync) + 1)), ChainNonce: r.Uint64()}
		if r.IntN(2) == 0 {
			op.Lineage = "eip155:1:0xabc"
			op.ExternalID = string(rune('a' + r.IntN(26)))
		}
		if r.IntN(2) == 0 {
			op.Data = make([]byte, 1+r.IntN(300))
			for i := range op.Data {
				op.Data[i] = byte(r.Uint32())
			}
		}
		op.DataHash[r.IntN(32)] = byte(r.Uint32())
		op.Sender[r.IntN(20)] = byte(r.Uint32())
		op.Request = sequencer.RequestID{Hash: common.Hash{byte(r.Uint32())}, Deadline: r.Uint64()}
		c.Ops = append(c.Ops, op)
	}
	if r.IntN(2) == 0 {
		c.SigsFrom = r.Uint64()
		c.Sigs = make([][65]byte, 1+r.IntN(5))
		for i := range c.Sigs {
			c.Sigs[i][r.IntN(65)] = byte(r.Uint32())
		}
	}
	return c
}

// The replicated command carries every field of every op, exactly: a voter
// that decoded anything else would decide differently.
func TestCommandRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		c := randomCommand(r)
		got, err := decodeCommand(encodeCommand(&c))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("%d: decoded\n%+v\nwant\n%+v", i, got, c)
		}
	}
}

func TestCommandRejectsDamage(t *testing.T) {
	c := randomCommand(rand.New(rand.NewPCG(3, 4)))
	c.Ops = append(c.Ops, sequencer.Op{Kind: sequencer.KindTx, Data: []byte("x")})
	b := encodeCommand(&c)
	for cut := range len(b) {
		if _, err := decodeCommand(b[:cut]); err == nil {
			t.Fatalf("a command cut to %d of %d bytes decoded", cut, len(b))
		}
	}
	if _, err := decodeCommand(append(b, 0)); err == nil {
		t.Fatal("a command with a trailing byte decoded")
	}
	bad := bytes.Clone(b)
	bad[0] = 99
	if _, err := decodeCommand(bad); !errors.Is(err, errNewerCommand) {
		t.Fatalf("a command of a newer format: %v", err)
	}
}

// A log written by the release before (version 1: no signatures) still
// applies after an upgrade.
func TestCommandVersion1(t *testing.T) {
	c := randomCommand(rand.New(rand.NewPCG(7, 8)))
	c.SigsFrom, c.Sigs = 0, nil
	b := encodeCommand(&c)
	v1 := append([]byte{1}, b[1:len(b)-9]...) // without firstSeq(8) and count(1)
	got, err := decodeCommand(v1)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("version 1: %+v, %v", got, err)
	}
	if _, err := decodeCommand(append(v1, 0)); err == nil {
		t.Fatal("a version 1 command with a trailing byte decoded")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		c := randomCommand(r)
		f.Add(encodeCommand(&c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		again, err := decodeCommand(encodeCommand(&c))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("re-encoded command differs: %v", err)
		}
	})
}

// A follower answers a forwarded write exactly as the leader would: the
// same sentinel (so the same SPEC code), message, ticket and limit.
func TestForwardedOutcomes(t *testing.T) {
	ticket := sequencer.Ticket{Lineage: "L", ExternalID: "x", Nonce: 7, State: sequencer.TicketClosed, LeaseSeq: 3, FinalSeq: 9}
	cases := []error{
		&sequencer.TicketError{Err: sequencer.ErrTicketFinal, Ticket: ticket},
		&sequencer.LimitError{Err: sequencer.ErrTooManyInFlight, Limit: 64},
		sequencer.ErrNotFound,
		sequencer.ErrExternalIDConfl,
		errors.Join(sequencer.ErrUnauthorized, errors.New("deadline past")),
		sequencer.ErrOverloaded,
		sequencer.ErrNoQuorum,
		sequencer.ErrHalted,
	}
	for _, want := range cases {
		got, err := toWire(sequencer.Result{}, want).outcome()
		if err != nil {
			t.Fatal(err)
		}
		if got.Err == nil || got.Err.Error() != want.Error() {
			t.Fatalf("%v: got %v", want, got.Err)
		}
		for _, s := range errorKinds {
			if errors.Is(want, s) != errors.Is(got.Err, s) {
				t.Fatalf("%v: errors.Is(%v) differs", want, s)
			}
		}
		var wt, gt *sequencer.TicketError
		if errors.As(want, &wt) && (!errors.As(got.Err, &gt) || !gt.Ticket.Equal(&wt.Ticket)) {
			t.Fatalf("%v: ticket lost: %+v", want, got.Err)
		}
		var wl, gl *sequencer.LimitError
		if errors.As(want, &wl) && (!errors.As(got.Err, &gl) || gl.Limit != wl.Limit) {
			t.Fatalf("%v: limit lost: %+v", want, got.Err)
		}
	}
	e := &sequencer.Entry{Seq: 5, Kind: sequencer.KindClose, Lineage: "L", ExternalID: "x", Nonce: 2}
	got, err := toWire(sequencer.Result{Entry: e, Existing: true}, nil).outcome()
	if err != nil || got.Err != nil || !got.Result.Existing || !reflect.DeepEqual(got.Result.Entry, e) {
		t.Fatalf("entry outcome: %+v, %v", got, err)
	}
}

// A voter that meets a command of a newer format halts instead of
// skipping it (skipping would leave its log behind the others').
func TestNewerCommandHalts(t *testing.T) {
	store, err := sequencer.OpenMemStore()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key, _ := crypto.GenerateKey()
	f, err := newFSM(store, sequencer.Config{Key: key, Domain: sequencer.Domain{ChainID: big.NewInt(1)}})
	if err != nil {
		t.Fatal(err)
	}
	c := sequencer.Command{Log: f.applier().LogID(), NowMillis: 1, MaxInFlight: 1}
	b := encodeCommand(&c)
	b[0] = commandVersion + 1
	out := f.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: b}})
	if r, ok := out[0].(response); !ok || !errors.Is(r.err, sequencer.ErrHalted) {
		t.Fatalf("answer %+v", out[0])
	}
	if err := f.applier().Halted(); err == nil || !errors.Is(err, errNewerCommand) {
		t.Fatalf("applier: %v", err)
	}
}

// A receipt is signed: an outcome whose entry this voter holds unsigned
// (it applied the command as a follower, having lost its leadership after
// the commit) is answered NoQuorum, to be retried; signed ones and errors
// pass as they are.
func TestAnswerNeverUnsigned(t *testing.T) {
	var got []error
	var res []sequencer.Result
	group := make([]*pendingOp, 3)
	for i := range group {
		group[i] = &pendingOp{resolve: func(r sequencer.Result, err error) { res = append(res, r); got = append(got, err) }}
	}
	signed := &sequencer.Entry{Seq: 7}
	signed.Signature[64] = 27
	answer(group, []sequencer.Outcome{
		{Result: sequencer.Result{Entry: signed}},
		{Result: sequencer.Result{Entry: &sequencer.Entry{Seq: 8}}},
		{Err: sequencer.ErrExternalIDConfl},
	}, nil)
	if got[0] != nil || res[0].Entry != signed {
		t.Fatalf("signed entry: %+v, %v", res[0], got[0])
	}
	if !errors.Is(got[1], sequencer.ErrNoQuorum) || res[1].Entry != nil {
		t.Fatalf("unsigned entry: %+v, %v; want NoQuorum and no receipt", res[1], got[1])
	}
	if !errors.Is(got[2], sequencer.ErrExternalIDConfl) {
		t.Fatalf("error outcome: %v", got[2])
	}
}
