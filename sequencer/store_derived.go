package sequencer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// The derived records of a LevelStore: tickets, lineages, plain txs,
// accepted requests, the lineage index and equivocation proofs, read one by
// one (RPC reads, the Cache's Backing) or all at once when a node starts
// (LoadCache) or the log is verified (LoadFullState, the index counts).
// Commit writes them with the entries that change them.

// derivedRecords reads the derived records (writes are LevelStore's); a
// LevelStore embeds it, and it is the Backing of the Cache LoadCache makes.
type derivedRecords struct {
	db *leveldb.DB
	// filter, on a writable LevelStore, points to its filter of ticket
	// and plain tx keys (keyfilter.go): a key it does not hold is not read.
	filter *atomic.Pointer[keyFilter]
}

var _ Backing = derivedRecords{}

// Ticket returns a stored ticket, or ErrNotFound.
func (s derivedRecords) Ticket(lineage, externalID string) (*Ticket, error) {
	k := ticketKeyBytes(lineage, externalID)
	if s.absent(k) {
		return nil, ErrNotFound
	}
	b, err := s.db.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read ticket: %w", err)
	}
	return decodeTicket(lineage, externalID, b)
}

// Lineage returns a stored lineage, or ErrNotFound.
func (s derivedRecords) Lineage(name string) (*Lineage, error) {
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
func (s derivedRecords) Plain(externalID string) (*PlainTx, error) {
	k := prefixed(pfxPlain, externalID)
	if s.absent(k) {
		return nil, ErrNotFound
	}
	b, err := s.db.Get(k, nil)
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

func (s derivedRecords) countLineages() (int, error) { return s.countPrefix(pfxLineage) }

// countPrefix counts the records whose key starts with p.
func (s derivedRecords) countPrefix(p byte) (int, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{p}), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		n++
	}
	return n, it.Error()
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
	return NewCache(st, s.derivedRecords, s.CacheRecords, true), nil
}

// LoadFullState reads every derived record into memory, for checks that
// compare the whole state (verify).
func (s derivedRecords) LoadFullState() (*State, error) {
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
func (s derivedRecords) loadLineages(st *State) ([]*Lineage, error) {
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

// EachLineage calls fn with every stored lineage, in name order, until fn
// returns false (the chain watcher finds the lineages it must watch).
func (s derivedRecords) EachLineage(fn func(*Lineage) bool) error {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxLineage}), nil)
	defer it.Release()
	for it.Next() {
		l, err := decodeLineage(string(it.Key()[1:]), it.Value())
		if err != nil {
			return err
		}
		if !fn(l) {
			break
		}
	}
	return it.Error()
}

// Requests returns the accepted signed requests (SPEC §4: used once).
func (s derivedRecords) Requests() ([]RequestRecord, error) {
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

// Equivocations returns every stored proof, by seq.
func (s derivedRecords) Equivocations() ([]Equivocation, error) {
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
func (s derivedRecords) HasIndex(lineage string, seq uint64) (bool, error) {
	return s.db.Has(binary.BigEndian.AppendUint64(indexPrefix(lineage), seq), nil)
}

// IndexCount counts the lineage index records (verify).
func (s derivedRecords) IndexCount() (uint64, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxIndex}), nil)
	defer it.Release()
	var n uint64
	for it.Next() {
		n++
	}
	return n, it.Error()
}
