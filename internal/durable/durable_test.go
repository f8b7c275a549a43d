package durable

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// cutEverywhere runs write on a fresh CrashFS prepared by setup once for
// every mutating operation it makes, cutting the power at that operation
// (and once after the last), and asks ok about what survived at path. It
// returns the first verdict ok gives, or "".
func cutEverywhere(t *testing.T, setup func(*CrashFS) error, write func(FS) error, path string,
	ok func(got []byte, present, returned bool) string) string {
	t.Helper()
	c := NewCrashFS()
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	c.CutAfter(1 << 30)
	if err := write(c); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	n := 1<<30 - c.budget
	c.mu.Unlock()
	for k := 0; k <= n+1; k++ {
		c := NewCrashFS()
		if err := setup(c); err != nil {
			t.Fatal(err)
		}
		c.CutAfter(k)
		err := write(c)
		c.Cut()
		c.Restart()
		got, rerr := c.ReadFile(path)
		if v := ok(got, rerr == nil, err == nil); v != "" {
			return fmt.Sprintf("power cut at operation %d of %d: %s", k, n, v)
		}
	}
	return ""
}

var oldKey, newKey = bytes.Repeat([]byte{'o'}, 64), bytes.Repeat([]byte{'n'}, 64)

func withOldKey(c *CrashFS) error {
	if err := MkdirAll(c, "/data", 0o700); err != nil {
		return err
	}
	return WriteFile(c, "/data/key", oldKey, 0o600)
}

// replaced: a replacement is the old key or the new one, whole, and the
// new one once the write returned.
func replaced(got []byte, present, returned bool) string {
	switch {
	case !present:
		return "the key is gone"
	case returned && !bytes.Equal(got, newKey):
		return fmt.Sprintf("the write returned but the file holds %q", got)
	case !bytes.Equal(got, oldKey) && !bytes.Equal(got, newKey):
		return fmt.Sprintf("the file holds %q, neither key", got)
	}
	return ""
}

// created: a new key is absent or whole, and present once the write
// returned.
func created(got []byte, present, returned bool) string {
	switch {
	case returned && !present:
		return "the write returned but the key is gone"
	case present && !bytes.Equal(got, newKey):
		return fmt.Sprintf("the file holds %q, not the key", got)
	}
	return ""
}

func newDatadir(fsys FS) error { return MkdirAll(fsys, "/srv/node/data", 0o700) }

// TestWriteFilePowerCut cuts the power at every operation of a key
// replacement: the file is always the old key or the new one, whole, and
// once WriteFile has returned it is the new one (SPEC §5).
func TestWriteFilePowerCut(t *testing.T) {
	write := func(fsys FS) error { return WriteFile(fsys, "/data/key", newKey, 0o600) }
	if v := cutEverywhere(t, withOldKey, write, "/data/key", replaced); v != "" {
		t.Fatal(v)
	}
}

// TestCreateFilePowerCut: a new file (a dev key made on first start) is
// absent or whole after a cut, present once CreateFile returned, in a
// directory MkdirAll just made; and it never replaces an existing file.
func TestCreateFilePowerCut(t *testing.T) {
	write := func(fsys FS) error {
		if err := newDatadir(fsys); err != nil {
			return err
		}
		return CreateFile(fsys, "/srv/node/data/dev-key.hex", newKey, 0o600)
	}
	none := func(*CrashFS) error { return nil }
	if v := cutEverywhere(t, none, write, "/srv/node/data/dev-key.hex", created); v != "" {
		t.Fatal(v)
	}
	c := NewCrashFS()
	if err := write(c); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(c, "/srv/node/data/dev-key.hex", []byte("other"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile over an existing key: %v, want ErrExist", err)
	}
	if got, _ := c.ReadFile("/srv/node/data/dev-key.hex"); !bytes.Equal(got, newKey) {
		t.Fatal("the existing key was replaced")
	}
}

// TestPowerCutCatchesPlainWrites is the control of the two tests above:
// the same checks fail for the ways the node wrote its keys before (SPEC
// §5), so they would catch a missing fsync. Each plain writer is run
// through the same FS seam.
func TestPowerCutCatchesPlainWrites(t *testing.T) {
	// os.WriteFile: create and write in place, no fsync; the metadata
	// (name and size) reached the disk with some other fsync, the data
	// did not: the 0-byte key found after a power cut.
	osWriteFile := func(dir string) func(FS) error {
		return func(fsys FS) error {
			if err := MkdirAll(fsys, dir, 0o700); err != nil {
				return err
			}
			f, err := fsys.CreateTemp(dir, "key-", 0o600)
			if err != nil {
				return err
			}
			if _, err := f.Write(newKey); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := fsys.Rename(f.Name(), filepath.Join(dir, "key")); err != nil {
				return err
			}
			return fsys.SyncDir(dir)
		}
	}
	// Temp file, fsync, rename, but no directory fsync.
	noDirSync := func(fsys FS) error {
		tmp, err := writeTemp(fsys, "/data/key", newKey, 0o600)
		if err != nil {
			return err
		}
		return fsys.Rename(tmp, "/data/key")
	}
	// A new datadir made with a plain mkdir (parent never synced), then
	// the key written durably inside it.
	plainMkdir := func(fsys FS) error {
		for _, d := range []string{"/srv", "/srv/node", "/srv/node/data"} {
			if err := fsys.Mkdir(d, 0o700); err != nil {
				return err
			}
		}
		return CreateFile(fsys, "/srv/node/data/key", newKey, 0o600)
	}
	none := func(*CrashFS) error { return nil }
	for _, c := range []struct {
		name  string
		setup func(*CrashFS) error
		write func(FS) error
		path  string
		ok    func([]byte, bool, bool) string
	}{
		{"os.WriteFile of a new key", none, osWriteFile("/data"), "/data/key", created},
		{"rename without a directory fsync", withOldKey, noDirSync, "/data/key", replaced},
		{"new datadir without a parent fsync", none, plainMkdir, "/srv/node/data/key", created},
	} {
		v := cutEverywhere(t, c.setup, c.write, c.path, c.ok)
		if v == "" {
			t.Errorf("%s: survived every power cut; the check cannot tell a durable write", c.name)
			continue
		}
		t.Logf("%s: caught: %s", c.name, v)
	}
}

// TestCrashFSIsStrict is the control: a write that skips fsync (what
// os.WriteFile does) loses the key to a cut even after it "succeeded", so
// the tests above could catch a missing fsync.
func TestCrashFSIsStrict(t *testing.T) {
	c := NewCrashFS()
	if err := MkdirAll(c, "/data", 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := c.CreateTemp("/data", "key", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("secret"))
	f.Close()
	if err := c.Rename(f.Name(), "/data/key"); err != nil {
		t.Fatal(err)
	}
	c.Cut()
	c.Restart()
	if _, err := c.ReadFile("/data/key"); err == nil {
		t.Fatal("an unsynced file survived the cut")
	}
	// Synced data but an unsynced directory: still lost.
	f, _ = c.CreateTemp("/data", "key", 0o600)
	f.Write([]byte("secret"))
	f.Sync()
	c.Rename(f.Name(), "/data/key")
	c.Cut()
	c.Restart()
	if _, err := c.ReadFile("/data/key"); err == nil {
		t.Fatal("a file whose directory was never synced survived the cut")
	}
}

// TestOSWriteFile runs the real implementation on a temp dir.
func TestOSWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := MkdirAll(OS, dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "f")
	if err := CreateFile(OS, p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(OS, p, []byte("two"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile over a file: %v", err)
	}
	if err := WriteFile(OS, p, []byte("three"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "three" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v", b, fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	if err := Remove(OS, p); err != nil {
		t.Fatal(err)
	}
	if err := Remove(OS, p); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}
