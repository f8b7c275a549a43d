package sequencer

import (
	stdmath "math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer/oracle"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
)

// loadVectors reads the fixed vectors, made by internal/vectorgen with
// go-ethereum's apitypes.
func loadVectors(t testing.TB) *wire.Vectors {
	t.Helper()
	return wire.LoadVectors(t, "../testdata/eip712.json")
}

// SPEC §2: our hashes and signatures reproduce every fixed vector.
func TestVectorsEntries(t *testing.T) {
	v := loadVectors(t)
	key, err := crypto.ToECDSA(hexutil.MustDecode(v.PrimaryKey))
	if err != nil {
		t.Fatal(err)
	}
	if crypto.PubkeyToAddress(key.PublicKey) != v.Primary {
		t.Fatal("primary key does not match primary address")
	}
	for li, lg := range v.Logs {
		d := Domain{ChainID: new(big.Int).SetUint64(lg.Domain.ChainID), VerifyingContract: lg.Domain.VerifyingContract}
		h := NewHasher(d)
		core := NewCore(d, NewState(), Head{}, 0)
		for _, ve := range lg.Entries {
			prev := core.Head()
			kind, ok := ParseKind(ve.Kind)
			if !ok {
				t.Fatalf("log %d seq %d: kind %q", li, ve.Seq, ve.Kind)
			}
			e := &Entry{Seq: ve.Seq, PrevHash: ve.PrevHash, Kind: kind, Sender: ve.Sender, Lineage: ve.Lineage,
				Nonce: ve.Nonce, ExternalID: ve.ExternalID, DataHash: ve.DataHash, Timestamp: ve.Timestamp}
			if ve.Data != nil {
				e.Data = *ve.Data
			}
			if e.PrevHash != prev.Hash {
				t.Fatalf("log %d seq %d: vector prevHash does not chain", li, ve.Seq)
			}
			if got := h.EntryHash(e); got != ve.Hash {
				t.Fatalf("log %d seq %d: hash %s, vector %s", li, ve.Seq, got, ve.Hash)
			}
			e.Hash = ve.Hash
			sig, err := Sign(e.Hash, key)
			if err != nil {
				t.Fatal(err)
			}
			if hexutil.Encode(sig[:]) != hexutil.Encode(ve.Signature) {
				t.Fatalf("log %d seq %d: signature differs", li, ve.Seq)
			}
			e.Signature = sig
			if err := CheckSigned(h, v.Primary, e); err != nil {
				t.Fatalf("log %d seq %d: %v", li, ve.Seq, err)
			}
			// The vectors are a valid log: it chains and the state machine
			// accepts every entry.
			if err := core.Follow(e); err != nil {
				t.Fatalf("log %d: %v", li, err)
			}
		}
	}
}

// SPEC §4: Request hashes and client signatures reproduce the vectors.
func TestVectorsRequests(t *testing.T) {
	v := loadVectors(t)
	key, err := crypto.ToECDSA(hexutil.MustDecode(v.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for li, lg := range v.Logs {
		h := NewHasher(Domain{ChainID: new(big.Int).SetUint64(lg.Domain.ChainID), VerifyingContract: lg.Domain.VerifyingContract})
		for i, vr := range lg.Requests {
			r := &Request{Kind: Kind(vr.Kind), Lineage: vr.Lineage, ExternalID: vr.ExternalID, DataHash: vr.DataHash, Nonce: vr.Nonce, Deadline: vr.Deadline}
			if got := h.RequestHash(r); got != vr.Hash {
				t.Fatalf("log %d request %d: hash %s, vector %s", li, i, got, vr.Hash)
			}
			sig, _ := Sign(vr.Hash, key)
			if hexutil.Encode(sig[:]) != hexutil.Encode(vr.Signature) {
				t.Fatalf("log %d request %d: signature differs", li, i)
			}
			from, err := Recover(vr.Hash, vr.Signature)
			if err != nil || from != vr.From {
				t.Fatalf("log %d request %d: recovered %s, %v", li, i, from, err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no request vectors")
	}
}

func oracleEntryHash(t testing.TB, d Domain, e *Entry) common.Hash {
	t.Helper()
	h, err := oracle.EntryHash(d.ChainID, d.VerifyingContract, oracle.Entry{
		Seq: e.Seq, PrevHash: e.PrevHash, Kind: uint8(e.Kind), Sender: e.Sender, Lineage: e.Lineage,
		Nonce: e.Nonce, ExternalID: e.ExternalID, DataHash: e.DataHash, Timestamp: e.Timestamp})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// SPEC §2: our hash equals go-ethereum's apitypes on random entries,
// including empty and long strings and max uint64 values.
func TestEntryHashMatchesApitypes(t *testing.T) {
	src := rand.NewChaCha8([32]byte{1, 2})
	r := rand.New(src)
	pick := func() uint64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return stdmath.MaxUint64
		}
		return r.Uint64()
	}
	str := func() string {
		switch r.IntN(4) {
		case 0:
			return ""
		case 1:
			return strings.Repeat("x", 1+r.IntN(300))
		}
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(33 + r.IntN(94))
		}
		return string(b)
	}
	for i := range 300 {
		chain := new(big.Int).SetUint64(pick())
		if i%7 == 0 {
			chain.Lsh(chain, 100) // uint256 chain ids beyond 64 bits
		}
		d := Domain{ChainID: chain}
		src.Read(d.VerifyingContract[:])
		e := &Entry{Seq: pick(), Kind: Kind(r.IntN(5)), Lineage: str(), Nonce: pick(), ExternalID: str(), Timestamp: pick()}
		src.Read(e.PrevHash[:])
		src.Read(e.Sender[:])
		src.Read(e.DataHash[:])
		if got, want := NewHasher(d).EntryHash(e), oracleEntryHash(t, d, e); got != want {
			t.Fatalf("case %d: hash %s, apitypes %s (%+v)", i, got, want, e)
		}
	}
}
