package p2p

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// The sync protocol: one request and one response per stream.
//
//	request:  type(1) from(uvarint) limit(uvarint)
//	response: status(1) [0 ok | 1 error: uvarint len, message ("rate limited": back off)]
//	          head:  uvarint len, record (len 0: empty log)
//	          range: (uvarint len, record)* uvarint 0
//	          leaf:  uvarint len, entryHash(32) path(32 each, at most 64) (len 0: not held)
//	          checkpoint: uvarint len, checkpoint record (len 0: none)
//
// A leaf request (type 3) asks for the entry hash at leaf from−1 of the
// peer's tree of size limit and its RFC 6962 audit path: a replica
// completes a checkpoint equivocation proof with it (SPEC §10). A
// checkpoint request (type 4, from and limit 0) asks for the latest
// checkpoint the peer holds signed by the primary: a primary's of its
// head, a replica's latest relayed one; a replica that caught up asks it.
//
// Responses are bounded (maxRangeEntries entries, maxRangeBytes bytes, but
// always at least one entry), every stream has a deadline, at most
// cap(syncServer.sem) streams are served at once, and each peer is held to the
// limits of synclimit.go.
const (
	syncProtocol    = protocol.ID("/sequencer/sync/1.0.0")
	reqHead         = 1
	reqRange        = 2
	reqLeaf         = 3
	reqCheckpoint   = 4
	maxLeafPath     = 64
	maxRangeEntries = 1000
	maxRangeBytes   = 4 << 20
	syncTimeout     = 15 * time.Second
	maxSyncPerPeer  = 4   // streams served at once to one peer (of cap(syncServer.sem) = 16 in all)
	maxErrorMessage = 256 // bytes of an error answer's message a client reads

	rateLimitedBackoff = 100 * time.Millisecond
	rateLimitedTries   = 5 // asked 5 times over at least 1.5 s
)

// writeStatusError writes an error answer: status 1, uvarint len, message.
func writeStatusError(w io.Writer, msg string) error {
	b := binary.AppendUvarint([]byte{1}, uint64(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

// readStatusError reads the message of an error answer (after its status
// byte); a rate-limited answer gives errRateLimited.
func readStatusError(r *bufio.Reader) error {
	l, err := binary.ReadUvarint(r)
	if err != nil || l > maxErrorMessage {
		return errRemote
	}
	msg := make([]byte, l)
	if _, err := io.ReadFull(r, msg); err != nil {
		return errRemote
	}
	if string(msg) == msgRateLimited {
		return errRateLimited
	}
	return fmt.Errorf("%w: %q", errRemote, msg)
}

// readRequest reads one sync request: type(1) from(uvarint) limit(uvarint).
func readRequest(r io.ByteReader) (typ byte, from, limit uint64, err error) {
	if typ, err = r.ReadByte(); err != nil {
		return 0, 0, 0, err
	}
	if from, err = binary.ReadUvarint(r); err != nil {
		return 0, 0, 0, err
	}
	if limit, err = binary.ReadUvarint(r); err != nil {
		return 0, 0, 0, err
	}
	return typ, from, limit, nil
}
