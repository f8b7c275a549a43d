package powercut

import (
	"io"
	"testing"

	"github.com/syndtr/goleveldb/leveldb/storage"
)

func content(t *testing.T, s *Storage, fd storage.FileDesc) (string, bool) {
	t.Helper()
	r, err := s.Open(fd)
	if err != nil {
		return "", false
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// TestCutIsStrict: a cut keeps a file's bytes up to its last Sync, and the
// file itself only if a directory sync named it (a manifest Sync, SetMeta
// or SyncDir), never by its own Sync.
func TestCutIsStrict(t *testing.T) {
	s := New()
	j1 := storage.FileDesc{Type: storage.TypeJournal, Num: 1}
	j2 := storage.FileDesc{Type: storage.TypeJournal, Num: 2}
	w, _ := s.Create(j1)
	w.Write([]byte("synced"))
	w.Sync()
	if err := s.SyncDir(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("+lost"))
	w2, _ := s.Create(j2)
	w2.Write([]byte("unnamed"))
	w2.Sync()

	after := s.Cut(nil)
	if got, ok := content(t, after, j1); !ok || got != "synced" {
		t.Fatalf("journal 1 after the cut: %q, %v; want its synced bytes", got, ok)
	}
	if got, ok := content(t, after, j2); ok {
		t.Fatalf("journal 2, synced but never named by a directory sync, survived: %q", got)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("a write after the cut succeeded")
	}
}
