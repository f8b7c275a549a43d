package p2p

import (
	"encoding/binary"
	"fmt"

	"github.com/seqnode/sequencer/sequencer"
)

// Gossip message: type(1) = msgEntries, then per entry uvarint(len) record
// (sequencer.Entry.MarshalBinary), entries in consecutive seq order.
const msgEntries = 1

// encodeBatch encodes consecutive entries as one gossip message.
func encodeBatch(entries []*sequencer.Entry) ([]byte, error) {
	size := 1
	for _, e := range entries {
		size += binary.MaxVarintLen32 + e.BinarySize()
	}
	b := append(make([]byte, 0, size), msgEntries)
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(e.BinarySize()))
		var err error
		if b, err = e.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// decodeBatch decodes a gossip message, checking that the entries are
// consecutive. It never panics on bad input.
func decodeBatch(b []byte, maxEntries int) ([]*sequencer.Entry, error) {
	if len(b) < 1 || b[0] != msgEntries {
		return nil, fmt.Errorf("%w: unknown type", errMalformed)
	}
	b = b[1:]
	var out []*sequencer.Entry
	for len(b) > 0 {
		if len(out) >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", errMalformed, maxEntries)
		}
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: bad length", errMalformed)
		}
		e := new(sequencer.Entry)
		if err := e.UnmarshalBinary(b[k : k+int(n)]); err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		if len(out) > 0 && e.Seq != out[len(out)-1].Seq+1 {
			return nil, fmt.Errorf("%w: entries not consecutive", errMalformed)
		}
		out = append(out, e)
		b = b[k+int(n):]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no entries", errMalformed)
	}
	return out, nil
}

// Gossip message: type(1) = msgCheckpoint, then one checkpoint record
// (sequencer.Checkpoint.MarshalBinary, at most
// sequencer.MaxCheckpointRecord bytes): a checkpoint of its head the
// primary signed (SPEC §10), on the same topic as the entries.
const msgCheckpoint = 2

// encodeCheckpoint encodes a checkpoint as one gossip message.
func encodeCheckpoint(cp *sequencer.Checkpoint) ([]byte, error) {
	return cp.AppendBinary([]byte{msgCheckpoint})
}

// decodeCheckpoint decodes a checkpoint message (not its signature: the
// validator checks that). It never panics on bad input.
func decodeCheckpoint(b []byte) (*sequencer.Checkpoint, error) {
	if len(b) < 1 || b[0] != msgCheckpoint {
		return nil, fmt.Errorf("%w: unknown type", errMalformed)
	}
	if len(b)-1 > sequencer.MaxCheckpointRecord {
		return nil, fmt.Errorf("%w: checkpoint of %d bytes", errMalformed, len(b)-1)
	}
	cp := new(sequencer.Checkpoint)
	if err := cp.UnmarshalBinary(b[1:]); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return cp, nil
}
