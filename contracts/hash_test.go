package contracts

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"

	"github.com/seqnode/sequencer/sequencer"
)

// The longest lineage and externalId the node stores (one- and two-byte
// length prefixes; the API allows 255 bytes for externalId).
const maxField = 255

func randString(r *rand.Rand) string {
	alphabets := []string{"abcXYZ019:_-.", "é中文🦊\u0000\u200b\uffff", "\xff\xfe\x80"} // ASCII, unicode, bytes that are not UTF-8
	var b strings.Builder
	n := r.IntN(maxField + 1)
	switch r.IntN(4) {
	case 0:
		n = 0
	case 1:
		n = maxField
	}
	for b.Len() < n {
		a := alphabets[r.IntN(len(alphabets))]
		if r.IntN(2) == 0 && utf8.ValidString(a) {
			runes := []rune(a)
			b.WriteRune(runes[r.IntN(len(runes))])
		} else {
			b.WriteByte(a[r.IntN(len(a))])
		}
	}
	s := b.String()
	if len(s) > maxField {
		s = s[:maxField] // may cut a rune: the hash is over bytes
	}
	return s
}

func randWord(r *rand.Rand) (h common.Hash) {
	for i := range h {
		h[i] = byte(r.UintN(256))
	}
	return h
}

func randUint64(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return ^uint64(0)
	}
	return r.Uint64()
}

// checkEntryHash asks the deployed contract for entryHash(en) and compares
// it with the node's hash of the same entry.
func checkEntryHash(t testing.TB, e *env, en *sequencer.Entry) {
	t.Helper()
	got, err := e.c.EntryHash(nil, EntryArg(en))
	if err != nil {
		t.Fatalf("entryHash: %v", err)
	}
	if want := e.hasher.EntryHash(en); common.Hash(got) != want {
		t.Fatalf("entry %+v: contract entryHash %x, node hash %x", en, got, want)
	}
}

// The contract's entryHash is the node's hash for random entries of every
// kind, with empty, unicode, non-UTF-8 and maximum-length strings and
// extreme integers; its checkpointHash is the node's too.
func TestEntryHashEquivalence(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 600 {
		en := &sequencer.Entry{Seq: randUint64(r), PrevHash: randWord(r), Kind: sequencer.Kind(i % 9),
			Sender: common.Address(randWord(r).Bytes()[12:]), Lineage: randString(r), Nonce: randUint64(r),
			ExternalID: randString(r), DataHash: randWord(r), Timestamp: randUint64(r)}
		checkEntryHash(t, e, en)
	}
	for range 100 {
		size, root, ts := randUint64(r), randWord(r), randUint64(r)
		got, err := e.c.CheckpointHash(nil, SequencerAccountabilityCheckpoint{Size: size, Root: root, Timestamp: ts})
		if err != nil {
			t.Fatal(err)
		}
		if want := e.hasher.CheckpointHash(size, root, ts); common.Hash(got) != want {
			t.Fatalf("checkpoint %d %x %d: contract %x, node %x", size, root, ts, got, want)
		}
	}
}

func FuzzEntryHash(f *testing.F) {
	f.Add(uint64(1), []byte{}, uint8(0), []byte{}, "eip155:1:0xabc", uint64(0), "job-1", []byte{}, uint64(1_700_000_000_000))
	f.Add(^uint64(0), []byte{0xff}, uint8(8), []byte{1, 2}, "中文🦊", ^uint64(0), "\xff\x00", []byte{9}, ^uint64(0))
	f.Add(uint64(0), []byte{}, uint8(255), []byte{}, strings.Repeat("l", maxField), uint64(7), strings.Repeat("x", maxField), []byte{}, uint64(0))
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, seq uint64, prev []byte, kind uint8, sender []byte, lineage string, nonce uint64, ext string, data []byte, ts uint64) {
		if len(lineage) > maxField || len(ext) > maxField {
			t.Skip("longer than the node stores")
		}
		en := &sequencer.Entry{Seq: seq, PrevHash: common.BytesToHash(prev), Kind: sequencer.Kind(kind),
			Sender: common.BytesToAddress(sender), Lineage: lineage, Nonce: nonce, ExternalID: ext,
			DataHash: common.BytesToHash(data), Timestamp: ts}
		checkEntryHash(t, e, en)
	})
}
