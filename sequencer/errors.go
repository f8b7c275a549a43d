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
	ErrClosed          = errors.New("sequencer closed")
	ErrCorrupt         = errors.New("corrupt log")
	ErrInUse           = errors.New("datadir in use")
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
