package sequencer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/internal/durable"
	"github.com/seqnode/sequencer/logtree"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Opening a LevelStore: LevelDB's options, the strict journal read and the
// recovery that tells a torn tail from damage, the clean-stop record, and
// Close, which writes that record.

// writeBuffer is LevelDB's memtable size, which is also when it moves to a
// new journal; the power-cut tests make it small to move often.
var writeBuffer = 32 * opt.MiB

func levelOptions(readOnly, strictJournal bool) *opt.Options {
	// Tuned for a log of tens of millions of entries on a CPU-bound node
	// (measured with 10M entries and 100k lineages: see the README):
	//   - no compression: entries are mostly hashes, signatures and
	//     transaction bytes, which snappy barely shrinks, while compaction
	//     spent a third of its CPU in it and every cache miss decoded;
	//   - 16 KiB blocks, 8 MiB tables and a 64 MiB block cache: index
	//     blocks a quarter the size, so that the index and filter blocks of
	//     every table (~30 MiB at 10M entries) stay cached; the lookups of
	//     new externalIds read only those;
	//   - a 40 MiB level 1 (then ×10): one level fewer at 10M entries;
	//   - no seek-triggered compactions: lookups of ids never seen miss
	//     every level by design, which would otherwise count as seeks.
	o := &opt.Options{
		Filter:                 filter.NewBloomFilter(10),
		Compression:            opt.NoCompression,
		BlockSize:              16 * opt.KiB,
		CompactionTableSize:    8 * opt.MiB,
		CompactionTotalSize:    40 * opt.MiB,
		DisableSeeksCompaction: true,
		WriteBuffer:            writeBuffer,
		BlockCacheCapacity:     64 * opt.MiB,
		ReadOnly:               readOnly,
	}
	if strictJournal {
		o.Strict = opt.DefaultStrict | opt.StrictJournal
	}
	return o
}

// OpenLevelStore opens (creating if needed) the store in dir and checks its
// tail: the head record must name the last stored entry.
//
// LevelDB's own recovery silently drops a damaged journal record and keeps
// the records after it, which could leave a log with a hole in it. So the
// journal is read strictly; if that fails, every journal is scanned
// (checkJournal) to tell a torn tail — a write cut short by a crash, never
// acknowledged — from damage inside complete records, and the log is
// inspected read-only: damage with entries after it (a hole) refuses the
// store, naming the first missing seq; otherwise the store opens at the
// consistent prefix, saying what was dropped in Recovered (a torn tail) or
// Damaged (records lost that may have been acknowledged: a fault).
//
// A clean Close records the head in a marker file outside the journal, so
// that a log found shorter than it at the next open is damage, not a torn
// tail (SPEC §5); a writable open removes the marker before any write.
func OpenLevelStore(dir string, readOnly bool) (*LevelStore, error) {
	if !readOnly {
		// LevelDB makes a missing directory with a plain mkdir; make it
		// here with its parents synced, so a new log survives a power cut.
		if err := durable.MkdirAll(durable.OS, dir, 0o755); err != nil {
			return nil, fmt.Errorf("open leveldb %s: %w", dir, err)
		}
	}
	stor, err := storage.OpenFile(dir, readOnly)
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another process: is a node already running on this datadir? (%v)", ErrInUse, dir, err)
		}
		return nil, fmt.Errorf("open leveldb %s: %w", dir, err)
	}
	s, err := openOn(stor, readOnly, dir)
	if err != nil {
		stor.Close()
		return nil, fmt.Errorf("open leveldb %s: %w", dir, err)
	}
	s.ownStor = true
	return s, nil
}

// OpenLevelStoreOn opens the store on a LevelDB storage, such as the
// power-cut storage of the tests; the caller closes stor after the store.
// If stor has a SyncDir() error method, new journals are made durable
// with it (see dirSyncStorage).
func OpenLevelStoreOn(stor storage.Storage, readOnly bool) (*LevelStore, error) {
	return openOn(stor, readOnly, "")
}

// dirSyncStorage syncs the directory once LevelDB has created a journal,
// before anything is written to it. goleveldb syncs the directory only
// with its manifest, which names a new journal later (once the memtable
// the journal replaces is flushed); until then an entry synced into the
// new journal would survive a power cut only on file systems that make a
// new file's name durable with its first fsync (ext4 and xfs do, POSIX
// does not promise it).
type dirSyncStorage struct {
	storage.Storage
	syncDir func() error
}

func (s dirSyncStorage) Create(fd storage.FileDesc) (storage.Writer, error) {
	w, err := s.Storage.Create(fd)
	if err != nil || fd.Type != storage.TypeJournal {
		return w, err
	}
	if err := s.syncDir(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sync the directory of a new journal: %w", err)
	}
	return w, nil
}

func openOn(stor storage.Storage, readOnly bool, dir string) (*LevelStore, error) {
	if !readOnly {
		if dir != "" {
			stor = dirSyncStorage{stor, func() error { return durable.OS.SyncDir(dir) }}
		} else if ds, ok := stor.(interface{ SyncDir() error }); ok {
			stor = dirSyncStorage{stor, ds.SyncDir}
		}
	}
	s, err := openJournaled(stor, readOnly)
	if err != nil {
		return nil, err
	}
	s.stor, s.dir, s.readOnly = stor, dir, readOnly
	if err := s.checkCleanStop(); err != nil {
		s.db.Close()
		return nil, err
	}
	if !readOnly {
		if err := s.openTree(); err != nil {
			s.db.Close()
			return nil, err
		}
		s.startFilter()
	}
	return s, nil
}

func openJournaled(stor storage.Storage, readOnly bool) (*LevelStore, error) {
	db, err := leveldb.Open(stor, levelOptions(readOnly, true))
	if err == nil {
		return newLevelStore(db)
	}
	if !lerrors.IsCorrupted(err) {
		return nil, err
	}
	strictErr := err
	journals, err := checkJournals(stor)
	if err != nil {
		return nil, fmt.Errorf("%v; scanning the journal: %w", strictErr, err)
	}
	var torn, damage []string
	for _, j := range journals {
		if j.torn != "" {
			torn = append(torn, fmt.Sprintf("journal %06d %s after %d whole records", j.num, j.torn, j.records))
		}
		if j.damage != "" {
			damage = append(damage, fmt.Sprintf("journal %06d: %s", j.num, j.damage))
		}
	}
	if len(torn) == 0 && len(damage) == 0 {
		damage = append(damage, strictErr.Error())
	}
	ro, err := leveldb.Open(stor, levelOptions(true, false))
	if err != nil {
		return nil, strictErr
	}
	probe, err := newLevelStore(ro)
	if err == nil {
		err = checkContiguous(ro, probe.Head().Seq)
		probe.db.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the journal is damaged (%v) and the log without the damaged records is not whole (%v): refusing to open it; restore this node from a replica", ErrCorrupt, strictErr, err)
	}
	db, err = leveldb.Open(stor, levelOptions(readOnly, false))
	if err != nil {
		return nil, err
	}
	s, err := newLevelStore(db)
	if err != nil {
		return nil, err
	}
	if len(torn) > 0 {
		s.Recovered = fmt.Sprintf("dropped a torn journal tail, a write cut short that was never acknowledged (%s); the log ends at seq %d", strings.Join(torn, "; "), s.Head().Seq)
	}
	if len(damage) > 0 {
		s.Damaged = fmt.Sprintf("the journal lost complete records, which may have been acknowledged (%s); the log ends at seq %d", strings.Join(damage, "; "), s.Head().Seq)
	}
	return s, nil
}

// cleanStopFile, in the LevelDB directory, holds the head at the last
// clean stop: "seq hash\n".
const cleanStopFile = "CLEAN-STOP"

func (s *LevelStore) checkCleanStop() error {
	if s.dir == "" {
		return nil
	}
	path := filepath.Join(s.dir, cleanStopFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var seq uint64
	var hash string
	head := s.Head()
	if _, err := fmt.Sscanf(string(b), "%d %s", &seq, &hash); err != nil {
		s.addDamage(fmt.Sprintf("clean-stop record %s is unreadable (%q)", path, b))
	} else if seq > head.Seq {
		s.addDamage(fmt.Sprintf("the node stopped cleanly at seq %d (hash %s) but the log now ends at seq %d: entries were lost after the stop", seq, hash, head.Seq))
	} else if seq > 0 {
		// The log may be longer: a write whose fsync reported an error
		// can still have reached the disk, never acknowledged. The entry
		// at the recorded head must be the one recorded.
		e, err := s.Entry(seq)
		if err != nil {
			s.addDamage(fmt.Sprintf("the node stopped cleanly at seq %d (hash %s) but that entry is unreadable now: %v", seq, hash, err))
		} else if !strings.EqualFold(hash, e.Hash.Hex()) {
			s.addDamage(fmt.Sprintf("the node stopped cleanly at seq %d (hash %s) but the log now holds entry hash %s there: the log was changed after the stop", seq, hash, e.Hash.Hex()))
		}
	}
	if s.readOnly {
		return nil
	}
	// Writes follow: the record no longer describes the log.
	if err := durable.Remove(durable.OS, path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

func (s *LevelStore) addDamage(d string) {
	if s.Damaged != "" {
		s.Damaged += "; "
	}
	s.Damaged += d
}

// checkContiguous checks that entries 1..head are all stored (keys only).
func checkContiguous(db *leveldb.DB, head uint64) error {
	it := db.NewIterator(&util.Range{Start: entryKey(1), Limit: []byte{pfxEntry + 1}}, nil)
	defer it.Release()
	want := uint64(1)
	for it.Next() {
		k := it.Key()
		if len(k) != 9 {
			return fmt.Errorf("entry key of %d bytes", len(k))
		}
		if got := binary.BigEndian.Uint64(k[1:]); got != want {
			return fmt.Errorf("entry %d missing (next stored is %d)", want, got)
		}
		want++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if want-1 != head {
		return fmt.Errorf("entries end at %d, head is %d", want-1, head)
	}
	return nil
}

// OpenMemStore opens a store that lives in memory only: the in-memory twin
// for tests that do not care about the disk.
func OpenMemStore() (*LevelStore, error) {
	db, err := leveldb.Open(storage.NewMemStorage(), levelOptions(false, true))
	if err != nil {
		return nil, err
	}
	s, err := newLevelStore(db)
	if err != nil {
		return nil, err
	}
	s.startFilter()
	return s, nil
}

func newLevelStore(db *leveldb.DB) (*LevelStore, error) {
	s := &LevelStore{db: db, derivedRecords: derivedRecords{db: db}, tiles: logtree.NewCache(logtree.DefaultCacheTiles, logtree.DefaultCacheLeafTiles)}
	if err := s.loadHead(); err != nil {
		db.Close()
		return nil, err
	}
	n, err := s.countLineages()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("count lineages: %w", err)
	}
	s.lineageCount.Store(int64(n))
	return s, nil
}

func (s *LevelStore) loadHead() error {
	b, err := s.db.Get([]byte{pfxHead}, nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		if _, err := s.db.Get(entryKey(1), nil); err == nil {
			return fmt.Errorf("%w: entries stored but no head record", ErrCorrupt)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read head: %w", err)
	case len(b) != 48:
		return fmt.Errorf("%w: head record of %d bytes", ErrCorrupt, len(b))
	}
	h := Head{Seq: binary.BigEndian.Uint64(b), Hash: common.BytesToHash(b[8:40]), Timestamp: binary.BigEndian.Uint64(b[40:])}
	if h.Seq > 0 {
		e, err := s.Entry(h.Seq)
		if err != nil {
			return fmt.Errorf("%w: head seq %d: %v", ErrCorrupt, h.Seq, err)
		}
		if e.Hash != h.Hash || e.Timestamp != h.Timestamp {
			return fmt.Errorf("%w: head record does not match entry %d", ErrCorrupt, h.Seq)
		}
	}
	if ok, _ := s.db.Has(entryKey(h.Seq+1), nil); ok {
		return fmt.Errorf("%w: entry %d stored past head %d", ErrCorrupt, h.Seq+1, h.Seq)
	}
	s.head = h
	return nil
}

// Close closes the database. A writable store on a directory whose log is
// whole records its head for the next open (see OpenLevelStore).
func (s *LevelStore) Close() error {
	s.closeOnce.Do(func() {
		s.stopFilterBuild()
		s.closeErr = s.db.Close()
		if s.closeErr == nil && !s.readOnly && s.dir != "" && s.Damaged == "" {
			h := s.Head()
			s.closeErr = durable.WriteFile(durable.OS, filepath.Join(s.dir, cleanStopFile), []byte(fmt.Sprintf("%d %s\n", h.Seq, h.Hash.Hex())), 0o600)
		}
		if s.ownStor {
			if err := s.stor.Close(); s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}
