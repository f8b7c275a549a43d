package sequencer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/logtree"
	"golang.org/x/mod/sumdb/note"
)

// maxPendingCheckpoints bounds the primary's checkpoints a replica keeps
// for sizes past its head, waiting to reach them: the newest few.
const maxPendingCheckpoints = 4

// ReceiveCheckpoint takes a checkpoint the primary published (SPEC §10).
// It must be signed by the primary (CheckCheckpoint); then, for a size the
// replica holds, its root must be the replica's own root at that size: it
// becomes the latest primary checkpoint (stored, served by
// PrimaryCheckpoint) if it is larger than the one held. A checkpoint past
// the head waits (the newest maxPendingCheckpoints) until the log reaches
// its size. A signed root that differs from ours, or from another signed
// checkpoint of the same size, is an equivocation: the proof is stored
// and the mirror stops following, as on two entries at one seq.
func (m *Mirror) ReceiveCheckpoint(cp *Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped != nil {
		return m.stopped
	}
	if err := CheckCheckpoint(m.hasher, m.primary, m.domain, cp); err != nil {
		return err
	}
	if m.cpNote != nil {
		if _, err := note.Open(cp.Note, note.VerifierList(m.cpNote)); err != nil {
			return fmt.Errorf("%w: the note's signature does not verify with the checkpoint key: %v", ErrBadCheckpoint, err)
		}
	}
	return m.placeCheckpoint(cp)
}

// SetCheckpointKey makes the mirror check the Ed25519 signature of every
// checkpoint's note with vkey (the primary's info.checkpointKey, in the
// golang.org/x/mod/sumdb/note form). Without it a replica checks the
// EIP-712 signature and the note's text and form, not its signature: the
// note's key derives from the log's private key, which a replica does not
// hold. Call it before the first checkpoint.
func (m *Mirror) SetCheckpointKey(vkey string) error {
	v, err := CheckpointVerifier(vkey, m.primary, m.domain)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.cpNote = v
	m.mu.Unlock()
	return nil
}

// CheckpointVerifier parses vkey, a note verifier key, and checks that it
// is named for the checkpoints of primary's log in d.
func CheckpointVerifier(vkey string, primary common.Address, d Domain) (note.Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %q: %w", vkey, err)
	}
	if want := CheckpointOrigin(primary, d); v.Name() != want {
		return nil, fmt.Errorf("checkpoint key named %q: the checkpoints of this log are named %q", v.Name(), want)
	}
	return v, nil
}

// PrimaryCheckpoint is the latest checkpoint the primary signed for a
// size this replica holds, checked against its own tree; nil if none.
func (m *Mirror) PrimaryCheckpoint() *Checkpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cpLatest
}

// placeCheckpoint checks a signed checkpoint against what the mirror
// holds; m.mu is held.
func (m *Mirror) placeCheckpoint(cp *Checkpoint) error {
	var proofs []CheckpointProof
	for _, o := range append([]*Checkpoint{m.cpLatest}, m.cpPending...) {
		if o != nil && o.Size == cp.Size && o.Root != cp.Root {
			proofs = append(proofs, CheckpointProof{Checkpoint: o, Other: cp})
		}
	}
	if cp.Size > m.store.Head().Seq {
		if len(proofs) == 0 && !slices.ContainsFunc(m.cpPending, cp.Equal) {
			m.cpPending = append(m.cpPending, cp)
			slices.SortFunc(m.cpPending, func(a, b *Checkpoint) int { return cmp.Compare(b.Size, a.Size) })
			if len(m.cpPending) > maxPendingCheckpoints {
				m.cpPending = m.cpPending[:maxPendingCheckpoints]
			}
		}
	} else {
		root, err := m.store.Root(cp.Size)
		if err != nil {
			return fmt.Errorf("root at %d: %w", cp.Size, err)
		}
		switch {
		case root != cp.Root:
			proofs = append(proofs, CheckpointProof{Checkpoint: cp, Root: root})
		case len(proofs) == 0 && (m.cpLatest == nil || cp.Size > m.cpLatest.Size):
			if err := m.store.PutPrimaryCheckpoint(cp); err != nil {
				return fmt.Errorf("store the primary's checkpoint: %w", err)
			}
			m.cpLatest = cp
		}
	}
	if len(proofs) == 0 {
		return nil
	}
	for _, p := range proofs {
		if err := m.store.PutCheckpointProof(p); err != nil {
			m.log.Error("storing checkpoint equivocation proof", "err", err)
		}
	}
	p := proofs[0]
	if p.Other != nil {
		m.stopped = fmt.Errorf("%w: two checkpoints of size %d: roots %x and %x", ErrEquivocation, cp.Size, p.Checkpoint.Root, p.Other.Root)
		m.log.Error("EQUIVOCATION: the primary signed two checkpoints of one size with different roots; stopped following it",
			"size", cp.Size, "rootA", fmt.Sprintf("%x", p.Checkpoint.Root), "rootB", fmt.Sprintf("%x", p.Other.Root), "primary", m.primary.Hex())
	} else {
		m.stopped = fmt.Errorf("%w: checkpoint of size %d signs root %x, our tree's is %x", ErrEquivocation, cp.Size, cp.Root, p.Root)
		m.log.Error("EQUIVOCATION: the primary signed a checkpoint that contradicts the log it signed; stopped following it",
			"size", cp.Size, "signedRoot", fmt.Sprintf("%x", cp.Root), "ourRoot", fmt.Sprintf("%x", p.Root), "primary", m.primary.Hex())
	}
	return m.stopped
}

// checkPending checks the waiting checkpoints the head has reached; m.mu
// is held.
func (m *Mirror) checkPending() error {
	head := m.store.Head().Seq
	var reached []*Checkpoint
	m.cpPending = slices.DeleteFunc(m.cpPending, func(cp *Checkpoint) bool {
		if cp.Size <= head {
			reached = append(reached, cp)
			return true
		}
		return false
	})
	for i := len(reached) - 1; i >= 0; i-- { // smallest first
		if err := m.placeCheckpoint(reached[i]); err != nil {
			return err
		}
	}
	return nil
}

// loadCheckpoints loads what the store keeps of the primary's checkpoints;
// a stored proof halts the mirror.
func (m *Mirror) loadCheckpoints() error {
	cp, err := m.store.PrimaryCheckpoint()
	if err != nil {
		return err
	}
	m.cpLatest = cp
	proofs, err := m.store.CheckpointProofs()
	if err != nil {
		return err
	}
	if len(proofs) > 0 && m.stopped == nil {
		m.stopped = fmt.Errorf("%w: checkpoint of size %d (proof stored)", ErrEquivocation, proofs[0].Checkpoint.Size)
	}
	return nil
}

// CompleteCheckpointProof replaces a stored proof of the tree form
// ({checkpoint, root}) by its completed form, once checked: Entry is our
// entry, signed by the primary, at a leaf of the checkpoint's tree, and
// Proof proves that this tree holds LeafEntryHash, another hash, there.
func (m *Mirror) CompleteCheckpointProof(p CheckpointProof) error {
	if p.Checkpoint == nil || p.Other != nil || p.Entry == nil {
		return errors.New("not a tree-form checkpoint proof")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := p.Entry
	if err := CheckSigned(m.hasher, m.primary, e); err != nil {
		return fmt.Errorf("complete checkpoint proof: entry %d: %w", e.Seq, err)
	}
	if e.Seq == 0 || e.Seq > p.Checkpoint.Size || e.Hash == p.LeafEntryHash {
		return fmt.Errorf("complete checkpoint proof: entry %d, leaf hash %x: not a contradiction of the tree of size %d", e.Seq, p.LeafEntryHash, p.Checkpoint.Size)
	}
	path := make([]logtree.Hash, len(p.Proof))
	for i, h := range p.Proof {
		path[i] = h
	}
	if err := logtree.VerifyInclusion(path, int64(e.Seq-1), int64(p.Checkpoint.Size), p.LeafEntryHash, p.Checkpoint.Root); err != nil {
		return fmt.Errorf("complete checkpoint proof: %w", err)
	}
	if err := m.store.PutCheckpointProof(p); err != nil {
		return err
	}
	m.log.Error("EQUIVOCATION proof completed: the primary's checkpoint holds another entry hash at a leaf than the entry it signed there",
		"size", p.Checkpoint.Size, "seq", e.Seq, "entry", e.Hash, "leafEntryHash", fmt.Sprintf("%x", p.LeafEntryHash))
	return nil
}
