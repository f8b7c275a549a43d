package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/seqnode/sequencer/logtree"
	"github.com/seqnode/sequencer/sequencer"
)

// syncServer answers the sync protocol (syncproto.go) from the node's log:
// the serving side, with the limits that keep one peer from taking it all.
type syncServer struct {
	store   Log
	log     *slog.Logger
	m       *metrics
	limits  *syncLimits   // per peer: request rate, byte rate, streams
	sem     chan struct{} // streams served at once, all peers together
	timeout time.Duration // deadline of one stream
	ctx     context.Context
	// checkpoint is the latest checkpoint signed by the primary this node
	// holds, or nil (checkpoints.go).
	checkpoint func() *sequencer.Checkpoint
}

func (sv *syncServer) serve(s network.Stream) {
	defer s.Close()
	// Per peer: a request rate, and at most maxSyncPerPeer streams, so
	// that one peer holding silent streams cannot take every slot from
	// the others. A refusal for rate is answered (the client backs off);
	// the others reset the stream. None of them holds a slot.
	p := s.Conn().RemotePeer()
	byteLim, refused := sv.limits.open(p)
	switch refused {
	case refusedRate:
		sv.m.syncRefused.WithLabelValues(refusedRate).Inc()
		s.SetWriteDeadline(time.Now().Add(time.Second))
		writeStatusError(s, msgRateLimited)
		return
	case refusedPeerStreams:
		sv.m.syncRefused.WithLabelValues(refusedPeerStreams).Inc()
		s.Reset()
		return
	}
	defer sv.limits.close(p)
	select {
	case sv.sem <- struct{}{}:
		defer func() { <-sv.sem }()
	default:
		sv.m.syncRefused.WithLabelValues(refusedBusy).Inc()
		s.Reset()
		return
	}
	deadline := time.Now().Add(sv.timeout)
	s.SetDeadline(deadline)
	typ, from, limit, err := readRequest(bufio.NewReaderSize(s, 32))
	if err != nil {
		s.Reset()
		return
	}
	// The answer, as records; nil for an empty one.
	var recs [][]byte
	st := sv.store
	switch typ {
	case reqHead:
		if head := st.Head(); head.Seq > 0 {
			e, err := st.Entry(head.Seq)
			if err != nil {
				s.Reset()
				return
			}
			b, _ := e.MarshalBinary()
			recs = append(recs, b)
		}
	case reqRange:
		limit = min(max(limit, 1), maxRangeEntries)
		es, err := st.Range(max(from, 1), int(limit))
		if err != nil {
			sv.log.Warn("sync: read range", "from", from, "err", err)
			s.Reset()
			return
		}
		total := 0
		for i, e := range es {
			b, _ := e.MarshalBinary()
			if i > 0 && total+len(b) > maxRangeBytes {
				break
			}
			total += len(b)
			recs = append(recs, b)
		}
	case reqCheckpoint:
		if cp := sv.checkpoint(); cp != nil {
			if b, err := cp.MarshalBinary(); err == nil {
				recs = append(recs, b)
			}
		}
	case reqLeaf:
		if rec := leafRecord(st, from, limit); rec != nil {
			recs = append(recs, rec)
		}
	default:
		s.Reset()
		return
	}
	// The peer's byte rate: wait for its tokens, within the deadline.
	size := 0
	for _, b := range recs {
		size += len(b)
	}
	ctx, cancel := context.WithDeadline(sv.ctx, deadline)
	err = byteLim.WaitN(ctx, min(size, byteLim.Burst()))
	cancel()
	if err != nil {
		sv.m.syncRefused.WithLabelValues(refusedRate).Inc()
		writeStatusError(s, msgRateLimited)
		return
	}
	w := bufio.NewWriterSize(s, 64<<10)
	w.WriteByte(0)
	for _, b := range recs {
		w.Write(binary.AppendUvarint(nil, uint64(len(b))))
		w.Write(b)
	}
	if typ == reqRange || len(recs) == 0 {
		w.Write(binary.AppendUvarint(nil, 0))
	}
	if err := w.Flush(); err != nil {
		s.Reset() // cut, not ended: the peer must not take a part for the whole
		return
	}
	if typ == reqRange {
		sv.m.syncServed.Add(float64(len(recs)))
	}
}

// leafRecord is the answer to a leaf request: entry seq's hash and its
// audit path in the tree of size; nil if the store does not hold them.
func leafRecord(st Log, seq, size uint64) []byte {
	pr, ok := st.(interface {
		InclusionProof(seq, size uint64) ([]logtree.Hash, error)
	})
	if !ok || seq == 0 || seq > size || size > st.Head().Seq {
		return nil
	}
	e, err := st.Entry(seq)
	if err != nil {
		return nil
	}
	path, err := pr.InclusionProof(seq, size)
	if err != nil || len(path) > maxLeafPath {
		return nil
	}
	b := append(make([]byte, 0, 32*(1+len(path))), e.Hash[:]...)
	for _, h := range path {
		b = append(b, h[:]...)
	}
	return b
}
