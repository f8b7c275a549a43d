package logtree

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// memTiles is a tile store in memory, keeping every version written (the
// widest is read) so that the test can also check that a partial tile
// only ever grows.
type memTiles struct{ m map[TileID][]byte }

func (s *memTiles) ReadTile(id TileID) ([]byte, error) {
	d, ok := s.m[id]
	if !ok {
		return nil, fmt.Errorf("%d/%d: %w", id.Level, id.Index, ErrMissing)
	}
	return d, nil
}

func (s *memTiles) write(t *testing.T, tiles []Tile) {
	t.Helper()
	for _, x := range tiles {
		if old, ok := s.m[x.TileID]; ok && (len(x.Data) < len(old) || !bytes.Equal(x.Data[:len(old)], old)) {
			t.Fatalf("tile %d/%d rewritten: %d bytes, was %d (a tile only grows)", x.Level, x.Index, len(x.Data), len(old))
		}
		if len(x.Data) == 0 || len(x.Data)%32 != 0 || len(x.Data) > 256*32 {
			t.Fatalf("tile %d/%d has %d bytes", x.Level, x.Index, len(x.Data))
		}
		s.m[x.TileID] = x.Data
	}
}

// entryHash stands for the entry hash of seq i+1.
func entryHash(i int64) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "entry %d", i)) }

// TestTreeAgainstReferences grows a tree in random groups and checks,
// against transparency-dev/merkle (an independent implementation of RFC
// 6962): the root after each group (compact ranges), the root of random
// earlier sizes, inclusion proofs of random leaves in random sizes, and
// consistency proofs between random sizes, all verified by its verifiers;
// and that golang.org/x/mod/sumdb/tlog's tile reader, which checks every
// tile against the tree's root, reads our tiles.
func TestTreeAgainstReferences(t *testing.T) {
	total := int64(100_000)
	if testing.Short() {
		total = 3_000
	}
	r := rand.New(rand.NewPCG(1, 2))
	store := &memTiles{m: map[TileID][]byte{}}
	tree := New(0, store)
	hasher := rfc6962.DefaultHasher
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	ref := rf.NewEmptyRange(0)
	roots := []Hash{Hash(emptyRoot)} // roots[n]: the reference root of size n
	for tree.Size() < total {
		k := 1 + r.Int64N(700)
		if r.IntN(4) == 0 {
			k = 1 + r.Int64N(3)
		}
		k = min(k, total-tree.Size())
		var hs [][32]byte
		for i := range k {
			h := entryHash(tree.Size() + i)
			hs = append(hs, h)
			if err := ref.Append(hasher.HashLeaf(h[:]), nil); err != nil {
				t.Fatal(err)
			}
			root, err := ref.GetRootHash(nil)
			if err != nil {
				t.Fatal(err)
			}
			roots = append(roots, Hash(root))
		}
		tiles, err := tree.Append(hs)
		if err != nil {
			t.Fatal(err)
		}
		size := tree.Size() + k
		store.write(t, tiles)
		tree.Commit(size)
		if root, err := Root(store, size); err != nil || root != roots[size] {
			t.Fatalf("size %d: root %x (%v), reference %x", size, root, err, roots[size])
		}
	}
	n := tree.Size()
	for range 300 {
		size := 1 + r.Int64N(n)
		if got, err := Root(store, size); err != nil || got != roots[size] {
			t.Fatalf("Root(%d) = %x, %v; reference %x", size, got, err, roots[size])
		}
		index := r.Int64N(size)
		p, err := InclusionProof(store, index, size)
		if err != nil {
			t.Fatal(err)
		}
		h := entryHash(index)
		if err := proof.VerifyInclusion(hasher, uint64(index), uint64(size), hasher.HashLeaf(h[:]), toBytes(p), roots[size][:]); err != nil {
			t.Fatalf("inclusion of %d in %d: %v", index, size, err)
		}
		from := r.Int64N(size + 1)
		c, err := ConsistencyProof(store, from, size)
		if err != nil {
			t.Fatal(err)
		}
		if from > 0 {
			if err := proof.VerifyConsistency(hasher, uint64(from), uint64(size), toBytes(c), roots[from][:], roots[size][:]); err != nil {
				t.Fatalf("consistency %d → %d: %v", from, size, err)
			}
		}
	}
	// A wrong leaf or root does not verify.
	p, _ := InclusionProof(store, 5, n)
	other := entryHash(6)
	if proof.VerifyInclusion(hasher, 5, uint64(n), hasher.HashLeaf(other[:]), toBytes(p), roots[n][:]) == nil {
		t.Fatal("an inclusion proof verified another leaf")
	}

	// sumdb's tile reader authenticates every tile it reads against the
	// root: it reads ours.
	tr := tlog.TileHashReader(tlog.Tree{N: n, Hash: roots[n]}, &sumdbTiles{store})
	if got, err := tlog.TreeHash(n, tr); err != nil || got != roots[n] {
		t.Fatalf("sumdb TreeHash through our tiles: %x, %v", got, err)
	}
	for range 20 {
		i := r.Int64N(n)
		rp, err := tlog.ProveRecord(n, i, tr)
		if err != nil {
			t.Fatal(err)
		}
		h := entryHash(i)
		if err := tlog.CheckRecord(rp, n, roots[n], i, tlog.RecordHash(h[:])); err != nil {
			t.Fatalf("sumdb record proof of %d: %v", i, err)
		}
	}
	// And it notices a damaged tile (leaf 771 is in tile 0/3): the checks
	// above can fail.
	d := store.m[TileID{Level: 0, Index: 3}]
	d[3*32] ^= 1
	if _, err := tlog.ProveRecord(n, 771, tlog.TileHashReader(tlog.Tree{N: n, Hash: roots[n]}, &sumdbTiles{store})); err == nil {
		t.Fatal("sumdb's reader accepted a damaged tile")
	}
	if p, err := InclusionProof(store, 772, n); err == nil {
		h := entryHash(772) // its audit path starts with the damaged leaf hash
		if proof.VerifyInclusion(hasher, 772, uint64(n), hasher.HashLeaf(h[:]), toBytes(p), roots[n][:]) == nil {
			t.Fatal("an inclusion proof through a damaged tile verified")
		}
	}
	t.Logf("%d leaves, %d tiles", n, len(store.m))
}

// TestTreeRestart: a tree reopened at its stored size goes on exactly as
// one that never stopped.
func TestTreeRestart(t *testing.T) {
	store := &memTiles{m: map[TileID][]byte{}}
	tree := New(0, store)
	var all [][32]byte
	for i := range int64(1000) {
		all = append(all, entryHash(i))
	}
	tiles, err := tree.Append(all[:613])
	if err != nil {
		t.Fatal(err)
	}
	store.write(t, tiles)
	again := New(613, store)
	tiles, err = again.Append(all[613:])
	if err != nil {
		t.Fatal(err)
	}
	store.write(t, tiles)
	root, err := Root(store, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ref := &memTiles{m: map[TileID][]byte{}}
	tiles, err = New(0, ref).Append(all)
	if err != nil {
		t.Fatal(err)
	}
	ref.write(t, tiles)
	if want, err := Root(ref, 1000); err != nil || root != want {
		t.Fatalf("after a restart root %x, in one go %x (%v)", root, want, err)
	}
	if _, err := Root(store, 1001); err == nil {
		t.Fatal("a root past the stored size was computed")
	}
	if _, err := InclusionProof(store, 1000, 1000); err == nil {
		t.Fatal("an inclusion proof of a leaf outside the tree")
	}
	if _, err := ConsistencyProof(store, 10, 5); err == nil {
		t.Fatal("a consistency proof from a larger size")
	}
}

func toBytes(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// sumdbTiles serves our tiles to sumdb's tile reader.
type sumdbTiles struct{ s *memTiles }

func (s *sumdbTiles) Height() int { return Height }

func (s *sumdbTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d, err := s.s.ReadTile(TileID{Level: t.L, Index: t.N})
		if err != nil {
			return nil, err
		}
		if len(d) < t.W*32 {
			return nil, fmt.Errorf("tile %s: %d bytes, want %d", t.Path(), len(d), t.W*32)
		}
		out[i] = d[:t.W*32]
	}
	return out, nil
}

func (s *sumdbTiles) SaveTiles([]tlog.Tile, [][]byte) {}
