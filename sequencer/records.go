package sequencer

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Encodings of the derived-state records kept next to the entries. All
// integers are big-endian; every decoder checks lengths and never panics.

func encodeTicket(t *Ticket) []byte {
	b := make([]byte, 0, 1+8+8+8+64)
	b = append(b, byte(t.State))
	b = binary.BigEndian.AppendUint64(b, t.Nonce)
	b = binary.BigEndian.AppendUint64(b, t.LeaseSeq)
	b = binary.BigEndian.AppendUint64(b, t.FinalSeq)
	b = append(b, t.DataHash[:]...)
	return append(b, t.LeaseHash[:]...)
}

func decodeTicket(lineage, externalID string, b []byte) (*Ticket, error) {
	if len(b) != 1+8+8+8+64 || b[0] > byte(TicketFailed) {
		return nil, fmt.Errorf("%w: ticket record %s/%s", ErrCorrupt, lineage, externalID)
	}
	t := &Ticket{Lineage: lineage, ExternalID: externalID, State: TicketState(b[0])}
	t.Nonce = binary.BigEndian.Uint64(b[1:])
	t.LeaseSeq = binary.BigEndian.Uint64(b[9:])
	t.FinalSeq = binary.BigEndian.Uint64(b[17:])
	copy(t.DataHash[:], b[25:57])
	copy(t.LeaseHash[:], b[57:89])
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
