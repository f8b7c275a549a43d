package sequencer

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// The lookup of an externalId never seen before (every leasing append, and
// every append without lineage that names one) would ask LevelDB for a key
// it does not hold, and LevelDB searches the index block of every table
// whose range holds the key before its bloom filter says no: 4% of a
// batched primary's CPU on a small log, 12.5% on a log of 10M entries. A
// writable LevelStore keeps its own bloom filter of every ticket and plain
// tx key instead, in memory, and asks LevelDB only when the filter says
// the key may be there.
//
// It must never say "absent" for a key the store holds (the node would
// lease a nonce twice). Only Commit writes these keys, and nothing deletes
// them. Commit adds its keys to the filters and writes its batch under
// filterMu; a build registers its filter and takes a LevelDB snapshot under
// the same lock, then adds every key of the snapshot outside it. So every
// key is in the snapshot or was added by a Commit after the registration,
// and the filter is used (filter) only once the scan is done. A filter
// that has taken twice the keys it was sized for is rebuilt, larger, the
// same way (the old one answers meanwhile, with more false positives).

// keyFilter is a bloom filter of byte keys that may be added to while read.
type keyFilter struct {
	words    []atomic.Uint64
	mask     uint64 // bits-1; bits is a power of two
	seed     maphash.Seed
	added    atomic.Int64 // keys added (an update of a key counts again)
	capacity int64        // keys it was sized for (10 bits each)
}

// filterProbes is the bits set per key (k for 10 bits a key: ~1% false
// positives at capacity).
const filterProbes = 7

// minFilterKeys is the smallest capacity a filter is made with (tests
// make it small).
var minFilterKeys atomic.Int64

func init() { minFilterKeys.Store(1 << 20) }

func newKeyFilter(capacity int64) *keyFilter {
	capacity = max(capacity, minFilterKeys.Load())
	n := max(uint64(1)<<bits.Len64(uint64(capacity*10)-1), 64) // bits, a power of two
	return &keyFilter{words: make([]atomic.Uint64, n/64), mask: n - 1, seed: maphash.MakeSeed(), capacity: capacity}
}

// probes calls f with the bit positions of key.
func (f *keyFilter) probes(key []byte, bit func(pos uint64) bool) bool {
	a := maphash.Bytes(f.seed, key)
	b := (a*0x9E3779B97F4A7C15 ^ a>>29) | 1
	for i := range uint64(filterProbes) {
		if !bit((a + i*b) & f.mask) {
			return false
		}
	}
	return true
}

func (f *keyFilter) add(key []byte) {
	f.probes(key, func(pos uint64) bool {
		f.words[pos>>6].Or(1 << (pos & 63))
		return true
	})
	f.added.Add(1)
}

// mayContain is false only for a key never added.
func (f *keyFilter) mayContain(key []byte) bool {
	return f.probes(key, func(pos uint64) bool { return f.words[pos>>6].Load()&(1<<(pos&63)) != 0 })
}

// absent reports whether the store's filter says key is not stored (false
// when there is no filter yet).
func (s derivedRecords) absent(key []byte) bool {
	if s.filter == nil {
		return false
	}
	f := s.filter.Load()
	return f != nil && !f.mayContain(key)
}

// buildFilter starts the build of a filter for capacity keys (see above),
// unless one is under way or the store is closing.
func (s *LevelStore) buildFilter(capacity int64) {
	f := newKeyFilter(capacity)
	s.filterMu.Lock()
	select {
	case <-s.stopFilter:
		s.filterMu.Unlock()
		return
	default:
	}
	if s.building != nil {
		// Two builds at once: the first to finish would clear building,
		// and the other miss the commits after that.
		s.filterMu.Unlock()
		return
	}
	snap, err := s.db.GetSnapshot()
	if err != nil {
		s.filterMu.Unlock()
		return // no filter: lookups ask LevelDB, as they would anyway
	}
	s.building = f
	s.filterWG.Add(1)
	s.filterMu.Unlock()
	go func() {
		defer s.filterWG.Done()
		defer snap.Release()
		if h := filterScanHook.Load(); h != nil {
			(*h)()
		}
		done := scanKeys(snap, f, s.stopFilter)
		s.filterMu.Lock()
		if done {
			s.filterPtr.Store(f)
		}
		s.building = nil
		s.filterMu.Unlock()
	}()
}

// filterScanHook, when set (tests), runs after a build's snapshot is taken
// and before its scan.
var filterScanHook atomic.Pointer[func()]

// scanKeys adds every ticket and plain tx key of snap to f; false if
// stopped (or the read failed) first.
func scanKeys(snap *leveldb.Snapshot, f *keyFilter, stop <-chan struct{}) bool {
	for _, p := range []byte{pfxTicket, pfxPlain} {
		it := snap.NewIterator(util.BytesPrefix([]byte{p}), nil)
		n := 0
		for it.Next() {
			f.add(it.Key())
			if n++; n%4096 == 0 {
				select {
				case <-stop:
					it.Release()
					return false
				default:
				}
			}
		}
		err := it.Error()
		it.Release()
		if err != nil {
			return false
		}
	}
	return true
}

// startFilter starts the first build of a writable store's filter, sized
// for twice the keys its log could hold today.
func (s *LevelStore) startFilter() {
	s.stopFilter = make(chan struct{})
	s.derivedRecords.filter = &s.filterPtr
	s.buildFilter(2 * int64(s.Head().Seq))
}

// stopFilterBuild stops a build under way and waits for it (Close); no
// build starts after it.
func (s *LevelStore) stopFilterBuild() {
	if s.stopFilter != nil {
		s.filterMu.Lock()
		close(s.stopFilter)
		s.filterMu.Unlock()
		s.filterWG.Wait()
	}
}
