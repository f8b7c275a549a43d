package sequencer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/sequencer/oracle"
	"golang.org/x/mod/sumdb/note"
)

// TestCheckpointHashOracle: our EIP-712 Checkpoint hash is apitypes' for
// random values under two domains (SPEC §10).
func TestCheckpointHashOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, d := range []Domain{{ChainID: big.NewInt(1)}, {ChainID: big.NewInt(11155111), VerifyingContract: common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")}} {
		h := NewHasher(d)
		for range 50 {
			size, ts := r.Uint64(), r.Uint64()
			root := sha256.Sum256(fmt.Append(nil, size))
			want, err := oracle.CheckpointHash(d.ChainID, d.VerifyingContract, size, root, ts)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.CheckpointHash(size, root, ts); got != want {
				t.Fatalf("checkpoint %d %x %d: %s, apitypes %s", size, root, ts, got, want)
			}
		}
	}
}

// TestCheckpointSigner: a checkpoint's EIP-712 signature recovers to the
// primary; its note is a C2SP tlog-checkpoint that sumdb/note opens with
// the verifier key; two signers from one log key sign the same bytes, and
// another key's note does not open.
func TestCheckpointSigner(t *testing.T) {
	key, _ := crypto.GenerateKey()
	d := Domain{ChainID: big.NewInt(10), VerifyingContract: common.HexToAddress("0xAbCd000000000000000000000000000000000001")}
	a, err := NewCheckpointSigner(key, d)
	if err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root"))
	cp, err := a.Sign(42, root, 1_800_000_000_123)
	if err != nil {
		t.Fatal(err)
	}
	primary := crypto.PubkeyToAddress(key.PublicKey)
	if signer, err := Recover(NewHasher(d).CheckpointHash(42, root, 1_800_000_000_123), cp.Signature[:]); err != nil || signer != primary {
		t.Fatalf("checkpoint signed by %s (%v), want %s", signer, err, primary)
	}
	wantOrigin := "sequencer/" + strings.ToLower(primary.Hex()) + "/10/0xabcd000000000000000000000000000000000001"
	if cp.Origin != wantOrigin || !strings.HasPrefix(a.VerifierKey(), wantOrigin+"+") {
		t.Fatalf("origin %q, verifier key %q", cp.Origin, a.VerifierKey())
	}
	v, err := note.NewVerifier(a.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp.Note, note.VerifierList(v))
	if err != nil {
		t.Fatalf("open the note: %v\n%s", err, cp.Note)
	}
	want := wantOrigin + "\n42\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
	if n.Text != want || len(n.Sigs) != 1 {
		t.Fatalf("note text %q, want %q", n.Text, want)
	}
	b, _ := NewCheckpointSigner(key, d)
	again, _ := b.Sign(42, root, 1_800_000_000_123)
	if string(again.Note) != string(cp.Note) || again.Signature != cp.Signature {
		t.Fatal("two signers of one log key sign different checkpoints")
	}
	other, _ := crypto.GenerateKey()
	c, _ := NewCheckpointSigner(other, d)
	ocp, _ := c.Sign(42, root, 1_800_000_000_123)
	if _, err := note.Open(ocp.Note, note.VerifierList(v)); err == nil {
		t.Fatal("another key's note opened with this log's verifier key")
	}
}

// Checkpoint and CheckpointProof records round-trip, and bad records are
// errors, never panics.
func TestCheckpointRecords(t *testing.T) {
	key, _ := crypto.GenerateKey()
	d := Domain{ChainID: big.NewInt(1)}
	s, err := NewCheckpointSigner(key, d)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Sign(3, [32]byte{1}, 9)
	b, _ := s.Sign(3, [32]byte{2}, 9)
	e := &Entry{Seq: 2, Kind: KindTx, Data: []byte("x"), Timestamp: 9}
	for _, p := range []CheckpointProof{
		{Checkpoint: a, Other: b},
		{Checkpoint: a, Root: [32]byte{7}},
		{Checkpoint: a, Root: [32]byte{7}, Entry: e, LeafEntryHash: [32]byte{8}, Proof: [][32]byte{{1}, {2}}},
		{Checkpoint: a, Root: [32]byte{7}, Entry: e, LeafEntryHash: [32]byte{8}, Proof: [][32]byte{}},
	} {
		rec, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back CheckpointProof
		if err := back.UnmarshalBinary(rec); err != nil {
			t.Fatal(err)
		}
		again, _ := back.MarshalBinary()
		if !bytes.Equal(rec, again) || !back.Checkpoint.Equal(p.Checkpoint) || (p.Other != nil) != (back.Other != nil) || len(back.Proof) != len(p.Proof) {
			t.Fatalf("round trip of %+v gave %+v", p, back)
		}
		for i := range len(rec) { // a cut record: an error or a shorter form, never a panic
			var cut CheckpointProof
			if cut.UnmarshalBinary(rec[:i]) == nil && (cut.Entry != nil || cut.Other != nil) {
				t.Fatalf("a record cut at %d of %d decoded whole", i, len(rec))
			}
		}
	}
	ra, _ := a.MarshalBinary()
	for i := range len(ra) {
		var c Checkpoint
		if c.UnmarshalBinary(ra[:i]) == nil {
			t.Fatalf("a checkpoint record cut at %d of %d decoded", i, len(ra))
		}
	}
	if err := CheckCheckpoint(NewHasher(d), crypto.PubkeyToAddress(key.PublicKey), d, a); err != nil {
		t.Fatalf("a signed checkpoint: %v", err)
	}
}

// TestCheckpointNoteChecked: a checkpoint's note must state its origin,
// size and root and end with exactly one signature line by the origin, of
// an Ed25519 signature's size (CheckCheckpoint, what every replica
// checks); with the checkpoint key (Mirror.SetCheckpointKey) a replica
// also refuses a note signed by any other Ed25519 key under that name.
func TestCheckpointNoteChecked(t *testing.T) {
	key, _ := crypto.GenerateKey()
	d := testDomain()
	primary := crypto.PubkeyToAddress(key.PublicKey)
	s, err := NewCheckpointSigner(key, d)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := s.Sign(7, sha256.Sum256([]byte("root")), 1_800_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHasher(d)
	if err := CheckCheckpoint(h, primary, d, cp); err != nil {
		t.Fatalf("a signed checkpoint: %v", err)
	}
	text, sigLine, _ := bytes.Cut(cp.Note, []byte("\n\n"))
	text = append(text, "\n\n"...)
	// The same name, another Ed25519 key: well formed, but not the log's.
	_, otherSigner, err := generateNamedKey(cp.Origin)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(&note.Note{Text: string(text[:len(text)-1])}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}
	withNote := func(n []byte) *Checkpoint { c := *cp; c.Note = n; return &c }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, n := range map[string][]byte{
		"no signature line":   text,
		"two signature lines": cat(cp.Note, sigLine),
		"another name":        cat(text, bytes.Replace(sigLine, []byte(cp.Origin), []byte(cp.Origin+"x"), 1)),
		"short signature":     cat(text, []byte("\u2014 "+cp.Origin+" "+base64.StdEncoding.EncodeToString(make([]byte, 67))+"\n")),
		"not base64":          cat(text, []byte("\u2014 "+cp.Origin+" ?"+strings.Repeat("A", 91)+"\n")),
		"no final newline":    cp.Note[:len(cp.Note)-1],
		"other size":          bytes.Replace(cp.Note, []byte("\n7\n"), []byte("\n8\n"), 1),
		"text after":          cat(cp.Note, []byte("more\n")),
	} {
		if err := CheckCheckpoint(h, primary, d, withNote(n)); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%s: %v, want ErrBadCheckpoint", name, err)
		}
	}
	if err := CheckCheckpoint(h, primary, d, withNote(forged)); err != nil {
		t.Fatalf("a well-formed note signed by another key of the same name: %v (only its signature is wrong)", err)
	}

	st, _ := openTestStore(t)
	m, err := NewMirror(st, primary, d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ReceiveCheckpoint(withNote(forged)); err != nil {
		t.Fatalf("without the checkpoint key: %v", err)
	}
	for _, bad := range []string{"garbage", strings.Replace(s.VerifierKey(), cp.Origin, cp.Origin+"x", 1)} {
		if err := m.SetCheckpointKey(bad); err == nil {
			t.Errorf("checkpoint key %q accepted", bad)
		}
	}
	if err := m.SetCheckpointKey(s.VerifierKey()); err != nil {
		t.Fatal(err)
	}
	if err := m.ReceiveCheckpoint(withNote(forged)); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("a note by another key, with the checkpoint key set: %v", err)
	}
	if err := m.ReceiveCheckpoint(cp); err != nil {
		t.Fatalf("the log's note, with the checkpoint key set: %v", err)
	}
	if m.Halted() != nil {
		t.Fatalf("halted: %v", m.Halted())
	}
}

// generateNamedKey makes a fresh Ed25519 note key named name.
func generateNamedKey(name string) (string, note.Signer, error) {
	skey, vkey, err := note.GenerateKey(nil, name)
	if err != nil {
		return "", nil, err
	}
	s, err := note.NewSigner(skey)
	return vkey, s, err
}
