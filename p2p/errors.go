package p2p

import (
	"errors"
	"fmt"
)

// Errors of the wire formats and of the sync protocol. None leaves the
// package: a peer that sends a malformed message is penalized, a failed
// fetch is retried from another peer.
var (
	errMalformed   = errors.New("malformed message")
	errRemote      = errors.New("peer answered with an error")
	errRateLimited = fmt.Errorf("%w: %s", errRemote, msgRateLimited)
)
