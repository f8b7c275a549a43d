package cluster

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// The harness runs voters in-process with real components: LevelDB on a
// temp dir (entries and Raft's log), hashicorp/raft over TCP on
// 127.0.0.1, the real Applier. A voter is stopped with Close (its process
// dying) and started again on the same datadir.

type testVoter struct {
	id    string
	dir   string
	store *sequencer.LevelStore
	c     *Cluster
}

type testCluster struct {
	t          testing.TB
	lg         testnode.Log
	members    []Member
	voters     map[string]*testVoter
	fwd        time.Duration
	keys       map[string]*ecdsa.PrivateKey // a voter's own key, if not the log's
	listen     map[string]string            // a voter's listen address, if not its member address
	queueBytes int64                        // --queue-bytes of every voter started from now on
}

func freeAddr(t testing.TB) string { return testnode.FreeAddr(t) }

var quiet = testnode.QuietLogger

func newTestCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	return newTestClusterWith(t, n, nil)
}

// newTestClusterWith starts n voters; keys gives some of them a key of
// their own (a misconfigured voter).
func newTestClusterWith(t testing.TB, n int, keys map[string]*ecdsa.PrivateKey) *testCluster {
	t.Helper()
	return newTestClusterOpts(t, n, keys, false)
}

// newTestClusterOpts: byName gives every voter the member address
// localhost:PORT while it listens on 127.0.0.1:PORT.
func newTestClusterOpts(t testing.TB, n int, keys map[string]*ecdsa.PrivateKey, byName bool) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, lg: testnode.NewLog(t), voters: map[string]*testVoter{}, fwd: 3 * time.Second, keys: keys, listen: map[string]string{}}
	for i := range n {
		m := Member{ID: fmt.Sprintf("v%d", i+1), Addr: freeAddr(t)}
		if byName {
			tc.listen[m.ID] = m.Addr
			m.Addr = strings.Replace(m.Addr, "127.0.0.1", "localhost", 1)
		}
		tc.members = append(tc.members, m)
	}
	for _, m := range tc.members {
		tc.start(m.ID, t.TempDir(), false)
	}
	t.Cleanup(func() {
		for _, v := range tc.voters {
			v.stop()
		}
	})
	return tc
}

func (tc *testCluster) config(id, dir string, store *sequencer.LevelStore, join bool) Config {
	key := tc.lg.Key
	if k := tc.keys[id]; k != nil {
		key = k
	}
	return Config{
		NodeID:     id,
		Members:    tc.members,
		Join:       join,
		DataDir:    dir,
		ListenAddr: tc.listen[id],
		Store:      store,
		Sequencer: sequencer.Config{
			Key: key, Domain: tc.lg.Domain, Logger: quiet(), MaxInFlight: 1000, QueueBytes: tc.queueBytes,
		},
		ForwardTimeout:   tc.fwd,
		HeartbeatTimeout: 300 * time.Millisecond,
		ElectionTimeout:  300 * time.Millisecond,
	}
}

// start starts voter id on dir (a fresh or a used datadir).
func (tc *testCluster) start(id, dir string, join bool) *testVoter {
	tc.t.Helper()
	st := testnode.OpenStore(tc.t, dir)
	c, err := Start(tc.config(id, dir, st, join))
	if err != nil {
		st.Close()
		tc.t.Fatalf("start %s: %v", id, err)
	}
	v := &testVoter{id: id, dir: dir, store: st, c: c}
	tc.voters[id] = v
	return v
}

func (v *testVoter) stop() {
	if v.c == nil {
		return
	}
	v.c.Close()
	v.store.Close()
	v.c = nil
}

// leader waits until the running voters agree on a leader among them.
func (tc *testCluster) leader() *testVoter {
	tc.t.Helper()
	var l *testVoter
	wire.WaitFor(tc.t, testnode.WaitLong, "a leader", func() bool {
		for _, v := range tc.voters {
			if v.c != nil && v.c.IsLeader() {
				l = v
				return true
			}
		}
		return false
	})
	return l
}

func (tc *testCluster) running() []*testVoter {
	var out []*testVoter
	for _, m := range tc.members {
		if v := tc.voters[m.ID]; v != nil && v.c != nil {
			out = append(out, v)
		}
	}
	return out
}

func (tc *testCluster) follower() *testVoter {
	l := tc.leader()
	for _, v := range tc.running() {
		if v != l {
			return v
		}
	}
	tc.t.Fatal("no follower running")
	return nil
}

func submit(v *testVoter, op sequencer.Op) (sequencer.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testnode.WaitLong)
	defer cancel()
	return v.c.Enqueue(op).Wait(ctx)
}

func leaseOp(lineage, id, data string) sequencer.Op {
	op := testnode.TxOp(data)
	op.Lineage, op.ExternalID = lineage, id
	return op
}

// converge waits until every running voter holds the same head and checks
// that their logs are identical, entry by entry, and verify.
func (tc *testCluster) converge() sequencer.Head {
	tc.t.Helper()
	rs := tc.running()
	want := tc.leader().store
	wire.WaitFor(tc.t, testnode.WaitLong, "voters to converge", func() bool {
		h := want.Head()
		for _, v := range rs {
			if v.store.Head() != h {
				return false
			}
		}
		return true
	})
	for _, v := range rs {
		testnode.AssertSameLog(tc.t, want, v.store)
	}
	return want.Head()
}
