package sequencer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// TestCleanStopRecord (SPEC §5): a clean stop records the head outside the
// journal; the next writable open removes the record before any write, so
// that a crash after it is judged without a stale head; a log found
// shorter than the record, or holding another entry at its seq, is a fault;
// a log longer than the record (a write whose fsync reported an error but
// reached the disk) is not.
func TestCleanStopRecord(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	withKey := func(c *Config) { c.Key = key }
	dir := filepath.Join(t.TempDir(), "new", "db")
	marker := filepath.Join(dir, cleanStopFile)

	store, err := OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSequencer(t, store, withKey)
	written := fillLog(t, s, 20)
	s.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(marker)
	if want := fmt.Sprintf("20 %s\n", written[19].Hash.Hex()); err != nil || string(rec) != want {
		t.Fatalf("clean-stop record %q (%v), want %q", rec, err, want)
	}

	// Read-only (verify) leaves the record alone.
	ro, err := OpenLevelStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Damaged != "" {
		t.Fatalf("clean log reported damaged: %s", ro.Damaged)
	}
	ro.Close()
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("a read-only open removed the clean-stop record: %v", err)
	}

	store, err = OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the clean-stop record is still there after a writable open: %v", err)
	}
	s = newTestSequencer(t, store, withKey)
	fillLog(t, s, 5)
	crashed := filepath.Join(t.TempDir(), "db")
	copyFiles(t, dir, crashed) // a crash: the files as they are, no record
	s.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		dir    string
		record string // "" leaves the directory as it is
		damage string // "" means no fault
	}{
		{"crash after a restart", crashed, "", ""},
		{"clean stop", dir, "", ""},
		{"log longer than the record", dir, fmt.Sprintf("20 %s\n", written[19].Hash.Hex()), ""},
		{"log shorter than the record", dir, fmt.Sprintf("30 %s\n", written[19].Hash.Hex()), "stopped cleanly at seq 30"},
		{"another entry at the recorded seq", dir, fmt.Sprintf("20 %s\n", written[18].Hash.Hex()), "now holds entry hash"},
		{"unreadable record", dir, "garbage", "unreadable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "db")
			copyFiles(t, c.dir, d)
			if c.record != "" {
				if err := os.WriteFile(filepath.Join(d, cleanStopFile), []byte(c.record), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			st, err := OpenLevelStore(d, true)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, verr := Verify(st)
			if c.damage == "" {
				if st.Damaged != "" || verr != nil {
					t.Fatalf("damaged %q, verify %v; want no fault", st.Damaged, verr)
				}
				return
			}
			if !strings.Contains(st.Damaged, c.damage) || verr == nil || !strings.Contains(verr.Error(), c.damage) {
				t.Fatalf("damaged %q, verify %v; want a fault naming %q", st.Damaged, verr, c.damage)
			}
		})
	}
}
