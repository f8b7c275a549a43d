package main

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"github.com/ethereum/go-ethereum/common"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// A cluster of real voter processes on 127.0.0.1 (SPEC §8), with Raft's
// default timing.

type voterProc struct {
	id, dir, clusterAddr, p2p, rpc string
	cur                            atomic.Pointer[testnode.Proc] // the running process
}

func (v *voterProc) proc() *testnode.Proc { return v.cur.Load() }

type procCluster struct {
	t     *testing.T
	spec  string
	extra []string // flags of every voter

	mu     sync.Mutex
	voters []*voterProc // replaced by replace while clients read it
}

// all returns the current voters.
func (pc *procCluster) all() []*voterProc {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return slices.Clone(pc.voters)
}

// replace swaps voter old for a fresh voter with an empty datadir through
// a membership change, as docs/cluster.md's runbook does: old is killed
// for good, removed, and the new voter is started with --cluster-join and
// added; it catches up by itself.
func (pc *procCluster) replace(old *voterProc, id string) *voterProc {
	pc.t.Helper()
	via := pc.leader().clusterAddr
	old.proc().Kill()
	if code, out, errOut := testnode.RunChild(pc.t, testnode.ChildEnv(), 60*time.Second, "cluster", "remove", "--cluster-addr", via, "--id", old.id); code != 0 {
		pc.t.Fatalf("cluster remove: exit %d\n%s%s", code, out, errOut)
	}
	v := &voterProc{id: id, dir: filepath.Join(filepath.Dir(old.dir), id), clusterAddr: testnode.FreeAddr(pc.t), p2p: p2pPort(pc.t), rpc: testnode.FreeAddr(pc.t)}
	pc.mu.Lock()
	pc.spec = strings.Replace(pc.spec, old.id+"="+old.clusterAddr, v.id+"="+v.clusterAddr, 1)
	pc.mu.Unlock()
	p := pc.spawn(v, true)
	via = pc.leader().clusterAddr
	if code, out, errOut := testnode.RunChild(pc.t, testnode.ChildEnv(), 60*time.Second, "cluster", "add", "--cluster-addr", via, "--id", v.id, "--address", v.clusterAddr); code != 0 {
		pc.t.Fatalf("cluster add: exit %d\n%s%s", code, out, errOut)
	}
	pc.waitUp(v, p)
	if pc.t.Failed() {
		pc.t.FailNow()
	}
	pc.mu.Lock()
	pc.voters[slices.Index(pc.voters, old)] = v
	pc.mu.Unlock()
	return v
}

func newProcCluster(t *testing.T, n int, extra ...string) *procCluster {
	t.Helper()
	pc := &procCluster{t: t, extra: extra}
	base := t.TempDir()
	var spec []string
	for i := range n {
		v := &voterProc{id: fmt.Sprintf("v%d", i+1), dir: filepath.Join(base, fmt.Sprintf("v%d", i+1)),
			clusterAddr: testnode.FreeAddr(t), p2p: p2pPort(t), rpc: testnode.FreeAddr(t)}
		pc.voters = append(pc.voters, v)
		spec = append(spec, v.id+"="+v.clusterAddr)
	}
	pc.spec = strings.Join(spec, ",")
	var wg sync.WaitGroup
	procs := make([]*testnode.Proc, n)
	for i, v := range pc.voters {
		procs[i] = pc.spawn(v, false)
	}
	for i, v := range pc.voters {
		wg.Add(1)
		go func() { defer wg.Done(); pc.waitUp(v, procs[i]) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return pc
}

// spawn starts voter v's process on its datadir (join: an empty datadir
// being added to the running cluster); waitUp makes it v's.
func (pc *procCluster) spawn(v *voterProc, join bool) *testnode.Proc {
	pc.mu.Lock()
	spec := pc.spec
	pc.mu.Unlock()
	args := append([]string{"run", "--datadir", v.dir, "--rpc-addr", v.rpc, "--p2p-addr", v.p2p,
		"--cluster", spec, "--node-id", v.id}, pc.extra...)
	if join {
		args = append(args, "--cluster-join")
	}
	p := testnode.Spawn(pc.t, testnode.ChildEnv("PRIVATE_KEY="+testnode.TestKeyHex), args...)
	p.Addr = v.rpc
	return p
}

// waitUp waits until p answers sequencer_info (a voter answers reads
// before it knows a leader), then makes it v's process. Safe on any
// goroutine: it reports with Error.
func (pc *procCluster) waitUp(v *voterProc, p *testnode.Proc) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.Exited() {
			pc.t.Errorf("voter %s exited: %s", v.id, testnode.Tail(p.Stderr(), 4000))
			return
		}
		c, err := gethrpc.Dial("http://" + v.rpc)
		if err == nil {
			var in wire.Info
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = c.CallContext(ctx, &in, "sequencer_info")
			cancel()
			if err == nil {
				p.Client = c
				v.cur.Store(p)
				return
			}
			c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	pc.t.Errorf("voter %s did not answer within 60 s: %s", v.id, testnode.Tail(p.Stderr(), 4000))
}

func (pc *procCluster) restart(v *voterProc, join bool) {
	pc.t.Helper()
	pc.waitUp(v, pc.spawn(v, join))
	if pc.t.Failed() {
		pc.t.FailNow()
	}
}

// leader waits until a running voter says it leads.
func (pc *procCluster) leader() *voterProc {
	pc.t.Helper()
	var l *voterProc
	wire.WaitFor(pc.t, 30*time.Second, "a cluster leader", func() bool {
		for _, v := range pc.all() {
			var in wire.Info
			if v.proc().Exited() || v.proc().Call(&in, "sequencer_info") != nil || in.Cluster == nil {
				continue
			}
			if in.Cluster.Leader == v.id {
				l = v
				return true
			}
		}
		return false
	})
	return l
}

func (pc *procCluster) p2pAddrs() string {
	var out []string
	for _, v := range pc.all() {
		out = append(out, p2pAddr(v.proc()))
	}
	return strings.Join(out, ",")
}

// clusterLoad is a set of clients that write through random voters and
// retry every write, with the same externalId, on another voter until it
// is answered: leases, closes, releases, txs without lineage and syncs.
type clusterLoad struct {
	pc   *procCluster
	stop chan struct{}
	wg   sync.WaitGroup
	// key signs every write (SPEC §4: the voters run with --allow); a
	// retry sends the same signed request again or, every other time, a
	// fresh one (a new deadline) for the same externalId.
	key *ecdsa.PrivateKey

	mu       sync.Mutex
	receipts map[string]wire.Entry // by call: the receipt the client kept
	failed   []string
}

func startClusterLoad(pc *procCluster, workers int, key *ecdsa.PrivateKey) *clusterLoad {
	l := &clusterLoad{pc: pc, stop: make(chan struct{}), receipts: map[string]wire.Entry{}, key: key}
	for w := range workers {
		l.wg.Add(1)
		go l.worker(w)
	}
	return l
}

func (l *clusterLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// call makes one write until some voter answers it (30 s at most).
func (l *clusterLoad) call(r *rand.Rand, key, method string, params map[string]any) (wire.Entry, bool) {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	l.sign(method, params, 0)
	for attempt := 1; time.Now().Before(deadline); attempt++ {
		if attempt > 1 && r.IntN(2) == 0 {
			l.sign(method, params, attempt)
		}
		vs := l.pc.all()
		v := vs[r.IntN(len(vs))]
		var e wire.Entry
		err := errClientGone
		if p := v.proc(); !p.Exited() {
			c := p.Client
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = c.CallContext(ctx, &e, method, params)
			cancel()
		}
		if err == nil {
			l.mu.Lock()
			l.receipts[key] = e
			l.mu.Unlock()
			return e, true
		}
		last = err
		switch wire.Code(err) {
		case 0, 4007, 4009, 4010: // transport, Overloaded, Halted (a voter leaving), NoQuorum: retry
			time.Sleep(time.Duration(20+r.IntN(80)) * time.Millisecond)
			continue
		}
		break
	}
	l.mu.Lock()
	l.failed = append(l.failed, fmt.Sprintf("%s %s: %v", method, key, last))
	l.mu.Unlock()
	return wire.Entry{}, false
}

var errClientGone = fmt.Errorf("voter down")

// sign signs a write's params as SPEC §4 says (the voters' default
// domain); attempt makes the deadline, and so the request, a new one.
func (l *clusterLoad) sign(method string, params map[string]any, attempt int) {
	req := sequencer.Request{Deadline: uint64(time.Now().Add(10*time.Minute).Unix()) + uint64(attempt)}
	req.Lineage, _ = params["lineage"].(string)
	req.ExternalID, _ = params["externalId"].(string)
	switch method {
	case "sequencer_append":
		req.Kind = sequencer.KindTx
		req.DataHash = crypto.Keccak256Hash(hexutil.MustDecode(params["data"].(string)))
	case "sequencer_close":
		req.Kind = sequencer.KindClose
	case "sequencer_release":
		req.Kind = sequencer.KindRelease
	case "sequencer_syncLineage":
		req.Kind = sequencer.KindSync
		req.Nonce = uint64(params["chainNonce"].(int))
	}
	d := sequencer.Domain{ChainID: big.NewInt(1)}
	sig, err := sequencer.Sign(sequencer.NewHasher(d).RequestHash(&req), l.key)
	if err != nil {
		panic(err)
	}
	params["from"] = crypto.PubkeyToAddress(l.key.PublicKey).Hex()
	params["deadline"] = req.Deadline
	params["signature"] = hexutil.Encode(sig[:])
}

func (l *clusterLoad) worker(w int) {
	defer l.wg.Done()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		lin := fmt.Sprintf("eip155:1:w%d/%d", w, i%4)
		id := fmt.Sprintf("w%d-%d", w, i)
		data := hexutil.Encode([]byte("tx " + id))
		switch i % 6 {
		case 0:
			l.call(r, "plain/"+id, "sequencer_append", map[string]any{"data": data, "externalId": id})
		case 5:
			l.call(r, "sync/"+id, "sequencer_syncLineage", map[string]any{"lineage": fmt.Sprintf("eip155:1:sync%d", w), "chainNonce": i})
		default:
			if _, ok := l.call(r, "lease/"+id, "sequencer_append", map[string]any{"data": data, "lineage": lin, "externalId": id}); !ok {
				continue
			}
			switch i % 3 {
			case 0:
				l.call(r, "release/"+id, "sequencer_release", map[string]any{"lineage": lin, "externalId": id, "reason": "rejected"})
			default:
				l.call(r, "close/"+id, "sequencer_close", map[string]any{"lineage": lin, "externalId": id})
			}
		}
	}
}

// Chaos (SPEC §8): 3 voters and a replica under mixed load from clients
// that sign every write and retry it on another voter (the same signed
// request, or a fresh one for the same externalId), while the leader is SIGKILLed and
// restarted, a leader is paused with SIGSTOP past the election timeout
// and resumed, and a follower's datadir is wiped and it rejoins (fetching
// entries from peers if Raft compacted its log meanwhile). After: every
// receipt any client got is in every node's log byte for byte, all logs
// are identical (one hash per seq), no nonce was leased twice at once, and
// every datadir verifies. Cycles go kill, kill, pause, wipe;
// SEQUENCER_CLUSTER_KILLS sets the leader kills (CI: 2; long mode: 30).
func TestClusterChaos(t *testing.T) {
	cycles := 4
	if v, err := strconv.Atoi(os.Getenv("SEQUENCER_CLUSTER_KILLS")); err == nil && v > 0 {
		cycles = 2 * v
	}
	// Small snapshots, so that a wiped voter is sent one and fetches the
	// entries behind it from peers.
	client, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pc := newProcCluster(t, 3, "--cluster-snapshot-logs", "64", "--cluster-trailing-logs", "32", "--cluster-snapshot-interval", "1s",
		"--allow", crypto.PubkeyToAddress(client.PublicKey).Hex())
	pc.leader()
	rdir := filepath.Join(t.TempDir(), "replica")
	replica := startReplica(t, rdir, pc.all()[0].proc().Info().Primary, pc.p2pAddrs(), p2pPort(t))
	// A wiped or replaced voter comes back with a new libp2p identity, so
	// the replica's --peers stop naming it; voters started from now on
	// dial the replica instead (its identity is stable), as docs/cluster.md
	// advises.
	pc.extra = append(pc.extra, "--peers", p2pAddr(replica))

	load := startClusterLoad(pc, 4, client)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills, pauses := 0, 0
	var wipes []*testnode.Proc // the processes that started on a wiped datadir
	for c := range cycles {
		time.Sleep(time.Duration(800+r.IntN(1200)) * time.Millisecond)
		l := pc.leader()
		switch {
		case c%4 == 2:
			// A leader paused past the election timeout wakes up deposed.
			if err := l.proc().Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(4 * time.Second)
			if err := l.proc().Cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			pauses++
			t.Logf("cycle %d: paused leader %s for 4 s", c, l.id)
		case c%4 == 3:
			// A follower loses its datadir and joins again, empty.
			var f *voterProc
			for _, v := range pc.all() {
				if v != l {
					f = v
					break
				}
			}
			f.proc().Kill()
			if err := os.RemoveAll(f.dir); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(500+r.IntN(1000)) * time.Millisecond)
			pc.restart(f, true)
			wipes = append(wipes, f.proc())
			t.Logf("cycle %d: wiped follower %s and rejoined it", c, f.id)
		default:
			l.proc().Kill()
			kills++
			time.Sleep(time.Duration(300+r.IntN(1200)) * time.Millisecond)
			pc.restart(l, false)
			t.Logf("cycle %d: killed leader %s and restarted it", c, l.id)
		}
	}
	// A dead voter is replaced by a fresh one through membership change.
	// A follower that was not wiped, or else (when the long mode wiped
	// both followers last) one whose catch-up from a snapshot, checked
	// below, is already in its log: killed before it, the check would fail.
	var f *voterProc
	for deadline := time.Now().Add(60 * time.Second); f == nil && time.Now().Before(deadline); {
		lead := pc.leader()
		for _, caughtUp := range []bool{false, true} {
			for _, v := range pc.all() {
				wiped := slices.Contains(wipes, v.proc())
				if f == nil && v != lead && (!wiped || caughtUp && strings.Contains(v.proc().Stderr(), "catching up to a cluster snapshot")) {
					f = v
				}
			}
		}
		if f == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if f == nil {
		t.Fatal("no follower to replace: both were wiped and neither caught up from a snapshot in 60 s")
	}
	nv := pc.replace(f, "v4")
	t.Logf("replaced voter %s with %s", f.id, nv.id)
	time.Sleep(time.Second)
	load.finish()
	for _, f := range load.failed {
		t.Errorf("write never answered: %s", f)
	}

	// Every node converges to one log.
	lead := pc.leader()
	head := lead.proc().Info().Head
	for _, v := range pc.all() {
		waitHead(t, v.proc(), head.Seq, 60*time.Second)
	}
	waitHead(t, replica, head.Seq, 60*time.Second)
	log := lead.proc().ReadAll()
	for _, v := range pc.all() {
		if v != lead {
			sameLogs(t, lead.proc(), v.proc())
		}
	}
	sameLogs(t, lead.proc(), replica)
	for key, e := range load.receipts {
		if e.Seq == 0 || e.Seq > uint64(len(log)) {
			t.Fatalf("receipt %s: seq %d not in the log of %d entries", key, e.Seq, len(log))
		}
		if got := log[e.Seq-1].Signed(); got != e.Signed() {
			t.Fatalf("receipt %s at seq %d differs from the log:\n got %+v\nlog %+v", key, e.Seq, e.Signed(), got)
		}
	}
	checkNoDoubleLease(t, log)
	for _, e := range log {
		if e.Sender != crypto.PubkeyToAddress(client.PublicKey) {
			t.Fatalf("seq %d: sender %s, not the signing client", e.Seq, e.Sender)
		}
	}
	// Raft compacted its log long before a wipe: the wiped voter was sent
	// a snapshot and fetched the entries behind it from peers.
	for _, p := range wipes {
		if !strings.Contains(p.Stderr(), "catching up to a cluster snapshot") {
			t.Errorf("a wiped voter did not catch up from a snapshot:\n%s", testnode.Tail(p.Stderr(), 3000))
		}
	}
	t.Logf("%d cycles (%d leader kills, %d pauses), %d receipts, %d entries", cycles, kills, pauses, len(load.receipts), len(log))

	var in wire.Info
	lead.proc().MustCall(&in, "sequencer_info")
	var ids []string
	for _, v := range in.Cluster.Voters {
		ids = append(ids, v.ID)
	}
	if slices.Contains(ids, f.id) || !slices.Contains(ids, nv.id) || len(ids) != 3 {
		t.Fatalf("voters after replacing %s with %s: %v", f.id, nv.id, ids)
	}
	for _, v := range pc.all() {
		if code := v.proc().Term(30 * time.Second); code != 0 {
			t.Fatalf("voter %s exit %d: %s", v.id, code, testnode.Tail(v.proc().Stderr(), 3000))
		}
	}
	replica.Term(30 * time.Second)
	for _, dir := range append([]string{rdir}, pc.voterDirs()...) {
		code, out, errOut := testnode.RunChild(t, testnode.ChildEnv(), 60*time.Second, "verify", "--datadir", dir)
		if code != 0 {
			t.Fatalf("verify %s: exit %d\n%s%s", dir, code, out, errOut)
		}
	}
}

func (pc *procCluster) voterDirs() []string {
	var out []string
	for _, v := range pc.all() {
		out = append(out, v.dir)
	}
	return out
}

// checkNoDoubleLease replays the log: a nonce is never leased while a
// lease of it is open.
func checkNoDoubleLease(t *testing.T, log []*wire.Entry) {
	t.Helper()
	open := map[string]map[uint64]string{}
	for _, e := range log {
		if e.Lineage == "" {
			continue
		}
		m := open[e.Lineage]
		if m == nil {
			m = map[uint64]string{}
			open[e.Lineage] = m
		}
		switch e.Kind {
		case "tx":
			if other, ok := m[e.Nonce]; ok {
				t.Fatalf("seq %d leases nonce %d of %s to %s while %s holds it", e.Seq, e.Nonce, e.Lineage, e.ExternalID, other)
			}
			m[e.Nonce] = e.ExternalID
		case "close", "release", "fail":
			delete(m, e.Nonce)
		}
	}
}

// SPEC §8: a voter cut off from the majority (here: the two others
// SIGSTOPped) never answers a receipt: its writes get 4010 NoQuorum
// within --forward-timeout, its reads go on, and /healthz says 503 once
// it knows no leader. When the majority comes back, writes go on.
func TestClusterMinorityNeverAnswersReceipt(t *testing.T) {
	pc := newProcCluster(t, 3, "--forward-timeout", "2s")
	l := pc.leader()
	first := wire.AppendTx(t, "http://"+l.rpc, []byte("before"), "L", "before")
	var alone *voterProc
	var stopped []*voterProc
	for _, v := range pc.all() {
		if v != l && alone == nil {
			alone = v
			continue
		}
		stopped = append(stopped, v)
	}
	waitHead(t, alone.proc(), first.Seq, 30*time.Second)
	for _, v := range stopped {
		if err := v.proc().Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		var e wire.Entry
		start := time.Now()
		err := alone.proc().Call(&e, "sequencer_append", map[string]any{"data": "0x01", "lineage": "L", "externalId": fmt.Sprintf("cut%d", i)})
		if wire.Code(err) != 4010 {
			t.Fatalf("write %d on the minority: %+v, %v; want 4010 NoQuorum", i, e, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("NoQuorum took %v", d)
		}
	}
	if got := alone.proc().Info().Head.Seq; got != first.Seq {
		t.Fatalf("minority head %d, want %d", got, first.Seq)
	}
	wire.WaitFor(t, 30*time.Second, "the minority's /healthz to say 503", func() bool {
		resp, err := testnode.HealthClient.Get("http://" + alone.rpc + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	for _, v := range stopped {
		if err := v.proc().Cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	wire.WaitFor(t, 30*time.Second, "writes through the minority voter again", func() bool {
		var e wire.Entry
		return alone.proc().Call(&e, "sequencer_append", map[string]any{"data": "0x02", "lineage": "L", "externalId": "after"}) == nil
	})
}

// TestClusterLeaseExpiry: on a cluster only the leader watches (SPEC §9):
// a lease written through a follower expires once, never once per voter;
// after the leader is killed, the new leader expires a lease made before
// and one made after; a lease with an attempt never expires; the voters
// hold the same log.
func TestClusterLeaseExpiry(t *testing.T) {
	pc := newProcCluster(t, 3, "--lease-ttl", "1s")
	l := pc.leader()
	var follower *voterProc
	for _, v := range pc.all() {
		if v != l {
			follower = v
			break
		}
	}
	url := func(v *voterProc) string { return "http://" + v.rpc + "/" }
	wire.AppendTx(t, url(follower), []byte("a"), "L", "crashed")
	wire.AppendTx(t, url(follower), []byte("b"), "L", "alive")
	wire.Attempt(t, url(follower), "L", "alive", common.Hash{7})
	wire.AppendTx(t, url(l), []byte("c"), "L", "crashed-before-failover")
	wire.WaitFor(t, 20*time.Second, "the lease without attempt expired", func() bool {
		tk, _ := wire.GetTicket(t, url(follower), "L", "crashed")
		return tk.State == "expired"
	})
	l.proc().Kill()
	nl := pc.leader()
	wire.AppendTx(t, url(nl), []byte("d"), "L", "crashed-after-failover")
	for _, id := range []string{"crashed-before-failover", "crashed-after-failover"} {
		wire.WaitFor(t, 30*time.Second, id+" expired by the new leader", func() bool {
			tk, _ := wire.GetTicket(t, url(nl), "L", id)
			return tk.State == "expired"
		})
	}
	pc.restart(l, false)
	head := nl.proc().Info().Head
	for _, v := range pc.all() {
		waitHead(t, v.proc(), head.Seq, 30*time.Second)
	}
	expires := map[string]int{}
	var logs [][]*wire.Entry
	for _, v := range pc.all() {
		es := v.proc().ReadAll()
		logs = append(logs, es)
		if string(es[len(es)-1].Raw) != string(logs[0][len(es)-1].Raw) {
			t.Fatalf("voter %s: entry %d differs", v.id, len(es))
		}
	}
	for _, e := range logs[0] {
		if e.Kind == "expire" {
			expires[e.ExternalID]++
		}
	}
	if tk, _ := wire.GetTicket(t, url(nl), "L", "alive"); tk.State != "leased" {
		t.Fatalf("a lease with an attempt is %s", tk.State)
	}
	for _, id := range []string{"crashed", "crashed-before-failover", "crashed-after-failover"} {
		if expires[id] != 1 {
			t.Fatalf("expire entries per ticket: %v, want one each", expires)
		}
	}
}

// A majority lost for good (docs/cluster.md): the one voter left, which
// was cut off while the others went on writing, first fetches every entry
// a replica holds (run as a replica on its own datadir), then `cluster
// reset` replaces its Raft state with a new cluster's of one over its log
// and it starts again: every receipt the old cluster gave is in its log
// byte for byte, a retry gets its receipt, it writes on from there, and a
// new voter joins and catches up from a snapshot and its peers.
func TestClusterRecoverFromMinority(t *testing.T) {
	pc := newProcCluster(t, 3)
	l := pc.leader()
	primary := l.proc().Info().Primary
	replica := startReplica(t, filepath.Join(t.TempDir(), "replica"), primary, pc.p2pAddrs(), p2pPort(t))
	var left *voterProc
	var lost []*voterProc
	for _, v := range pc.all() {
		if v != l && left == nil {
			left = v
		} else {
			lost = append(lost, v)
		}
	}
	var receipts []wire.Entry
	for i := range 10 {
		receipts = append(receipts, wire.AppendTx(t, "http://"+l.rpc, []byte{byte(i)}, "L", fmt.Sprintf("all-%d", i)))
	}
	waitHead(t, left.proc(), receipts[len(receipts)-1].Seq, 30*time.Second)
	// The voter that will be left misses the last writes.
	if err := left.proc().Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		receipts = append(receipts, wire.AppendTx(t, "http://"+l.rpc, []byte{byte(i)}, "L", fmt.Sprintf("two-%d", i)))
	}
	head := receipts[len(receipts)-1].Seq
	oldTerm := l.proc().Info().Cluster.Term
	waitHead(t, replica, head, 30*time.Second)
	for _, v := range lost {
		v.proc().Kill()
		if err := os.RemoveAll(v.dir); err != nil {
			t.Fatal(err)
		}
	}
	left.proc().Cmd.Process.Signal(syscall.SIGCONT)
	left.proc().Kill()

	// Still a voter of the old cluster, it would wait for a majority
	// forever: fetch what the replica holds first, as a replica.
	asReplica := startReplica(t, left.dir, primary, p2pAddr(replica), left.p2p)
	waitHead(t, asReplica, head, 60*time.Second)
	if code := asReplica.Term(30 * time.Second); code != 0 {
		t.Fatalf("as a replica: exit %d\n%s", code, testnode.Tail(asReplica.Stderr(), 3000))
	}
	// A voter whose log has entries but whose Raft state is gone refuses
	// to start a new cluster over it (voters added later could not follow).
	if err := os.Rename(filepath.Join(left.dir, "raft"), filepath.Join(left.dir, "raft.reset-by-hand")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := testnode.RunChild(t, testnode.ChildEnv("PRIVATE_KEY="+testnode.TestKeyHex), 60*time.Second, "run", "--datadir", left.dir,
		"--rpc-addr", left.rpc, "--p2p-addr", left.p2p, "--cluster", left.id+"="+left.clusterAddr, "--node-id", left.id); code == 0 || !strings.Contains(errOut, "no cluster state") {
		t.Fatalf("a voter without Raft state over a log: exit %d, %s; want a refusal", code, testnode.Tail(errOut, 2000))
	}
	// Reset, twice (a second run, as after one cut short, is safe).
	for range 2 {
		code, out, errOut := testnode.RunChild(t, testnode.ChildEnv(), 60*time.Second, "cluster", "reset", "--datadir", left.dir,
			"--node-id", left.id, "--address", left.clusterAddr)
		if code != 0 {
			t.Fatalf("cluster reset: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, fmt.Sprintf(`"head": %d`, head)) || !strings.Contains(out, "--cluster "+left.id+"="+left.clusterAddr) {
			t.Fatalf("cluster reset said %s; want head %d and how to start it", out, head)
		}
	}

	// The first voter of a new cluster: itself alone, then a new voter.
	pc.mu.Lock()
	pc.voters, pc.spec = []*voterProc{left}, left.id+"="+left.clusterAddr
	pc.mu.Unlock()
	pc.restart(left, false)
	if pc.leader() != left {
		t.Fatal("the reset voter does not lead its new cluster")
	}
	// In a term past every term of the old cluster: an old voter that came
	// back could not lead it.
	if term := left.proc().Info().Cluster.Term; term <= oldTerm+2 {
		t.Fatalf("new cluster's term %d; want past the old %d and two resets", term, oldTerm)
	}
	if code, _, errOut := testnode.RunChild(t, testnode.ChildEnv(), 60*time.Second, "cluster", "reset", "--datadir", left.dir,
		"--node-id", left.id, "--address", left.clusterAddr); code != 1 || !strings.Contains(errOut, "is the node stopped?") {
		t.Fatalf("a reset while the voter runs: exit %d, %s; want 1: the node runs", code, errOut)
	}
	next := wire.AppendTx(t, "http://"+left.rpc, []byte("next"), "L", "after-reset")
	if next.Seq != head+1 || next.PrevHash != receipts[len(receipts)-1].Hash {
		t.Fatalf("first write after the reset: seq %d prevHash %s; want %d after %s", next.Seq, next.PrevHash, head+1, receipts[len(receipts)-1].Hash)
	}
	if again := wire.AppendTx(t, "http://"+left.rpc, []byte{3}, "L", "two-3"); again.Seq != receipts[13].Seq || again.Existing == nil || !*again.Existing {
		t.Fatalf("a retry of a write the old cluster took: %+v; want its receipt at seq %d", again, receipts[13].Seq)
	}
	// Restarted, it leads its new cluster again.
	if code := left.proc().Term(30 * time.Second); code != 0 {
		t.Fatalf("stop after the reset: exit %d", code)
	}
	pc.restart(left, false)
	if pc.leader() != left {
		t.Fatal("the reset voter does not lead after a restart")
	}
	next = wire.AppendTx(t, "http://"+left.rpc, []byte("next2"), "L", "after-restart")
	if next.Seq != head+2 {
		t.Fatalf("write after the restart: seq %d, want %d", next.Seq, head+2)
	}
	log := left.proc().ReadAll()
	for _, r := range receipts {
		if got := log[r.Seq-1].Signed(); got != r.Signed() {
			t.Fatalf("receipt at seq %d differs from the recovered log:\n got %+v\nwant %+v", r.Seq, got, r.Signed())
		}
	}
	nv := &voterProc{id: "v9", dir: filepath.Join(filepath.Dir(left.dir), "v9"), clusterAddr: testnode.FreeAddr(t), p2p: p2pPort(t), rpc: testnode.FreeAddr(t)}
	pc.mu.Lock()
	pc.spec += "," + nv.id + "=" + nv.clusterAddr // no --peers: the snapshot it is sent names them
	pc.mu.Unlock()
	p := pc.spawn(nv, true)
	if code, out, errOut := testnode.RunChild(t, testnode.ChildEnv(), 60*time.Second, "cluster", "add", "--cluster-addr", left.clusterAddr, "--id", nv.id, "--address", nv.clusterAddr); code != 0 {
		t.Fatalf("cluster add: exit %d\n%s%s", code, out, errOut)
	}
	pc.waitUp(nv, p)
	waitHead(t, nv.proc(), next.Seq, 60*time.Second)
	waitHead(t, replica, next.Seq, 60*time.Second)
	sameLogs(t, left.proc(), nv.proc(), replica)
}
