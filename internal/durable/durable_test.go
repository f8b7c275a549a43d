package durable

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// countOps runs f on a fresh CrashFS prepared by setup and returns how many
// mutating operations it made.
func countOps(t *testing.T, setup func(*CrashFS), f func(FS) error) int {
	t.Helper()
	c := NewCrashFS()
	setup(c)
	c.CutAfter(1 << 30)
	if err := f(c); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return 1<<30 - c.budget
}

// TestWriteFilePowerCut cuts the power at every operation of a key
// replacement: the file is always the old key or the new one, whole, and
// once WriteFile has returned it is the new one (SPEC §5).
func TestWriteFilePowerCut(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{'o'}, 64), bytes.Repeat([]byte{'n'}, 64)
	setup := func(c *CrashFS) {
		if err := MkdirAll(c, "/data", 0o700); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(c, "/data/key", oldKey, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write := func(fsys FS) error { return WriteFile(fsys, "/data/key", newKey, 0o600) }
	n := countOps(t, setup, write)
	for k := 0; k <= n+1; k++ {
		c := NewCrashFS()
		setup(c)
		c.CutAfter(k)
		err := write(c)
		c.Cut()
		c.Restart()
		got, rerr := c.ReadFile("/data/key")
		if rerr != nil {
			t.Fatalf("cut at op %d: key gone: %v", k, rerr)
		}
		switch {
		case err == nil && !bytes.Equal(got, newKey):
			t.Fatalf("cut at op %d after WriteFile returned: %q, want the new key", k, got)
		case !bytes.Equal(got, oldKey) && !bytes.Equal(got, newKey):
			t.Fatalf("cut at op %d: %q is neither key", k, got)
		}
	}
}

// TestCreateFilePowerCut: a new file (a dev key made on first start) is
// absent or whole after a cut, present once CreateFile returned, in a
// directory MkdirAll just made; and it never replaces an existing file.
func TestCreateFilePowerCut(t *testing.T) {
	key := bytes.Repeat([]byte{'k'}, 65)
	write := func(fsys FS) error {
		if err := MkdirAll(fsys, "/srv/node/data", 0o700); err != nil {
			return err
		}
		return CreateFile(fsys, "/srv/node/data/dev-key.hex", key, 0o600)
	}
	n := countOps(t, func(*CrashFS) {}, write)
	for k := 0; k <= n+1; k++ {
		c := NewCrashFS()
		c.CutAfter(k)
		err := write(c)
		c.Cut()
		c.Restart()
		got, rerr := c.ReadFile("/srv/node/data/dev-key.hex")
		if err == nil && rerr != nil {
			t.Fatalf("cut at op %d after CreateFile returned: %v", k, rerr)
		}
		if rerr == nil && !bytes.Equal(got, key) {
			t.Fatalf("cut at op %d: partial key %q", k, got)
		}
	}
	c := NewCrashFS()
	if err := write(c); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(c, "/srv/node/data/dev-key.hex", []byte("other"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile over an existing key: %v, want ErrExist", err)
	}
	if got, _ := c.ReadFile("/srv/node/data/dev-key.hex"); !bytes.Equal(got, key) {
		t.Fatal("the existing key was replaced")
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
