package contracts

import (
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/seqnode/sequencer/sequencer"
)

// secp256k1's order: n - s is the high-s twin of a signature.
var secpN, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

func entryAt(seq uint64, ext string, data byte) *sequencer.Entry {
	return &sequencer.Entry{Seq: seq, PrevHash: common.Hash{byte(seq)}, Kind: sequencer.KindTx,
		Sender:  common.HexToAddress("0x00000000000000000000000000000000000000aa"),
		Lineage: "eip155:1:0x00000000000000000000000000000000000000bb", Nonce: seq, ExternalID: ext,
		DataHash: crypto.Keccak256Hash([]byte{data}), Timestamp: 1_700_000_000_000 + seq}
}

// The signature variants every slash must refuse: the pair is signed by
// the primary except in the one part a variant breaks.
type sigVariant struct {
	name, reason string
	mutate       func(sig []byte) []byte
}

var badSignatures = []sigVariant{
	{"v-0-1", "v is not 27 or 28", func(s []byte) []byte { s = clone(s); s[64] -= 27; return s }},
	{"v-29", "v is not 27 or 28", func(s []byte) []byte { s = clone(s); s[64] = 29; return s }},
	{"high-s", "high s", highS},
	{"short", "signature is not 65 bytes", func(s []byte) []byte { return clone(s)[:64] }},
	{"garbage", "not signed by the primary", func(s []byte) []byte { s = clone(s); s[5] ^= 0xff; return s }},
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// highS is the malleable twin of sig: (r, n - s, v flipped), which
// ecrecover would map to the same signer.
func highS(sig []byte) []byte {
	out := clone(sig)
	s := new(big.Int).SetBytes(sig[32:64])
	new(big.Int).Sub(secpN, s).FillBytes(out[32:64])
	out[64] = 55 - out[64] // 27 <-> 28
	return out
}

func TestSlashEquivocation(t *testing.T) {
	e := newEnv(t)
	a := e.signEntry(entryAt(7, "job-a", 1), e.primary)
	b := e.signEntry(entryAt(7, "job-b", 2), e.primary)
	so := e.opts(e.slasher)
	slash := func(a *sequencer.Entry, sa []byte, b *sequencer.Entry, sb []byte) func() (*types.Transaction, error) {
		return func() (*types.Transaction, error) { return e.c.SlashEquivocation(so, EntryArg(a), sa, EntryArg(b), sb) }
	}

	// Every honest or malformed pair reverts, and the bond stays.
	e.mustRevert("honest pair", "same entry", slash(a, a.Signature[:], a, a.Signature[:]))
	other := e.signEntry(entryAt(8, "job-b", 2), e.primary)
	e.mustRevert("different seq", "different seq", slash(a, a.Signature[:], other, other.Signature[:]))
	stranger := mustKey(t)
	bs := e.signEntry(entryAt(7, "job-b", 2), stranger)
	e.mustRevert("wrong signer", "not signed by the primary", slash(a, a.Signature[:], bs, bs.Signature[:]))
	wrongDomain := sequencer.NewHasher(sequencer.Domain{ChainID: big.NewInt(1), VerifyingContract: logDomain.VerifyingContract})
	bd := entryAt(7, "job-b", 2)
	bd.Hash = wrongDomain.EntryHash(bd)
	bdSig, err := sequencer.Sign(bd.Hash, e.primary)
	if err != nil {
		t.Fatal(err)
	}
	e.mustRevert("wrong domain", "not signed by the primary", slash(a, a.Signature[:], bd, bdSig[:]))
	for _, v := range badSignatures {
		e.mustRevert(v.name, v.reason, slash(a, a.Signature[:], b, v.mutate(b.Signature[:])))
	}
	if e.isSlashed() || e.bonded().Cmp(e.bondWei) != 0 {
		t.Fatalf("a refused proof changed the bond: slashed=%v bonded=%v", e.isSlashed(), e.bonded())
	}

	before := e.balance(e.slasher)
	r := e.mustSend("slashEquivocation", slash(a, a.Signature[:], b, b.Signature[:]))
	e.assertPaid(r, before, 7)
	e.mustRevert("second slash", "already slashed", slash(b, b.Signature[:], a, a.Signature[:]))
}

func TestSlashCheckpointEquivocation(t *testing.T) {
	e := newEnv(t)
	ca, sa := e.signCheckpoint(1000, [32]byte{1}, 5, e.primary)
	cb, sb := e.signCheckpoint(1000, [32]byte{2}, 5, e.primary)
	so := e.opts(e.slasher)
	slash := func(a SequencerAccountabilityCheckpoint, sa []byte, b SequencerAccountabilityCheckpoint, sb []byte) func() (*types.Transaction, error) {
		return func() (*types.Transaction, error) { return e.c.SlashCheckpointEquivocation(so, a, sa, b, sb) }
	}
	// The same root signed twice, even with another timestamp, is honest.
	cc, sc := e.signCheckpoint(1000, [32]byte{1}, 6, e.primary)
	e.mustRevert("honest pair", "same root", slash(ca, sa, cc, sc))
	cd, sd := e.signCheckpoint(999, [32]byte{2}, 5, e.primary)
	e.mustRevert("different size", "different size", slash(ca, sa, cd, sd))
	cs, ss := e.signCheckpoint(1000, [32]byte{2}, 5, mustKey(t))
	e.mustRevert("wrong signer", "not signed by the primary", slash(ca, sa, cs, ss))
	wrong := sequencer.NewHasher(sequencer.Domain{ChainID: logDomain.ChainID, VerifyingContract: common.Address{1}})
	wsig, err := sequencer.Sign(wrong.CheckpointHash(1000, [32]byte{2}, 5), e.primary)
	if err != nil {
		t.Fatal(err)
	}
	e.mustRevert("wrong domain", "not signed by the primary", slash(ca, sa, cb, wsig[:]))
	for _, v := range badSignatures {
		e.mustRevert(v.name, v.reason, slash(ca, v.mutate(sa), cb, sb))
	}

	before := e.balance(e.slasher)
	r := e.mustSend("slashCheckpointEquivocation", slash(ca, sa, cb, sb))
	e.assertPaid(r, before, 1000)
	e.mustRevert("second slash", "already slashed", slash(cb, sb, ca, sa))
}

// A log of n signed entries, its honest tree and a lying tree that holds
// another hash at leaf k: the primary signs a checkpoint of the lying tree.
type fraud struct {
	entries         []*sequencer.Entry
	honest, lying   *testonly.Tree
	k               uint64 // 0-based leaf that differs
	leafEntryHash   [32]byte
	honestRoot, lie [32]byte
}

func newFraud(t *testing.T, e *env, n, k uint64) *fraud {
	f := &fraud{k: k, honest: testonly.New(rfc6962.DefaultHasher), lying: testonly.New(rfc6962.DefaultHasher)}
	f.leafEntryHash = crypto.Keccak256Hash([]byte("not the entry the primary signed"))
	var prev common.Hash
	for i := uint64(1); i <= n; i++ {
		en := entryAt(i, "job", byte(i))
		en.PrevHash = prev
		e.signEntry(en, e.primary)
		prev = en.Hash
		f.entries = append(f.entries, en)
		f.honest.AppendData(en.Hash[:])
		if i-1 == k {
			f.lying.AppendData(f.leafEntryHash[:])
		} else {
			f.lying.AppendData(en.Hash[:])
		}
	}
	copy(f.honestRoot[:], f.honest.Hash())
	copy(f.lie[:], f.lying.Hash())
	return f
}

func hashes(t *testing.T, p [][]byte) [][32]byte {
	t.Helper()
	out := make([][32]byte, len(p))
	for i, h := range p {
		copy(out[i][:], h)
	}
	return out
}

func TestSlashInclusion(t *testing.T) {
	e := newEnv(t)
	const n, k = 1000, 616
	f := newFraud(t, e, n, k)
	lieProof, err := f.lying.InclusionProof(k, n)
	if err != nil {
		t.Fatal(err)
	}
	// The proof is a real RFC 6962 path: transparency-dev/merkle agrees.
	leaf := sha256.Sum256(append([]byte{0}, f.leafEntryHash[:]...))
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, k, n, leaf[:], lieProof, f.lie[:]); err != nil {
		t.Fatalf("the lying path does not verify: %v", err)
	}
	c, sc := e.signCheckpoint(n, f.lie, 99, e.primary)
	target := f.entries[k]
	so := e.opts(e.slasher)
	slash := func(c SequencerAccountabilityCheckpoint, sc []byte, en *sequencer.Entry, se []byte, leaf [32]byte, p [][32]byte) func() (*types.Transaction, error) {
		return func() (*types.Transaction, error) { return e.c.SlashInclusion(so, c, sc, EntryArg(en), se, leaf, p) }
	}
	good := hashes(t, lieProof)

	// An honest checkpoint: its path proves the entry the primary signed.
	hc, hsc := e.signCheckpoint(n, f.honestRoot, 99, e.primary)
	honestProof, err := f.honest.InclusionProof(k, n)
	if err != nil {
		t.Fatal(err)
	}
	e.mustRevert("honest tree", "the tree holds the entry", slash(hc, hsc, target, target.Signature[:], target.Hash, hashes(t, honestProof)))
	// The honest path with the lie's leaf, or the lie's path at another
	// leaf, a truncated path, a path with one hash changed: no proof.
	e.mustRevert("honest path, other leaf", "bad inclusion proof", slash(hc, hsc, target, target.Signature[:], f.leafEntryHash, hashes(t, honestProof)))
	e.mustRevert("lying path, honest root", "bad inclusion proof", slash(hc, hsc, target, target.Signature[:], f.leafEntryHash, good))
	e.mustRevert("other leaf", "bad inclusion proof", slash(c, sc, f.entries[k+1], f.entries[k+1].Signature[:], f.leafEntryHash, good))
	e.mustRevert("short path", "bad inclusion proof", slash(c, sc, target, target.Signature[:], f.leafEntryHash, good[:len(good)-1]))
	long := append(append([][32]byte(nil), good...), [32]byte{7})
	e.mustRevert("long path", "bad inclusion proof", slash(c, sc, target, target.Signature[:], f.leafEntryHash, long))
	bent := append([][32]byte(nil), good...)
	bent[3][0] ^= 1
	e.mustRevert("changed path", "bad inclusion proof", slash(c, sc, target, target.Signature[:], f.leafEntryHash, bent))
	// The entry must be one the primary signed, inside the checkpoint.
	stranger := e.signEntry(entryAt(k+1, "job", 0xee), mustKey(t))
	stranger.PrevHash = target.PrevHash
	e.signEntry(stranger, mustKey(t))
	e.mustRevert("entry not signed", "not signed by the primary", slash(c, sc, stranger, stranger.Signature[:], f.leafEntryHash, good))
	small, ssc := e.signCheckpoint(k, f.lie, 99, e.primary)
	e.mustRevert("entry beyond the checkpoint", "entry outside the checkpoint", slash(small, ssc, target, target.Signature[:], f.leafEntryHash, good))
	cs, ss := e.signCheckpoint(n, f.lie, 99, mustKey(t))
	e.mustRevert("checkpoint not signed", "not signed by the primary", slash(cs, ss, target, target.Signature[:], f.leafEntryHash, good))
	for _, v := range badSignatures {
		e.mustRevert("checkpoint "+v.name, v.reason, slash(c, v.mutate(sc), target, target.Signature[:], f.leafEntryHash, good))
		e.mustRevert("entry "+v.name, v.reason, slash(c, sc, target, v.mutate(target.Signature[:]), f.leafEntryHash, good))
	}
	if e.isSlashed() {
		t.Fatal("a refused proof slashed")
	}

	before := e.balance(e.slasher)
	r := e.mustSend("slashInclusion", slash(c, sc, target, target.Signature[:], f.leafEntryHash, good))
	e.assertPaid(r, before, k+1)
	e.mustRevert("second slash", "already slashed", slash(c, sc, target, target.Signature[:], f.leafEntryHash, good))
}

// Every leaf position and tree shape the path walk must handle: the
// first and last leaf, a lone right edge, sizes around powers of two.
func TestSlashInclusionShapes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ n, k uint64 }{{1, 0}, {2, 1}, {3, 2}, {7, 6}, {8, 0}, {9, 8}, {255, 128}, {256, 255}, {257, 256}} {
		f := newFraud(t, e, tc.n, tc.k)
		p, err := f.lying.InclusionProof(tc.k, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		c, sc := e.signCheckpoint(tc.n, f.lie, 1, e.primary)
		target := f.entries[tc.k]
		// A call, not a transaction: the proof must hold for every shape,
		// and only one slash can be sent per contract.
		_, err = e.c.SlashInclusion(&bind.TransactOpts{From: crypto.PubkeyToAddress(e.slasher.PublicKey), NoSend: true,
			Signer: e.opts(e.slasher).Signer, Context: t.Context()}, c, sc, EntryArg(target), target.Signature[:], f.leafEntryHash, hashes(t, p))
		if err != nil {
			t.Errorf("size %d leaf %d: %v", tc.n, tc.k, err)
		}
		wrongIndex, _ := f.lying.InclusionProof(tc.k, tc.n)
		if tc.n > 1 && tc.k > 0 {
			other := f.entries[tc.k-1]
			_, err = e.c.SlashInclusion(&bind.TransactOpts{From: crypto.PubkeyToAddress(e.slasher.PublicKey), NoSend: true,
				Signer: e.opts(e.slasher).Signer, Context: t.Context()}, c, sc, EntryArg(other), other.Signature[:], f.leafEntryHash, hashes(t, wrongIndex))
			if err == nil {
				t.Errorf("size %d: leaf %d's path accepted for leaf %d", tc.n, tc.k, tc.k-1)
			}
		}
	}
}

// sparseFraud is a lying checkpoint over a tree too large to build: a
// random path of the right length, the root transparency-dev/merkle
// computes from it, and the signed entry whose leaf it contradicts.
type sparseFraud struct {
	entry         *sequencer.Entry
	leafEntryHash [32]byte
	path          [][32]byte
	root          [32]byte
}

func newFraudSparse(t *testing.T, e *env, n, k uint64) *sparseFraud {
	t.Helper()
	f := &sparseFraud{entry: e.signEntry(entryAt(k+1, "job", 1), e.primary)}
	f.leafEntryHash = crypto.Keccak256Hash([]byte("a leaf the primary never signed"))
	var raw [][]byte
	for i := 0; i < 64 && uint64(1)<<i < n; i++ {
		h := crypto.Keccak256([]byte{byte(i)})
		raw = append(raw, h)
		f.path = append(f.path, [32]byte(h))
	}
	leaf := sha256.Sum256(append([]byte{0}, f.leafEntryHash[:]...))
	root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, k, n, leaf[:], raw)
	if err != nil {
		t.Fatal(err)
	}
	copy(f.root[:], root)
	return f
}
