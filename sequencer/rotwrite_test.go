package sequencer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb/util"
)

// TestMirrorHaltsWhenStoreCannotWrite (SPEC §6, bit rot): once LevelDB's
// compaction meets a damaged table block it refuses every later write, so
// rewriting the damaged entries cannot save the store. The replica then
// halts (health 503) with a reason that says so and what to do, instead
// of retrying the write forever while it falls behind.
//
// goleveldb's CompactRange, when the compaction fails, closes its reply
// channel while the compaction goroutine may still answer on it (it
// recovers from that send, but the race detector reports it, about once
// in 50 runs): under -race this test skips, and .ci/run runs it without.
func TestMirrorHaltsWhenStoreCannotWrite(t *testing.T) {
	if raceEnabled {
		t.Skip("goleveldb's CompactRange races with its own error path; .ci/run runs this test without -race")
	}
	src, _ := openTestStore(t)
	s := newTestSequencer(t, src, nil)
	entries := fillLog(t, s, 500)

	dir := t.TempDir()
	st, err := OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMirror(st, s.Address(), testDomain(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(entries[:400]); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, _ = OpenLevelStore(dir, false) // the journal becomes a table
	st.Close()
	tables, _ := filepath.Glob(filepath.Join(dir, "*.ldb"))
	if len(tables) == 0 {
		t.Fatal("no table")
	}
	b, _ := os.ReadFile(tables[0])
	for i := range 64 {
		b[len(b)/3+i] ^= 0xff
	}
	os.WriteFile(tables[0], b, 0o644)

	st, err = OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err = NewMirror(st, s.Address(), testDomain(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The background compaction reaches the damaged table.
	if err := st.db.CompactRange(util.Range{}); err == nil {
		t.Fatal("test setup: compaction over a damaged block succeeded")
	}
	// goleveldb hands the compaction's error to its writers from another
	// goroutine: wait (bounded) until writes are refused, as a running
	// replica would meet them sooner or later.
	for i := 0; i < 200 && st.db.Put([]byte("\xffprobe"), nil, nil) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	_, err = m.Apply(entries[400:])
	if err == nil {
		t.Fatal("a store that can no longer write took entries")
	}
	t.Logf("apply: %v", err)
	if h := m.Halted(); h == nil || !strings.Contains(h.Error(), "move its datadir aside") {
		t.Fatalf("mirror after a write the store refused for good: halted = %v", h)
	}
}
