package sequencer

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Command is one group of ops as a cluster replicates it (SPEC §8): the
// ops, already validated and authorized by the voter that took them, and
// what the leader chose for them — its clock and its --max-in-flight — so
// that every voter that applies the command writes the same entries, byte
// for byte (signatures are deterministic, RFC 6979).
type Command struct {
	// Log names the log the leader writes: keccak256(signer ‖ EIP-712
	// domain separator). A voter whose key or domain differs skips the
	// command rather than sign it for another log (see Apply).
	Log         common.Hash
	NowMillis   uint64
	MaxInFlight int
	Ops         []Op
	// Sigs are the leader's signatures of the entries from seq SigsFrom
	// on, which it wrote after their commands committed: a follower
	// holding those entries unsigned writes them with these (see Apply).
	SigsFrom uint64
	Sigs     [][65]byte
}

// LogID is a Command's Log for the log signed by signer under d.
func LogID(signer common.Address, d Domain) common.Hash {
	sep := d.Separator()
	return crypto.Keccak256Hash(signer[:], sep[:])
}

// ErrOtherLog answers the ops of a command for another log than the
// applier's: a voter started with another key or domain than the leader.
var ErrOtherLog = errors.New("the cluster's voters disagree on the log's key or domain")

// Outcome answers one op of a command.
type Outcome struct {
	Result Result
	Err    error
}

// Applier writes whole commands durably, one call at a time, on the
// goroutine of a replicated state machine: it orders the commands' ops
// with its Machine, signs the new entries (in parallel; on a cluster's
// follower it takes the leader's signatures instead, see Leader) and
// writes them with the records they change and the Raft index they
// complete in one synced batch. It signs only what it is given, and a
// cluster gives it only committed commands: no entry is signed before it
// is committed.
type Applier struct {
	cfg     Config
	store   Store
	address common.Address
	logID   common.Hash
	machine *Machine

	*writeState // why writes halted; the durable head and its channel

	// Leader says whether this voter leads now, Signed takes the
	// signatures a leader made of the entries it wrote (for its next
	// command). With Leader set, a follower keeps the groups it applies
	// unsigned (held) until a command brings their signatures, or it
	// signs them itself (HoldGroups full, Flush). Without it every voter
	// signs what it applies.
	Leader func() bool
	Signed func(from uint64, sigs [][65]byte)
	held   []heldGroup
}

// heldGroup is a group a follower ordered and has not written: it waits
// for the leader's signatures.
type heldGroup struct {
	entries []*Entry
	dirty   Dirty
	signed  int // entries from the start that carry a signature
}

// HoldGroups bounds the groups a follower holds unsigned; past it, it
// signs the oldest itself.
const HoldGroups = 32

// NewApplier loads store's state for applying commands. cfg's Key,
// Domain, Signers, Logger, Metrics and OnCommit are used; MaxInFlight and
// the clock come with each command. Signed requests are forgotten only by
// the commands' clock, never by this node's.
func NewApplier(store Store, cfg Config) (*Applier, error) {
	cfg.SetDefaults()
	addr, m, err := openWriter(store, cfg, 0)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics != nil {
		cfg.Metrics.setHead(store.Head().Seq)
	}
	return &Applier{cfg: cfg, store: store, address: addr, logID: LogID(addr, cfg.Domain), machine: m, writeState: newWriteState(store, cfg.Logger, cfg.Metrics)}, nil
}

// LogID is the Log of the commands this applier applies.
func (a *Applier) LogID() common.Hash { return a.logID }

// Address is the log's signer.
func (a *Applier) Address() common.Address { return a.address }

// Store is the store the applier writes.
func (a *Applier) Store() Store { return a.store }

// Logger is the applier's logger.
func (a *Applier) Logger() *slog.Logger { return a.cfg.Logger }

// Machine is the applier's machine (for snapshots: call it from the
// applying goroutine only).
func (a *Applier) Machine() *Machine { return a.machine }

// Apply applies cmds, consecutive commands whose last is Raft index
// applied, and returns each op's outcome. Their entries are written in one
// synced batch with applied. After a failure to write or a broken
// invariant the applier halts: it writes nothing more, and every later
// call answers ErrHalted, so that a voter never goes on from a state the
// others do not share.
func (a *Applier) Apply(cmds []Command, applied uint64) [][]Outcome {
	out := make([][]Outcome, len(cmds))
	if err := a.Halted(); err != nil {
		return failAll(cmds, out, err)
	}
	var g Group
	answers := make([][]Answer, len(cmds))
	var now uint64
	for i := range cmds {
		c := &cmds[i]
		if c.Log != a.logID {
			// Every voter of one key and domain skips it alike; one that
			// was started with another key never signs for this log.
			a.cfg.Logger.Error("skipping a command for another log: every voter must run with the same key and domain", "command", c.Log, "ours", a.logID)
			answers[i] = make([]Answer, len(c.Ops))
			for j := range answers[i] {
				answers[i][j] = Answer{Idx: -1, Err: ErrOtherLog}
			}
			continue
		}
		a.machine.SetMaxInFlight(c.MaxInFlight)
		now = max(now, c.NowMillis)
		answers[i] = make([]Answer, len(c.Ops))
		for j := range c.Ops {
			ans, err := a.machine.Order(&g, &c.Ops[j], c.NowMillis)
			if err != nil {
				a.Halt(err)
				return failAll(cmds, out, ErrHalted)
			}
			answers[i][j] = ans
		}
	}
	a.machine.Seal(&g, max(now, a.machine.Head().Timestamp)/1000)
	g.Dirty.Applied = applied
	if err := a.place(cmds, &g); err != nil {
		a.Halt(fmt.Errorf("%w: %v", ErrHalted, err))
		return failAll(cmds, out, ErrHalted)
	}
	for i, as := range answers {
		out[i] = make([]Outcome, len(as))
		for j, ans := range as {
			out[i][j] = a.answer(&g, ans)
		}
	}
	return out
}

func (a *Applier) answer(g *Group, ans Answer) Outcome {
	switch {
	case ans.Err != nil:
		return Outcome{Err: ans.Err}
	case ans.Idx >= 0:
		return Outcome{Result: Result{Entry: g.Entries[ans.Idx]}}
	}
	if n := len(g.Entries); n > 0 && ans.ExistingSeq >= g.Entries[0].Seq {
		return Outcome{Result: Result{Entry: g.Entries[ans.ExistingSeq-g.Entries[0].Seq], Existing: true}}
	}
	e, err := a.store.Entry(ans.ExistingSeq)
	return Outcome{Result: Result{Entry: e, Existing: true}, Err: err}
}

// place writes the group g: signed here on a leader (or without Leader),
// else held until the signatures the commands bring cover it.
func (a *Applier) place(cmds []Command, g *Group) error {
	if a.Leader == nil {
		return a.write(g.Entries, g.Dirty, true)
	}
	if a.Leader() {
		// What it held as a follower first (the followers may hold it
		// too, waiting for signatures a leader that died never sent).
		if err := a.flush(a.report); err != nil {
			return err
		}
		if err := a.write(g.Entries, g.Dirty, true); err != nil {
			return err
		}
		a.report(g.Entries)
		return nil
	}
	if len(g.Entries) > 0 {
		a.held = append(a.held, heldGroup{entries: g.Entries, dirty: g.Dirty})
	} else if g.Dirty.Applied > 0 && len(a.held) > 0 {
		// Nothing new, but the Raft index moves on with the last held group.
		a.held[len(a.held)-1].dirty.Applied = g.Dirty.Applied
	}
	for i := range cmds {
		if cmds[i].Log == a.logID {
			a.takeSigs(cmds[i].SigsFrom, cmds[i].Sigs)
		}
	}
	for len(a.held) > 0 && a.held[0].signed == len(a.held[0].entries) {
		if err := a.writeHeld(false); err != nil {
			return err
		}
	}
	for len(a.held) > HoldGroups {
		if err := a.writeHeld(true); err != nil {
			return err
		}
	}
	return nil
}

// report hands the signatures of entries a leader wrote to Signed.
func (a *Applier) report(es []*Entry) {
	if a.Signed == nil || len(es) == 0 {
		return
	}
	sigs := make([][65]byte, len(es))
	for i, e := range es {
		sigs[i] = e.Signature
	}
	a.Signed(es[0].Seq, sigs)
}

// takeSigs sets the signatures from seq from on the held entries they
// name (in order: a group's entries are signed from its start).
func (a *Applier) takeSigs(from uint64, sigs [][65]byte) {
	for i := range a.held {
		hg := &a.held[i]
		for hg.signed < len(hg.entries) {
			e := hg.entries[hg.signed]
			if e.Seq < from || e.Seq >= from+uint64(len(sigs)) {
				break
			}
			e.Signature = sigs[e.Seq-from]
			hg.signed++
		}
	}
}

// writeHeld writes the oldest held group: with the leader's signatures
// (its first and last checked: a leader that sent others is a bug this
// voter must not store), or signed here when sign is set or a check fails.
func (a *Applier) writeHeld(sign bool) error {
	hg := a.held[0]
	for _, e := range []*Entry{hg.entries[0], hg.entries[len(hg.entries)-1]} {
		if sign {
			break
		}
		if signer, err := Recover(e.Hash, e.Signature[:]); err != nil || signer != a.address {
			a.cfg.Logger.Error("the leader's signature of a committed entry does not check: signing the group here", "seq", e.Seq, "err", err)
			sign = true
		}
	}
	if err := a.write(hg.entries, hg.dirty, sign); err != nil {
		return err
	}
	a.held = a.held[1:]
	return nil
}

// Flush writes every held group, signing what has no signature yet: a
// voter that becomes leader, or takes a snapshot, holds nothing.
func (a *Applier) Flush() error {
	if err := a.flush(nil); err != nil {
		a.Halt(fmt.Errorf("%w: %v", ErrHalted, err))
		return err
	}
	return nil
}

// flush writes every held group in order and hands each one's entries to
// done (when set) once written.
func (a *Applier) flush(done func([]*Entry)) error {
	for len(a.held) > 0 {
		es := a.held[0].entries
		if err := a.writeHeld(a.held[0].signed < len(es)); err != nil {
			return err
		}
		if done != nil {
			done(es)
		}
	}
	return nil
}

// write signs entries (when sign is set) and commits them with d in one
// synced batch.
func (a *Applier) write(entries []*Entry, d Dirty, sign bool) error {
	if len(entries) == 0 {
		return nil
	}
	if sign {
		if err := signAll(entries, a.cfg.Key, a.cfg.Signers); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := a.store.Commit(entries, d); err != nil {
		return err
	}
	if m := a.cfg.Metrics; m != nil {
		m.observeCommit(entries, time.Since(start))
	}
	a.Wake()
	if a.cfg.OnCommit != nil {
		a.cfg.OnCommit(entries)
	}
	return nil
}

func failAll(cmds []Command, out [][]Outcome, err error) [][]Outcome {
	for i, c := range cmds {
		out[i] = make([]Outcome, len(c.Ops))
		for j := range out[i] {
			out[i][j] = Outcome{Err: err}
		}
	}
	return out
}

// signAll signs entries with key on up to workers goroutines.
func signAll(entries []*Entry, key *ecdsa.PrivateKey, workers int) error {
	n := len(entries)
	workers = max(1, min(workers, n/8))
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for i := 0; i < n; i += chunk {
		wg.Add(1)
		go func(es []*Entry) {
			defer wg.Done()
			for _, e := range es {
				sig, err := Sign(e.Hash, key)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				e.Signature = sig
			}
		}(entries[i:min(i+chunk, n)])
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}
