package sequencer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// LevelDB's journal (the write-ahead log of the latest writes) is a series
// of 32 KiB blocks of chunks: checksum(4) length(2) type(1) payload. A
// record (one synced batch: one group of entries) is one full chunk or a
// first, middles and a last. These constants are LevelDB's file format.
const (
	journalBlock  = 32 << 10
	journalHeader = 7
	chunkFull     = 1
	chunkFirst    = 2
	chunkMiddle   = 3
	chunkLast     = 4
)

// journalCheck is what scanning one journal found.
type journalCheck struct {
	num     int64
	records int    // complete, intact records
	torn    string // the file ends inside a chunk or a record: a write cut short
	damage  string // a complete chunk that is not intact: lost data
}

// checkJournal tells a torn tail from damage (SPEC §5). A write cut short
// by a crash or a power cut leaves a journal that ends inside a chunk or a
// record, or ends in zeros (space the file system allocated but never
// wrote: from a chunk header on, or whole 4 KiB blocks inside the last
// chunk); the record was never synced, so never acknowledged. A complete
// chunk (header and payload all present) whose checksum fails, whose type
// is invalid, or which breaks the chunk sequence is damage, also in the
// last record: a file system that orders data before size (ext4, xfs, by
// default) does not produce it in a crash, and the record may have been
// acknowledged.
func checkJournal(b []byte) journalCheck {
	var c journalCheck
	inRecord := false
	allZero := func(p []byte) bool { return len(bytes.Trim(p, "\x00")) == 0 }
	for pos := 0; pos < len(b); {
		if left := journalBlock - pos%journalBlock; left < journalHeader {
			pos += left // block trailer
			continue
		}
		if pos+journalHeader > len(b) {
			c.torn = fmt.Sprintf("ends inside a chunk header at offset %d", pos)
			return c
		}
		sum := binary.LittleEndian.Uint32(b[pos:])
		n := int(binary.LittleEndian.Uint16(b[pos+4:]))
		typ := b[pos+6]
		end := pos + journalHeader + n
		if allZero(b[pos:]) {
			c.torn = fmt.Sprintf("ends in %d zero bytes at offset %d", len(b)-pos, pos)
			return c
		}
		if end > len(b) && end <= pos+journalBlock-pos%journalBlock {
			c.torn = fmt.Sprintf("ends inside a chunk at offset %d (%d of %d bytes)", pos, len(b)-pos-journalHeader, n)
			return c
		}
		switch {
		case typ < chunkFull || typ > chunkLast:
			c.damage = fmt.Sprintf("chunk of invalid type %d at offset %d", typ, pos)
		case end > pos+journalBlock-pos%journalBlock:
			c.damage = fmt.Sprintf("chunk at offset %d overflows its block", pos)
		case util.NewCRC(b[pos+6:end]).Value() != sum:
			c.damage = fmt.Sprintf("checksum mismatch in the complete chunk at offset %d (record %d)", pos, c.records+1)
		case (typ == chunkFull || typ == chunkFirst) == inRecord:
			c.damage = fmt.Sprintf("chunk at offset %d breaks its record", pos)
		}
		if c.damage != "" {
			if z := zeroTail(b, pos+journalHeader); z >= 0 && z < end && strings.HasPrefix(c.damage, "checksum") {
				// The chunk runs into whole file-system blocks of zeros
				// that reach the end of the file: space allocated for the
				// last write, never written (xfs exposes it after a
				// crash). A flipped bit does not zero whole blocks.
				c.damage = ""
				c.torn = fmt.Sprintf("ends in a chunk at offset %d whose bytes from offset %d were never written (zeros)", pos, z)
			}
			return c
		}
		switch typ {
		case chunkFull, chunkLast:
			inRecord = false
			c.records++
		case chunkFirst:
			inRecord = true
		}
		pos = end
	}
	if inRecord {
		c.torn = "ends inside a record"
	}
	return c
}

// fsBlock is the file-system block size the zero-tail rule assumes.
const fsBlock = 4096

// zeroTail returns the first fsBlock-aligned offset at or after from from
// which b holds only zeros to its end, or -1.
func zeroTail(b []byte, from int) int {
	z := -1
	for off := (len(b) - 1) / fsBlock * fsBlock; off >= from && off >= 0; off -= fsBlock {
		if len(bytes.Trim(b[off:min(off+fsBlock, len(b))], "\x00")) != 0 {
			break
		}
		z = off
	}
	return z
}

// checkJournals scans every journal in stor, oldest first. Only the newest
// may end torn: an older one was complete when LevelDB moved past it, so a
// torn end there is damage too.
func checkJournals(stor storage.Storage) ([]journalCheck, error) {
	fds, err := stor.List(storage.TypeJournal)
	if err != nil {
		return nil, err
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i].Num < fds[j].Num })
	var out []journalCheck
	for i, fd := range fds {
		r, err := stor.Open(fd)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		c := checkJournal(b)
		c.num = fd.Num
		if c.torn != "" && i < len(fds)-1 {
			c.damage, c.torn = "an older journal "+c.torn, ""
		}
		out = append(out, c)
	}
	return out, nil
}
