package sequencer

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Kind is the kind of an entry (SPEC §2).
type Kind uint8

const (
	KindTx      Kind = 0 // a payload is sequenced; with a lineage, a nonce is leased
	KindClose   Kind = 1 // the ticket's transaction was mined
	KindRelease Kind = 2 // the transaction never reached the network; nonce back to the pool
	KindFail    Kind = 3 // the transaction was broadcast and failed; nonce consumed
	KindSync    Kind = 4 // the chain reports a nonce for the lineage
	KindAttempt Kind = 5 // the ticket's transaction is broadcast with hash dataHash (SPEC §9)
	KindConfirm Kind = 6 // the attempt dataHash is mined and confirmed; the ticket is closed
	KindExpire  Kind = 7 // a leased ticket without attempts outlived --lease-ttl; nonce back to the pool
	KindReclaim Kind = 8 // a nonce no ticket holds and the chain never used goes back to the pool
)

var kindNames = [...]string{"tx", "close", "release", "fail", "sync", "attempt", "confirm", "expire", "reclaim"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the nine kinds of SPEC §2.
func (k Kind) Valid() bool { return k <= KindReclaim }

// NodeWritten reports whether entries of kind k are written by the node on
// its own, never asked for by a client (SPEC §2): their sender is the log's
// primary address.
func (k Kind) NodeWritten() bool { return k >= KindConfirm && k <= KindReclaim }

// ParseKind maps a kind name to its Kind.
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// Entry is one position of the log. Hash is the EIP-712 hash of the signed
// fields; Signature is r‖s‖v with v in {27,28}. Data is set on tx entries only.
type Entry struct {
	Seq        uint64
	PrevHash   common.Hash
	Kind       Kind
	Sender     common.Address
	Lineage    string
	Nonce      uint64
	ExternalID string
	DataHash   common.Hash
	Timestamp  uint64 // Unix milliseconds at the primary
	Data       []byte
	Hash       common.Hash
	Signature  [65]byte
}

// Stored record layout, version 1 (all integers big-endian):
//
//	ver(1) seq(8) prevHash(32) kind(1) sender(20) nonce(8) dataHash(32)
//	timestamp(8) hash(32) sig(65) lineageLen(1) lineage extIDLen(2) extID
//	dataLen(4) data
const (
	recordVersion   = 1
	recordFixedSize = 1 + 8 + 32 + 1 + 20 + 8 + 32 + 8 + 32 + 65 + 1 + 2 + 4
)

// MarshalBinary encodes e as a stored record.
func (e *Entry) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(make([]byte, 0, e.BinarySize()))
}

// BinarySize is the length of e's stored record.
func (e *Entry) BinarySize() int {
	return recordFixedSize + len(e.Lineage) + len(e.ExternalID) + len(e.Data)
}

// AppendBinary appends the stored record of e to b.
func (e *Entry) AppendBinary(b []byte) ([]byte, error) {
	if len(e.Lineage) > 255 || len(e.ExternalID) > 65535 || uint64(len(e.Data)) > 1<<32-1 {
		return nil, fmt.Errorf("entry %d: field too long to encode", e.Seq)
	}
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = append(b, e.PrevHash[:]...)
	b = append(b, byte(e.Kind))
	b = append(b, e.Sender[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Nonce)
	b = append(b, e.DataHash[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Timestamp)
	b = append(b, e.Hash[:]...)
	b = append(b, e.Signature[:]...)
	b = append(b, byte(len(e.Lineage)))
	b = append(b, e.Lineage...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.ExternalID)))
	b = append(b, e.ExternalID...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
	b = append(b, e.Data...)
	return b, nil
}

// UnmarshalBinary decodes a stored record. It never panics on bad input and
// copies what it keeps, so b may be reused by the caller.
func (e *Entry) UnmarshalBinary(b []byte) error {
	if len(b) < recordFixedSize {
		return fmt.Errorf("%w: record of %d bytes is too short", ErrCorrupt, len(b))
	}
	if b[0] != recordVersion {
		return fmt.Errorf("%w: record version %d", ErrCorrupt, b[0])
	}
	p := 1
	e.Seq = binary.BigEndian.Uint64(b[p:])
	p += 8
	copy(e.PrevHash[:], b[p:])
	p += 32
	e.Kind = Kind(b[p])
	p++
	copy(e.Sender[:], b[p:])
	p += 20
	e.Nonce = binary.BigEndian.Uint64(b[p:])
	p += 8
	copy(e.DataHash[:], b[p:])
	p += 32
	e.Timestamp = binary.BigEndian.Uint64(b[p:])
	p += 8
	copy(e.Hash[:], b[p:])
	p += 32
	copy(e.Signature[:], b[p:])
	p += 65
	n := int(b[p])
	p++
	if len(b) < p+n+2+4 {
		return fmt.Errorf("%w: record truncated in lineage", ErrCorrupt)
	}
	e.Lineage = string(b[p : p+n])
	p += n
	n = int(binary.BigEndian.Uint16(b[p:]))
	p += 2
	if len(b) < p+n+4 {
		return fmt.Errorf("%w: record truncated in externalId", ErrCorrupt)
	}
	e.ExternalID = string(b[p : p+n])
	p += n
	dl := uint64(binary.BigEndian.Uint32(b[p:]))
	p += 4
	if uint64(len(b)-p) != dl {
		return fmt.Errorf("%w: record data length %d, %d bytes left", ErrCorrupt, dl, len(b)-p)
	}
	e.Data = nil
	if dl > 0 {
		e.Data = append([]byte(nil), b[p:]...)
	}
	if !e.Kind.Valid() {
		return fmt.Errorf("%w: unknown kind %d", ErrCorrupt, e.Kind)
	}
	return nil
}
