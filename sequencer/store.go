package sequencer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/internal/durable"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Key layout of the LevelDB store (one keyspace, one-byte prefixes):
//
//	"m"                          Meta, JSON: format, primary, chainId, verifyingContract
//	"h"                          head: seq(8) hash(32) timestamp(8)
//	"e" seq(8)                   entry record (see Entry.MarshalBinary)
//	"i" lineage 0x00 seq(8)      index of a lineage's entries (empty value)
//	"t" lineage 0x00 externalId  ticket record
//	"n" lineage                  lineage record
//	"u" externalId               tx without lineage, by externalId: seq(8) dataHash(32)
//	"q" seq(8) hash(32)          equivocation proof: len(4) entry A, entry B (replicas)
//	"r" requestHash(32)          accepted signed request: seq(8) deadline(8) (until its deadline)
//
// Integers are big-endian so that keys sort by seq. A lineage never holds
// 0x00 (SPEC §4 limits it to [A-Za-z0-9:._/-]), so the separator is safe.
// Entries, head and every record they change are written in one synced batch.
const (
	pfxMeta    = 'm'
	pfxHead    = 'h'
	pfxEntry   = 'e'
	pfxIndex   = 'i'
	pfxTicket  = 't'
	pfxLineage = 'n'
	pfxPlain   = 'u'
	pfxEquiv   = 'q'
	pfxRequest = 'r'
)

// Head is the last entry of a log; Seq 0 means an empty log.
type Head struct {
	Seq       uint64
	Hash      common.Hash
	Timestamp uint64
}

// Meta names the log a datadir holds.
type Meta struct {
	Format            int            `json:"format"`
	Primary           common.Address `json:"primary"`
	ChainID           *big.Int       `json:"chainId"`
	VerifyingContract common.Address `json:"verifyingContract"`
}

// Domain returns the EIP-712 domain of the log.
func (m Meta) Domain() Domain {
	return Domain{ChainID: m.ChainID, VerifyingContract: m.VerifyingContract}
}

const metaFormat = 1

// Store is the durable log with its derived state.
type Store interface {
	Meta() (Meta, bool, error)
	PutMeta(Meta) error
	Head() Head
	Entry(seq uint64) (*Entry, error)
	Range(from uint64, limit int) ([]*Entry, error)
	LineageRange(lineage string, from uint64, limit int) ([]*Entry, error)
	Ticket(lineage, externalID string) (*Ticket, error)
	Lineage(name string) (*Lineage, error)
	Plain(externalID string) (*PlainTx, error)
	LineageCount() (int, error)
	Commit(entries []*Entry, d Dirty) error
	LoadCache() (*Cache, error)
	LoadFullState() (*State, error)
	PutEquivocation(Equivocation) error
	Equivocations() ([]Equivocation, error)
	Close() error
}

var _ Store = (*LevelStore)(nil)

// LevelStore is the Store on goleveldb.
type LevelStore struct {
	db *leveldb.DB
	// Recovered says what start-up dropped to open the store: a torn
	// journal tail, never acknowledged.
	Recovered string
	// Damaged says what the store lost that may have been acknowledged
	// (damage inside complete journal records, a log shorter than at its
	// last clean stop); Verify reports it as a fault.
	Damaged string
	// CacheRecords bounds the final tickets and plain txs that the Cache
	// LoadCache returns keeps in memory (DefaultCacheRecords if 0).
	CacheRecords int

	mu   sync.RWMutex
	head Head

	stor      storage.Storage
	ownStor   bool   // opened by OpenLevelStore: closed with the store
	dir       string // the LevelDB directory; "" in memory
	readOnly  bool
	closeOnce sync.Once
	closeErr  error

	lineageCount atomic.Int64
}

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
		err = probe.checkContiguous()
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
func (s *LevelStore) checkContiguous() error {
	head := s.Head().Seq
	it := s.db.NewIterator(&util.Range{Start: entryKey(1), Limit: []byte{pfxEntry + 1}}, nil)
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
	return newLevelStore(db)
}

func newLevelStore(db *leveldb.DB) (*LevelStore, error) {
	s := &LevelStore{db: db}
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

func entryKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pfxEntry}, seq)
}

func indexPrefix(lineage string) []byte {
	k := make([]byte, 0, 2+len(lineage)+8)
	k = append(k, pfxIndex)
	k = append(k, lineage...)
	return append(k, 0)
}

func ticketKeyBytes(lineage, externalID string) []byte {
	k := make([]byte, 0, 2+len(lineage)+len(externalID))
	k = append(k, pfxTicket)
	k = append(k, lineage...)
	k = append(k, 0)
	return append(k, externalID...)
}

func prefixed(p byte, s string) []byte {
	return append([]byte{p}, s...)
}

// Meta returns the stored meta record, if any.
func (s *LevelStore) Meta() (Meta, bool, error) {
	var m Meta
	b, err := s.db.Get([]byte{pfxMeta}, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read meta: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.ChainID == nil {
		return m, false, fmt.Errorf("%w: meta record", ErrCorrupt)
	}
	return m, true, nil
}

// PutMeta stores the meta record (synced).
func (s *LevelStore) PutMeta(m Meta) error {
	m.Format = metaFormat
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.db.Put([]byte{pfxMeta}, b, &opt.WriteOptions{Sync: true})
}

// Head returns the durable head.
func (s *LevelStore) Head() Head {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head
}

// Entry returns the entry at seq, or ErrNotFound.
func (s *LevelStore) Entry(seq uint64) (*Entry, error) {
	b, err := s.db.Get(entryKey(seq), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, fmt.Errorf("entry %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		if lerrors.IsCorrupted(err) {
			return nil, &DamagedError{Seq: seq, Err: err}
		}
		return nil, fmt.Errorf("read entry %d: %w", seq, err)
	}
	e := new(Entry)
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("entry %d: %w", seq, err)
	}
	if e.Seq != seq {
		return nil, fmt.Errorf("%w: key %d holds entry %d", ErrCorrupt, seq, e.Seq)
	}
	return e, nil
}

// Range returns up to limit consecutive entries from seq from.
func (s *LevelStore) Range(from uint64, limit int) ([]*Entry, error) {
	if from == 0 {
		from = 1
	}
	it := s.db.NewIterator(&util.Range{Start: entryKey(from), Limit: []byte{pfxEntry + 1}}, nil)
	defer it.Release()
	var out []*Entry
	want := from
	for len(out) < limit && it.Next() {
		e := new(Entry)
		if err := e.UnmarshalBinary(it.Value()); err != nil {
			return out, fmt.Errorf("entry %d: %w", want, err)
		}
		if e.Seq != want {
			return out, fmt.Errorf("%w: expected entry %d, found %d", ErrCorrupt, want, e.Seq)
		}
		out = append(out, e)
		want++
	}
	if err := it.Error(); err != nil {
		if !lerrors.IsCorrupted(err) {
			return out, err
		}
		// A damaged table block stops the iterator even where newer
		// records (entries fetched again, RewriteEntries) shadow it; point
		// reads find those first.
		for head := s.Head().Seq; len(out) < limit && want <= head; want++ {
			e, err := s.Entry(want)
			if err != nil {
				return out, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// DamagedError is a read of entry Seq that met damaged data in the store
// (bit rot in a table: a checksum mismatch); it is ErrCorrupt.
type DamagedError struct {
	Seq uint64
	Err error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%v: the store cannot read entry %d: %v", ErrCorrupt, e.Seq, e.Err)
}

func (e *DamagedError) Unwrap() error { return ErrCorrupt }

// RewriteEntries stores again entries whose records no longer read (bit
// rot), fetched from peers and checked by the caller (Mirror.Repair); the
// new records shadow the damaged ones. The head does not move.
func (s *LevelStore) RewriteEntries(es []*Entry) error {
	b := new(leveldb.Batch)
	head := s.Head().Seq
	for _, e := range es {
		if e.Seq == 0 || e.Seq > head {
			return fmt.Errorf("rewrite entry %d: past the head %d", e.Seq, head)
		}
		v, err := e.MarshalBinary()
		if err != nil {
			return err
		}
		b.Put(entryKey(e.Seq), v)
	}
	return s.db.Write(b, &opt.WriteOptions{Sync: true})
}

// LineageRange returns up to limit entries of one lineage with seq ≥ from.
func (s *LevelStore) LineageRange(lineage string, from uint64, limit int) ([]*Entry, error) {
	p := indexPrefix(lineage)
	start := binary.BigEndian.AppendUint64(append([]byte(nil), p...), from)
	it := s.db.NewIterator(&util.Range{Start: start, Limit: util.BytesPrefix(p).Limit}, nil)
	defer it.Release()
	var out []*Entry
	for len(out) < limit && it.Next() {
		k := it.Key()
		if len(k) != len(p)+8 {
			return out, fmt.Errorf("%w: index key of lineage %q", ErrCorrupt, lineage)
		}
		e, err := s.Entry(binary.BigEndian.Uint64(k[len(p):]))
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, it.Error()
}

// Ticket returns a stored ticket, or ErrNotFound.
func (s *LevelStore) Ticket(lineage, externalID string) (*Ticket, error) {
	b, err := s.db.Get(ticketKeyBytes(lineage, externalID), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read ticket: %w", err)
	}
	return decodeTicket(lineage, externalID, b)
}

// Lineage returns a stored lineage, or ErrNotFound.
func (s *LevelStore) Lineage(name string) (*Lineage, error) {
	b, err := s.db.Get(prefixed(pfxLineage, name), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read lineage: %w", err)
	}
	return decodeLineage(name, b)
}

// Plain returns the tx without lineage stored under externalID, or ErrNotFound.
func (s *LevelStore) Plain(externalID string) (*PlainTx, error) {
	b, err := s.db.Get(prefixed(pfxPlain, externalID), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read plain tx: %w", err)
	}
	p, err := decodePlain(externalID, b)
	return &p, err
}

// LineageCount is the number of lineage records: counted once at open,
// then kept by Commit (sequencer_info asks for it on every call).
func (s *LevelStore) LineageCount() (int, error) {
	return int(s.lineageCount.Load()), nil
}

func (s *LevelStore) countLineages() (int, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxLineage}), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		n++
	}
	return n, it.Error()
}

// Commit writes entries (which must continue the head) and the derived
// records they changed in one synced batch, then advances the head.
func (s *LevelStore) Commit(entries []*Entry, d Dirty) error {
	if len(entries) == 0 {
		return nil
	}
	b, nh, err := commitBatch(s.Head(), entries, d)
	if err != nil {
		return err
	}
	if err := s.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("commit entries %d..%d: %w", entries[0].Seq, nh.Seq, err)
	}
	s.mu.Lock()
	s.head = nh
	s.mu.Unlock()
	s.lineageCount.Add(int64(d.NewLineages))
	return nil
}

// commitBatch builds the batch that appends entries (which must continue
// head) and writes the derived records of d, and returns the new head.
func commitBatch(head Head, entries []*Entry, d Dirty) (*leveldb.Batch, Head, error) {
	b := leveldb.MakeBatch(batchSize(entries, d))
	var buf []byte
	for i, e := range entries {
		if e.Seq != head.Seq+1+uint64(i) {
			return nil, head, fmt.Errorf("commit: logic error: entry %d after head %d", e.Seq, head.Seq+uint64(i))
		}
		var err error
		buf, err = e.AppendBinary(buf[:0])
		if err != nil {
			return nil, head, err
		}
		b.Put(entryKey(e.Seq), buf)
		if e.Lineage != "" {
			b.Put(binary.BigEndian.AppendUint64(indexPrefix(e.Lineage), e.Seq), nil)
		}
	}
	for _, t := range d.Tickets {
		b.Put(ticketKeyBytes(t.Lineage, t.ExternalID), encodeTicket(t))
	}
	for _, l := range d.Lineages {
		b.Put(prefixed(pfxLineage, l.Name), encodeLineage(l))
	}
	for id, p := range d.Plain {
		b.Put(prefixed(pfxPlain, id), encodePlain(p))
	}
	for _, r := range d.Requests {
		b.Put(append([]byte{pfxRequest}, r.Hash[:]...), encodeRequest(r))
	}
	for _, h := range d.ExpiredRequests {
		b.Delete(append([]byte{pfxRequest}, h[:]...))
	}
	last := entries[len(entries)-1]
	nh := Head{Seq: last.Seq, Hash: last.Hash, Timestamp: last.Timestamp}
	hb := binary.BigEndian.AppendUint64(make([]byte, 0, 48), nh.Seq)
	hb = append(hb, nh.Hash[:]...)
	hb = binary.BigEndian.AppendUint64(hb, nh.Timestamp)
	b.Put([]byte{pfxHead}, hb)
	return b, nh, nil
}

// batchSize is the size of the batch Commit writes, so that it is made
// once: each record costs its key and value and at most 16 bytes of
// framing.
func batchSize(entries []*Entry, d Dirty) int {
	const rec = 16
	n := 2 * (rec + 48) // head
	for _, e := range entries {
		n += rec + 9 + e.BinarySize()
		if e.Lineage != "" {
			n += rec + 1 + len(e.Lineage) + 8
		}
	}
	for _, t := range d.Tickets {
		n += rec + 2 + len(t.Lineage) + len(t.ExternalID) + 1 + 8 + 8 + 8 + 64
	}
	for _, l := range d.Lineages {
		n += rec + 1 + len(l.Name) + 40 + 8*len(l.Released)
		for _, f := range l.InFlight {
			n += 18 + len(f.ExternalID)
		}
	}
	for id := range d.Plain {
		n += rec + 1 + len(id) + 40
	}
	n += len(d.Requests)*(rec+33+16) + len(d.ExpiredRequests)*(rec+33)
	return n
}

// LoadCache reads the derived state back lazily: every lineage and every
// leased ticket now, final tickets and plain txs on demand, through a Cache
// whose Backing is the store. Start-up costs the number of lineages and
// tickets in flight, not the length of the log.
func (s *LevelStore) LoadCache() (*Cache, error) {
	st := NewState()
	lineages, err := s.loadLineages(st)
	if err != nil {
		return nil, err
	}
	for _, l := range lineages {
		for _, f := range l.InFlight {
			t, err := s.Ticket(l.Name, f.ExternalID)
			if err != nil {
				return nil, fmt.Errorf("%w: lineage %q: leased ticket %q: %v", ErrCorrupt, l.Name, f.ExternalID, err)
			}
			if t.State != TicketLeased || t.Nonce != f.Nonce {
				return nil, fmt.Errorf("%w: lineage %q: ticket %q is %s at nonce %d, the lineage leases nonce %d to it",
					ErrCorrupt, l.Name, f.ExternalID, t.State, t.Nonce, f.Nonce)
			}
			st.restoreTicket(t)
		}
	}
	return NewCache(st, s, s.CacheRecords, true), nil
}

// LoadFullState reads every derived record into memory, for checks that
// compare the whole state (verify).
func (s *LevelStore) LoadFullState() (*State, error) {
	st := NewState()
	if _, err := s.loadLineages(st); err != nil {
		return nil, err
	}
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxTicket}), nil)
	for it.Next() {
		k := it.Key()[1:]
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			it.Release()
			return nil, fmt.Errorf("%w: ticket key", ErrCorrupt)
		}
		t, err := decodeTicket(string(k[:i]), string(k[i+1:]), it.Value())
		if err != nil {
			it.Release()
			return nil, err
		}
		st.restoreTicket(t)
	}
	it.Release()
	if err := it.Error(); err != nil {
		return nil, err
	}
	it = s.db.NewIterator(util.BytesPrefix([]byte{pfxPlain}), nil)
	for it.Next() {
		id := string(it.Key()[1:])
		p, err := decodePlain(id, it.Value())
		if err != nil {
			it.Release()
			return nil, err
		}
		st.restorePlain(id, p)
	}
	it.Release()
	return st, it.Error()
}

// loadLineages puts every stored lineage into st and returns them.
func (s *LevelStore) loadLineages(st *State) ([]*Lineage, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxLineage}), nil)
	defer it.Release()
	var out []*Lineage
	for it.Next() {
		name := string(it.Key()[1:])
		l, err := decodeLineage(name, it.Value())
		if err != nil {
			return nil, err
		}
		st.restoreLineage(l)
		out = append(out, l)
	}
	return out, it.Error()
}

// Close closes the database. A writable store on a directory whose log is
// whole records its head for the next open (see OpenLevelStore).
func (s *LevelStore) Close() error {
	s.closeOnce.Do(func() {
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

// PutEquivocation stores a proof durably.
func (s *LevelStore) PutEquivocation(p Equivocation) error {
	a, err := p.A.MarshalBinary()
	if err != nil {
		return err
	}
	b, err := p.B.MarshalBinary()
	if err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(a)+len(b)), uint32(len(a)))
	v = append(append(v, a...), b...)
	k := binary.BigEndian.AppendUint64([]byte{pfxEquiv}, p.A.Seq)
	k = append(k, p.B.Hash[:]...)
	return s.db.Put(k, v, &opt.WriteOptions{Sync: true})
}

// Equivocations returns every stored proof, by seq.
func (s *LevelStore) Equivocations() ([]Equivocation, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxEquiv}), nil)
	defer it.Release()
	var out []Equivocation
	for it.Next() {
		v := it.Value()
		if len(v) < 4 {
			return nil, fmt.Errorf("%w: equivocation record", ErrCorrupt)
		}
		n := uint64(binary.BigEndian.Uint32(v))
		if n > uint64(len(v)-4) {
			return nil, fmt.Errorf("%w: equivocation record", ErrCorrupt)
		}
		var p Equivocation
		p.A, p.B = new(Entry), new(Entry)
		if err := p.A.UnmarshalBinary(v[4 : 4+n]); err != nil {
			return nil, err
		}
		if err := p.B.UnmarshalBinary(v[4+n:]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, it.Error()
}

// HasIndex reports whether the lineage index holds seq (verify).
func (s *LevelStore) HasIndex(lineage string, seq uint64) (bool, error) {
	return s.db.Has(binary.BigEndian.AppendUint64(indexPrefix(lineage), seq), nil)
}

// IndexCount counts the lineage index records (verify).
func (s *LevelStore) IndexCount() (uint64, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxIndex}), nil)
	defer it.Release()
	var n uint64
	for it.Next() {
		n++
	}
	return n, it.Error()
}

// Requests returns the accepted signed requests (SPEC §4: used once).
func (s *LevelStore) Requests() ([]RequestRecord, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxRequest}), nil)
	defer it.Release()
	var out []RequestRecord
	for it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != 33 || len(v) != 16 {
			return nil, fmt.Errorf("%w: request record of %d/%d bytes", ErrCorrupt, len(k), len(v))
		}
		out = append(out, RequestRecord{RequestID: RequestID{Hash: common.BytesToHash(k[1:]), Deadline: binary.BigEndian.Uint64(v[8:])}, Seq: binary.BigEndian.Uint64(v)})
	}
	return out, it.Error()
}
