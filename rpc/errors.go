package rpc

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

// SPEC §4 error codes.
const (
	CodeInvalidRequest     = -32600
	CodeInvalidParams      = -32602
	CodeInternal           = -32603
	CodeUnauthorized       = 4001
	CodeNotPrimary         = 4002
	CodeNotFound           = 4003
	CodeTicketFinal        = 4004
	CodeTooManyInFlight    = 4005
	CodeTooLarge           = 4006
	CodeOverloaded         = 4007
	CodeExternalIDConflict = 4008
	CodeHalted             = 4009
	CodeNoQuorum           = 4010

	// A batch whose answer passes the response limit: go-ethereum's code
	// and words, kept as the message's prefix.
	codeResponseTooLarge = -32003
	msgResponseTooLarge  = "response too large"
	msgBatchTooLarge     = "batch too large"
)

// Error is a JSON-RPC error with its code, stable message and data.
type Error struct {
	Code    int
	Message string
	Data    any
}

func (e *Error) Error() string  { return e.Message }
func (e *Error) ErrorCode() int { return e.Code }
func (e *Error) ErrorData() any { return e.Data }

// codeTable maps core sentinels to SPEC codes and their stable messages.
var codeTable = []struct {
	err  error
	code int
	msg  string
}{
	{sequencer.ErrInvalidParams, CodeInvalidParams, ""},
	{sequencer.ErrNotPrimary, CodeNotPrimary, "not the primary: send writes to the primary"},
	{sequencer.ErrHalted, CodeHalted, "halted: the node stopped writing"},
	{sequencer.ErrUnauthorized, CodeUnauthorized, ""},
	{sequencer.ErrTooLarge, CodeTooLarge, "data too large"},
	{sequencer.ErrNotFound, CodeNotFound, "not found"},
	{sequencer.ErrExternalIDConfl, CodeExternalIDConflict, "externalId conflict: same id, different data"},
	{sequencer.ErrTicketFinal, CodeTicketFinal, "ticket final: its state forbids the call"},
	{sequencer.ErrTooManyInFlight, CodeTooManyInFlight, "too many tickets in flight for this lineage"},
	{sequencer.ErrOverloaded, CodeOverloaded, "overloaded: retry later"},
	{sequencer.ErrNoQuorum, CodeNoQuorum, "no quorum: the cluster has no leader this node can reach; retry"},
}

// toRPC maps an error of the core to its JSON-RPC error.
func toRPC(err error, primary common.Address) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	for _, c := range codeTable {
		if !errors.Is(err, c.err) {
			continue
		}
		msg := c.msg
		if msg == "" {
			msg = err.Error()
		} else if c.code == CodeHalted && err.Error() != sequencer.ErrHalted.Error() {
			// The stable message, then why: a storage failure, an
			// equivocation, a primary waiting for its peer check.
			msg += " (" + err.Error() + ")"
		}
		out := &Error{Code: c.code, Message: msg}
		var te *sequencer.TicketError
		var le *sequencer.LimitError
		switch {
		case errors.As(err, &te):
			out.Data = ticketJSON(&te.Ticket)
		case errors.As(err, &le):
			out.Data = map[string]int{"limit": le.Limit}
		case c.code == CodeNotPrimary:
			out.Data = map[string]string{"primary": primary.Hex()}
		case c.code == CodeNoQuorum:
			var kl knownLeader
			if errors.As(err, &kl) && kl.Leader() != "" {
				out.Data = map[string]string{"leader": kl.Leader()}
			}
		}
		return out
	}
	return &Error{Code: CodeInternal, Message: fmt.Sprintf("internal error: %v", err)}
}

// knownLeader is a NoQuorum error that names the leader the node knew of.
type knownLeader interface{ Leader() string }

// notFound names what was not found in a 4003 answer: the code and the
// "not found" prefix are stable, the rest says which record.
func notFound(err error, format string, args ...any) error {
	if !errors.Is(err, sequencer.ErrNotFound) {
		return err
	}
	return &Error{Code: CodeNotFound, Message: "not found: " + fmt.Sprintf(format, args...)}
}

func ticketNotFound(err error, lineage, externalID string) error {
	return notFound(err, "no ticket with externalId %q in lineage %q", externalID, lineage)
}

func invalidParams(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidParams, Message: "invalid params: " + fmt.Sprintf(format, args...)}
}

func unauthorized(reason string) *Error {
	return &Error{Code: CodeUnauthorized, Message: "unauthorized: " + reason}
}
