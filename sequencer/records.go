package sequencer

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Encodings of the derived-state records kept next to the entries. All
// integers are big-endian; every decoder checks lengths and never panics.

// A ticket record is
//
//	state(1) nonce(8) leaseSeq(8) finalSeq(8) dataHash(32) leaseHash(32)
//
// followed, for a ticket with attempts or a mined transaction (SPEC §9), by
//
//	minedTx(32) count(2) then count × (txHash(32) seq(8))
const ticketBase = 1 + 8 + 8 + 8 + 64

func encodeTicket(t *Ticket) []byte {
	n := ticketBase
	chain := len(t.Attempts) > 0 || t.MinedTx != (common.Hash{})
	if chain {
		n += 32 + 2 + 40*len(t.Attempts)
	}
	b := make([]byte, 0, n)
	b = append(b, byte(t.State))
	b = binary.BigEndian.AppendUint64(b, t.Nonce)
	b = binary.BigEndian.AppendUint64(b, t.LeaseSeq)
	b = binary.BigEndian.AppendUint64(b, t.FinalSeq)
	b = append(b, t.DataHash[:]...)
	b = append(b, t.LeaseHash[:]...)
	if chain {
		b = append(b, t.MinedTx[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Attempts)))
		for _, a := range t.Attempts {
			b = append(b, a.TxHash[:]...)
			b = binary.BigEndian.AppendUint64(b, a.Seq)
		}
	}
	return b
}

func decodeTicket(lineage, externalID string, b []byte) (*Ticket, error) {
	bad := fmt.Errorf("%w: ticket record %s/%s", ErrCorrupt, lineage, externalID)
	if len(b) < ticketBase || b[0] > byte(TicketExpired) {
		return nil, bad
	}
	t := &Ticket{Lineage: lineage, ExternalID: externalID, State: TicketState(b[0])}
	t.Nonce = binary.BigEndian.Uint64(b[1:])
	t.LeaseSeq = binary.BigEndian.Uint64(b[9:])
	t.FinalSeq = binary.BigEndian.Uint64(b[17:])
	copy(t.DataHash[:], b[25:57])
	copy(t.LeaseHash[:], b[57:89])
	rest := b[ticketBase:]
	if len(rest) == 0 {
		return t, nil
	}
	if len(rest) < 34 {
		return nil, bad
	}
	copy(t.MinedTx[:], rest[:32])
	n := int(binary.BigEndian.Uint16(rest[32:]))
	rest = rest[34:]
	// The part is written only when it holds something: one that does not
	// is not a record this code wrote (records re-encode to themselves).
	if n > MaxAttempts || len(rest) != 40*n || (n == 0 && t.MinedTx == (common.Hash{})) {
		return nil, bad
	}
	if n > 0 {
		t.Attempts = make([]Attempt, n)
		for i := range t.Attempts {
			copy(t.Attempts[i].TxHash[:], rest[:32])
			t.Attempts[i].Seq = binary.BigEndian.Uint64(rest[32:])
			rest = rest[40:]
		}
	}
	return t, nil
}

func encodeLineage(l *Lineage) []byte {
	b := make([]byte, 0, 40+len(l.InFlight)*32+len(l.Released)*8)
	b = binary.BigEndian.AppendUint64(b, l.NextNonce)
	b = binary.BigEndian.AppendUint64(b, l.Floor)
	b = binary.BigEndian.AppendUint64(b, l.Closed)
	b = binary.BigEndian.AppendUint64(b, l.Failed)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.InFlight)))
	for _, f := range l.InFlight {
		b = binary.BigEndian.AppendUint64(b, f.Nonce)
		b = binary.BigEndian.AppendUint64(b, f.Seq)
		b = binary.BigEndian.AppendUint16(b, uint16(len(f.ExternalID)))
		b = append(b, f.ExternalID...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Released)))
	for _, n := range l.Released {
		b = binary.BigEndian.AppendUint64(b, n)
	}
	return b
}

func decodeLineage(name string, b []byte) (*Lineage, error) {
	bad := fmt.Errorf("%w: lineage record %q", ErrCorrupt, name)
	if len(b) < 36 {
		return nil, bad
	}
	l := &Lineage{Name: name}
	l.NextNonce = binary.BigEndian.Uint64(b[0:])
	l.Floor = binary.BigEndian.Uint64(b[8:])
	l.Closed = binary.BigEndian.Uint64(b[16:])
	l.Failed = binary.BigEndian.Uint64(b[24:])
	n := uint64(binary.BigEndian.Uint32(b[32:]))
	b = b[36:]
	if n > uint64(len(b))/18 {
		return nil, bad
	}
	l.InFlight = make([]InFlight, 0, n)
	for range n {
		if len(b) < 18 {
			return nil, bad
		}
		f := InFlight{Nonce: binary.BigEndian.Uint64(b), Seq: binary.BigEndian.Uint64(b[8:])}
		idLen := int(binary.BigEndian.Uint16(b[16:]))
		b = b[18:]
		if len(b) < idLen {
			return nil, bad
		}
		f.ExternalID = string(b[:idLen])
		b = b[idLen:]
		l.InFlight = append(l.InFlight, f)
	}
	if len(b) < 4 {
		return nil, bad
	}
	n = uint64(binary.BigEndian.Uint32(b))
	b = b[4:]
	if uint64(len(b)) != n*8 {
		return nil, bad
	}
	l.Released = make([]uint64, n)
	for i := range l.Released {
		l.Released[i] = binary.BigEndian.Uint64(b[i*8:])
	}
	return l, nil
}

func encodePlain(p PlainTx) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 40), p.Seq)
	return append(b, p.DataHash[:]...)
}

func decodePlain(id string, b []byte) (PlainTx, error) {
	if len(b) != 40 {
		return PlainTx{}, fmt.Errorf("%w: plain tx record %q", ErrCorrupt, id)
	}
	var p PlainTx
	p.Seq = binary.BigEndian.Uint64(b)
	p.DataHash = common.BytesToHash(b[8:])
	return p, nil
}
