package sequencer

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Bounds of a checkpoint record: what a peer may send us.
const (
	maxCheckpointOrigin = 256
	maxCheckpointNote   = 2048
	// MaxCheckpointRecord bounds a checkpoint's binary record.
	MaxCheckpointRecord = 2*binary.MaxVarintLen32 + maxCheckpointOrigin + 8 + 32 + 8 + 65 + maxCheckpointNote
)

// ErrBadCheckpoint is a checkpoint that is malformed or not signed by the
// log's primary.
var ErrBadCheckpoint = errors.New("bad checkpoint")

// AppendBinary appends the checkpoint's record:
// uvarint(len) origin, size(8), root(32), timestamp(8), signature(65),
// uvarint(len) note.
func (c *Checkpoint) AppendBinary(b []byte) ([]byte, error) {
	if len(c.Origin) > maxCheckpointOrigin || len(c.Note) > maxCheckpointNote {
		return nil, fmt.Errorf("%w: origin of %d or note of %d bytes", ErrBadCheckpoint, len(c.Origin), len(c.Note))
	}
	b = binary.AppendUvarint(b, uint64(len(c.Origin)))
	b = append(b, c.Origin...)
	b = binary.BigEndian.AppendUint64(b, c.Size)
	b = append(b, c.Root[:]...)
	b = binary.BigEndian.AppendUint64(b, c.Timestamp)
	b = append(b, c.Signature[:]...)
	b = binary.AppendUvarint(b, uint64(len(c.Note)))
	return append(b, c.Note...), nil
}

// MarshalBinary is AppendBinary to a new slice.
func (c *Checkpoint) MarshalBinary() ([]byte, error) { return c.AppendBinary(nil) }

// UnmarshalBinary decodes a record of AppendBinary; it never panics on
// bad input and copies what it keeps.
func (c *Checkpoint) UnmarshalBinary(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrBadCheckpoint, what) }
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxCheckpointOrigin || n > uint64(len(b)-k) {
		return bad("origin length")
	}
	origin := string(b[k : k+int(n)])
	b = b[k+int(n):]
	if len(b) < 8+32+8+65 {
		return bad("short record")
	}
	*c = Checkpoint{Origin: origin, Size: binary.BigEndian.Uint64(b)}
	copy(c.Root[:], b[8:40])
	c.Timestamp = binary.BigEndian.Uint64(b[40:48])
	copy(c.Signature[:], b[48:113])
	b = b[113:]
	n, k = binary.Uvarint(b)
	if k <= 0 || n > maxCheckpointNote || n != uint64(len(b)-k) {
		return bad("note length")
	}
	c.Note = bytes.Clone(b[k:])
	return nil
}

// Equal says whether two checkpoints are the same, byte for byte.
func (c *Checkpoint) Equal(o *Checkpoint) bool {
	return c.Origin == o.Origin && c.Size == o.Size && c.Root == o.Root && c.Timestamp == o.Timestamp &&
		c.Signature == o.Signature && bytes.Equal(c.Note, o.Note)
}

// CheckCheckpoint checks that cp is a checkpoint of the log of primary
// under h's domain: its origin is the log's, its EIP-712 signature
// recovers to primary, and its note states the same origin, size and root.
// The note must hold exactly one signature line, by the origin, of an
// Ed25519 signature's size; the signature itself is not checked here: its
// key derives from the log's private key, which a replica does not hold
// (Mirror.SetCheckpointKey, or a client, checks it against
// info.checkpointKey).
func CheckCheckpoint(h *Hasher, primary common.Address, d Domain, cp *Checkpoint) error {
	if cp.Size == 0 {
		return fmt.Errorf("%w: size 0", ErrBadCheckpoint)
	}
	if want := CheckpointOrigin(primary, d); cp.Origin != want {
		return fmt.Errorf("%w: origin %q, the log's is %q", ErrBadCheckpoint, cp.Origin, want)
	}
	signer, err := Recover(h.CheckpointHash(cp.Size, cp.Root, cp.Timestamp), cp.Signature[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if signer != primary {
		return fmt.Errorf("%w: signed by %s, not the primary %s", ErrBadCheckpoint, signer.Hex(), primary.Hex())
	}
	text := fmt.Sprintf("%s\n%d\n%s\n\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:]))
	if !bytes.HasPrefix(cp.Note, []byte(text)) {
		return fmt.Errorf("%w: the note does not state size %d and root %x", ErrBadCheckpoint, cp.Size, cp.Root)
	}
	// "— <origin> <base64(key hash(4) ‖ Ed25519 signature(64))>\n", once.
	line, ok := bytes.CutPrefix(cp.Note[len(text):], []byte("\u2014 "+cp.Origin+" "))
	if ok {
		var sig []byte
		sig, ok = bytes.CutSuffix(line, []byte("\n"))
		n, err := base64.StdEncoding.Decode(make([]byte, len(sig)), sig)
		ok = ok && err == nil && n == 4+ed25519.SignatureSize
	}
	if !ok {
		return fmt.Errorf("%w: the note must end with one signature line by %s", ErrBadCheckpoint, cp.Origin)
	}
	return nil
}

// CheckpointProof is a primary's signed checkpoint that proves it lied
// (SPEC §10): either Other, a second signed checkpoint of the same size
// with a different root, or Root, the replica's own tree root at
// Checkpoint.Size, which differs from the signed one. When the replica
// could complete the second form, Entry is its own signed entry at the
// first leaf that differs, LeafEntryHash the entry hash the primary's
// tree holds there, and Proof that leaf's RFC 6962 inclusion path in the
// tree of Checkpoint.Size.
type CheckpointProof struct {
	Checkpoint    *Checkpoint
	Other         *Checkpoint // the pair form; nil in the tree form
	Root          [32]byte
	Entry         *Entry
	LeafEntryHash [32]byte
	Proof         [][32]byte
}

// Proof record: form(1) [1 pair: rec(A) rec(B) | 2 tree: rec(C) root(32)
// [entry rec, leafEntryHash(32), uvarint count, hashes]], each rec with a
// uvarint length.
const (
	proofPair = 1
	proofTree = 2
)

// MarshalBinary encodes the proof for the store.
func (p *CheckpointProof) MarshalBinary() ([]byte, error) {
	rec := func(b []byte, c *Checkpoint) ([]byte, error) {
		r, err := c.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return append(binary.AppendUvarint(b, uint64(len(r))), r...), nil
	}
	if p.Checkpoint == nil {
		return nil, errors.New("checkpoint proof without a checkpoint")
	}
	var b []byte
	var err error
	if p.Other != nil {
		if b, err = rec([]byte{proofPair}, p.Checkpoint); err != nil {
			return nil, err
		}
		return rec(b, p.Other)
	}
	if b, err = rec([]byte{proofTree}, p.Checkpoint); err != nil {
		return nil, err
	}
	b = append(b, p.Root[:]...)
	if p.Entry == nil {
		return b, nil
	}
	e, err := p.Entry.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b = append(binary.AppendUvarint(b, uint64(len(e))), e...)
	b = append(b, p.LeafEntryHash[:]...)
	b = binary.AppendUvarint(b, uint64(len(p.Proof)))
	for _, h := range p.Proof {
		b = append(b, h[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes a proof record; it never panics on bad input.
func (p *CheckpointProof) UnmarshalBinary(b []byte) error {
	bad := fmt.Errorf("%w: checkpoint proof record", ErrCorrupt)
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		r := b[k : k+int(n)]
		b = b[k+int(n):]
		return r, true
	}
	cp := func() (*Checkpoint, bool) {
		r, ok := next()
		c := new(Checkpoint)
		return c, ok && c.UnmarshalBinary(r) == nil
	}
	if len(b) < 1 {
		return bad
	}
	form := b[0]
	b = b[1:]
	*p = CheckpointProof{}
	var ok bool
	if p.Checkpoint, ok = cp(); !ok {
		return bad
	}
	switch form {
	case proofPair:
		if p.Other, ok = cp(); !ok || len(b) != 0 {
			return bad
		}
		return nil
	case proofTree:
	default:
		return bad
	}
	if len(b) < 32 {
		return bad
	}
	copy(p.Root[:], b)
	b = b[32:]
	if len(b) == 0 {
		return nil
	}
	r, ok := next()
	p.Entry = new(Entry)
	if !ok || p.Entry.UnmarshalBinary(r) != nil || len(b) < 32 {
		return bad
	}
	copy(p.LeafEntryHash[:], b)
	b = b[32:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > 64 || uint64(len(b)-k) != 32*n {
		return bad
	}
	b = b[k:]
	p.Proof = make([][32]byte, n)
	for i := range p.Proof {
		copy(p.Proof[i][:], b[32*i:])
	}
	return nil
}
