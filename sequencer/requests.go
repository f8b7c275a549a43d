package sequencer

import (
	"container/heap"
	"encoding/binary"

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
