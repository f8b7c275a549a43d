package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/hashicorp/raft"
	"github.com/seqnode/sequencer/sequencer"
)

// fsm is the Raft state machine: committed commands in, entries out. The
// log is the state, so the FSM is persistent: the entries' store records
// the last Raft index whose entries it holds, in the same synced batch,
// and a log Raft replays after a restart is applied only if it is newer.
// A snapshot is the head it reached and the signed requests still live,
// never the log itself (see snapshot).
type fsm struct {
	store *sequencer.LevelStore
	cfg   sequencer.Config

	mu      sync.RWMutex // guards app: Restore may replace it
	app     *sequencer.Applier
	applied uint64 // last Raft index applied; owned by Raft's FSM goroutine

	// catchUp fetches the entries after the store's head up to head from
	// peers, verified, when a snapshot is ahead of this voter's store.
	catchUp func(ctx context.Context, to sequencer.Head, addrs []string) error
	// addrs are this voter's libp2p addresses, written into snapshots so
	// that a voter restoring one knows where to fetch entries.
	addrs  func() []string
	onHalt func(error)
	// restoredReset: a reset's snapshot was restored (it names no peers).
	restoredReset atomic.Bool
	// leader and signed wire each applier to the cluster: a follower
	// takes the leader's signatures instead of signing (Applier.Leader).
	leader func() bool
	signed func(from uint64, sigs [][65]byte)
}

// wire gives app the cluster's leadership and signature hand-over.
func (f *fsm) wire(app *sequencer.Applier) *sequencer.Applier {
	if f.leader != nil {
		app.Leader, app.Signed = f.leader, f.signed
	}
	return app
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(store *sequencer.LevelStore, cfg sequencer.Config) (*fsm, error) {
	app, err := sequencer.NewApplier(store, cfg)
	if err != nil {
		return nil, err
	}
	applied, err := store.Applied()
	if err != nil {
		return nil, err
	}
	return &fsm{store: store, cfg: cfg, app: app, applied: applied}, nil
}

func (f *fsm) applier() *sequencer.Applier {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.app
}

// response is what the leader's ApplyFuture gets for one command: the
// outcome of each op, or why the command could not be applied at all.
type response struct {
	outcomes []sequencer.Outcome
	err      error
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies the commands among logs as one group commit.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	app := f.applier()
	var cmds []sequencer.Command
	var at []int // logs index of each command
	last := f.applied
	for i, l := range logs {
		if l.Index <= f.applied {
			out[i] = response{err: fmt.Errorf("%w: log %d applied before a restart", sequencer.ErrNoQuorum, l.Index)}
			continue
		}
		last = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := decodeCommand(l.Data)
		if errors.Is(err, errNewerCommand) {
			app.Halt(fmt.Errorf("log %d: %w", l.Index, err))
			if f.onHalt != nil {
				f.onHalt(app.Halted())
			}
			for j := range out {
				out[j] = response{err: sequencer.ErrHalted}
			}
			return out
		}
		if err != nil {
			// Every voter decodes the same committed bytes and skips them
			// alike.
			out[i] = response{err: fmt.Errorf("log %d: %w", l.Index, err)}
			continue
		}
		cmds = append(cmds, c)
		at = append(at, i)
	}
	if last == f.applied {
		return out
	}
	if err := app.Halted(); err != nil {
		for _, i := range at {
			out[i] = response{err: err}
		}
		return out
	}
	res := app.Apply(cmds, last)
	if err := app.Halted(); err != nil {
		// Nothing of this batch is written; this voter must stop, not go
		// on from a state the others do not share.
		if f.onHalt != nil {
			f.onHalt(err)
		}
		for _, i := range at {
			out[i] = response{err: sequencer.ErrHalted}
		}
		return out
	}
	f.applied = last
	for k, i := range at {
		out[i] = response{outcomes: res[k]}
	}
	return out
}

// snapshot is what a Raft snapshot holds: the head the log had at the
// snapshot's index and the signed requests live then (entries carry no
// request, so a voter that fetches entries from peers learns them here).
// The log itself is not copied: a voter behind it fetches the signed
// entries over the sync protocol, from the peers listed.
type snapshot struct {
	Applied  uint64                    `json:"applied"`
	Seq      uint64                    `json:"seq"`
	Hash     common.Hash               `json:"hash"`
	Time     uint64                    `json:"timestamp"`
	Requests []sequencer.RequestRecord `json:"requests"`
	Addrs    []string                  `json:"p2p"`
	// Reset marks the snapshot `sequencer cluster reset` writes: it names
	// no peers, so the voter that restores it takes one of its own once
	// it leads (Cluster.snapshotAfterReset).
	Reset bool `json:"reset,omitempty"`
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	app := f.applier()
	if err := app.Halted(); err != nil {
		return nil, err
	}
	// The snapshot's index must be written: sign and write what this
	// voter holds for the leader's signatures.
	if err := app.Flush(); err != nil {
		return nil, err
	}
	h, _ := app.Head()
	s := &snapshot{Applied: f.applied, Seq: h.Seq, Hash: h.Hash, Time: h.Timestamp, Requests: app.Machine().Requests()}
	if f.addrs != nil {
		s.Addrs = f.addrs()
	}
	return s, nil
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// Restore brings this voter to a snapshot. A store at or past the
// snapshot's head keeps what it has (after checking the head's hash: the
// log is the state); a store behind it fetches the missing entries from
// peers, verified, and takes the snapshot's live requests.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshot
	if err := json.NewDecoder(io.LimitReader(rc, 1<<30)).Decode(&s); err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	head := f.store.Head()
	if head.Seq < s.Seq {
		if f.catchUp == nil {
			return fmt.Errorf("store head %d is behind the snapshot's %d and no peers to fetch from", head.Seq, s.Seq)
		}
		want := sequencer.Head{Seq: s.Seq, Hash: s.Hash, Timestamp: s.Time}
		if err := f.catchUp(context.Background(), want, s.Addrs); err != nil {
			return fmt.Errorf("fetch entries %d..%d for the snapshot: %w", head.Seq+1, s.Seq, err)
		}
		if err := f.store.PutRequests(s.Requests); err != nil {
			return err
		}
	}
	if s.Seq > 0 {
		e, err := f.store.Entry(s.Seq)
		if err != nil {
			return fmt.Errorf("snapshot head %d: %w", s.Seq, err)
		}
		if e.Hash != s.Hash {
			return fmt.Errorf("snapshot head %d has hash %s, this store %s: the logs differ", s.Seq, s.Hash, e.Hash)
		}
	}
	if s.Reset {
		f.restoredReset.Store(true)
	}
	if s.Applied <= f.applied {
		return nil
	}
	if err := f.store.PutApplied(s.Applied); err != nil {
		return err
	}
	app, err := sequencer.NewApplier(f.store, f.cfg)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.app
	f.app = f.wire(app)
	f.applied = s.Applied
	f.mu.Unlock()
	old.Wake()
	return nil
}

// errNotApplied: a command's response was not the FSM's (a log replayed
// after a restart, which no caller waits for).
var errNotApplied = errors.New("cluster: command not applied")
