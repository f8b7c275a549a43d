package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

// The replicated command (SPEC §8), one Raft log entry:
//
//	version(1) log(32) nowMillis(8) maxInFlight(4) ops
//
// and ops (also the body of a forwarded write): count uvarint, then per op
//
//	kind(1) lineage, externalId, data (each uvarint length + bytes)
//	dataHash(32) chainNonce(8) sender(20) requestHash(32) requestDeadline(8)
//
// Everything a voter needs to decide the ops as the leader would, and
// nothing it could decide differently: the leader's clock and limit travel
// with the ops.
const commandVersion = 1

const commandHeader = 1 + 32 + 8 + 4

// maxOps bounds the ops one command or forwarded write may claim, so that
// a damaged count cannot make a decoder allocate without end.
const maxOps = 1 << 20

var errBadCommand = errors.New("cluster: damaged command")

func encodeCommand(c *sequencer.Command) []byte {
	b := make([]byte, 0, commandHeader+opsSize(c.Ops))
	b = append(b, commandVersion)
	b = append(b, c.Log[:]...)
	b = binary.BigEndian.AppendUint64(b, c.NowMillis)
	b = binary.BigEndian.AppendUint32(b, uint32(c.MaxInFlight))
	return appendOps(b, c.Ops)
}

func decodeCommand(b []byte) (sequencer.Command, error) {
	var c sequencer.Command
	if len(b) < commandHeader || b[0] != commandVersion {
		return c, errBadCommand
	}
	c.Log = common.BytesToHash(b[1:33])
	c.NowMillis = binary.BigEndian.Uint64(b[33:])
	c.MaxInFlight = int(binary.BigEndian.Uint32(b[41:]))
	ops, rest, err := takeOps(b[commandHeader:])
	if err != nil {
		return c, err
	}
	if len(rest) != 0 {
		return c, errBadCommand
	}
	c.Ops = ops
	return c, nil
}

func opsSize(ops []sequencer.Op) int {
	n := binary.MaxVarintLen64
	for i := range ops {
		op := &ops[i]
		n += 1 + 3*binary.MaxVarintLen64 + len(op.Lineage) + len(op.ExternalID) + len(op.Data) + 32 + 8 + 20 + 32 + 8
	}
	return n
}

func appendOps(b []byte, ops []sequencer.Op) []byte {
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for i := range ops {
		op := &ops[i]
		b = append(b, byte(op.Kind))
		b = appendBytes(b, []byte(op.Lineage))
		b = appendBytes(b, []byte(op.ExternalID))
		b = appendBytes(b, op.Data)
		b = append(b, op.DataHash[:]...)
		b = binary.BigEndian.AppendUint64(b, op.ChainNonce)
		b = append(b, op.Sender[:]...)
		b = append(b, op.Request.Hash[:]...)
		b = binary.BigEndian.AppendUint64(b, op.Request.Deadline)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

const opFixed = 32 + 8 + 20 + 32 + 8

func takeOps(b []byte) ([]sequencer.Op, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxOps || n > uint64(len(b)) {
		return nil, nil, errBadCommand
	}
	b = b[k:]
	if n == 0 {
		return nil, b, nil
	}
	ops := make([]sequencer.Op, n)
	for i := range ops {
		op := &ops[i]
		if len(b) < 1 {
			return nil, nil, errBadCommand
		}
		op.Kind = sequencer.Kind(b[0])
		if !op.Kind.Valid() {
			return nil, nil, fmt.Errorf("%w: kind %d", errBadCommand, b[0])
		}
		var lin, id, data []byte
		var err error
		if lin, b, err = takeBytes(b[1:]); err != nil {
			return nil, nil, errBadCommand
		}
		if id, b, err = takeBytes(b); err != nil {
			return nil, nil, errBadCommand
		}
		if data, b, err = takeBytes(b); err != nil {
			return nil, nil, errBadCommand
		}
		if len(b) < opFixed {
			return nil, nil, errBadCommand
		}
		op.Lineage, op.ExternalID = string(lin), string(id)
		if len(data) > 0 {
			op.Data = append([]byte(nil), data...)
		}
		op.DataHash = common.BytesToHash(b[:32])
		op.ChainNonce = binary.BigEndian.Uint64(b[32:])
		op.Sender = common.BytesToAddress(b[40:60])
		op.Request.Hash = common.BytesToHash(b[60:92])
		op.Request.Deadline = binary.BigEndian.Uint64(b[92:])
		b = b[opFixed:]
	}
	return ops, b, nil
}
