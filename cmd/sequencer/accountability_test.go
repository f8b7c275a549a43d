package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	p2ppeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/seqnode/sequencer/contracts"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/logtree"
	"github.com/seqnode/sequencer/node"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/sequencer"
)

// accountability is SequencerAccountability deployed for a log on the
// simulated chain served over HTTP, bonded with 3 ether.
type accountability struct {
	chain *simchain.Chain
	addr  common.Address
	c     *contracts.SequencerAccountability
	payer simchain.Account // funded: pays anchors or slashes
	bond  *big.Int
}

// deployAccountability deploys the contract for primary's log in the
// node's default domain (chain id 1, the zero verifying contract).
func deployAccountability(t *testing.T, primary common.Address) *accountability {
	t.Helper()
	deployer := simchain.NewAccount()
	a := &accountability{payer: simchain.NewAccount(), bond: new(big.Int).Mul(big.NewInt(3), big.NewInt(params.Ether))}
	var err error
	if a.chain, err = simchain.Start(200*time.Millisecond, deployer, a.payer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.chain.Close)
	cl, err := ethclient.Dial(a.chain.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	o, err := bind.NewKeyedTransactorWithChainID(deployer.Key, big.NewInt(simchain.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, tx, c, err := contracts.DeploySequencerAccountability(o, cl, primary, big.NewInt(1), common.Address{}, 3600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bind.WaitDeployed(ctx, cl, tx); err != nil {
		t.Fatal(err)
	}
	o.Value = a.bond
	tx, err = c.Bond(o)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := bind.WaitMined(ctx, cl, tx); err != nil || r.Status != 1 {
		t.Fatalf("bond: %v %+v", err, r)
	}
	a.addr, a.c = addr, c
	return a
}

func (a *accountability) payerKeyHex() string {
	return hex.EncodeToString(crypto.FromECDSA(a.payer.Key))
}

// The flags of `sequencer run` anchor the node's checkpoints: the
// contract's latestAnchor follows the log (SPEC §10).
func TestAnchorFlags(t *testing.T) {
	a := deployAccountability(t, testnode.KeyAddress(t, testnode.TestKeyHex))
	p := testnode.StartNode(t, t.TempDir(), []string{"ANCHOR_PRIVATE_KEY=0x" + a.payerKeyHex()},
		"--anchor-rpc", a.chain.URL, "--anchor-contract", a.addr.Hex(), "--anchor-every", "300ms")
	for round := range 2 {
		appendLoad(t, p, "anchor"+string(rune('a'+round)), 40, 2)
		head := p.Info().Head.Seq
		var cp struct {
			Size      uint64      `json:"size"`
			Root      common.Hash `json:"root"`
			Timestamp uint64      `json:"timestamp"`
		}
		p.MustCall(&cp, "sequencer_checkpoint", map[string]any{"size": head})
		deadline := time.Now().Add(60 * time.Second)
		for {
			got, err := a.c.LatestAnchor(nil)
			if err == nil && got.Size == head {
				if got.Root != cp.Root || got.Timestamp != cp.Timestamp {
					t.Fatalf("anchored %+v, the node's checkpoint at %d is %+v", got, head, cp)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("latestAnchor %+v (%v), want the head %d\n%s", got, err, head, testnode.Tail(p.Stderr(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !strings.Contains(p.Stderr(), "anchored") {
		t.Fatalf("no anchor logged:\n%s", testnode.Tail(p.Stderr(), 3000))
	}
}

// slashWithReplicaProof submits the replica's first equivocation proof,
// as sequencer_equivocations gives it, with `sequencer slash` to a
// contract bonded for primary on a real chain endpoint: the bond goes to
// the sender, once.
func slashWithReplicaProof(t *testing.T, rep *testnode.Proc, primary common.Address, index int, form string, position uint64) {
	t.Helper()
	var proofs json.RawMessage
	rep.MustCall(&proofs, "sequencer_equivocations")
	file := filepath.Join(t.TempDir(), "proofs.json")
	if err := os.WriteFile(file, proofs, 0o600); err != nil {
		t.Fatal(err)
	}
	a := deployAccountability(t, primary)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before, err := a.chain.Client.BalanceAt(ctx, a.payer.Address, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := testnode.ChildEnv("SLASH_PRIVATE_KEY=" + a.payerKeyHex())
	args := []string{"slash", "--proof", file, "--index", fmt.Sprint(index), "--rpc", a.chain.URL, "--contract", a.addr.Hex(), "--timeout", "30s"}
	code, out, errOut := testnode.RunChild(t, env, 60*time.Second, args...)
	if code != 0 || !strings.Contains(out, "sent "+form) || !strings.Contains(out, fmt.Sprintf("slashed at position %d: %s wei paid to %s", position, a.bond, a.payer.Address.Hex())) {
		t.Fatalf("sequencer slash: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("sequencer slash:\n%s", out)
	if s, err := a.c.Slashed(nil); err != nil || !s {
		t.Fatalf("slashed() = %v, %v", s, err)
	}
	after, err := a.chain.Client.BalanceAt(ctx, a.payer.Address, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gain := new(big.Int).Sub(after, before); gain.Cmp(new(big.Int).Div(a.bond, big.NewInt(2))) < 0 {
		t.Fatalf("the slasher gained %v wei, the bond was %v", gain, a.bond)
	}
	// The same proof again: the contract refuses, the command says why.
	code, out, errOut = testnode.RunChild(t, env, 60*time.Second, args...)
	if code != 1 || !strings.Contains(errOut, "already slashed") {
		t.Fatalf("second slash: exit %d\n%s\n%s", code, out, errOut)
	}
}

// The --anchor-* flags: refused where they cannot work, with the reason.
func TestAnchorFlagErrors(t *testing.T) {
	keyHex := "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	keyFile := filepath.Join(t.TempDir(), "anchor.key")
	if err := os.WriteFile(keyFile, []byte("0x"+keyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	contract := "0x00000000000000000000000000000000000000aa"
	for _, c := range []struct {
		name string
		cfg  runConfig
		role node.Role
		env  string
		want string // "" for a config
	}{
		{"off", runConfig{}, node.Primary, "", ""},
		{"contract without rpc", runConfig{anchorContract: contract}, node.Primary, "", "need --anchor-rpc"},
		{"replica", runConfig{anchorRPC: "http://x", anchorContract: contract, anchorEvery: time.Minute}, node.Replica, keyHex, "holds the log key"},
		{"no contract", runConfig{anchorRPC: "http://x", anchorEvery: time.Minute}, node.Primary, keyHex, "needs --anchor-contract"},
		{"zero period", runConfig{anchorRPC: "http://x", anchorContract: contract}, node.Primary, keyHex, "--anchor-every must be positive"},
		{"no key", runConfig{anchorRPC: "http://x", anchorContract: contract, anchorEvery: time.Minute}, node.Primary, "", "no paying key"},
		{"bad key", runConfig{anchorRPC: "http://x", anchorContract: contract, anchorEvery: time.Minute}, node.Primary, "0xnothex", "not a hex secp256k1 private key"},
		{"key in env", runConfig{anchorRPC: "http://x", anchorContract: contract, anchorEvery: time.Minute}, node.Primary, keyHex, ""},
		{"key file", runConfig{anchorRPC: "http://x", anchorContract: contract, anchorEvery: time.Minute, anchorKeyFile: keyFile}, node.Primary, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(anchorKeyEnv, c.env)
			got, err := c.cfg.anchoring(c.role)
			switch {
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %+v, %v; want an error with %q", got, err, c.want)
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "" && c.cfg.anchorRPC != "" && (got == nil || crypto.PubkeyToAddress(got.Key.PublicKey) != testnode.KeyAddress(t, keyHex) || got.Contract != common.HexToAddress(contract)):
				t.Fatalf("config %+v", got)
			case c.cfg.anchorRPC == "" && got != nil:
				t.Fatalf("anchoring without --anchor-rpc: %+v", got)
			}
		})
	}
}

// SPEC §10, end to end: a replica process holds 300 entries of its
// primary process. A liar with the primary's key (a libp2p node in the
// test, speaking the sync protocol) serves the same log to anyone who
// fetches entries, but signs a checkpoint over a tree whose leaves 201..299
// are other entries it signed, and proves leaves of that tree. No entry
// shows the lie; the checkpoint does: the replica finds its root
// contradicts its own tree, completes the proof over the sync protocol
// into an inclusion fraud ({checkpoint, entry, leafEntryHash, proof}), and
// that proof, taken from sequencer_equivocations, slashes the bond through
// `sequencer slash`.
func TestCheckpointFraudEndToEnd(t *testing.T) {
	base := t.TempDir()
	pdir := filepath.Join(base, "p")
	primary := testnode.StartNode(t, pdir, nil)
	prim := primary.Info().Primary
	rep := startReplica(t, filepath.Join(base, "r"), prim, p2pAddr(primary), p2pPort(t))
	appendData(t, primary, "honest", 300)
	waitHead(t, rep, 300, 60*time.Second)
	if code := primary.Term(30 * time.Second); code != 0 {
		t.Fatalf("primary exit %d", code)
	}

	key, err := crypto.HexToECDSA(testnode.TestKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	domain := sequencer.Domain{ChainID: big.NewInt(1)}
	honest, err := sequencer.OpenLevelStore(filepath.Join(pdir, "db"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer honest.Close()
	liar := newTwoFaced(t, honest, key, domain, 201, 299)

	peer, err := p2ppeer.AddrInfoFromString(p2pAddr(rep))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sequencer.NewCheckpointSigner(key, domain)
	if err != nil {
		t.Fatal(err)
	}
	var proofs []map[string]json.RawMessage
	// A checkpoint goes out once the liar's node is told the log grew; one
	// sent before the replica subscribed is lost, so a fresh node tries
	// again (at most 5).
	completed := func() int {
		return slices.IndexFunc(proofs, func(p map[string]json.RawMessage) bool { return p["entry"] != nil })
	}
	for try := 0; completed() < 0; try++ {
		if try == 5 {
			t.Fatalf("no completed checkpoint proof: %s; stderr:\n%s", mustJSON(t, proofs), testnode.Tail(rep.Stderr(), 3000))
		}
		ln, err := p2p.New(p2p.Config{DataDir: t.TempDir(), ListenAddr: "/ip4/127.0.0.1/tcp/0",
			Peers: []p2ppeer.AddrInfo{*peer}, Primary: crypto.PubkeyToAddress(key.PublicKey), Domain: domain,
			Store: liar, Logger: testnode.QuietLogger(), Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50 && ln.PeerCount() == 0; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second) // GossipSub's subscription exchange
		ln.SignCheckpoints(signer)
		ln.Publish(nil) // "the log grew": sign and publish the head's checkpoint
		for i := 0; i < 30; i++ {
			time.Sleep(200 * time.Millisecond)
			rep.MustCall(&proofs, "sequencer_equivocations")
			if completed() >= 0 {
				break
			}
		}
		ln.Close()
	}
	// The replica may also hold the primary's honest checkpoint of size 300
	// and the liar's as a pair ({checkpointA, checkpointB}): it received
	// both. No entry proof: no entry showed a fork.
	i := completed()
	for _, p := range proofs {
		if p["a"] != nil || p["checkpoint"] != nil && p["entry"] == nil {
			t.Fatalf("proofs %s", mustJSON(t, proofs))
		}
	}
	var got struct {
		Checkpoint struct{ Size uint64 }
		Entry      struct{ Seq uint64 }
	}
	if err := json.Unmarshal(mustJSON(t, proofs[i]), &got); err != nil || got.Checkpoint.Size != 300 || got.Entry.Seq != 201 {
		t.Fatalf("proof of checkpoint %d at entry %d (%v); want 300 and entry 201, the first leaf that differs", got.Checkpoint.Size, got.Entry.Seq, err)
	}
	if !rep.Info().Halted {
		t.Fatal("replica still follows a primary that signed a checkpoint over another tree")
	}
	if !strings.Contains(rep.Stderr(), "EQUIVOCATION") {
		t.Fatal("equivocation not logged")
	}
	slashWithReplicaProof(t, rep, common.HexToAddress(prim), i, "slashInclusion", 201)
}

// twoFaced serves an honest log's entries to a fetch, and a tree whose
// leaves from..to are other entries signed with the same key: it signs
// checkpoints of that tree and proves its leaves (p2p's sync requests 3
// and 4). Its head is the honest log's, so no entry it sends shows a fork.
type twoFaced struct {
	honest *sequencer.LevelStore
	leaves []*sequencer.Entry // the tree's, by seq-1
	hashes []tlog.Hash        // tlog's stored hashes of the tree
}

func newTwoFaced(t *testing.T, honest *sequencer.LevelStore, key *ecdsa.PrivateKey, d sequencer.Domain, from, to uint64) *twoFaced {
	t.Helper()
	head := honest.Head()
	es, err := honest.Range(1, int(head.Seq))
	if err != nil || uint64(len(es)) != head.Seq {
		t.Fatalf("%d entries, %v", len(es), err)
	}
	h := sequencer.NewHasher(d)
	prev := es[from-2]
	for seq := from; seq <= to; seq++ {
		data := []byte(fmt.Sprint("lie ", seq))
		e := &sequencer.Entry{Seq: seq, PrevHash: prev.Hash, Kind: sequencer.KindTx,
			DataHash: crypto.Keccak256Hash(data), Data: data, Timestamp: prev.Timestamp}
		e.Hash = h.EntryHash(e)
		if e.Signature, err = sequencer.Sign(e.Hash, key); err != nil {
			t.Fatal(err)
		}
		es[seq-1], prev = e, e
	}
	tf := &twoFaced{honest: honest, leaves: es}
	for i, e := range es {
		add, err := tlog.StoredHashes(int64(i), e.Hash[:], tf)
		if err != nil {
			t.Fatal(err)
		}
		tf.hashes = append(tf.hashes, add...)
	}
	return tf
}

// ReadHashes makes twoFaced its own tlog.HashReader.
func (tf *twoFaced) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(tf.hashes)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = tf.hashes[x]
	}
	return out, nil
}

func (tf *twoFaced) Head() sequencer.Head { return tf.honest.Head() }
func (tf *twoFaced) Range(from uint64, limit int) ([]*sequencer.Entry, error) {
	return tf.honest.Range(from, limit)
}

// Entry is the tree's leaf, except at the head (what a peer asks for to
// compare heads), where both agree.
func (tf *twoFaced) Entry(seq uint64) (*sequencer.Entry, error) {
	if seq == 0 || seq > uint64(len(tf.leaves)) {
		return nil, sequencer.ErrNotFound
	}
	return tf.leaves[seq-1], nil
}

func (tf *twoFaced) Root(size uint64) (logtree.Hash, error) { return tlog.TreeHash(int64(size), tf) }
func (tf *twoFaced) InclusionProof(seq, size uint64) ([]logtree.Hash, error) {
	p, err := tlog.ProveRecord(int64(size), int64(seq-1), tf)
	return p, err
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendData appends n entries without lineage to p, in batches of 100.
func appendData(t *testing.T, p *testnode.Proc, tag string, n int) {
	t.Helper()
	for i := 0; i < n; i += 100 {
		var batch []gethrpc.BatchElem
		for j := i; j < min(i+100, n); j++ {
			data := hexutil.Encode([]byte(fmt.Sprintf("%s %d", tag, j)))
			batch = append(batch, gethrpc.BatchElem{Method: "sequencer_append", Args: []any{map[string]any{"data": data}}, Result: new(json.RawMessage)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := p.Client.BatchCallContext(ctx, batch)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			if e.Error != nil {
				t.Fatalf("append: %v", e.Error)
			}
		}
	}
}
