package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/seqnode/sequencer/sequencer"
)

// A follower forwards a group of writes to the leader over the cluster
// port (HTTP on a connection tagged connForward): POST /forward with the
// ops encoded as in a command; the leader queues them in order, waits for
// their outcomes and answers them as JSON. The follower retries only what
// was never sent (no leader known yet, a refused dial, a leader that says
// it no longer leads before proposing): anything sent may have been
// committed, so its failure is NoQuorum, and the caller's retry with the
// same externalId finds out which.

var (
	errBecameLeader = errors.New("cluster: this voter leads now")
	errNotLeader    = errors.New("cluster: not the leader")
)

// maxForwardBody bounds a forwarded group (the leader's queue bounds it
// anyway): a group of maxGroupData plus its framing.
const maxForwardBody = maxGroupData + 16<<20

type forwarder struct {
	c      *Cluster
	client *http.Client
	done   chan struct{}
}

type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func newForwarder(c *Cluster) *forwarder {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			conn, err := dialTagged(addr, connForward, 2*time.Second)
			if err != nil {
				return nil, &dialError{err}
			}
			return conn, nil
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
	}
	return &forwarder{c: c, client: &http.Client{Transport: tr}, done: make(chan struct{})}
}

func (f *forwarder) close() {
	close(f.done)
	f.client.CloseIdleConnections()
}

// send forwards group to the leader and returns its outcomes.
func (f *forwarder) send(group []*pendingOp) ([]sequencer.Outcome, error) {
	ops := make([]sequencer.Op, len(group))
	for i, p := range group {
		ops[i] = p.op
	}
	body := appendOps(make([]byte, 0, opsSize(ops)), ops)
	deadline := time.Now().Add(f.c.cfg.ForwardTimeout)
	for {
		if f.c.IsLeader() {
			return nil, errBecameLeader
		}
		id, addr := f.c.Leader()
		var err error
		if id != "" && id != f.c.self.ID {
			var outs []sequencer.Outcome
			outs, err = f.post(addr, body, deadline)
			if err == nil {
				return outs, nil
			}
			var de *dialError
			if !errors.As(err, &de) && !errors.Is(err, errNotLeader) {
				return nil, fmt.Errorf("%w: forward to leader %s: %v", sequencer.ErrNoQuorum, id, err)
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("no leader known")
			}
			return nil, &noQuorumError{leader: id, err: err}
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-f.done:
			return nil, sequencer.ErrClosed
		}
	}
}

// noQuorumError is NoQuorum with the leader this voter knew of, if any
// (SPEC §4: data {leader?}).
type noQuorumError struct {
	leader string
	err    error
}

func (e *noQuorumError) Error() string {
	return fmt.Sprintf("no quorum: no leader answered within the forward timeout (%v)", e.err)
}
func (e *noQuorumError) Unwrap() error { return sequencer.ErrNoQuorum }

// Leader is the leader's node id this voter knew of, "" if none.
func (e *noQuorumError) Leader() string { return e.leader }

func (f *forwarder) post(addr string, body []byte, deadline time.Time) ([]sequencer.Outcome, error) {
	// The leader waits up to its own --forward-timeout for the commit.
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(f.c.cfg.ForwardTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/forward", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		return nil, errNotLeader
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("leader answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	var outs []wireOutcome
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxForwardBody)).Decode(&outs); err != nil {
		return nil, fmt.Errorf("leader's answer: %w", err)
	}
	res := make([]sequencer.Outcome, len(outs))
	for i, o := range outs {
		if res[i], err = o.outcome(); err != nil {
			return nil, fmt.Errorf("leader's answer: %w", err)
		}
	}
	return res, nil
}

// forwardHandler is the leader's side.
func (c *Cluster) forwardHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /forward", func(w http.ResponseWriter, r *http.Request) {
		if !c.IsLeader() {
			http.Error(w, "not the leader", http.StatusConflict)
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForwardBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		ops, rest, err := takeOps(b)
		if err != nil || len(rest) != 0 {
			http.Error(w, "damaged ops", http.StatusBadRequest)
			return
		}
		futures := make([]*sequencer.Future, len(ops))
		for i := range ops {
			f, resolve := sequencer.NewFuture()
			c.enqueue(&pendingOp{op: ops[i], resolve: resolve, forwarded: true})
			futures[i] = f
		}
		outs := make([]wireOutcome, len(ops))
		for i, f := range futures {
			res, err := f.Wait(r.Context())
			outs[i] = toWire(res, err)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(outs)
	})
	c.adminRoutes(mux)
	return mux
}

// wireOutcome is one op's outcome on the forward wire.
type wireOutcome struct {
	Entry    []byte     `json:"entry,omitempty"` // binary entry
	Existing bool       `json:"existing,omitempty"`
	Err      *wireError `json:"error,omitempty"`
}

type wireError struct {
	Kind   string            `json:"kind"`
	Msg    string            `json:"msg"`
	Ticket *sequencer.Ticket `json:"ticket,omitempty"`
	Limit  int               `json:"limit,omitempty"`
}

// errorKinds are the core's errors a forwarded write can get, by name:
// the follower answers its caller exactly as the leader would have.
var errorKinds = map[string]error{
	"invalidParams":   sequencer.ErrInvalidParams,
	"notPrimary":      sequencer.ErrNotPrimary,
	"halted":          sequencer.ErrHalted,
	"noQuorum":        sequencer.ErrNoQuorum,
	"unauthorized":    sequencer.ErrUnauthorized,
	"tooLarge":        sequencer.ErrTooLarge,
	"notFound":        sequencer.ErrNotFound,
	"conflict":        sequencer.ErrExternalIDConfl,
	"ticketFinal":     sequencer.ErrTicketFinal,
	"tooManyInFlight": sequencer.ErrTooManyInFlight,
	"overloaded":      sequencer.ErrOverloaded,
	"closed":          sequencer.ErrClosed,
	"storage":         sequencer.ErrStorage,
	"otherLog":        sequencer.ErrOtherLog,
}

// remoteError is an error the leader answered: its message, and the
// sentinel it wraps.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func toWire(res sequencer.Result, err error) wireOutcome {
	if err == nil {
		b, merr := res.Entry.MarshalBinary()
		if merr == nil {
			return wireOutcome{Entry: b, Existing: res.Existing}
		}
		err = merr
	}
	we := &wireError{Kind: "internal", Msg: err.Error()}
	for k, s := range errorKinds {
		if errors.Is(err, s) {
			we.Kind = k
			break
		}
	}
	var te *sequencer.TicketError
	if errors.As(err, &te) {
		t := te.Ticket
		we.Ticket = &t
	}
	var le *sequencer.LimitError
	if errors.As(err, &le) {
		we.Limit = le.Limit
	}
	return wireOutcome{Err: we}
}

func (o wireOutcome) outcome() (sequencer.Outcome, error) {
	if o.Err == nil {
		e := new(sequencer.Entry)
		if err := e.UnmarshalBinary(o.Entry); err != nil {
			return sequencer.Outcome{}, err
		}
		return sequencer.Outcome{Result: sequencer.Result{Entry: e, Existing: o.Existing}}, nil
	}
	kind, ok := errorKinds[o.Err.Kind]
	var err error = &remoteError{msg: o.Err.Msg, kind: kind}
	if !ok {
		err = fmt.Errorf("leader: %s", o.Err.Msg)
	}
	if o.Err.Ticket != nil {
		err = &sequencer.TicketError{Err: err, Ticket: *o.Err.Ticket}
	}
	if o.Err.Limit != 0 {
		err = &sequencer.LimitError{Err: err, Limit: o.Err.Limit}
	}
	return sequencer.Outcome{Err: err}, nil
}
