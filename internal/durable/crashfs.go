package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ErrPowerCut is what a CrashFS answers once its power is cut.
var ErrPowerCut = errors.New("durable: power cut")

// CrashFS is an in-memory FS that, like a real disk, keeps apart what was
// synced and what was not: file contents are durable only up to the last
// File.Sync, and directory entries (creates, renames, links, removes) only
// once their directory is synced. Cut drops everything else, as a power
// loss does. It is the in-memory twin of OS for power-loss tests; paths
// are treated as plain strings under "/".
type CrashFS struct {
	mu       sync.Mutex
	cur, dur map[string]*node // names now, names that survive a cut
	budget   int              // mutating ops left before an automatic cut; <0: none
	cut      bool
	seq      int
}

type node struct {
	dir          bool
	perm         os.FileMode
	data, synced []byte
}

// NewCrashFS returns an empty file system holding only the root directory.
func NewCrashFS() *CrashFS {
	root := &node{dir: true, perm: 0o755}
	return &CrashFS{cur: map[string]*node{"/": root}, dur: map[string]*node{"/": root}, budget: -1}
}

// CutAfter arranges a power cut at the n-th mutating operation from now
// (creating, writing, syncing, renaming, linking, removing): that
// operation and every later one fail with ErrPowerCut.
func (c *CrashFS) CutAfter(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget = n
}

// Cut cuts the power now: unsynced data and unsynced directory entries are
// lost; later operations fail with ErrPowerCut until Restart.
func (c *CrashFS) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cutLocked()
}

func (c *CrashFS) cutLocked() {
	if c.cut {
		return
	}
	c.cut = true
	c.cur = map[string]*node{}
	// A name survives only if every directory above it does: a file in a
	// directory whose own entry was never synced is lost with it.
	for p := range c.dur {
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			if _, ok := c.dur[d]; !ok {
				delete(c.dur, p)
				break
			}
		}
	}
	for p, n := range c.dur {
		if !n.dir {
			n.data = append([]byte(nil), n.synced...)
		}
		c.cur[p] = n
	}
}

// Restart brings the power back after a cut: what survived is readable.
func (c *CrashFS) Restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut, c.budget = false, -1
}

// ReadFile reads a file as the file system holds it now.
func (c *CrashFS) ReadFile(name string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.cur[clean(name)]
	if !ok || n.dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), n.data...), nil
}

// op charges one mutating operation against the budget.
func (c *CrashFS) op() error {
	if c.cut {
		return ErrPowerCut
	}
	if c.budget == 0 {
		c.cutLocked()
		return ErrPowerCut
	}
	if c.budget > 0 {
		c.budget--
	}
	return nil
}

func clean(p string) string { return filepath.Clean("/" + p) }

func (c *CrashFS) parentDir(p string) error {
	if n, ok := c.cur[filepath.Dir(p)]; !ok || !n.dir {
		return &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return nil
}

// CreateTemp creates a new empty file in dir.
func (c *CrashFS) CreateTemp(dir, pattern string, perm os.FileMode) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.op(); err != nil {
		return nil, err
	}
	c.seq++
	p := clean(filepath.Join(dir, pattern+strconv.Itoa(c.seq)))
	if err := c.parentDir(p); err != nil {
		return nil, err
	}
	n := &node{perm: perm}
	c.cur[p] = n
	return &crashFile{fs: c, n: n, name: p}, nil
}

// Rename moves oldpath to newpath, replacing it.
func (c *CrashFS) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.op(); err != nil {
		return err
	}
	o, nw := clean(oldpath), clean(newpath)
	n, ok := c.cur[o]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	if err := c.parentDir(nw); err != nil {
		return err
	}
	delete(c.cur, o)
	c.cur[nw] = n
	return nil
}

// Link makes newpath name oldpath's file; newpath must not exist.
func (c *CrashFS) Link(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.op(); err != nil {
		return err
	}
	o, nw := clean(oldpath), clean(newpath)
	n, ok := c.cur[o]
	if !ok {
		return &fs.PathError{Op: "link", Path: oldpath, Err: fs.ErrNotExist}
	}
	if _, ok := c.cur[nw]; ok {
		return &fs.PathError{Op: "link", Path: newpath, Err: fs.ErrExist}
	}
	if err := c.parentDir(nw); err != nil {
		return err
	}
	c.cur[nw] = n
	return nil
}

// Remove removes a file or an empty directory.
func (c *CrashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.op(); err != nil {
		return err
	}
	p := clean(name)
	if _, ok := c.cur[p]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(c.cur, p)
	return nil
}

// Mkdir creates a directory.
func (c *CrashFS) Mkdir(name string, perm os.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.op(); err != nil {
		return err
	}
	p := clean(name)
	if _, ok := c.cur[p]; ok {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	if err := c.parentDir(p); err != nil {
		return err
	}
	c.cur[p] = &node{dir: true, perm: perm}
	return nil
}

// Stat reports whether name exists now.
func (c *CrashFS) Stat(name string) (fs.FileInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, ErrPowerCut
	}
	p := clean(name)
	n, ok := c.cur[p]
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return fileInfo{name: filepath.Base(p), n: n}, nil
}

// SyncDir makes dir's current entries the ones that survive a cut.
func (c *CrashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.op(); err != nil {
		return err
	}
	d := clean(dir)
	if n, ok := c.cur[d]; !ok || !n.dir {
		return &fs.PathError{Op: "sync", Path: dir, Err: fs.ErrNotExist}
	}
	for p := range c.dur {
		if filepath.Dir(p) == d && p != d {
			if _, ok := c.cur[p]; !ok {
				delete(c.dur, p)
			}
		}
	}
	for p, n := range c.cur {
		if filepath.Dir(p) == d && p != d {
			c.dur[p] = n
		}
	}
	return nil
}

type crashFile struct {
	fs   *CrashFS
	n    *node
	name string
}

func (f *crashFile) Name() string { return f.name }

func (f *crashFile) Write(b []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.op(); err != nil {
		return 0, err
	}
	f.n.data = append(f.n.data, b...)
	return len(b), nil
}

func (f *crashFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.op(); err != nil {
		return err
	}
	f.n.synced = append([]byte(nil), f.n.data...)
	return nil
}

func (f *crashFile) Close() error { return nil }

type fileInfo struct {
	name string
	n    *node
}

func (i fileInfo) Name() string { return i.name }
func (i fileInfo) Size() int64  { return int64(len(i.n.data)) }
func (i fileInfo) Mode() fs.FileMode {
	if i.n.dir {
		return fs.ModeDir | i.n.perm
	}
	return i.n.perm
}
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.n.dir }
func (i fileInfo) Sys() any           { return nil }
