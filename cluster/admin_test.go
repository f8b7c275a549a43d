package cluster

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// taggedServer serves h on 127.0.0.1 the way a voter's cluster port serves
// its admin routes: each connection opens with the connForward tag.
func taggedServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tagStripper{ln}) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedAddr is an address on 127.0.0.1 nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type tagStripper struct{ net.Listener }

func (l tagStripper) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tag := make([]byte, 1)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(tag); err != nil || tag[0] != connForward {
			c.Close()
			continue
		}
		_ = c.SetReadDeadline(time.Time{})
		return c, nil
	}
}

// answers returns a handler giving the i-th request (from 0) the i-th
// answer, and the last answer to every request after, and counts them.
func answers(calls *atomic.Int32, each ...func(w http.ResponseWriter)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		each[min(i, len(each)-1)](w)
	}
}

func status(code int, v any) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { writeJSON(w, code, v) }
}

// A membership change whose leader lost its leadership before the change
// committed is sent again, through the voter named, to the next leader;
// errors that retrying cannot mend are returned at once.
func TestAdminChangeFollowsLeadership(t *testing.T) {
	defer func(d time.Duration) { adminRetryWait = d }(adminRetryWait)
	adminRetryWait = 10 * time.Millisecond
	ok := status(http.StatusOK, Status{State: "Leader", Head: 7})

	t.Run("leadership lost, then a new leader", func(t *testing.T) {
		var viaCalls, oldCalls, newCalls atomic.Int32
		newLeader := taggedServer(t, answers(&newCalls, ok))
		// The old leader loses its leadership under the change, knows no
		// leader during the election, then names the new one.
		oldLeader := taggedServer(t, answers(&oldCalls,
			status(http.StatusServiceUnavailable, map[string]any{"error": raft.ErrLeadershipLost.Error(), "retry": true}),
			status(http.StatusConflict, map[string]any{"error": "not the leader", "leader": "", "retry": true}),
			status(http.StatusConflict, map[string]any{"error": "not the leader", "leader": newLeader})))
		via := taggedServer(t, answers(&viaCalls,
			status(http.StatusConflict, map[string]any{"error": "not the leader", "leader": oldLeader})))
		st, err := NewAdmin(10*time.Second).RemoveVoter(via, "v2")
		if err != nil {
			t.Fatal(err)
		}
		if st.Head != 7 || viaCalls.Load() != 1 || oldCalls.Load() != 3 || newCalls.Load() != 1 {
			t.Fatalf("status %+v; calls: named voter %d, old leader %d, new leader %d; want 1, 3, 1",
				st, viaCalls.Load(), oldCalls.Load(), newCalls.Load())
		}
	})

	t.Run("a leader that went away", func(t *testing.T) {
		dead := closedAddr(t)
		var viaCalls atomic.Int32
		via := taggedServer(t, answers(&viaCalls,
			status(http.StatusConflict, map[string]any{"error": "not the leader", "leader": dead}),
			ok))
		if _, err := NewAdmin(10*time.Second).AddVoter(via, Member{ID: "v4", Addr: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		if viaCalls.Load() != 2 {
			t.Fatalf("named voter called %d times, want 2", viaCalls.Load())
		}
	})

	t.Run("not retried", func(t *testing.T) {
		var calls atomic.Int32
		via := taggedServer(t, answers(&calls,
			status(http.StatusServiceUnavailable, map[string]any{"error": raft.ErrUnsupportedProtocol.Error(), "retry": false})))
		_, err := NewAdmin(10*time.Second).RemoveVoter(via, "v2")
		if err == nil || !strings.Contains(err.Error(), raft.ErrUnsupportedProtocol.Error()) || calls.Load() != 1 {
			t.Fatalf("err %v after %d calls; want the voter's error after 1", err, calls.Load())
		}
		// The voter named on the command line is not there: no retry.
		gone := closedAddr(t)
		start := time.Now()
		if _, err := NewAdmin(10*time.Second).RemoveVoter(gone, "v2"); err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %v; want a dial error at once", err, time.Since(start))
		}
		// No timeout: no deadline (as before retries came).
		calls.Store(0)
		via = taggedServer(t, answers(&calls, ok))
		if st, err := NewAdmin(0).Status(via); err != nil || st.Head != 7 {
			t.Fatalf("status without a timeout: %+v, %v", st, err)
		}
		// A status call is never retried.
		calls.Store(0)
		via = taggedServer(t, answers(&calls, status(http.StatusServiceUnavailable, map[string]any{"error": "busy", "retry": true})))
		if _, err := NewAdmin(10 * time.Second).Status(via); err == nil || calls.Load() != 1 {
			t.Fatalf("status: err %v after %d calls; want an error after 1", err, calls.Load())
		}
	})

	t.Run("retries end at the timeout", func(t *testing.T) {
		var calls atomic.Int32
		via := taggedServer(t, answers(&calls,
			status(http.StatusServiceUnavailable, map[string]any{"error": raft.ErrLeadershipLost.Error(), "retry": true})))
		start := time.Now()
		_, err := NewAdmin(300*time.Millisecond).RemoveVoter(via, "v2")
		if err == nil || !strings.Contains(err.Error(), raft.ErrLeadershipLost.Error()) || calls.Load() < 2 {
			t.Fatalf("err %v after %d calls; want leadership lost after several", err, calls.Load())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("gave up after %v, timeout 300ms", d)
		}
	})
}

// The leader marks a failed change retryable only when leadership moved or
// the change could not be queued in time.
func TestAnswerChangeRetry(t *testing.T) {
	c := &Cluster{}
	for _, tc := range []struct {
		err   error
		retry bool
	}{
		{raft.ErrLeadershipLost, true},
		{raft.ErrNotLeader, true},
		{raft.ErrLeadershipTransferInProgress, true},
		{raft.ErrEnqueueTimeout, true},
		{fmt.Errorf("wrapped: %w", raft.ErrLeadershipLost), true},
		{raft.ErrRaftShutdown, false},
		{raft.ErrUnsupportedProtocol, false},
	} {
		rec := httptest.NewRecorder()
		c.answerChange(rec, tc.err)
		var got struct {
			Error string
			Retry bool
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%v: code %d, body %q", tc.err, rec.Code, rec.Body)
		}
		if got.Error != tc.err.Error() || got.Retry != tc.retry {
			t.Errorf("%v: answered %+v, want retry %v", tc.err, got, tc.retry)
		}
	}
}
