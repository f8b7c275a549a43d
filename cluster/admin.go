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

	"github.com/hashicorp/raft"
)

// Membership and status, on the cluster port (HTTP on a connection tagged
// connForward, like forwarded writes): GET /status on any voter; POST
// /voters {id, address} and DELETE /voters/{id} on the leader (a follower
// answers 409 with the leader's cluster address, and the client goes
// there). The cluster port carries Raft itself and has no authentication
// of its own: like Raft's traffic it must stay on a private network.

// Status is a voter's view of the cluster (`sequencer cluster status`).
type Status struct {
	Info
	LeaderAddress string `json:"leaderAddress"`
	State         string `json:"state"`
	CommitIndex   uint64 `json:"commitIndex"`
	AppliedIndex  uint64 `json:"appliedIndex"`
	LastIndex     uint64 `json:"lastIndex"`
	Head          uint64 `json:"head"`
	Halted        string `json:"halted,omitempty"`
}

// Status describes this voter and the cluster as it sees it.
func (c *Cluster) Status() Status {
	_, addr := c.Leader()
	h, _ := c.Head()
	s := Status{Info: c.Info(), LeaderAddress: addr, State: c.raft.State().String(),
		CommitIndex: c.raft.CommitIndex(), AppliedIndex: c.raft.AppliedIndex(), LastIndex: c.raft.LastIndex(), Head: h.Seq}
	if err := c.Halted(); err != nil {
		s.Halted = err.Error()
	}
	return s
}

// membershipTimeout bounds a membership change on the leader.
const membershipTimeout = 10 * time.Second

func (c *Cluster) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Status())
	})
	mux.HandleFunc("POST /voters", func(w http.ResponseWriter, r *http.Request) {
		var m Member
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&m); err != nil || m.ID == "" || m.Addr == "" {
			http.Error(w, "want {\"id\": ID, \"address\": HOST:PORT}", http.StatusBadRequest)
			return
		}
		if _, _, err := net.SplitHostPort(m.Addr); err != nil {
			http.Error(w, "address: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !c.leaderOnly(w) {
			return
		}
		err := c.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.Addr), 0, membershipTimeout).Error()
		c.answerChange(w, err)
	})
	mux.HandleFunc("DELETE /voters/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !c.leaderOnly(w) {
			return
		}
		err := c.raft.RemoveServer(raft.ServerID(r.PathValue("id")), 0, membershipTimeout).Error()
		c.answerChange(w, err)
	})
}

func (c *Cluster) leaderOnly(w http.ResponseWriter) bool {
	if c.IsLeader() {
		return true
	}
	_, addr := c.Leader()
	writeJSON(w, http.StatusConflict, map[string]any{"error": "not the leader", "leader": addr, "retry": addr == ""})
	return false
}

// answerChange answers a membership change. A change that failed because
// leadership moved (or could not be queued in time) is marked retry: adding
// or removing the same voter again is harmless, whether or not the first
// attempt was committed, so the client sends it again to whichever voter
// leads next.
func (c *Cluster) answerChange(w http.ResponseWriter, err error) {
	if err != nil {
		retry := errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrNotLeader) ||
			errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrEnqueueTimeout)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "retry": retry})
		return
	}
	writeJSON(w, http.StatusOK, c.Status())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Admin is a client of a voter's cluster port, for the membership and
// status commands.
type Admin struct {
	client  *http.Client
	timeout time.Duration
}

// NewAdmin returns an Admin whose calls take at most timeout each, retries
// included.
func NewAdmin(timeout time.Duration) *Admin {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dialTagged(addr, connForward, 5*time.Second)
	}}
	return &Admin{client: &http.Client{Transport: tr}, timeout: timeout}
}

// Status asks the voter at addr (its cluster address).
func (a *Admin) Status(addr string) (Status, error) {
	var s Status
	err := a.do(addr, http.MethodGet, "/status", nil, &s, false)
	return s, err
}

// AddVoter adds voter m through the leader (found from addr).
func (a *Admin) AddVoter(addr string, m Member) (Status, error) {
	body, _ := json.Marshal(m)
	var s Status
	err := a.do(addr, http.MethodPost, "/voters", body, &s, true)
	return s, err
}

// RemoveVoter removes voter id through the leader (found from addr).
func (a *Admin) RemoveVoter(addr, id string) (Status, error) {
	var s Status
	err := a.do(addr, http.MethodDelete, "/voters/"+id, nil, &s, true)
	return s, err
}

// adminRetryWait is the pause before a change is sent again after the
// leader lost its leadership or none was known (an election takes about
// the election timeout, 500 ms by default).
var adminRetryWait = 250 * time.Millisecond

// do sends one call. A membership change (toLeader) follows the leader a
// follower names, and is sent again when the answer says leadership moved
// under it (to the voter that answered, which learns the next leader) or
// when a leader it was sent on to cannot be reached (from addr again);
// until the Admin's timeout, after which the last answer's error is
// returned.
func (a *Admin) do(addr, method, path string, body []byte, out any, toLeader bool) error {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if a.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
	}
	defer cancel()
	var last error // the last error that was not the deadline's
	for target, followed := addr, false; ; {
		retry, err := a.once(ctx, target, method, path, body, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil && last != nil {
			return fmt.Errorf("%w (still so after %v)", last, a.timeout)
		}
		last = err
		if !toLeader || !retry {
			return err
		}
		var moved leaderAt
		var down unreachable
		switch {
		case errors.As(err, &moved) && !followed:
			target, followed = string(moved), true
			continue // at once, the first time: two voters may name each other for a moment
		case errors.As(err, &moved):
			target = string(moved)
		case errors.As(err, &down) && target == addr:
			return err // the voter named on the command line: no leader lost there
		case errors.As(err, &down):
			target = addr
		}
		followed = false
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (still so after %v)", err, a.timeout)
		case <-time.After(adminRetryWait):
		}
	}
}

// unreachable is a voter that could not be reached or did not answer.
type unreachable struct{ error }

func (u unreachable) Unwrap() error { return u.error }

// leaderAt is a follower's answer to a change: the leader's address.
type leaderAt string

func (l leaderAt) Error() string { return "not the leader; the leader is " + string(l) }

// once sends one request to addr. retry reports an error a membership
// change may be sent again after: the voter is not, or no longer, the
// leader, or a leader it was sent on to cannot be reached.
func (a *Admin) once(ctx context.Context, addr, method, path string, body []byte, out any) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return true, unreachable{fmt.Errorf("voter %s: %w", addr, err)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return true, unreachable{fmt.Errorf("voter %s: %w", addr, err)}
	}
	var e struct {
		Error, Leader string
		Retry         bool
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return false, json.Unmarshal(b, out)
	case resp.StatusCode == http.StatusConflict && json.Unmarshal(b, &e) == nil && e.Leader != "" && e.Leader != addr:
		return true, leaderAt(e.Leader)
	case json.Unmarshal(b, &e) == nil && e.Error != "":
		return e.Retry, fmt.Errorf("voter %s: %s", addr, e.Error)
	}
	return false, errors.New("voter " + addr + ": " + resp.Status + ": " + string(bytes.TrimSpace(b)))
}
