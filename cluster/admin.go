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
	writeJSON(w, http.StatusConflict, map[string]string{"error": "not the leader", "leader": addr})
	return false
}

func (c *Cluster) answerChange(w http.ResponseWriter, err error) {
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
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
	client *http.Client
}

// NewAdmin returns an Admin whose calls take at most timeout each.
func NewAdmin(timeout time.Duration) *Admin {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dialTagged(addr, connForward, 5*time.Second)
	}}
	return &Admin{client: &http.Client{Transport: tr, Timeout: timeout}}
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

func (a *Admin) do(addr, method, path string, body []byte, out any, toLeader bool) error {
	for hop := 0; ; hop++ {
		req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := a.client.Do(req)
		if err != nil {
			return fmt.Errorf("voter %s: %w", addr, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		var e struct{ Error, Leader string }
		switch {
		case resp.StatusCode == http.StatusOK:
			return json.Unmarshal(b, out)
		case resp.StatusCode == http.StatusConflict && toLeader && hop == 0 && json.Unmarshal(b, &e) == nil && e.Leader != "":
			addr = e.Leader
			continue
		case json.Unmarshal(b, &e) == nil && e.Error != "":
			return fmt.Errorf("voter %s: %s", addr, e.Error)
		}
		return errors.New("voter " + addr + ": " + resp.Status + ": " + string(bytes.TrimSpace(b)))
	}
}
