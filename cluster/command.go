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
// with the ops. Version 2 adds, after the ops, the signatures of entries
// the leader wrote (committed before: nothing is signed before its commit):
//
//	firstSeq(8) count(uvarint) signature(65) × count
//
// so that followers write those entries without signing them again.
const commandVersion = 2

const commandHeader = 1 + 32 + 8 + 4

// maxOps bounds the ops one command or forwarded write may claim, so that
// a damaged count cannot make a decoder allocate without end.
const maxOps = 1 << 20

var errBadCommand = errors.New("cluster: damaged command")

// errNewerCommand: a command of a format this voter does not know. It
// halts rather than skip it (the others apply it: skipping would leave
// this voter's log behind theirs, and a leader of it would sign other
// entries at their seqs).
var errNewerCommand = errors.New("cluster: a command of a newer format than this voter's: run the same release on every voter")

func encodeCommand(c *sequencer.Command) []byte {
	b := make([]byte, 0, commandHeader+opsSize(c.Ops)+8+binary.MaxVarintLen64+65*len(c.Sigs))
	b = append(b, commandVersion)
	b = append(b, c.Log[:]...)
	b = binary.BigEndian.AppendUint64(b, c.NowMillis)
	b = binary.BigEndian.AppendUint32(b, uint32(c.MaxInFlight))
	b = appendOps(b, c.Ops)
	b = binary.BigEndian.AppendUint64(b, c.SigsFrom)
	b = binary.AppendUvarint(b, uint64(len(c.Sigs)))
	for i := range c.Sigs {
		b = append(b, c.Sigs[i][:]...)
	}
	return b
}

func decodeCommand(b []byte) (sequencer.Command, error) {
	var c sequencer.Command
	if len(b) > 0 && b[0] > commandVersion {
		return c, errNewerCommand
	}
	if len(b) < commandHeader || b[0] == 0 {
		return c, errBadCommand
	}
	version := b[0]
	c.Log = common.BytesToHash(b[1:33])
	c.NowMillis = binary.BigEndian.Uint64(b[33:])
	c.MaxInFlight = int(binary.BigEndian.Uint32(b[41:]))
	ops, rest, err := takeOps(b[commandHeader:])
	if err != nil {
		return c, err
	}
	c.Ops = ops
	if version == 1 { // the ops only (a log written by the release before)
		if len(rest) != 0 {
			return c, errBadCommand
		}
		return c, nil
	}
	if len(rest) < 8 {
		return c, errBadCommand
	}
	c.SigsFrom = binary.BigEndian.Uint64(rest)
	n, k := binary.Uvarint(rest[8:])
	if k <= 0 || n > uint64(len(rest))/65 {
		return c, errBadCommand
	}
	rest = rest[8+k:]
	if uint64(len(rest)) != 65*n {
		return c, errBadCommand
	}
	if n > 0 {
		c.Sigs = make([][65]byte, n)
		for i := range c.Sigs {
			copy(c.Sigs[i][:], rest[65*i:])
		}
	}
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
