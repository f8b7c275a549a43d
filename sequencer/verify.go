package sequencer

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/logtree"
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
	tree := newTreeCheck(store)
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
		if err := tree.add(es); err != nil {
			return rep, err
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
	if err := tree.finish(head.Seq); err != nil {
		return rep, err
	}
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

// treeCheck rebuilds the Merkle tree from the entries as Verify reads them
// and compares every tile with the stored one (SPEC §10): full tiles as
// they complete, the partial ones at the end. A store without tiles (a
// read-only open of a log written before them) is not checked.
type treeCheck struct {
	stored  *LevelStore // nil: nothing to check
	tree    *logtree.Tree
	mem     memTiles
	checked int
}

type memTiles map[logtree.TileID][]byte

func (m memTiles) ReadTile(id logtree.TileID) ([]byte, error) {
	if d, ok := m[id]; ok {
		return d, nil
	}
	return nil, logtree.ErrMissing
}

func newTreeCheck(store Store) *treeCheck {
	ls, ok := store.(*LevelStore)
	if !ok {
		return &treeCheck{}
	}
	if _, has, err := ls.treeSize(); err != nil || !has {
		return &treeCheck{}
	}
	m := memTiles{}
	return &treeCheck{stored: ls, tree: logtree.New(0, m), mem: m}
}

func (c *treeCheck) add(es []*Entry) error {
	if c.stored == nil || len(es) == 0 {
		return nil
	}
	hashes := make([][32]byte, len(es))
	for i, e := range es {
		hashes[i] = e.Hash
	}
	tiles, err := c.tree.Append(hashes)
	if err != nil {
		return &Fault{Seq: es[0].Seq, Reason: "tree: " + err.Error()}
	}
	for _, t := range tiles {
		c.mem[t.TileID] = t.Data
		if len(t.Data) == 32<<logtree.Height { // full: compare now, never needed again
			if err := c.compare(t.TileID, t.Data, es[0].Seq); err != nil {
				return err
			}
			delete(c.mem, t.TileID)
		}
	}
	c.tree.Commit(c.tree.Size() + int64(len(es)))
	return nil
}

func (c *treeCheck) compare(id logtree.TileID, want []byte, seq uint64) error {
	got, err := c.stored.ReadTile(id)
	if err != nil || !bytes.Equal(got, want) {
		return &Fault{Seq: seq, Reason: fmt.Sprintf("tree tile %d/%d differs from the one the entries give (%v)", id.Level, id.Index, err)}
	}
	c.checked++
	return nil
}

func (c *treeCheck) finish(head uint64) error {
	if c.stored == nil {
		return nil
	}
	size, _, err := c.stored.treeSize()
	if err != nil || size != head {
		return &Fault{Reason: fmt.Sprintf("the tree covers %d entries, the log %d (%v)", size, head, err)}
	}
	for id, d := range c.mem {
		if err := c.compare(id, d, head); err != nil {
			return err
		}
	}
	n, err := c.stored.countPrefix(pfxTile)
	if err != nil || n != c.checked {
		return &Fault{Reason: fmt.Sprintf("the store holds %d tree tiles, the entries give %d (%v)", n, c.checked, err)}
	}
	return nil
}
