package testnode

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/seqnode/sequencer/sequencer"
)

// Publisher is the libp2p side of a test primary (a *p2p.Node). The
// harness names no p2p type, so that p2p's own in-package tests can use
// it too (they cannot import a package that imports p2p).
type Publisher interface {
	Publish([]*sequencer.Entry)
	Close()
}

// Primary is a primary in-process: its store on a temp dir, its node, and
// its sequencer publishing every durable group (unless NoPublish).
type Primary[N Publisher] struct {
	Log   Log
	Dir   string
	Store *sequencer.LevelStore
	Node  N
	Seq   *sequencer.Sequencer
	opts  PrimaryOpts
}

// PrimaryOpts configures a test primary.
type PrimaryOpts struct {
	Dir          string           // datadir of the store; a fresh one if empty
	Now          func() time.Time // the sequencer's clock
	MaxDataBytes int
	NoPublish    bool // entries reach peers by sync only
	NoSeq        bool // no sequencer yet (StartSequencer: recovery runs first)
}

// StartPrimary opens the store, starts the node with newNode, and (unless
// NoSeq) the sequencer; everything stops at the test's end.
func StartPrimary[N Publisher](t testing.TB, lg Log, o PrimaryOpts, newNode func(*sequencer.LevelStore) N) *Primary[N] {
	t.Helper()
	p := &Primary[N]{Log: lg, Dir: o.Dir, opts: o}
	if p.Dir == "" {
		p.Dir = t.TempDir()
	}
	p.Store = OpenStore(t, p.Dir)
	p.Node = newNode(p.Store)
	t.Cleanup(p.Close)
	if !o.NoSeq {
		p.StartSequencer(t)
	}
	return p
}

// StartSequencer starts the sequencer (of a primary started with NoSeq).
func (p *Primary[N]) StartSequencer(t testing.TB) {
	t.Helper()
	cfg := sequencer.Config{Key: p.Log.Key, Domain: p.Log.Domain, Logger: QuietLogger(),
		Now: p.opts.Now, MaxDataBytes: p.opts.MaxDataBytes, MaxInFlight: 1000}
	if !p.opts.NoPublish {
		cfg.OnCommit = p.Node.Publish
	}
	s, err := sequencer.New(p.Store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Seq = s
}

// Close stops the primary in shutdown order; safe to call twice.
func (p *Primary[N]) Close() {
	if p.Seq != nil {
		p.Seq.Close()
	}
	p.Node.Close()
	p.Store.Close()
}

// QuietLogger discards everything: the logger of in-process nodes whose
// logs a test does not read.
func QuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
