package sequencer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb/journal"
)

// TestCheckJournal: the rule that tells a torn journal tail (allowed) from
// damage inside complete records (a fault), on journals written by
// goleveldb's own journal writer.
func TestCheckJournal(t *testing.T) {
	var buf bytes.Buffer
	w := journal.NewWriter(&buf)
	sizes := []int{100, 5000, 40000, 300, 9000} // the third spans blocks
	ends := []int{}
	for i, n := range sizes {
		rw, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		rw.Write(bytes.Repeat([]byte{byte(i + 1)}, n))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, buf.Len())
	}
	orig := buf.Bytes()
	last := ends[len(ends)-2] // where the last record starts
	edit := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), orig...)) }
	cases := []struct {
		name         string
		b            []byte
		torn, damage string // substrings; "" means none
		wholeRecords int
	}{
		{"whole", orig, "", "", 5},
		{"cut inside the last chunk", orig[:len(orig)-10], "ends inside a chunk", "", 4},
		{"cut inside a chunk header", orig[:last+3], "inside a chunk header", "", 4},
		{"cut between the chunks of a record", orig[:ends[1]+journalBlock-ends[1]%journalBlock], "ends inside a record", "", 2},
		{"zeros after the last record", append(append([]byte(nil), orig...), make([]byte, 700)...), "zero bytes", "", 5},
		{"last blocks of the last chunk never written", edit(func(b []byte) []byte {
			z := (len(b) - 1) / fsBlock * fsBlock
			clear(b[z:])
			return b
		}), "never written", "", 4},
		{"bit flipped in the last complete record", edit(func(b []byte) []byte { b[len(b)-20] ^= 1; return b }), "", "checksum mismatch", 4},
		{"bit flipped in the first record", edit(func(b []byte) []byte { b[30] ^= 1; return b }), "", "checksum mismatch", 0},
		{"bit flipped in the last record's header length", edit(func(b []byte) []byte { b[last+4] ^= 1; return b }), "", "", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkJournal(c.b)
			t.Logf("%+v", got)
			if c.wholeRecords < 0 {
				// Any verdict but "whole" will do.
				if got.torn == "" && got.damage == "" {
					t.Fatal("a changed length passed as a whole journal")
				}
				return
			}
			if got.records != c.wholeRecords {
				t.Errorf("%d whole records, want %d", got.records, c.wholeRecords)
			}
			if (c.torn == "") != (got.torn == "") || !strings.Contains(got.torn, c.torn) {
				t.Errorf("torn %q, want %q", got.torn, c.torn)
			}
			if (c.damage == "") != (got.damage == "") || !strings.Contains(got.damage, c.damage) {
				t.Errorf("damage %q, want %q", got.damage, c.damage)
			}
		})
	}
}
