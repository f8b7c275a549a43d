package sequencer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Torn or corrupted newest LevelDB files (SPEC §5): after the newest
// journal is truncated at any point or has bytes flipped, the store either
// refuses to open with an error, or opens to a consistent prefix of what
// was written — every stored entry byte-identical to the one written, the
// head naming the last of them, Verify passing — never a broken log.
func TestTornJournal(t *testing.T) {
	base := t.TempDir()
	store, err := OpenLevelStore(base, false)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSequencer(t, store, nil)
	written := fillLog(t, s, 150)
	s.Close()
	store.Close()

	logs, _ := filepath.Glob(filepath.Join(base, "*.log"))
	sort.Strings(logs)
	if len(logs) == 0 {
		t.Fatal("no journal file")
	}
	journal := filepath.Base(logs[len(logs)-1])
	orig, err := os.ReadFile(logs[len(logs)-1])
	if err != nil || len(orig) == 0 {
		t.Fatalf("journal %s: %d bytes, %v", journal, len(orig), err)
	}
	type damage struct {
		name string
		f    func([]byte) []byte
	}
	var cases []damage
	for _, frac := range []int{1, 10, 50, 90, 99} {
		cut := len(orig) * frac / 100
		cases = append(cases, damage{name: "truncated", f: func(b []byte) []byte { return b[:cut] }})
	}
	for _, frac := range []int{5, 50, 95} {
		at := len(orig) * frac / 100
		cases = append(cases, damage{name: "flipped", f: func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[at] ^= 0x5a
			return c
		}})
	}
	// A bit flipped inside the last complete record (SPEC §5: damage, not
	// a torn tail; verify once said "ok" with one entry fewer).
	cases = append(cases, damage{name: "flipped", f: func(b []byte) []byte {
		c := append([]byte(nil), b...)
		c[len(c)-20] ^= 0x01
		return c
	}})
	refused := 0
	for i, d := range cases {
		for _, clean := range []bool{false, true} {
			name := fmt.Sprintf("case %d (%s, clean stop %v)", i, d.name, clean)
			dir := filepath.Join(t.TempDir(), "db")
			copyFiles(t, base, dir)
			if !clean {
				// A crash: the node never recorded a clean stop.
				os.Remove(filepath.Join(dir, cleanStopFile))
			}
			if err := os.WriteFile(filepath.Join(dir, journal), d.f(orig), 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := OpenLevelStore(dir, false)
			if err != nil {
				if d.name == "truncated" && !clean {
					// A torn tail is what a crash leaves: it must open.
					t.Fatalf("%s: a truncated journal was refused: %v", name, err)
				}
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
					t.Fatalf("%s: refused without naming what is missing: %v", name, err)
				}
				refused++
				t.Logf("%s: refused to open: %v", name, err)
				continue
			}
			head := st.Head()
			if head.Seq < uint64(len(written)) && st.Recovered == "" && st.Damaged == "" {
				t.Fatalf("%s: entries dropped without saying so", name)
			}
			_, verr := Verify(st)
			lost := head.Seq < uint64(len(written))
			switch {
			case d.name == "truncated" && !clean && verr != nil:
				t.Fatalf("%s: a torn tail (allowed) failed verify: %v", name, verr)
			case d.name == "flipped" && lost && verr == nil:
				// A flipped bit in a complete record is damage, never a torn tail.
				t.Fatalf("%s: damage inside a complete record passed verify with %d of %d entries", name, head.Seq, len(written))
			case clean && lost && verr == nil:
				// The log is shorter than at its clean stop: a fault.
				t.Fatalf("%s: a log cut after a clean stop passed verify with %d of %d entries", name, head.Seq, len(written))
			}
			got, err := st.Range(1, len(written)+1)
			if err != nil || uint64(len(got)) != head.Seq {
				st.Close()
				t.Fatalf("%s: %d entries readable, head %d, %v", name, len(got), head.Seq, err)
			}
			for j, e := range got {
				if e.Hash != written[j].Hash || e.Signature != written[j].Signature {
					st.Close()
					t.Fatalf("%s: entry %d differs from the one written", name, e.Seq)
				}
			}
			t.Logf("%s: opened at head %d of %d (recovered %q, damaged %q, verify %v)", name, head.Seq, len(written), st.Recovered, st.Damaged, verr)
			st.Close()
		}
	}
	if refused == 0 {
		t.Fatal("no damage in the middle of the journal was refused")
	}
}

func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
