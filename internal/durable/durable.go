// Package durable writes the small files a node relies on (keys, identity,
// markers) so that a power cut leaves either the old file or the new one,
// complete, never an empty or partial file (SPEC §5): the bytes go to a
// temporary file in the same directory, which is fsynced, then renamed (or
// linked) into place, and the directory is fsynced.
package durable

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is what the writers need of an open file.
type File interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// FS is the file system seam: OS is the real one; CrashFS is an in-memory
// twin that loses what was never synced when its power is cut.
type FS interface {
	CreateTemp(dir, pattern string, perm os.FileMode) (File, error)
	Rename(oldpath, newpath string) error
	// Link makes newpath name oldpath's file; it fails if newpath exists.
	Link(oldpath, newpath string) error
	Remove(name string) error
	Mkdir(name string, perm os.FileMode) error
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory's entries (creates, renames, removes)
	// durable.
	SyncDir(dir string) error
}

// OS is the operating system's file system.
var OS FS = osFS{}

// WriteFile replaces path with data durably: after it returns, a power cut
// leaves data at path; before, the old content or data, never a mix.
func WriteFile(fsys FS, path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(fsys, path, data, perm)
	if err != nil {
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// CreateFile writes a new file at path durably and fails with an error
// satisfying errors.Is(err, fs.ErrExist) if path exists: it never replaces
// a file (a key, say).
func CreateFile(fsys FS, path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(fsys, path, data, perm)
	if err != nil {
		return err
	}
	err = fsys.Link(tmp, path)
	fsys.Remove(tmp)
	if err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// Remove removes path durably (nothing to do if it does not exist).
func Remove(fsys FS, path string) error {
	if err := fsys.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// MkdirAll creates dir and any missing parents, syncing the parent of each
// directory it creates, so that a new datadir survives a power cut.
func MkdirAll(fsys FS, dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	if fi, err := fsys.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(fsys, parent, perm); err != nil {
			return err
		}
	}
	if err := fsys.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return fsys.SyncDir(parent)
}

func writeTemp(fsys FS, path string, data []byte, perm os.FileMode) (string, error) {
	f, err := fsys.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*", perm)
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fsys.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

type osFS struct{}

func (osFS) CreateTemp(dir, pattern string, perm os.FileMode) (File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}
func (osFS) Rename(o, n string) error                  { return os.Rename(o, n) }
func (osFS) Link(o, n string) error                    { return os.Link(o, n) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)     { return os.Stat(name) }
func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
