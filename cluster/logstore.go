package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// raftStore is Raft's log and stable store on LevelDB, in its own
// directory of the datadir (the entries' store is another database: Raft
// compacts its log, the sequencer never does). Every write is synced:
// Raft counts a vote or an appended log as durable once the call returns.
//
// Keys: "l" index(8) → a Raft log; "s" key → a stable value.
type raftStore struct {
	db *leveldb.DB

	wmu   sync.Mutex     // StoreLogs' batch and buffer, reused
	batch *leveldb.Batch // nil, or one of at most maxKeptBatch bytes
	buf   []byte

	mu          sync.Mutex // first and last index, kept in memory
	first, last uint64
}

var (
	_ raft.LogStore    = (*raftStore)(nil)
	_ raft.StableStore = (*raftStore)(nil)
)

// errKeyNotFound is the error hashicorp/raft expects, by its text, for a
// stable key never set.
var errKeyNotFound = errors.New("not found")

var sync1 = &opt.WriteOptions{Sync: true}

func openRaftStore(dir string) (*raftStore, error) {
	// The log's records are groups of requests whose data is mostly
	// incompressible: snappy would cost CPU on every flush for nothing.
	db, err := leveldb.OpenFile(dir, &opt.Options{Compression: opt.NoCompression})
	if err != nil {
		return nil, fmt.Errorf("open raft store %s: %w", dir, err)
	}
	s := &raftStore{db: db}
	if err := s.loadBounds(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *raftStore) Close() error { return s.db.Close() }

func logKey(i uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'l'}, i) }

func (s *raftStore) loadBounds() error {
	it := s.db.NewIterator(util.BytesPrefix([]byte{'l'}), nil)
	defer it.Release()
	if it.First() {
		s.first = binary.BigEndian.Uint64(it.Key()[1:])
	}
	if it.Last() {
		s.last = binary.BigEndian.Uint64(it.Key()[1:])
	}
	return it.Error()
}

func (s *raftStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, nil
}

func (s *raftStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

func (s *raftStore) GetLog(index uint64, l *raft.Log) error {
	b, err := s.db.Get(logKey(index), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	return decodeLog(b, l)
}

func (s *raftStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// maxKeptBatch bounds the batch StoreLogs keeps for the next call.
const maxKeptBatch = 4 << 20

func (s *raftStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	// One batch of the right size and one encoding buffer, so that a
	// group's bytes are copied once into the batch (not regrown for each
	// record).
	size, widest := 0, 0
	for _, l := range logs {
		n := logSize(l)
		size += n + 9 + 16 // value, key, the batch's framing
		widest = max(widest, n)
	}
	// The batch and buffer are reused from call to call (a follower
	// catching up stores up to MaxAppendEntries groups at once: such a
	// batch is not kept).
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.batch
	if b == nil || size > maxKeptBatch {
		b = leveldb.MakeBatch(size)
	} else {
		b.Reset()
	}
	buf := s.buf[:0]
	if cap(buf) < widest {
		buf = make([]byte, 0, widest)
	}
	for _, l := range logs {
		buf = appendLog(buf[:0], l)
		b.Put(logKey(l.Index), buf)
	}
	if err := s.db.Write(b, sync1); err != nil {
		return err
	}
	if size <= maxKeptBatch {
		s.batch, s.buf = b, buf
	}
	s.mu.Lock()
	if s.first == 0 || logs[0].Index < s.first {
		s.first = logs[0].Index
	}
	s.last = max(s.last, logs[len(logs)-1].Index)
	s.mu.Unlock()
	return nil
}

func (s *raftStore) DeleteRange(lo, hi uint64) error {
	b := new(leveldb.Batch)
	it := s.db.NewIterator(&util.Range{Start: logKey(lo), Limit: logKey(hi + 1)}, nil)
	for it.Next() {
		b.Delete(append([]byte(nil), it.Key()...))
	}
	it.Release()
	if err := it.Error(); err != nil {
		return err
	}
	if err := s.db.Write(b, sync1); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.first, s.last = 0, 0
	return s.loadBounds()
}

func stableKey(k []byte) []byte { return append([]byte{'s'}, k...) }

func (s *raftStore) Set(k, v []byte) error { return s.db.Put(stableKey(k), v, sync1) }

func (s *raftStore) Get(k []byte) ([]byte, error) {
	v, err := s.db.Get(stableKey(k), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, errKeyNotFound
	}
	return v, err
}

func (s *raftStore) SetUint64(k []byte, v uint64) error {
	return s.Set(k, binary.BigEndian.AppendUint64(nil, v))
}

func (s *raftStore) GetUint64(k []byte) (uint64, error) {
	v, err := s.Get(k)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raft store: stable key %q holds %d bytes, not 8", k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// A Raft log on disk: index(8) term(8) type(1) appendedAt(8, Unix ns)
// len(data) uvarint, data, len(extensions) uvarint, extensions.
// logSize bounds the size of l's record.
func logSize(l *raft.Log) int {
	return 25 + 2*binary.MaxVarintLen64 + len(l.Data) + len(l.Extensions)
}

// appendLog appends l's record to b.
func appendLog(b []byte, l *raft.Log) []byte {
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	return append(b, l.Extensions...)
}

var errBadLog = errors.New("raft store: damaged log record")

func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 25 {
		return errBadLog
	}
	l.Index = binary.BigEndian.Uint64(b)
	l.Term = binary.BigEndian.Uint64(b[8:])
	l.Type = raft.LogType(b[16])
	if at := int64(binary.BigEndian.Uint64(b[17:])); at != 0 {
		l.AppendedAt = time.Unix(0, at)
	} else {
		l.AppendedAt = time.Time{}
	}
	rest := b[25:]
	var err error
	if l.Data, rest, err = takeBytes(rest); err != nil {
		return err
	}
	if l.Extensions, rest, err = takeBytes(rest); err != nil {
		return err
	}
	if len(rest) != 0 {
		return errBadLog
	}
	return nil
}

func takeBytes(b []byte) (v, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errBadLog
	}
	if n == 0 {
		return nil, b[k:], nil
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}
