package p2p

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// wireEntries are entries of every kind with every field set, including
// empty and maximal strings and data.
func wireEntries(t testing.TB) []*sequencer.Entry {
	t.Helper()
	lg := testnode.NewLog(t)
	h := sequencer.NewHasher(lg.Domain)
	var out []*sequencer.Entry
	prev := sequencer.Head{}
	add := func(e *sequencer.Entry) {
		e.Seq, e.PrevHash, e.Timestamp = prev.Seq+1, prev.Hash, prev.Timestamp+3
		if e.Kind == sequencer.KindTx {
			e.DataHash = crypto.Keccak256Hash(e.Data)
		}
		sign(t, h, lg.Key, e)
		out = append(out, e)
		prev = headOf(e)
	}
	long := bytes.Repeat([]byte("x"), 255)
	add(&sequencer.Entry{Kind: sequencer.KindTx})
	add(&sequencer.Entry{Kind: sequencer.KindTx, Lineage: "eip155:1:0xabc", ExternalID: "id-1", Nonce: 7, Data: []byte{0, 1, 2}})
	add(&sequencer.Entry{Kind: sequencer.KindClose, Lineage: "eip155:1:0xabc", ExternalID: "id-1", Nonce: 7, DataHash: out[1].Hash})
	add(&sequencer.Entry{Kind: sequencer.KindRelease, Lineage: string(long), ExternalID: string(bytes.Repeat([]byte("~"), 300)), Nonce: 1<<64 - 1})
	add(&sequencer.Entry{Kind: sequencer.KindFail, Lineage: "l", ExternalID: "e", Sender: [20]byte{1, 2, 3}})
	add(&sequencer.Entry{Kind: sequencer.KindSync, Lineage: "l", Nonce: 99})
	add(&sequencer.Entry{Kind: sequencer.KindTx, ExternalID: "plain", Data: bytes.Repeat([]byte{0xee}, 70_000)})
	return out
}

// Gossip wire format: a batch of consecutive entries decodes to exactly
// the entries encoded, every field included.
func TestBatchRoundTrip(t *testing.T) {
	es := wireEntries(t)
	for n := 1; n <= len(es); n++ {
		for i := 0; i+n <= len(es); i++ {
			b, err := encodeBatch(es[i : i+n])
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeBatch(b, maxBatchEntries)
			if err != nil {
				t.Fatalf("entries %d..%d: %v", i+1, i+n, err)
			}
			if !reflect.DeepEqual(got, es[i:i+n]) {
				t.Fatalf("entries %d..%d: round trip differs:\n got %+v\nwant %+v", i+1, i+n, got, es[i:i+n])
			}
		}
	}
	// A batch of exactly maxBatchEntries is fine.
	lg := testnode.NewLog(t)
	many := chain(t, lg.Key, lg.Domain, sequencer.Head{}, maxBatchEntries, "m")
	b, _ := encodeBatch(many)
	if got, err := decodeBatch(b, maxBatchEntries); err != nil || len(got) != maxBatchEntries {
		t.Fatalf("batch of %d: %d entries, %v", maxBatchEntries, len(got), err)
	}
	if _, err := decodeBatch(b, maxBatchEntries-1); !errors.Is(err, errMalformed) {
		t.Fatalf("batch over the limit: %v", err)
	}
}

// decodeBatch refuses, with errMalformed, every message that is not a
// non-empty batch of well-formed records in consecutive seq order.
func TestDecodeBatchRejects(t *testing.T) {
	es := wireEntries(t)
	good, _ := encodeBatch(es[:3])
	rec, _ := es[0].MarshalBinary()
	withRecord := func(r []byte) []byte {
		return append(binary.AppendUvarint([]byte{msgEntries}, uint64(len(r))), r...)
	}
	swapped, _ := encodeBatch([]*sequencer.Entry{es[1], es[0]})
	dup, _ := encodeBatch([]*sequencer.Entry{es[0], es[0]})
	badKind := bytes.Clone(rec)
	badKind[1+8+32] = 9
	badVersion := bytes.Clone(rec)
	badVersion[0] = 2
	for name, b := range map[string][]byte{
		"nil":                 nil,
		"type only":           {msgEntries},
		"unknown type":        append([]byte{0}, good[1:]...),
		"truncated":           good[:len(good)-1],
		"trailing byte":       append(bytes.Clone(good), 0),
		"length past the end": append(binary.AppendUvarint([]byte{msgEntries}, uint64(len(rec)+1)), rec...),
		"huge length":         append(binary.AppendUvarint([]byte{msgEntries}, 1<<62), rec...),
		"overflowing length":  append([]byte{msgEntries}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"short record":        withRecord(rec[:50]),
		"record, extra byte":  withRecord(append(bytes.Clone(rec), 0)),
		"unknown kind":        withRecord(badKind),
		"unknown version":     withRecord(badVersion),
		"zero-length record":  withRecord(nil),
		"out of order":        swapped,
		"same seq twice":      dup,
		"gap":                 append(bytes.Clone(good[:len(withRecord(rec))]), withRecord(mustRecord(t, es[2]))[1:]...),
	} {
		got, err := decodeBatch(b, maxBatchEntries)
		if !errors.Is(err, errMalformed) || got != nil {
			t.Errorf("%s: %d entries, err %v; want errMalformed", name, len(got), err)
		}
	}
}

func mustRecord(t testing.TB, e *sequencer.Entry) []byte {
	t.Helper()
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeBatch: no input makes decodeBatch panic; what it accepts is
// a non-empty run of consecutive entries that encodes back to a message
// decoding to the same entries.
func FuzzDecodeBatch(f *testing.F) {
	es := wireEntries(f)
	for i := range es {
		b, _ := encodeBatch(es[i:])
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{msgEntries})
	f.Add([]byte{msgEntries, 0x80})
	for _, cp := range wireCheckpoints(f) { // another type: never entries
		b, _ := encodeCheckpoint(cp)
		f.Add(b)
	}
	f.Add([]byte{msgEntries, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeBatch(b, 50)
		if err != nil {
			if got != nil {
				t.Fatal("entries returned with an error")
			}
			return
		}
		if len(got) == 0 || len(got) > 50 {
			t.Fatalf("%d entries accepted", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq != got[i-1].Seq+1 {
				t.Fatalf("accepted entries %d then %d", got[i-1].Seq, got[i].Seq)
			}
		}
		again, err := encodeBatch(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeBatch(again, 50)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("re-encoded batch decodes to %v, %v", back, err)
		}
	})
}

// The sync protocol's decoders — the request a server reads, the error
// answer and the records a client reads — take any bytes without panicking or reading
// past a record's declared size, and what decodes re-encodes.
func FuzzSyncMessages(f *testing.F) {
	f.Add([]byte{reqRange, 1, 100})
	f.Add([]byte{reqHead, 0, 0})
	f.Add([]byte{reqLeaf, 5, 9})
	f.Add([]byte{reqCheckpoint, 0, 0})
	e := &sequencer.Entry{Seq: 1, Kind: sequencer.KindTx, Data: []byte{1}}
	rec, _ := e.MarshalBinary()
	f.Add(append(binary.AppendUvarint(nil, uint64(len(rec))), append(rec, 0)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(append([]byte{12}, msgRateLimited...))
	f.Fuzz(func(t *testing.T, b []byte) {
		readRequest(bufio.NewReader(bytes.NewReader(b)))
		if err := readStatusError(bufio.NewReader(bytes.NewReader(b))); !errors.Is(err, errRemote) {
			t.Fatalf("an error answer read as %v", err)
		}
		r := bufio.NewReader(bytes.NewReader(b))
		for range 64 {
			e, err := readRecord(r, 1<<16)
			if err != nil || e == nil {
				return
			}
			out, err := e.MarshalBinary()
			if err != nil {
				t.Fatalf("decoded record does not encode: %v", err)
			}
			var back sequencer.Entry
			if err := back.UnmarshalBinary(out); err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
		}
	})
}

// wireCheckpoints are checkpoints of the log of wireEntries' key.
func wireCheckpoints(t testing.TB) []*sequencer.Checkpoint {
	t.Helper()
	key, _ := crypto.GenerateKey()
	s, err := sequencer.NewCheckpointSigner(key, sequencer.Domain{ChainID: big.NewInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	var out []*sequencer.Checkpoint
	for _, size := range []uint64{1, 300, 1 << 40} {
		cp, err := s.Sign(size, [32]byte{byte(size), 7}, size*3)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cp)
	}
	return out
}

// FuzzDecodeCheckpoint: no input makes decodeCheckpoint panic; what it
// accepts is bounded and encodes back to the same bytes.
func FuzzDecodeCheckpoint(f *testing.F) {
	for _, cp := range wireCheckpoints(f) {
		b, _ := encodeCheckpoint(cp)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append(b, 0))
	}
	f.Add([]byte{msgCheckpoint})
	f.Add([]byte{msgCheckpoint, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	es := wireEntries(f)
	b, _ := encodeBatch(es)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := decodeCheckpoint(b)
		if err != nil {
			if cp != nil {
				t.Fatal("checkpoint returned with an error")
			}
			return
		}
		if len(b) > 1+sequencer.MaxCheckpointRecord {
			t.Fatalf("accepted a message of %d bytes", len(b))
		}
		again, err := encodeCheckpoint(cp)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, %v; want %x", again, err, b)
		}
	})
}
