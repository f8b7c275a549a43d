package sequencer

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Fault is the first problem Verify finds in a stored log.
type Fault struct {
	Seq    uint64 // the entry at fault; 0 when the fault is not one entry's
	Reason string
}

func (f *Fault) Error() string {
	if f.Seq == 0 {
		return "log fault: " + f.Reason
	}
	return fmt.Sprintf("log fault at seq %d: %s", f.Seq, f.Reason)
}

// VerifyReport is what Verify checked.
type VerifyReport struct {
	Primary common.Address
	Head    Head
	Entries uint64
	// Recovered is what opening the store dropped as a torn tail (allowed:
	// a write cut short is never acknowledged).
	Recovered string
}

// indexStore is what Verify needs to check the lineage index; a store
// without one (a test double) skips that check.
type indexStore interface {
	HasIndex(lineage string, seq uint64) (bool, error)
	IndexCount() (uint64, error)
}

// Verify checks a stored log offline (SPEC §5): seq contiguous from 1, the
// hash chain, every hash recomputed under the stored domain, every
// signature recovering to the stored primary, timestamps never decreasing,
// the head record, and the derived ticket state equal to a replay of the
// log, and the lineage index: a lineage's entries are exactly the entries
// that name it. A LevelStore that lost records at open (Damaged) is a
// fault; a torn tail it dropped is reported in Recovered. It stops at the
// first fault, returned as a *Fault.
func Verify(store Store) (VerifyReport, error) {
	var rep VerifyReport
	if ls, ok := store.(*LevelStore); ok {
		if ls.Damaged != "" {
			return rep, &Fault{Reason: "storage: " + ls.Damaged}
		}
		rep.Recovered = ls.Recovered
	}
	index, _ := store.(indexStore)
	var indexed uint64
	meta, ok, err := store.Meta()
	if err != nil {
		return rep, &Fault{Reason: err.Error()}
	}
	head := store.Head()
	if !ok {
		if head.Seq == 0 {
			return rep, nil
		}
		return rep, &Fault{Reason: "no meta record"}
	}
	rep.Primary = meta.Primary
	h := NewHasher(meta.Domain())
	st := NewState()
	var prev Head
	const chunk = 1024
	for from := uint64(1); ; {
		es, err := store.Range(from, chunk)
		if err != nil {
			return rep, &Fault{Seq: from + uint64(len(es)), Reason: err.Error()}
		}
		for _, e := range es {
			if err := verifyEntry(h, meta.Primary, prev, e); err != nil {
				return rep, &Fault{Seq: e.Seq, Reason: err.Error()}
			}
			if index != nil && e.Lineage != "" {
				ok, err := index.HasIndex(e.Lineage, e.Seq)
				if err != nil {
					return rep, &Fault{Seq: e.Seq, Reason: "lineage index: " + err.Error()}
				}
				if !ok {
					return rep, &Fault{Seq: e.Seq, Reason: fmt.Sprintf("lineage index of %q misses this entry (a read of the lineage would leave it out)", e.Lineage)}
				}
				indexed++
			}
			if err := st.Apply(e); err != nil {
				return rep, &Fault{Seq: e.Seq, Reason: "ticket state: " + err.Error()}
			}
			prev = Head{Seq: e.Seq, Hash: e.Hash, Timestamp: e.Timestamp}
			rep.Entries++
		}
		if len(es) < chunk {
			break
		}
		from += chunk
	}
	if prev.Seq != head.Seq || prev.Hash != head.Hash {
		if prev.Seq < head.Seq {
			return rep, &Fault{Seq: prev.Seq + 1, Reason: fmt.Sprintf("entry missing: log ends at %d, head record says %d", prev.Seq, head.Seq)}
		}
		return rep, &Fault{Seq: head.Seq, Reason: fmt.Sprintf("head record (%d) does not match the last entry (%d)", head.Seq, prev.Seq)}
	}
	rep.Head = head
	if index != nil {
		n, err := index.IndexCount()
		if err != nil {
			return rep, &Fault{Reason: "lineage index: " + err.Error()}
		}
		if n != indexed {
			return rep, &Fault{Reason: fmt.Sprintf("lineage index holds %d records, the log names a lineage in %d entries", n, indexed)}
		}
	}
	stored, err := store.LoadFullState()
	if err != nil {
		return rep, &Fault{Reason: "derived state: " + err.Error()}
	}
	st.TakeDirty()
	if err := st.Equal(stored); err != nil {
		return rep, &Fault{Reason: "stored ticket state differs from a replay of the log: " + err.Error()}
	}
	return rep, nil
}

// verifyEntry checks one entry against its predecessor: the next seq, the
// hash chain, the recomputed hash, the signature, and the timestamp.
func verifyEntry(h *Hasher, primary common.Address, prev Head, e *Entry) error {
	if e.Seq != prev.Seq+1 {
		return fmt.Errorf("seq %d follows %d", e.Seq, prev.Seq)
	}
	if e.PrevHash != prev.Hash {
		return fmt.Errorf("prevHash %s, previous entry's hash is %s", e.PrevHash, prev.Hash)
	}
	if !e.Kind.Valid() {
		return fmt.Errorf("unknown kind %d", e.Kind)
	}
	if got := h.EntryHash(e); got != e.Hash {
		return fmt.Errorf("hash %s, recomputed %s", e.Hash, got)
	}
	if e.Kind == KindTx {
		if got := h.keccak(e.Data); got != e.DataHash {
			return fmt.Errorf("dataHash %s, data hashes to %s", e.DataHash, got)
		}
	}
	if e.Timestamp < prev.Timestamp {
		return fmt.Errorf("timestamp %d before previous %d", e.Timestamp, prev.Timestamp)
	}
	signer, err := Recover(e.Hash, e.Signature[:])
	if err != nil {
		return err
	}
	if signer != primary {
		return fmt.Errorf("signed by %s, not the primary %s", signer, primary)
	}
	return nil
}

// VerifyEntry checks e's hash and signature under domain d against primary,
// and that it follows prev. Replicas use it on every entry they accept.
func VerifyEntry(d Domain, primary common.Address, prev Head, e *Entry) error {
	return verifyEntry(NewHasher(d), primary, prev, e)
}
