package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/raft"
	"github.com/seqnode/sequencer/sequencer"
)

// NewClusterState writes into dir, a voter's Raft directory that must not
// exist yet, the Raft state of a new cluster whose only voter is self and
// whose state is the log store holds: a snapshot at Raft index 1 carrying
// the log's head and the signed requests still live (what a snapshot
// always carries), with no Raft log after it. Started on it, the voter
// leads a cluster of one and writes on from its head; a voter added later
// finds no Raft log before index 2, so it is sent the snapshot and fetches
// the entries up to that head from its peers, as any voter behind a
// snapshot does. For `sequencer cluster reset`, the way back from a
// majority lost for good; the store's applied index must be set to 0 after.
func NewClusterState(dir string, store *sequencer.LevelStore, self Member, now time.Time) error {
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s exists: move it aside first", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
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
	s := &snapshot{Applied: 1, Seq: h.Seq, Hash: h.Hash, Time: h.Timestamp, Requests: live}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(self.ID), Address: raft.ServerAddress(self.Addr)}}}
	// The snapshot's metadata also lists the peers in the old format, which
	// takes a transport to encode them; an in-memory one does.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(self.Addr))
	defer trans.Close()
	sink, err := snaps.Create(1, 1, 1, conf, 1, trans)
	if err != nil {
		return err
	}
	return s.Persist(sink) // Persist closes (or cancels) the sink
}
