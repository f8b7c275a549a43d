package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	"github.com/seqnode/sequencer/internal/durable"
	"github.com/seqnode/sequencer/sequencer"
)

// NewClusterState writes into dir, a voter's Raft directory that must not
// exist yet, the Raft state of a new cluster whose only voter is self and
// whose state is the log store holds: a snapshot carrying the log's head
// and the signed requests still live (what a snapshot always carries),
// with no Raft log after it. Started on it, the voter leads a cluster of
// one and writes on from its head; once it leads it takes a snapshot of
// its own (with its p2p addresses), and a voter added later, finding no
// Raft log before it, is sent that snapshot and fetches the entries from
// its peers, as any voter behind a snapshot does.
//
// The snapshot's index is past every Raft index in old (the directories
// earlier Raft state was moved to) and past the index store was applied
// up to, and its term past every old term: a voter of the old cluster
// that comes back cannot pass for the new cluster's leader (a lower term)
// nor match its log, and the store's applied index is raised on restore.
// The state is written beside dir and renamed into place last, so a reset
// cut short leaves no Raft directory (the node then refuses to start, and
// the reset can run again) rather than half of one.
func NewClusterState(dir string, old []string, store *sequencer.LevelStore, self Member, now time.Time) error {
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s exists: move it aside first", dir)
	}
	index, err := store.Applied()
	if err != nil {
		return err
	}
	var term uint64
	for _, o := range old {
		i, t, err := lastOf(o)
		if err != nil {
			return fmt.Errorf("earlier Raft state %s: %w", o, err)
		}
		index, term = max(index, i), max(term, t)
	}
	index, term = index+1, term+1

	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStore(tmp, 2, io.Discard)
	if err != nil {
		return err
	}
	recs, err := store.Requests()
	if err != nil {
		return err
	}
	live := recs[:0]
	for _, r := range recs {
		if r.Deadline >= uint64(now.Unix()) {
			live = append(live, r)
		}
	}
	h := store.Head()
	s := &snapshot{Applied: index, Seq: h.Seq, Hash: h.Hash, Time: h.Timestamp, Requests: live, Reset: true}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(self.ID), Address: raft.ServerAddress(self.Addr)}}}
	// The snapshot's metadata also lists the peers in the old format, which
	// takes a transport to encode them; an in-memory one does.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(self.Addr))
	defer trans.Close()
	sink, err := snaps.Create(1, index, term, conf, index, trans)
	if err != nil {
		return err
	}
	if err := s.Persist(sink); err != nil { // Persist closes (or cancels) the sink
		return err
	}
	// The term voted in so far: the first election is in the next one.
	rs, err := openRaftStore(filepath.Join(tmp, "log"))
	if err != nil {
		return err
	}
	err = rs.SetUint64(keyCurrentTerm, term)
	if cerr := rs.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, d := range []string{tmp, filepath.Join(tmp, "snapshots")} {
		if err := durable.OS.SyncDir(d); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return durable.OS.SyncDir(filepath.Dir(dir))
}

// keyCurrentTerm is where Raft keeps its current term in the stable store.
var keyCurrentTerm = []byte("CurrentTerm")

// lastOf returns the last Raft index and the highest term of the Raft
// state in dir: its log, its stable store and its snapshots.
func lastOf(dir string) (index, term uint64, err error) {
	if _, err := os.Stat(filepath.Join(dir, "log")); err == nil {
		rs, err := openRaftStore(filepath.Join(dir, "log"))
		if err != nil {
			return 0, 0, err
		}
		defer rs.Close()
		if index, err = rs.LastIndex(); err != nil {
			return 0, 0, err
		}
		if term, err = rs.GetUint64(keyCurrentTerm); err != nil && !errors.Is(err, errKeyNotFound) {
			return 0, 0, err
		}
		if index > 0 {
			var l raft.Log
			if err := rs.GetLog(index, &l); err != nil {
				return 0, 0, err
			}
			term = max(term, l.Term)
		}
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		return 0, 0, err
	}
	metas, err := snaps.List()
	if err != nil {
		return 0, 0, err
	}
	for _, m := range metas {
		index, term = max(index, m.Index), max(term, m.Term)
	}
	return index, term, nil
}
