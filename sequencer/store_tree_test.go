package sequencer

import (
	"strings"
	"testing"

	"github.com/seqnode/sequencer/logtree"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// referenceRoot is the RFC 6962 root over the entries' hashes computed by
// transparency-dev/merkle, independently of the store's tiles.
func referenceRoot(t *testing.T, es []*Entry) logtree.Hash {
	t.Helper()
	h := rfc6962.DefaultHasher
	r := (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	for _, e := range es {
		if err := r.Append(h.HashLeaf(e.Hash[:]), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return logtree.Hash(root)
}

// TestStoreTree: the tiles of the Merkle tree (SPEC §10) are written with
// the entries, so the root at every size is the reference root; a store
// that lost its tiles (one written before they existed) gets them back
// when opened for writing; Verify rebuilds the tiles and finds a damaged
// one.
func TestStoreTree(t *testing.T) {
	store, dir := openTestStore(t)
	s := newTestSequencer(t, store, nil)
	es := fillLog(t, s, 700)
	s.Close()
	for _, size := range []int{1, 2, 255, 256, 257, 511, 512, 700} {
		got, err := store.Root(uint64(size))
		if err != nil || got != referenceRoot(t, es[:size]) {
			t.Fatalf("root at %d: %x (%v), reference %x", size, got, err, referenceRoot(t, es[:size]))
		}
	}
	if _, err := store.Root(701); err == nil {
		t.Fatal("a root past the head")
	}
	if _, err := Verify(store); err != nil {
		t.Fatalf("verify: %v", err)
	}

	// A log written before the tree: no tiles, no tree size. Reopened for
	// writing, it builds them.
	b := new(leveldb.Batch)
	it := store.db.NewIterator(util.BytesPrefix([]byte{pfxTile}), nil)
	for it.Next() {
		b.Delete(append([]byte(nil), it.Key()...))
	}
	it.Release()
	b.Delete([]byte{pfxTreeSize})
	if err := store.db.Write(b, nil); err != nil {
		t.Fatal(err)
	}
	store.Close()
	store, err := OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if got, err := store.Root(700); err != nil || got != referenceRoot(t, es) {
		t.Fatalf("after the backfill: root %x (%v)", got, err)
	}
	if _, err := Verify(store); err != nil {
		t.Fatalf("verify after the backfill: %v", err)
	}

	// A damaged tile is a fault.
	key := tileKey(logtree.TileID{Level: 0, Index: 1})
	d, err := store.db.Get(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	d[40] ^= 1
	if err := store.db.Put(key, d, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(store); err == nil || !strings.Contains(err.Error(), "tree tile 0/1") {
		t.Fatalf("verify of a damaged tile: %v", err)
	}
}
