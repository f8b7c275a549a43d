package sequencer

import (
	"errors"
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

// Verify checks a stored log offline (SPEC §5): every entry as a replica
// checks it (Core.Follow and the signature of CheckSigned: seq contiguous
// from 1, the hash chain, every hash recomputed under the stored domain,
// data only on tx entries, timestamps never decreasing, the rules of SPEC
// §3, the stored primary's signature), the head record, the derived ticket
// state equal to a replay of the log, and the lineage index: a lineage's
// entries are exactly the entries that name it. A LevelStore that lost records at open (Damaged) is a
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
	core := NewCore(meta.Domain(), NewState(), Head{}, 0)
	const chunk = 1024
	for from := uint64(1); ; {
		es, err := store.Range(from, chunk)
		if err != nil {
			return rep, &Fault{Seq: from + uint64(len(es)), Reason: err.Error()}
		}
		for _, e := range es {
			if err := core.Follow(e); errors.Is(err, ErrRejected) {
				return rep, &Fault{Seq: e.Seq, Reason: "ticket state: " + err.Error()}
			} else if err != nil {
				return rep, &Fault{Seq: e.Seq, Reason: err.Error()}
			}
			if err := checkSigner(meta.Primary, e); err != nil {
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
			rep.Entries++
		}
		if len(es) < chunk {
			break
		}
		from += chunk
	}
	prev := core.Head()
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
	if err := core.State().Diff(stored); err != nil {
		return rep, &Fault{Reason: "stored ticket state differs from a replay of the log: " + err.Error()}
	}
	return rep, nil
}
