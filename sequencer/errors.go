package sequencer

import "errors"

// Sentinel errors of the core. The rpc package maps each to its SPEC §4 code
// in one table; everything else wraps these with %w and context.
var (
	ErrInvalidParams   = errors.New("invalid params")             // -32602
	ErrNotPrimary      = errors.New("not the primary")            // 4002
	ErrHalted          = errors.New("node halted writes")         // 4009
	ErrUnauthorized    = errors.New("unauthorized")               // 4001
	ErrTooLarge        = errors.New("data too large")             // 4006
	ErrNotFound        = errors.New("not found")                  // 4003
	ErrExternalIDConfl = errors.New("externalId conflict")        // 4008
	ErrTicketFinal     = errors.New("ticket is final")            // 4004
	ErrTooManyInFlight = errors.New("too many tickets in flight") // 4005
	ErrOverloaded      = errors.New("overloaded")                 // 4007
	ErrNoQuorum        = errors.New("no quorum")                  // 4010
	ErrClosed          = errors.New("sequencer closed")
	ErrCorrupt         = errors.New("corrupt log")
	ErrInUse           = errors.New("datadir in use")
)

// ErrStorage marks a failure to read the backing store: the state cannot
// decide, which says nothing about the request or the entry.
var ErrStorage = errors.New("storage read failed")

// errBadSignature: a signature that does not recover to a key (sign.go).
var errBadSignature = errors.New("bad signature")

// Errors of a replica following the primary (mirror.go) and of repairing
// a stored range (rot.go).
var (
	// ErrEquivocation is returned by Mirror.Apply when the primary signed
	// two different entries at one seq; the proof is kept and following
	// stops.
	ErrEquivocation = errors.New("primary equivocated")
	// ErrGap is returned by Mirror.Apply when entries start past head+1.
	ErrGap = errors.New("entries start past the head")
	// ErrNotChained (Core.Follow): the entry's prevHash is not the head's
	// hash.
	ErrNotChained = errors.New("prevHash does not match the head")
	// ErrRejected (Core.Follow): the rules of SPEC §3 do not allow the
	// entry here.
	ErrRejected = errors.New("entry breaks the rules of the log")
	// ErrForkSuspected means a signed entry does not chain onto our head.
	ErrForkSuspected = errors.New("fork suspected")
	// ErrUnanchored is returned by Repair when the entry before the fetched
	// ones cannot be read either: start earlier.
	ErrUnanchored = errors.New("the entry before the fetched range cannot be read")
)

// TicketError carries the ticket that made a call fail (TicketFinal).
type TicketError struct {
	Err    error
	Ticket Ticket
}

func (e *TicketError) Error() string { return e.Err.Error() }
func (e *TicketError) Unwrap() error { return e.Err }

// LimitError carries the limit that a call exceeded (TooLarge, TooManyInFlight).
type LimitError struct {
	Err   error
	Limit int
}

func (e *LimitError) Error() string { return e.Err.Error() }
func (e *LimitError) Unwrap() error { return e.Err }
