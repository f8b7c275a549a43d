package sequencer

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
)

// TestVerifyLineageIndex (SPEC §5: a lineage's entries are exactly the
// entries that name it): a deleted index record, which made a read of the
// lineage silently leave its entry out, and a stray one are faults of the
// library Verify, on a real LevelDB directory.
func TestVerifyLineageIndex(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSequencer(t, store, nil)
	written := fillLog(t, s, 30)
	s.Close()
	store.Close()
	var victim *Entry
	for _, e := range written {
		if e.Lineage != "" && e.Seq > 10 {
			victim = e
			break
		}
	}
	idx := func(lineage string, seq uint64) []byte {
		return binary.BigEndian.AppendUint64(indexPrefix(lineage), seq)
	}
	cases := []struct {
		name string
		edit func(*leveldb.DB) error
		want string
	}{
		{"index record deleted", func(db *leveldb.DB) error { return db.Delete(idx(victim.Lineage, victim.Seq), nil) }, "misses this entry"},
		{"stray index record", func(db *leveldb.DB) error { return db.Put(idx("eip155:9:stray", victim.Seq), nil, nil) }, "lineage index holds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			copyFiles(t, dir, d)
			db, err := leveldb.OpenFile(d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.edit(db); err != nil {
				t.Fatal(err)
			}
			db.Close()
			st, err := OpenLevelStore(d, true)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, verr := Verify(st)
			if verr == nil || !strings.Contains(verr.Error(), c.want) {
				t.Fatalf("verify: %v, want a fault naming %q", verr, c.want)
			}
			t.Log(verr)
		})
	}
}
