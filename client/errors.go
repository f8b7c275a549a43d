package client

import (
	"errors"
	"fmt"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/rpc"
)

// SPEC §4 error codes a caller acts on.
const (
	CodeUnauthorized       = rpc.CodeUnauthorized
	CodeNotPrimary         = rpc.CodeNotPrimary
	CodeNotFound           = rpc.CodeNotFound
	CodeTicketFinal        = rpc.CodeTicketFinal
	CodeTooManyInFlight    = rpc.CodeTooManyInFlight
	CodeTooLarge           = rpc.CodeTooLarge
	CodeOverloaded         = rpc.CodeOverloaded
	CodeExternalIDConflict = rpc.CodeExternalIDConflict
	CodeHalted             = rpc.CodeHalted
)

// Error is a JSON-RPC error answered by the node, with its SPEC code and
// data (for example the Ticket of a TicketFinal error, as JSON).
type Error struct {
	Code    int
	Message string
	Data    any
}

func (e *Error) Error() string { return fmt.Sprintf("sequencer error %d: %s", e.Code, e.Message) }

// Code returns the JSON-RPC error code of err, or 0 when err is not an
// answer of the node (a transport failure, a timeout).
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func wrap(err error) error {
	var re gethrpc.Error
	if !errors.As(err, &re) {
		return err
	}
	out := &Error{Code: re.ErrorCode(), Message: re.Error()}
	var de gethrpc.DataError
	if errors.As(err, &de) {
		out.Data = de.ErrorData()
	}
	return out
}

// ErrNotEquivocation means the pair does not prove an equivocation.
var ErrNotEquivocation = errors.New("not an equivocation")
