package logtree

import (
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Cache keeps tile hashes a proof would otherwise recompute: a hash k rows
// above a tile's bottom row costs 2^k − 1 SHA-256 from the bottom row, and
// a proof needs one at every height, about 250 hashes per tile it crosses.
//
//   - Upper tiles (level 1 and up; at 10M leaves 154 of them, read by every
//     proof): every row, so that a proof reads them from memory.
//   - Level-0 tiles (one per 256 entries, read at random): only the top
//     rows (heights 5 to 7: 14 hashes, 448 bytes a tile), which cost 224
//     of the 250 hashes; the lower rows are recomputed from the tile
//     (26 hashes).
//
// A tile only grows and a hash in it never changes, so the widest version
// read answers for every hash it holds. Each tier is bounded, the oldest
// going first. A Tiles that has a Cache says so by implementing Cached.
type Cache struct {
	mu           sync.RWMutex
	upper, lower tier
}

type tier struct {
	m     map[TileID]*tileTree
	order []TileID // insertion order: the oldest goes first at the bound
	max   int
	low   int // the lowest row kept
}

// Cached is implemented by a Tiles whose hashes are kept in a Cache.
type Cached interface {
	TileCache() *Cache
}

const (
	// DefaultCacheTiles bounds the upper tier: 16 KiB a tile, every upper
	// tile of a log of 256M entries.
	DefaultCacheTiles = 1024
	// DefaultCacheLeafTiles bounds the level-0 tier: 448 bytes a tile,
	// 29 MiB for every level-0 tile of a log of 16.7M entries.
	DefaultCacheLeafTiles = 1 << 16
	lowerRow              = 5
)

// NewCache returns a cache of at most upper tiles of level 1 and up and
// leaf tiles of level 0.
func NewCache(upper, leaf int) *Cache {
	return &Cache{upper: tier{m: map[TileID]*tileTree{}, max: upper},
		lower: tier{m: map[TileID]*tileTree{}, max: leaf, low: lowerRow}}
}

func (c *Cache) tier(level int) *tier {
	if level == 0 {
		return &c.lower
	}
	return &c.upper
}

// tileTree holds the complete subtree hashes of one tile from row low up:
// rows[k] are the hashes at height k above the tile's bottom row; width is
// the tile's width when read.
type tileTree struct {
	rows  [Height][]Hash
	width int
}

func newTileTree(data []byte, low int) *tileTree {
	t := &tileTree{width: len(data) / 32}
	row := make([]Hash, t.width)
	for i := range row {
		copy(row[i][:], data[32*i:])
	}
	for k := 0; k < Height; k++ {
		if k > 0 {
			prev := row
			row = make([]Hash, len(prev)/2)
			for i := range row {
				row[i] = tlog.NodeHash(prev[2*i], prev[2*i+1])
			}
		}
		if k >= low {
			t.rows[k] = row
		}
	}
	return t
}

// lookup is the hash at index x of tile id if a kept version holds it.
func (c *Cache) lookup(id tlog.Tile, x int64) (Hash, bool) {
	c.mu.RLock()
	t, ok := c.tier(id.L).m[TileID{Level: id.L, Index: id.N}]
	c.mu.RUnlock()
	if !ok {
		return Hash{}, false
	}
	return t.hash(id, x)
}

// keep computes the kept rows of tile key from data (as read) and keeps
// them unless a version at least as wide is kept.
func (c *Cache) keep(key TileID, data []byte) *tileTree {
	c.mu.RLock()
	tr := c.tier(key.Level)
	old, ok := tr.m[key]
	c.mu.RUnlock()
	if ok && old.width >= len(data)/32 {
		return old
	}
	t := newTileTree(data, tr.low)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := tr.m[key]; ok {
		if old.width < t.width {
			tr.m[key] = t
		}
		return tr.m[key]
	}
	for len(tr.m) >= tr.max && len(tr.order) > 0 {
		delete(tr.m, tr.order[0])
		tr.order = tr.order[1:]
	}
	tr.m[key] = t
	tr.order = append(tr.order, key)
	return t
}

// hash is the stored hash at index x, which tile id holds, if kept.
func (t *tileTree) hash(id tlog.Tile, x int64) (Hash, bool) {
	level, n := tlog.SplitStoredHashIndex(x)
	k := level - id.L*Height
	if k < 0 || k >= Height {
		return Hash{}, false
	}
	i := n - id.N<<(Height-k)
	row := t.rows[k]
	if i < 0 || i >= int64(len(row)) {
		return Hash{}, false
	}
	return row[i], true
}
