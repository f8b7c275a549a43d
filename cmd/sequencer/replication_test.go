package main

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer/oracle"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Tests of SPEC §6 with real nodes: child processes on 127.0.0.1.

// p2pPort reserves a loopback TCP port for a node's libp2p listener, so a
// restarted node comes back at the multiaddr its peers dial.
func p2pPort(t testing.TB) string {
	a := testnode.FreeAddr(t)
	return "/ip4/127.0.0.1/tcp/" + a[strings.LastIndexByte(a, ':')+1:]
}

func p2pAddr(p *testnode.Proc) string {
	p.T.Helper()
	in := p.Info()
	if len(in.P2P) == 0 {
		p.T.Fatal("sequencer_info has no p2p address")
	}
	return in.P2P[0]
}

func startReplica(t testing.TB, datadir, primary, peers, p2pAddr string, extra ...string) *testnode.Proc {
	t.Helper()
	return testnode.Launch(t, func(addr string) ([]string, []string) {
		args := append([]string{"run", "--mode", "replica", "--primary", primary, "--peers", peers,
			"--datadir", datadir, "--rpc-addr", addr, "--p2p-addr", p2pAddr}, extra...)
		return testnode.ChildEnv(), args
	})
}

// appendLoad appends n entries in JSON-RPC batches of 100 from `workers`
// goroutines: a third without lineage, the rest leasing nonces of 64
// lineages named after tag; of the leases, three in five are closed and one
// released, one stays leased (fresh lineages per tag, so that dozens of
// calls never reach --max-in-flight). It returns how many calls succeeded;
// calls fail only once the node is killed.
func appendLoad(t testing.TB, p *testnode.Proc, tag string, n, workers int) int {
	t.Helper()
	var mu sync.Mutex
	ok := 0
	var wg sync.WaitGroup
	per := n / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i += 100 {
				var batch []gethrpc.BatchElem
				var follow []gethrpc.BatchElem
				for j := i; j < min(i+100, per); j++ {
					id := fmt.Sprintf("%s-%d-%d", tag, w, j)
					params := map[string]any{"data": hexutil.Encode([]byte(id))}
					lin := ""
					if j%3 != 0 {
						lin = fmt.Sprintf("eip155:1:%s/%02d", tag, (w*7+j)%64)
						params["lineage"], params["externalId"] = lin, id
					}
					batch = append(batch, gethrpc.BatchElem{Method: "sequencer_append", Args: []any{params}, Result: new(wire.Entry)})
					switch {
					case lin != "" && j%5 != 0 && j%5 != 2:
						follow = append(follow, gethrpc.BatchElem{Method: "sequencer_close", Args: []any{map[string]any{"lineage": lin, "externalId": id}}, Result: new(wire.Entry)})
					case lin != "" && j%5 == 2:
						follow = append(follow, gethrpc.BatchElem{Method: "sequencer_release", Args: []any{map[string]any{"lineage": lin, "externalId": id, "reason": "rejected"}}, Result: new(wire.Entry)})
					}
				}
				for _, b := range [][]gethrpc.BatchElem{batch, follow} {
					if len(b) == 0 {
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err := p.Client.BatchCallContext(ctx, b)
					cancel()
					if err != nil {
						return // node gone
					}
					mu.Lock()
					for _, e := range b {
						if e.Error == nil {
							ok++
						} else if wire.Code(e.Error) != 0 {
							t.Errorf("%s: %v", e.Method, e.Error)
						}
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ok
}

// waitHead waits until p's head reaches seq.
func waitHead(t testing.TB, p *testnode.Proc, seq uint64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last uint64
	for time.Now().Before(deadline) {
		var in wire.Info
		if err := p.Call(&in, "sequencer_info"); err == nil {
			last = in.Head.Seq
			if last >= seq {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("node %s: head %d, want %d within %v; stderr:\n%s", p.Addr, last, seq, d, testnode.Tail(p.Stderr(), 3000))
}

// sameLogs checks that every node holds the primary's log entry by entry,
// hash by hash, and answers lineage and ticket queries identically.
func sameLogs(t *testing.T, primary *testnode.Proc, replicas ...*testnode.Proc) {
	t.Helper()
	want := primary.ReadAll()
	lineages := map[string]bool{}
	var tickets [][2]string
	for _, e := range want {
		if e.Lineage != "" && e.Kind == "tx" {
			lineages[e.Lineage] = true
			tickets = append(tickets, [2]string{e.Lineage, e.ExternalID})
		}
	}
	for _, r := range replicas {
		got := r.ReadAll()
		if len(got) != len(want) {
			t.Fatalf("replica %s holds %d entries, primary %d", r.Addr, len(got), len(want))
		}
		for i := range want {
			a, b := want[i], got[i]
			if a.Signed() != b.Signed() || !sameData(a, b) {
				t.Fatalf("replica %s entry %d differs:\n%+v\n%+v", r.Addr, i+1, a, b)
			}
		}
		for lin := range lineages {
			var x, y wire.Lineage
			primary.MustCall(&x, "sequencer_lineage", map[string]any{"lineage": lin})
			r.MustCall(&y, "sequencer_lineage", map[string]any{"lineage": lin})
			if fmt.Sprint(x) != fmt.Sprint(y) {
				t.Fatalf("lineage %s differs on %s:\n%+v\n%+v", lin, r.Addr, x, y)
			}
		}
		for i, tk := range tickets {
			if i%7 != 0 { // a sample keeps the test fast
				continue
			}
			var x, y wire.Ticket
			primary.MustCall(&x, "sequencer_ticket", map[string]any{"lineage": tk[0], "externalId": tk[1]})
			r.MustCall(&y, "sequencer_ticket", map[string]any{"lineage": tk[0], "externalId": tk[1]})
			if !x.Equal(&y) {
				t.Fatalf("ticket %v differs on %s: %+v vs %+v", tk, r.Addr, x, y)
			}
		}
	}
}

// Primary + two replicas; replica 2 knows only replica 1 (cut off from the
// primary). Replica 1 is killed with SIGKILL during load and restarted:
// both replicas catch up and all three logs, lineages and tickets agree.
func TestReplicationThreeNodes(t *testing.T) {
	base := t.TempDir()
	primary := testnode.StartNode(t, filepath.Join(base, "p"), nil)
	prim := primary.Info().Primary
	r1Addr := p2pPort(t)
	r1 := startReplica(t, filepath.Join(base, "r1"), prim, p2pAddr(primary), r1Addr)
	r1p2p := p2pAddr(r1)
	r2 := startReplica(t, filepath.Join(base, "r2"), prim, r1p2p, p2pPort(t))

	appendLoad(t, primary, "a", 1200, 4)
	done := make(chan int)
	go func() { done <- appendLoad(t, primary, "b", 1600, 4) }()
	time.Sleep(300 * time.Millisecond)
	r1.Kill() // mid-load: replica 2 is now cut off from everyone
	<-done
	r1 = startReplica(t, filepath.Join(base, "r1"), prim, p2pAddr(primary), r1Addr)
	if got := p2pAddr(r1); got != r1p2p {
		t.Fatalf("replica 1 came back as %s, was %s: the identity must persist", got, r1p2p)
	}
	appendLoad(t, primary, "c", 400, 2)

	head := primary.Info().Head
	waitHead(t, r1, head.Seq, 60*time.Second)
	waitHead(t, r2, head.Seq, 60*time.Second)
	sameLogs(t, primary, r1, r2)
	if in := r2.Info(); in.Role != "replica" || in.Head.Hash != head.Hash {
		t.Fatalf("replica 2 info %+v, primary head %+v", in, head)
	}
	var ph uint64 // null reads as 0
	if p := r2.Info().PrimaryHead; p != nil {
		ph = *p
	}
	if ph < head.Seq {
		t.Fatalf("replica 2 primaryHead %d < %d", ph, head.Seq)
	}
	// Progress is exported: head, lag and peers on the replica's /metrics.
	resp, err := testnode.HealthClient.Get("http://" + r2.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf("sequencer_replica_head_seq %d", head.Seq),
		"sequencer_replica_lag_entries 0",
		"sequencer_p2p_peers 1",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("replica /metrics lacks %q", want)
		}
	}
	// SPEC §4: a write to a replica answers NotPrimary with the primary.
	err = r2.Call(new(wire.Entry), "sequencer_append", map[string]any{"data": "0x01"})
	if wire.Code(err) != 4002 {
		t.Fatalf("write to a replica: %v", err)
	}
	for _, p := range []*testnode.Proc{r1, r2} {
		if code := p.Term(30 * time.Second); code != 0 {
			t.Fatalf("replica exit %d", code)
		}
	}
	for _, d := range []string{"r1", "r2"} {
		if code, _, stderr := verifyDir(filepath.Join(base, d)); code != 0 {
			t.Fatalf("verify %s: %s", d, stderr)
		}
	}
}

// A replica started after many entries catches up by itself, and one that
// drops half of all gossip on purpose converges anyway.
func TestReplicaLateJoinAndGossipLoss(t *testing.T) {
	base := t.TempDir()
	primary := testnode.StartNode(t, filepath.Join(base, "p"), nil)
	prim := primary.Info().Primary
	n := 14000
	if testing.Short() {
		n = 3000
	}
	lossy := startReplica(t, filepath.Join(base, "lossy"), prim, p2pAddr(primary), p2pPort(t), "--gossip-drop-rate", "0.5")
	if ok := appendLoad(t, primary, "x", n, 4); ok < n {
		t.Fatalf("%d of %d appends and more succeeded", ok, n)
	}
	head := primary.Info().Head
	start := time.Now()
	late := startReplica(t, filepath.Join(base, "late"), prim, p2pAddr(primary), p2pPort(t))
	waitHead(t, late, head.Seq, 120*time.Second)
	t.Logf("late replica caught up %d entries in %v (race-enabled binary)", head.Seq, time.Since(start))
	waitHead(t, lossy, head.Seq, 60*time.Second)
	sameLogs(t, primary, late, lossy)
}

// The primary is restarted on a wiped datadir. With its replica as a peer
// it first recovers the log and continues it; forced to write without that
// check it equivocates, and the replica proves it with two entries that
// go-ethereum's own EIP-712 code recovers to the primary (SPEC §2, §6),
// which slashes the primary's bond on chain (SPEC §10).
func TestEquivocationEndToEnd(t *testing.T) {
	base := t.TempDir()
	pdir := filepath.Join(base, "p")
	primary := testnode.StartNode(t, pdir, nil)
	prim := primary.Info().Primary
	rep := startReplica(t, filepath.Join(base, "r"), prim, p2pAddr(primary), p2pPort(t))
	repP2P := p2pAddr(rep)
	appendLoad(t, primary, "a", 300, 2)
	head := primary.Info().Head
	waitHead(t, rep, head.Seq, 60*time.Second)

	// 1. Wiped, restarted with --peers: recovers, then continues the log.
	primary.Kill()
	if err := os.RemoveAll(pdir); err != nil {
		t.Fatal(err)
	}
	primary = testnode.StartNode(t, pdir, nil, "--peers", repP2P)
	if got := primary.Info().Head; got != head {
		t.Fatalf("recovered head %+v, want %+v", got, head)
	}
	var r wire.Entry
	primary.MustCall(&r, "sequencer_append", map[string]any{"data": "0xaa"})
	if r.Seq != head.Seq+1 || r.Signed().PrevHash != head.Hash {
		t.Fatalf("after recovery: seq %d prevHash %s", r.Seq, r.PrevHash)
	}
	waitHead(t, rep, r.Seq, 30*time.Second)
	var eqs []map[string]*wire.Entry
	rep.MustCall(&eqs, "sequencer_equivocations")
	if len(eqs) != 0 {
		t.Fatalf("equivocation after a safe recovery: %+v", eqs)
	}

	// 2. Wiped again and forced: it signs a different entry 1.
	primary.Kill()
	os.RemoveAll(pdir)
	primary = testnode.StartNode(t, pdir, nil, "--peers", repP2P, "--unsafe-skip-peer-check")
	primary.MustCall(&r, "sequencer_append", map[string]any{"data": "0xbb"})
	if r.Seq != 1 {
		t.Fatalf("forced primary wrote seq %d", r.Seq)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(eqs) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		rep.MustCall(&eqs, "sequencer_equivocations")
	}
	if len(eqs) == 0 {
		t.Fatalf("replica found no equivocation; stderr:\n%s", testnode.Tail(rep.Stderr(), 3000))
	}
	a, b := eqs[0]["a"], eqs[0]["b"]
	if a == nil || b == nil || a.Seq != b.Seq || a.Hash == b.Hash {
		t.Fatalf("not a proof: %+v", eqs[0])
	}
	for _, e := range []*wire.Entry{a, b} {
		if got := oracleRecover(t, e); got != common.HexToAddress(prim) {
			t.Fatalf("entry %d recovers to %s, not the primary %s", e.Seq, got, prim)
		}
	}
	if !rep.Info().Halted {
		t.Fatal("replica still follows an equivocating primary")
	}
	if !strings.Contains(rep.Stderr(), "EQUIVOCATION") {
		t.Fatal("equivocation not logged")
	}

	// 3. The replica's proof takes the primary's bond on a real chain
	// endpoint (SPEC §10), through `sequencer slash`.
	slashWithReplicaProof(t, rep, common.HexToAddress(prim), 0, "slashEquivocation", 1)
}

// oracleRecover hashes e with go-ethereum's apitypes (independently of our
// hasher), checks the hash it carries, and recovers the signer.
func oracleRecover(t *testing.T, e *wire.Entry) common.Address {
	t.Helper()
	s := e.Signed() // as written: the hash is compared byte for byte
	kind := map[string]uint8{"tx": 0, "close": 1, "release": 2, "fail": 3, "sync": 4}[e.Kind]
	h, err := oracle.EntryHash(big.NewInt(1), common.Address{}, oracle.Entry{
		Seq: e.Seq, PrevHash: common.HexToHash(s.PrevHash), Kind: kind, Sender: common.HexToAddress(s.Sender),
		Lineage: e.Lineage, Nonce: e.Nonce, ExternalID: e.ExternalID, DataHash: common.HexToHash(s.DataHash),
		Timestamp: e.Timestamp})
	if err != nil {
		t.Fatal(err)
	}
	if h.Hex() != s.Hash {
		t.Fatalf("entry %d: apitypes hash %s, entry says %s", e.Seq, h, s.Hash)
	}
	addr, err := oracle.Recover(h, hexutil.MustDecode(s.Signature))
	if err != nil {
		t.Fatalf("entry %d: %v", e.Seq, err)
	}
	return addr
}
