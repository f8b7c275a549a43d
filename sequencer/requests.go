package sequencer

import (
	"container/heap"
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// A signed request is used once (SPEC §4): the node remembers every signed
// request that wrote an entry, by its EIP-712 hash, until its deadline has
// passed; the same request again is answered with the entry it wrote
// (existing), even if the ticket has moved on since, so a captured signed
// release cannot release a later lease. The records are written in the
// same synced batch as the entry and loaded at start. They live on the
// node that accepted the request: entries carry no request signature, so a
// replica cannot derive them (the cluster will replicate them, SPEC §8).

// RequestID names a signed request: its EIP-712 hash and its deadline
// (Unix seconds). The zero RequestID is an unsigned request.
type RequestID struct {
	Hash     common.Hash
	Deadline uint64
}

// RequestRecord is an accepted signed request and the entry it wrote.
type RequestRecord struct {
	RequestID
	Seq uint64
}

func encodeRequest(r RequestRecord) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), r.Seq)
	return binary.BigEndian.AppendUint64(b, r.Deadline)
}

// requestLedger is the orderer's record of the signed requests used once:
// the live ones, those accepted in the group being built (written with
// it), and expired ones (deleted with the next group that writes).
type requestLedger struct {
	live     *requestSet
	accepted []RequestRecord
	expired  []common.Hash
}

// requestStore is a store that keeps accepted signed requests.
type requestStore interface {
	Requests() ([]RequestRecord, error)
}

// loadRequests reads the accepted requests of store (if it keeps them):
// those past their deadline at now (Unix seconds) are to be deleted.
func loadRequests(store Store, now uint64) (*requestLedger, error) {
	var live []RequestRecord
	var expired []common.Hash
	if rs, ok := store.(requestStore); ok {
		recs, err := rs.Requests()
		if err != nil {
			return nil, fmt.Errorf("load accepted requests: %w", err)
		}
		for _, r := range recs {
			if r.Deadline < now {
				expired = append(expired, r.Hash)
			} else {
				live = append(live, r)
			}
		}
	}
	return &requestLedger{live: newRequestSet(live), expired: expired}, nil
}

// used returns the record of a signed request that wrote an entry already.
func (l *requestLedger) used(h common.Hash) (RequestRecord, bool) { return l.live.get(h) }

// accept records a signed request that wrote an entry in this group.
func (l *requestLedger) accept(r RequestRecord) {
	l.live.add(r)
	l.accepted = append(l.accepted, r)
}

// take hands the group's accepted requests to d, and the expired ones
// too when the group writes entries (a group of answers only writes
// nothing).
func (l *requestLedger) take(d *Dirty, now uint64, writes bool) {
	d.Requests, l.accepted = l.accepted, nil
	l.expired = append(l.expired, l.live.expire(now)...)
	if writes && len(l.expired) > 0 {
		d.ExpiredRequests, l.expired = l.expired, nil
	}
}

// requestSet holds the accepted requests in memory, with their deadlines
// in a heap so that expired ones are dropped cheaply. Owned by the
// orderer. Its size is the signed writes of one deadline window (at most
// an hour): clients that sign with short deadlines keep it small.
type requestSet struct {
	byHash map[common.Hash]RequestRecord
	order  deadlineHeap
}

func newRequestSet(recs []RequestRecord) *requestSet {
	s := &requestSet{byHash: make(map[common.Hash]RequestRecord, len(recs))}
	for _, r := range recs {
		s.add(r)
	}
	return s
}

func (s *requestSet) add(r RequestRecord) {
	s.byHash[r.Hash] = r
	heap.Push(&s.order, r.RequestID)
}

func (s *requestSet) get(h common.Hash) (RequestRecord, bool) {
	r, ok := s.byHash[h]
	return r, ok
}

// expire drops the requests whose deadline is before now (Unix seconds)
// and returns their hashes, for the store to delete.
func (s *requestSet) expire(now uint64) []common.Hash {
	var out []common.Hash
	for len(s.order) > 0 && s.order[0].Deadline < now {
		id := heap.Pop(&s.order).(RequestID)
		if r, ok := s.byHash[id.Hash]; ok && r.Deadline == id.Deadline {
			delete(s.byHash, id.Hash)
			out = append(out, id.Hash)
		}
	}
	return out
}

type deadlineHeap []RequestID

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].Deadline < h[j].Deadline }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(RequestID)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// records returns the live requests, in no particular order.
func (s *requestSet) records() []RequestRecord {
	out := make([]RequestRecord, 0, len(s.byHash))
	for _, r := range s.byHash {
		out = append(out, r)
	}
	return out
}
