// Package logtree keeps the RFC 6962 Merkle tree over a log's entry hashes
// (SPEC §10) as C2SP tlog-tiles: tiles of height 8, each holding up to 256
// hashes of one tree level, the unit a store writes and a tile server
// serves. It computes roots, inclusion proofs and consistency proofs from
// the tiles.
//
// The tree math is golang.org/x/mod/sumdb/tlog's, the Go checksum
// database's: leaf i is the entry hash of seq i+1, its leaf hash
// SHA-256(0x00 ‖ hash), an interior node SHA-256(0x01 ‖ left ‖ right); the
// proofs are RFC 6962 audit paths, which transparency-dev/merkle's
// verifiers accept (the tests check both).
//
// A Tree is not safe for concurrent use: one writer appends; readers use
// Reader, which reads committed tiles only.
package logtree

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Height is the tile height of C2SP tlog-tiles: 2^8 hashes per tile.
const Height = 8

// Hash is a tree hash.
type Hash = tlog.Hash

// TileID names a tile: its level (tree level Height×L) and index.
type TileID struct {
	Level int
	Index int64
}

// Tile is a tile to write: its id and its hashes (up to 256, each 32
// bytes); a partial tile is written again as it grows.
type Tile struct {
	TileID
	Data []byte
}

// Tiles reads stored tiles. ReadTile returns the widest version stored (a
// full tile, or the latest partial one), or an error wrapping
// ErrMissing.
type Tiles interface {
	ReadTile(id TileID) ([]byte, error)
}

// ErrMissing is what Tiles answer for a tile never written.
var ErrMissing = errors.New("logtree: tile missing")

// LeafHash is the leaf hash of an entry hash (RFC 6962: SHA-256(0x00 ‖ hash)).
func LeafHash(entryHash [32]byte) Hash { return tlog.RecordHash(entryHash[:]) }

// Tree appends entry hashes and says which tiles to write.
type Tree struct {
	size  int64
	tiles Tiles
	// edge holds, for each level, the newest tile the writer has stored
	// (written with the size Commit made current): the tree's right
	// edge, where every hash an append reads lies. Reads it misses go
	// to the stored tiles. next is what the last Append returned.
	edge, next map[int]Tile
	// recent holds the stored hashes numbered from recentBase up to the
	// tree's size, about the last recentKeep of them: an append reads
	// the left siblings of the subtrees it completes, all of them recent
	// but once in 2^14 leaves, and would otherwise recompute the interior
	// ones from a tile's bottom row. pending is the last Append's.
	recent, pending []Hash
	recentBase      int64
}

// recentKeep is about how many hashes Tree.recent keeps (1 MiB; the
// hashes of the last 2^14 leaves; twice that before it drops the oldest).
const recentKeep = 1 << 15

// New returns the tree of size hashes whose tiles are in tiles.
func New(size int64, tiles Tiles) *Tree {
	return &Tree{size: size, tiles: tiles, edge: map[int]Tile{}, next: map[int]Tile{},
		recentBase: tlog.StoredHashIndex(0, size)}
}

// Size is the number of leaves.
func (t *Tree) Size() int64 { return t.size }

// Append adds the entry hashes of the next entries and returns the tiles
// to write: each new full tile once, and the partial tile of every level
// that grew. Nothing changes until Commit: the caller writes the tiles
// with the entries, then commits. (Roots are read from the stored tiles:
// Root.)
func (t *Tree) Append(entryHashes [][32]byte) (tiles []Tile, err error) {
	// The hashes an append stores are numbered on from the stored ones
	// (tlog.StoredHashIndex), so the new ones are a slice from base.
	base := tlog.StoredHashIndex(0, t.size)
	pending := t.pending[:0]
	r := t.reader(base, &pending)
	n := t.size
	for _, h := range entryHashes {
		hs, err := tlog.StoredHashesForRecordHash(n, LeafHash(h), r)
		if err != nil {
			return nil, fmt.Errorf("logtree: leaf %d: %w", n, err)
		}
		pending = append(pending, hs...)
		n++
	}
	t.pending = pending
	clear(t.next)
	for _, id := range tlog.NewTiles(Height, t.size, n) {
		data, err := tlog.ReadTileData(id, r)
		if err != nil {
			return nil, fmt.Errorf("logtree: tile %v: %w", id.Path(), err)
		}
		tile := Tile{TileID: TileID{Level: id.L, Index: id.N}, Data: data}
		tiles = append(tiles, tile)
		if prev, ok := t.next[id.L]; !ok || prev.Index <= id.N {
			t.next[id.L] = tile
		}
	}
	return tiles, nil
}

// Commit makes size the tree's size once the tiles Append returned are
// stored.
func (t *Tree) Commit(size int64) {
	if base := tlog.StoredHashIndex(0, t.size); base == t.recentBase+int64(len(t.recent)) &&
		tlog.StoredHashIndex(0, size) == base+int64(len(t.pending)) {
		t.recent = append(t.recent, t.pending...)
		if len(t.recent) > 2*recentKeep {
			drop := len(t.recent) - recentKeep
			t.recent = t.recent[:copy(t.recent, t.recent[drop:])]
			t.recentBase += int64(drop)
		}
	} else { // not the size the last Append reached: start again
		t.recent, t.recentBase = nil, tlog.StoredHashIndex(0, size)
	}
	t.pending = t.pending[:0]
	t.size = size
	for l, tile := range t.next {
		t.edge[l] = tile
	}
	clear(t.next)
}

// reader reads stored hashes: those of pending (computed by this append,
// numbered from base) first, then those in the edge tiles, else from the
// stored tiles.
func (t *Tree) reader(base int64, pending *[]Hash) tlog.HashReader {
	stored := Reader(t.tiles)
	return tlog.HashReaderFunc(func(indexes []int64) ([]Hash, error) {
		out := make([]Hash, len(indexes))
		var rest []int64
		var at []int
		for i, x := range indexes {
			if x >= base {
				if j := x - base; j < int64(len(*pending)) {
					out[i] = (*pending)[j]
					continue
				}
				return nil, fmt.Errorf("logtree: hash %d read before it is computed", x)
			}
			if x >= t.recentBase {
				out[i] = t.recent[x-t.recentBase]
				continue
			}
			id := tlog.TileForIndex(Height, x)
			if e, ok := t.edge[id.L]; ok && e.Index == id.N && len(e.Data) >= id.W*tlog.HashSize {
				h, err := tlog.HashFromTile(id, e.Data, x)
				if err != nil {
					return nil, fmt.Errorf("logtree: %w", err)
				}
				out[i] = h
				continue
			}
			rest = append(rest, x)
			at = append(at, i)
		}
		if len(rest) > 0 {
			hs, err := stored.ReadHashes(rest)
			if err != nil {
				return nil, err
			}
			for j, i := range at {
				out[i] = hs[j]
			}
		}
		return out, nil
	})
}

// Reader reads stored hashes from tiles: a hash at any level is in the
// tile of its level's band, recomputed from the tile's bottom row (or kept
// in the Cache of a Tiles that is Cached).
func Reader(tiles Tiles) tlog.HashReader {
	var kept *Cache
	if c, ok := tiles.(Cached); ok {
		kept = c.TileCache()
	}
	return tlog.HashReaderFunc(func(indexes []int64) ([]Hash, error) {
		out := make([]Hash, len(indexes))
		cache := map[TileID][]byte{}
		for i, x := range indexes {
			id := tlog.TileForIndex(Height, x)
			if kept != nil {
				if h, ok := kept.lookup(id, x); ok {
					out[i] = h
					continue
				}
			}
			key := TileID{Level: id.L, Index: id.N}
			data, ok := cache[key]
			if !ok {
				var err error
				if data, err = tiles.ReadTile(key); err != nil {
					return nil, fmt.Errorf("logtree: tile %d/%d: %w", key.Level, key.Index, err)
				}
				cache[key] = data
			}
			if kept != nil {
				if h, ok := kept.keep(key, data).hash(id, x); ok {
					out[i] = h
					continue
				}
			}
			h, err := tlog.HashFromTile(id, data, x)
			if err != nil {
				return nil, fmt.Errorf("logtree: %w", err)
			}
			out[i] = h
		}
		return out, nil
	})
}

// Root is the root of the tree of size leaves (size ≤ the stored size).
func Root(tiles Tiles, size int64) (Hash, error) {
	if size == 0 {
		return Hash(emptyRoot), nil
	}
	return tlog.TreeHash(size, Reader(tiles))
}

// emptyRoot is RFC 6962's hash of the empty tree, SHA-256("").
var emptyRoot = [32]byte{0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}

// InclusionProof is the RFC 6962 audit path of leaf index in the tree of
// size leaves.
func InclusionProof(tiles Tiles, index, size int64) ([]Hash, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("logtree: leaf %d is not in a tree of size %d", index, size)
	}
	return tlog.ProveRecord(size, index, Reader(tiles))
}

// ConsistencyProof proves that the tree of size from is a prefix of the
// tree of size to (RFC 6962); empty when from is 0 or from = to.
func ConsistencyProof(tiles Tiles, from, to int64) ([]Hash, error) {
	if from < 0 || from > to {
		return nil, fmt.Errorf("logtree: no consistency proof from size %d to %d", from, to)
	}
	if from == 0 || from == to {
		return []Hash{}, nil
	}
	return tlog.ProveTree(to, from, Reader(tiles))
}

// VerifyInclusion checks that proof is the RFC 6962 audit path of the
// leaf with entry hash entryHash at index in the tree of size leaves
// whose root is root.
func VerifyInclusion(proof []Hash, index, size int64, entryHash [32]byte, root Hash) error {
	if index < 0 || index >= size {
		return fmt.Errorf("logtree: leaf %d is not in a tree of size %d", index, size)
	}
	return tlog.CheckRecord(tlog.RecordProof(proof), size, root, index, LeafHash(entryHash))
}
