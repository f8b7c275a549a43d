// Package powercut is a LevelDB storage for power-loss tests. It keeps, per
// file, what was written and what was synced, and Cut drops everything
// that was never synced, as a power loss does (a kill -9 keeps the page
// cache, so it cannot catch a missing fsync). A file's name survives only
// once the directory was synced (SetMeta, a manifest's Sync, SyncDir),
// never by the file's own fsync. It follows the idea of Pebble's strict
// in-memory file system (vfs.NewStrictMem).
package powercut

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"sync"

	"github.com/syndtr/goleveldb/leveldb/storage"
)

// ErrPowerCut is what a storage answers once its power is cut.
var ErrPowerCut = errors.New("powercut: power cut")

type file struct {
	data, synced []byte
	named        bool // the directory entry survives a cut
}

// Storage is a goleveldb storage.Storage in memory with power cuts.
type Storage struct {
	mu      sync.Mutex
	files   map[storage.FileDesc]*file
	meta    storage.FileDesc
	hasMeta bool
	locked  bool
	dead    bool
	// armed: cut the power at the next journal Sync, keeping a random
	// part of what that sync was to make durable (a torn write).
	armed    *rand.Rand
	survivor *Storage
}

var _ storage.Storage = (*Storage)(nil)

// New returns an empty storage.
func New() *Storage { return &Storage{files: map[storage.FileDesc]*file{}} }

// Cut cuts the power: from now on this storage refuses every write (the
// LevelDB still holding it writes into the void), and the returned storage
// holds what survived: each file up to its last Sync, and only files that
// were synced or named by a synced directory. With rng, each file keeps
// in addition a random prefix of what it was writing (a write torn part
// way, as a disk can leave it).
func (s *Storage) Cut(rng *rand.Rand) *Storage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return s.survivor
	}
	return s.cutLocked(rng)
}

// ArmCut cuts the power at the next Sync of a journal: the write it was to
// make durable is torn at a random point (rng) and the sync fails.
func (s *Storage) ArmCut(rng *rand.Rand) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = rng
}

// Survivor returns what survived the cut, or nil while the power is on.
func (s *Storage) Survivor() *Storage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.survivor
}

func (s *Storage) cutLocked(rng *rand.Rand) *Storage {
	s.dead = true
	out := New()
	for fd, f := range s.files {
		if !f.named {
			continue
		}
		keep := append([]byte(nil), f.synced...)
		if rng != nil && len(f.data) > len(f.synced) && bytes.HasPrefix(f.data, f.synced) {
			extra := f.data[len(f.synced):]
			keep = append(keep, extra[:rng.Intn(len(extra)+1)]...)
		}
		out.files[fd] = &file{data: keep, synced: append([]byte(nil), keep...), named: true}
	}
	out.meta, out.hasMeta = s.meta, s.hasMeta
	s.survivor = out
	return out
}

// Files returns a copy of every file's current content (for tests that
// damage one).
func (s *Storage) Files() map[storage.FileDesc][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[storage.FileDesc][]byte{}
	for fd, f := range s.files {
		out[fd] = append([]byte(nil), f.data...)
	}
	return out
}

type unlocker struct{ s *Storage }

func (u unlocker) Unlock() {
	u.s.mu.Lock()
	u.s.locked = false
	u.s.mu.Unlock()
}

// Lock locks the storage.
func (s *Storage) Lock() (storage.Locker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return nil, storage.ErrLocked
	}
	s.locked = true
	return unlocker{s}, nil
}

// Log discards LevelDB's log lines.
func (s *Storage) Log(string) {}

// SetMeta points to the manifest atomically and durably; like goleveldb's
// file storage, it syncs the directory, so every file named now survives.
func (s *Storage) SetMeta(fd storage.FileDesc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return ErrPowerCut
	}
	if _, ok := s.files[fd]; !ok {
		return os.ErrNotExist
	}
	s.nameAll()
	s.meta, s.hasMeta = fd, true
	return nil
}

// GetMeta returns the manifest's descriptor.
func (s *Storage) GetMeta() (storage.FileDesc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasMeta {
		return storage.FileDesc{}, os.ErrNotExist
	}
	if _, ok := s.files[s.meta]; !ok {
		return storage.FileDesc{}, os.ErrNotExist
	}
	return s.meta, nil
}

// List lists the files of the given types.
func (s *Storage) List(ft storage.FileType) ([]storage.FileDesc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.FileDesc
	for fd := range s.files {
		if fd.Type&ft != 0 {
			out = append(out, fd)
		}
	}
	return out, nil
}

type reader struct{ *bytes.Reader }

func (reader) Close() error { return nil }

// Open opens a file for reading (a snapshot of its content).
func (s *Storage) Open(fd storage.FileDesc) (storage.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[fd]
	if !ok {
		return nil, os.ErrNotExist
	}
	return reader{bytes.NewReader(append([]byte(nil), f.data...))}, nil
}

type writer struct {
	s  *Storage
	fd storage.FileDesc
	f  *file
}

func (w writer) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.dead {
		return 0, ErrPowerCut
	}
	w.f.data = append(w.f.data, b...)
	return len(b), nil
}

// Sync makes the file's content durable, not its name (POSIX asks for a
// directory fsync; ext4 happens to give the name with the first fsync, a
// disk need not). Like goleveldb's file storage, a manifest's Sync also
// syncs the directory.
func (w writer) Sync() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.dead {
		return ErrPowerCut
	}
	if w.s.armed != nil && w.fd.Type == storage.TypeJournal {
		w.s.cutLocked(w.s.armed)
		return ErrPowerCut
	}
	w.f.synced = append(w.f.synced[:0], w.f.data...)
	if w.fd.Type == storage.TypeManifest {
		w.s.nameAll()
	}
	return nil
}

// SyncDir makes the name of every file now present durable, as an fsync
// of the directory does.
func (s *Storage) SyncDir() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return ErrPowerCut
	}
	s.nameAll()
	return nil
}

func (s *Storage) nameAll() {
	for _, f := range s.files {
		f.named = true
	}
}

func (w writer) Close() error { return nil }

// Create creates (or truncates) a file for writing.
func (s *Storage) Create(fd storage.FileDesc) (storage.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return nil, ErrPowerCut
	}
	f := &file{}
	s.files[fd] = f
	return writer{s, fd, f}, nil
}

// Remove removes a file.
func (s *Storage) Remove(fd storage.FileDesc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return ErrPowerCut
	}
	if _, ok := s.files[fd]; !ok {
		return os.ErrNotExist
	}
	delete(s.files, fd)
	return nil
}

// Rename renames a file.
func (s *Storage) Rename(oldfd, newfd storage.FileDesc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return ErrPowerCut
	}
	f, ok := s.files[oldfd]
	if !ok {
		return os.ErrNotExist
	}
	delete(s.files, oldfd)
	s.files[newfd] = f
	return nil
}

// Close does nothing: the content stays for a later open.
func (s *Storage) Close() error { return nil }
