package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"

	"github.com/seqnode/sequencer/contracts"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/node"
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
func slashWithReplicaProof(t *testing.T, rep *testnode.Proc, primary common.Address) {
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
	args := []string{"slash", "--proof", file, "--rpc", a.chain.URL, "--contract", a.addr.Hex(), "--timeout", "30s"}
	code, out, errOut := testnode.RunChild(t, env, 60*time.Second, args...)
	if code != 0 || !strings.Contains(out, "slashed at position 1: "+a.bond.String()+" wei paid to "+a.payer.Address.Hex()) {
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
