package sequencer

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Core is the one step of a log: the ticket state and the head it has
// reached, advanced one op (the primary) or one signed entry (a replica, the
// offline verifier) at a time. It has no goroutine, no clock and no I/O, so
// the same inputs give the same entries on every node, every time: the
// pipeline, the mirror, Verify and the tests all drive a Core, and a
// replicated state machine can replay one.
//
// On a node whose final records are a Cache, the records an op or an entry
// names are loaded (Cache.LoadOp, Cache.LoadEntry) before it reaches the
// Core. Signing is not the Core's: an entry is fully chained and hashed
// here, and signed after.
type Core struct {
	state       *State
	hasher      *Hasher
	head        Head
	maxInFlight int
}

// NewCore returns the core of the log under domain d whose state is st at
// head. maxInFlight is the --max-in-flight limit on new leases (Step only).
func NewCore(d Domain, st *State, head Head, maxInFlight int) *Core {
	return &Core{state: st, hasher: NewHasher(d), head: head, maxInFlight: maxInFlight}
}

// Head is the last entry the core has chained or followed.
func (c *Core) Head() Head { return c.head }

// State is the state at Head.
func (c *Core) State() *State { return c.state }

// Step decides op at time nowMillis (Unix milliseconds). A New entry is
// chained onto the head — seq, prevHash, a timestamp that never goes
// back, its EIP-712 hash — and applied; only its signature is missing.
// The error is not the op's: the rules and their table disagree, a broken
// invariant of our own after which the core must not go on.
func (c *Core) Step(op *Op, nowMillis uint64) (Decision, error) {
	d := c.state.Decide(op, c.maxInFlight)
	if d.New == nil {
		return d, nil
	}
	e := d.New
	e.Seq = c.head.Seq + 1
	e.PrevHash = c.head.Hash
	e.Timestamp = max(nowMillis, c.head.Timestamp)
	e.Hash = c.hasher.EntryHash(e)
	if err := c.state.Apply(e); err != nil {
		return Decision{}, fmt.Errorf("logic error: %w", err)
	}
	c.head = Head{Seq: e.Seq, Hash: e.Hash, Timestamp: e.Timestamp}
	return d, nil
}

// Follow checks that the signed entry e continues the log — the next seq,
// the head's hash as prevHash, a timestamp that does not go back, its hash
// and data as CheckSigned checks them, and the rules of SPEC §3 — and
// applies it. On error nothing changed. The signature is not checked here
// (see CheckSigned: replicas check it before, in parallel).
func (c *Core) Follow(e *Entry) error {
	switch {
	case e.Seq > c.head.Seq+1:
		return fmt.Errorf("%w: entry %d, head %d", ErrGap, e.Seq, c.head.Seq)
	case e.Seq != c.head.Seq+1:
		return fmt.Errorf("seq %d follows %d", e.Seq, c.head.Seq)
	case e.PrevHash != c.head.Hash:
		return fmt.Errorf("seq %d: %w: prevHash %s, head %d has hash %s", e.Seq, ErrNotChained, e.PrevHash, c.head.Seq, c.head.Hash)
	case e.Timestamp < c.head.Timestamp:
		return fmt.Errorf("seq %d: timestamp %d goes back (head %d has %d)", e.Seq, e.Timestamp, c.head.Seq, c.head.Timestamp)
	}
	if err := checkFields(c.hasher, e); err != nil {
		return err
	}
	if err := c.state.Apply(e); err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	c.head = Head{Seq: e.Seq, Hash: e.Hash, Timestamp: e.Timestamp}
	return nil
}

// CheckSigned checks what one signed entry proves on its own, wherever it
// comes from (gossip, a range fetch, the offline verifier, a client): a
// known kind, its hash recomputed from its fields, data only on a tx and
// hashing to its dataHash, the primary as the sender of an entry the node
// writes on its own (SPEC §2), and the primary's signature. It does not
// look at the log (Core.Follow does). Safe for concurrent use with
// distinct Hashers.
func CheckSigned(h *Hasher, primary common.Address, e *Entry) error {
	if err := checkFields(h, e); err != nil {
		return err
	}
	return checkSigner(primary, e)
}

// checkFields is the part of CheckSigned that needs no signature recovery.
func checkFields(h *Hasher, e *Entry) error {
	if !e.Kind.Valid() {
		return fmt.Errorf("seq %d: unknown kind %d", e.Seq, e.Kind)
	}
	if e.Seq == 0 {
		return errors.New("seq 0")
	}
	if got := h.EntryHash(e); got != e.Hash {
		return fmt.Errorf("seq %d: hash %s, recomputed %s", e.Seq, e.Hash, got)
	}
	if e.Kind == KindTx {
		if got := h.keccak(e.Data); got != e.DataHash {
			return fmt.Errorf("seq %d: dataHash %s, data hashes to %s", e.Seq, e.DataHash, got)
		}
	} else if len(e.Data) > 0 {
		return fmt.Errorf("seq %d: %s entry carries data", e.Seq, e.Kind)
	}
	return nil
}

// checkSigner checks the primary's signature, and the primary as the
// sender of an entry the node writes on its own (SPEC §2).
func checkSigner(primary common.Address, e *Entry) error {
	if e.Kind.NodeWritten() && e.Sender != primary {
		return fmt.Errorf("seq %d: %s entry with sender %s, not the primary %s", e.Seq, e.Kind, e.Sender, primary)
	}
	signer, err := Recover(e.Hash, e.Signature[:])
	if err != nil {
		return fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	if signer != primary {
		return fmt.Errorf("seq %d: signed by %s, not the primary %s", e.Seq, signer, primary)
	}
	return nil
}
