package sequencer

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/seqnode/sequencer/logtree"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// The RFC 6962 tree over the entry hashes (SPEC §10) is kept as tiles
// (package logtree) next to the entries:
//
//	"k" level(1) index(8)        a tile: up to 256 hashes of 32 bytes (a partial tile grows)
//	"g"                          the tree's size: the head seq once the tiles cover the log
//
// The tiles of a group and the tree size are written in the group's synced
// batch, so the tree always covers exactly the durable entries. A store
// written before the tree existed gets its tiles when it is next opened
// for writing (backfill).
const (
	pfxTile     = 'k'
	pfxTreeSize = 'g'
)

func tileKey(id logtree.TileID) []byte {
	b := append(make([]byte, 0, 10), pfxTile, byte(id.Level))
	return binary.BigEndian.AppendUint64(b, uint64(id.Index))
}

// ReadTile reads a stored tile (logtree.Tiles).
func (s derivedRecords) ReadTile(id logtree.TileID) ([]byte, error) {
	if id.Level < 0 || id.Level > 255 || id.Index < 0 {
		return nil, fmt.Errorf("tile %d/%d: %w", id.Level, id.Index, logtree.ErrMissing)
	}
	b, err := s.db.Get(tileKey(id), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, fmt.Errorf("tile %d/%d: %w", id.Level, id.Index, logtree.ErrMissing)
	}
	return b, err
}

// treeSize is the size the stored tiles cover; ok false for a store that
// has none yet.
func (s derivedRecords) treeSize() (size uint64, ok bool, err error) {
	b, err := s.db.Get([]byte{pfxTreeSize}, nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case len(b) != 8:
		return 0, false, fmt.Errorf("%w: tree size record of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), true, nil
}

// putTree adds tiles and the tree's new size to a batch.
func putTree(b *leveldb.Batch, tiles []logtree.Tile, size uint64) {
	for _, t := range tiles {
		b.Put(tileKey(t.TileID), t.Data)
	}
	b.Put([]byte{pfxTreeSize}, binary.BigEndian.AppendUint64(nil, size))
}

// openTree loads the tree of a store opened for writing, first building
// the tiles of a log written before they existed, in synced chunks.
func (s *LevelStore) openTree() error {
	size, ok, err := s.treeSize()
	if err != nil {
		return fmt.Errorf("tree: %w", err)
	}
	head := s.Head().Seq
	if ok && size > head {
		return fmt.Errorf("%w: the tree covers %d entries, the log holds %d", ErrCorrupt, size, head)
	}
	s.tree = logtree.New(int64(size), s)
	const chunk = 4096
	for from := size + 1; from <= head; {
		es, err := s.Range(from, chunk)
		if err != nil {
			return fmt.Errorf("tree: read entries from %d: %w", from, err)
		}
		if len(es) == 0 {
			return fmt.Errorf("%w: entry %d missing below the head %d", ErrCorrupt, from, head)
		}
		hashes := make([][32]byte, len(es))
		for i, e := range es {
			hashes[i] = e.Hash
		}
		tiles, err := s.tree.Append(hashes)
		if err != nil {
			return err
		}
		b := new(leveldb.Batch)
		to := from + uint64(len(es)) - 1
		putTree(b, tiles, to)
		if err := s.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
			return fmt.Errorf("tree: write tiles to %d: %w", to, err)
		}
		s.tree.Commit(int64(to))
		from = to + 1
	}
	return nil
}

// TileCache is the store's cache of upper tiles (logtree.Cached).
func (s *LevelStore) TileCache() *logtree.Cache { return s.tiles }

// Root is the tree root over entries 1..size (size ≤ the head).
func (s *LevelStore) Root(size uint64) (logtree.Hash, error) {
	if size > s.Head().Seq {
		return logtree.Hash{}, fmt.Errorf("%w: size %d is past the head %d", ErrNotFound, size, s.Head().Seq)
	}
	return logtree.Root(s, int64(size))
}

// InclusionProof is the RFC 6962 audit path of entry seq (leaf seq−1) in
// the tree of the first size entries (SPEC §10).
func (s *LevelStore) InclusionProof(seq, size uint64) ([]logtree.Hash, error) {
	if err := s.checkSize(size); err != nil {
		return nil, err
	}
	if seq == 0 || seq > size {
		return nil, fmt.Errorf("%w: seq %d is not in the tree of size %d", ErrInvalidParams, seq, size)
	}
	return logtree.InclusionProof(s, int64(seq-1), int64(size))
}

// ConsistencyProof proves that the tree of size from is a prefix of the
// tree of size to (SPEC §10).
func (s *LevelStore) ConsistencyProof(from, to uint64) ([]logtree.Hash, error) {
	if err := s.checkSize(to); err != nil {
		return nil, err
	}
	if from > to {
		return nil, fmt.Errorf("%w: from %d is above to %d", ErrInvalidParams, from, to)
	}
	return logtree.ConsistencyProof(s, int64(from), int64(to))
}

func (s *LevelStore) checkSize(size uint64) error {
	if h := s.Head().Seq; size == 0 || size > h {
		return fmt.Errorf("%w: size %d: the log holds %d entries", ErrInvalidParams, size, h)
	}
	if s.tree == nil { // read-only: the tiles must cover it
		if n, ok, err := s.treeSize(); err != nil || !ok || n < size {
			return fmt.Errorf("%w: the tree's tiles cover %d entries", ErrNotFound, n)
		}
	}
	return nil
}
