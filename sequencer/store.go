package sequencer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/logtree"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
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
//	"c"                          a cluster voter: the last Raft index applied, index(8)
//	"k" level(1) index(8)        a tile of the Merkle tree (store_tree.go)
//	"g"                          the size the tiles cover
//	"p"                          the primary's latest checkpoint a replica holds (store_checkpoint.go)
//	"x" size(8) sha256(16)       a checkpoint equivocation proof (store_checkpoint.go)
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
	pfxApplied = 'c'
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
	// The primary's checkpoints a replica keeps (store_checkpoint.go).
	PutPrimaryCheckpoint(*Checkpoint) error
	PrimaryCheckpoint() (*Checkpoint, error)
	PutCheckpointProof(CheckpointProof) error
	CheckpointProofs() ([]CheckpointProof, error)
	// The Merkle tree over the entries (SPEC §10, store_tree.go).
	Root(size uint64) (logtree.Hash, error)
	ReadTile(id logtree.TileID) ([]byte, error)
	InclusionProof(seq, size uint64) ([]logtree.Hash, error)
	ConsistencyProof(from, to uint64) ([]logtree.Hash, error)
	Close() error
}

var _ Store = (*LevelStore)(nil)

// LevelStore is the Store on goleveldb.
type LevelStore struct {
	db *leveldb.DB
	derivedRecords
	// tiles keeps the interior hashes of the tree's upper tiles, which
	// every root and proof reads (logtree.Cached).
	tiles *logtree.Cache
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

	// tree is the Merkle tree over the entries (store_tree.go); nil on a
	// read-only store. Commit, the only writer, appends to it.
	tree *logtree.Tree
	// batch is Commit's, reused from group to group.
	batch *leveldb.Batch

	// The filter of ticket and plain tx keys (keyfilter.go): filterPtr
	// is the one in use (nil until built), building the one being built;
	// filterMu orders Commit's writes against a build's snapshot.
	filterPtr  atomic.Pointer[keyFilter]
	filterMu   sync.Mutex
	building   *keyFilter
	filterWG   sync.WaitGroup
	stopFilter chan struct{}
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

// Commit writes entries (which must continue the head) and the derived
// records they changed in one synced batch, then advances the head.
func (s *LevelStore) Commit(entries []*Entry, d Dirty) error {
	if len(entries) == 0 {
		return nil
	}
	// The batch is reused from group to group: Commit has one caller at
	// a time (the writer), and LevelDB keeps nothing of a batch once
	// Write returns.
	if s.batch == nil {
		s.batch = new(leveldb.Batch)
	}
	b := s.batch
	b.Reset()
	nh, grown, err := s.writeBatch(b, entries, d)
	if err != nil {
		return err
	}
	if grown != nil {
		s.buildFilter(2 * grown.added.Load())
	}
	if s.tree != nil {
		s.tree.Commit(int64(nh.Seq))
	}
	s.mu.Lock()
	s.head = nh
	s.mu.Unlock()
	s.lineageCount.Add(int64(d.NewLineages))
	return nil
}

// writeBatch fills b (commitBatch, and the tree's tiles) and writes it.
// Every ticket and plain tx key it writes goes into the key filters first,
// under filterMu with the write itself (keyfilter.go). grown is the filter
// in use when it has taken twice its capacity and no build is under way.
func (s *LevelStore) writeBatch(b *leveldb.Batch, entries []*Entry, d Dirty) (nh Head, grown *keyFilter, err error) {
	s.filterMu.Lock()
	defer s.filterMu.Unlock()
	cur, next := s.filterPtr.Load(), s.building
	var seen func([]byte)
	if cur != nil || next != nil {
		seen = func(k []byte) {
			if cur != nil {
				cur.add(k)
			}
			if next != nil {
				next.add(k)
			}
		}
	}
	nh, err = commitBatch(b, s.Head(), entries, d, seen)
	if err != nil {
		return nh, nil, err
	}
	if s.tree != nil {
		hashes := make([][32]byte, len(entries))
		for i, e := range entries {
			hashes[i] = e.Hash
		}
		tiles, err := s.tree.Append(hashes)
		if err != nil {
			return nh, nil, fmt.Errorf("commit entries %d..%d: %w", entries[0].Seq, nh.Seq, err)
		}
		putTree(b, tiles, nh.Seq)
	}
	if err := s.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return nh, nil, fmt.Errorf("commit entries %d..%d: %w", entries[0].Seq, nh.Seq, err)
	}
	if cur != nil && next == nil && cur.added.Load() > 2*cur.capacity {
		grown = cur
	}
	return nh, grown, nil
}

// commitBatch fills b with what appends entries (which must continue
// head) and writes the derived records of d, and returns the new head.
// seen, if not nil, is called with every ticket and plain tx key written.
func commitBatch(b *leveldb.Batch, head Head, entries []*Entry, d Dirty, seen func([]byte)) (Head, error) {
	var buf []byte
	for i, e := range entries {
		if e.Seq != head.Seq+1+uint64(i) {
			return head, fmt.Errorf("commit: logic error: entry %d after head %d", e.Seq, head.Seq+uint64(i))
		}
		var err error
		buf, err = e.AppendBinary(buf[:0])
		if err != nil {
			return head, err
		}
		b.Put(entryKey(e.Seq), buf)
		if e.Lineage != "" {
			b.Put(binary.BigEndian.AppendUint64(indexPrefix(e.Lineage), e.Seq), nil)
		}
	}
	for _, t := range d.Tickets {
		k := ticketKeyBytes(t.Lineage, t.ExternalID)
		if seen != nil {
			seen(k)
		}
		b.Put(k, encodeTicket(t))
	}
	for _, l := range d.Lineages {
		b.Put(prefixed(pfxLineage, l.Name), encodeLineage(l))
	}
	for id, p := range d.Plain {
		k := prefixed(pfxPlain, id)
		if seen != nil {
			seen(k)
		}
		b.Put(k, encodePlain(p))
	}
	for _, r := range d.Requests {
		b.Put(append([]byte{pfxRequest}, r.Hash[:]...), encodeRequest(r))
	}
	for _, h := range d.ExpiredRequests {
		b.Delete(append([]byte{pfxRequest}, h[:]...))
	}
	if d.Applied > 0 {
		b.Put([]byte{pfxApplied}, binary.BigEndian.AppendUint64(nil, d.Applied))
	}
	last := entries[len(entries)-1]
	nh := Head{Seq: last.Seq, Hash: last.Hash, Timestamp: last.Timestamp}
	hb := binary.BigEndian.AppendUint64(make([]byte, 0, 48), nh.Seq)
	hb = append(hb, nh.Hash[:]...)
	hb = binary.BigEndian.AppendUint64(hb, nh.Timestamp)
	b.Put([]byte{pfxHead}, hb)
	return nh, nil
}

// Applied is the last Raft index a cluster voter applied to this store
// (0 if none), written with the entries it produced.
func (s *LevelStore) Applied() (uint64, error) {
	b, err := s.db.Get([]byte{pfxApplied}, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read applied index: %w", err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: applied index record", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}

// PutApplied records idx as the last Raft index applied (synced), for a
// voter that reached it without writing entries (a snapshot it caught up
// to).
func (s *LevelStore) PutApplied(idx uint64) error {
	return s.db.Put([]byte{pfxApplied}, binary.BigEndian.AppendUint64(nil, idx), &opt.WriteOptions{Sync: true})
}

// PutRequests stores accepted signed requests (synced): a cluster voter
// that fetched entries from peers learns them from a snapshot.
func (s *LevelStore) PutRequests(recs []RequestRecord) error {
	b := new(leveldb.Batch)
	for _, r := range recs {
		b.Put(append([]byte{pfxRequest}, r.Hash[:]...), encodeRequest(r))
	}
	return s.db.Write(b, &opt.WriteOptions{Sync: true})
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
