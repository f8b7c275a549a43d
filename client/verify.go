package client

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/logtree"
	"github.com/seqnode/sequencer/sequencer"
	"golang.org/x/mod/sumdb/tlog"
)

// ToEntry converts an Entry of the API into the core's entry.
func ToEntry(j *Entry) (*sequencer.Entry, error) {
	kind, ok := sequencer.ParseKind(j.Kind)
	if !ok {
		return nil, fmt.Errorf("seq %d: unknown kind %q", j.Seq, j.Kind)
	}
	if len(j.Signature) != 65 {
		return nil, fmt.Errorf("seq %d: signature of %d bytes", j.Seq, len(j.Signature))
	}
	e := &sequencer.Entry{Seq: j.Seq, PrevHash: j.PrevHash, Kind: kind, Sender: common.Address(j.Sender),
		Lineage: j.Lineage, Nonce: j.Nonce, ExternalID: j.ExternalID, DataHash: j.DataHash,
		Timestamp: j.Timestamp, Hash: j.Hash}
	copy(e.Signature[:], j.Signature)
	if j.Data != nil {
		e.Data = []byte(*j.Data)
	}
	return e, nil
}

// VerifyEntry checks e as a replica does (sequencer.CheckSigned): a known
// kind, its hash the EIP-712 hash of its fields under domain d, data only
// on a tx entry and hashing to its dataHash, and primary's signature.
func VerifyEntry(d sequencer.Domain, primary common.Address, j *Entry) error {
	e, err := ToEntry(j)
	if err != nil {
		return err
	}
	if e.Kind == sequencer.KindTx && j.Data == nil {
		return fmt.Errorf("seq %d: tx entry without data", e.Seq)
	}
	return sequencer.CheckSigned(sequencer.NewHasher(d), primary, e)
}

// VerifyChain checks consecutive entries: each verifies, seq follows seq,
// and each prevHash is the previous hash. prev is the hash before the
// first entry (32 zero bytes before seq 1).
func VerifyChain(d sequencer.Domain, primary common.Address, prev common.Hash, entries []*Entry) error {
	for i, e := range entries {
		if err := VerifyEntry(d, primary, e); err != nil {
			return err
		}
		if i > 0 && e.Seq != entries[i-1].Seq+1 {
			return fmt.Errorf("seq %d follows %d", e.Seq, entries[i-1].Seq)
		}
		if e.PrevHash != prev {
			return fmt.Errorf("seq %d: prevHash %s, previous hash %s", e.Seq, e.PrevHash, prev)
		}
		prev = e.Hash
	}
	return nil
}

// VerifyEquivocation checks a proof: two entries with one seq and
// different hashes, both validly signed by primary under d (SPEC §2).
func VerifyEquivocation(d sequencer.Domain, primary common.Address, a, b *Entry) error {
	if a.Seq != b.Seq {
		return fmt.Errorf("%w: seqs %d and %d", ErrNotEquivocation, a.Seq, b.Seq)
	}
	if a.Hash == b.Hash {
		return fmt.Errorf("%w: same hash", ErrNotEquivocation)
	}
	for _, e := range []*Entry{a, b} {
		if err := VerifyEntry(d, primary, e); err != nil {
			return fmt.Errorf("%w: %v", ErrNotEquivocation, err)
		}
	}
	return nil
}

// VerifyCheckpoint checks that cp is signed by primary: its EIP-712
// Checkpoint signature under domain d (SPEC §10). The note is the same
// statement for tlog tools (golang.org/x/mod/sumdb/note opens it with the
// node's checkpointKey).
func VerifyCheckpoint(d sequencer.Domain, primary common.Address, cp *Checkpoint) error {
	h := sequencer.NewHasher(d).CheckpointHash(cp.Size, cp.Root, cp.Timestamp)
	signer, err := sequencer.Recover(h, cp.Signature)
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", cp.Size, err)
	}
	if signer != primary {
		return fmt.Errorf("checkpoint %d signed by %s, not the primary %s", cp.Size, signer, primary)
	}
	return nil
}

// VerifyInclusion checks that the entry e is leaf e.Seq−1 of the tree
// whose root a checkpoint of p.Size gave (RFC 6962; SPEC §10). Check the
// entry itself with VerifyEntry and the root with VerifyCheckpoint.
func VerifyInclusion(e *Entry, p *InclusionProof, root common.Hash) error {
	if p.Seq != e.Seq || e.Seq == 0 {
		return fmt.Errorf("the proof is of seq %d, the entry is %d", p.Seq, e.Seq)
	}
	if err := tlog.CheckRecord(tlogHashes(p.Proof), int64(p.Size), tlog.Hash(root), int64(e.Seq-1), logtree.LeafHash(e.Hash)); err != nil {
		return fmt.Errorf("entry %d in the tree of size %d: %w", e.Seq, p.Size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size p.From with root from is
// a prefix of the tree of size p.To with root to (RFC 6962).
func VerifyConsistency(p *ConsistencyProof, from, to common.Hash) error {
	if p.From == 0 || p.From == p.To {
		if p.From == p.To && from != to {
			return fmt.Errorf("two roots for size %d", p.To)
		}
		return nil
	}
	if err := tlog.CheckTree(tlogHashes(p.Proof), int64(p.To), tlog.Hash(to), int64(p.From), tlog.Hash(from)); err != nil {
		return fmt.Errorf("tree %d is not a prefix of tree %d: %w", p.From, p.To, err)
	}
	return nil
}

func tlogHashes(hs []common.Hash) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		out[i] = tlog.Hash(h)
	}
	return out
}
