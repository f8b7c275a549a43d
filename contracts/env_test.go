package contracts

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"github.com/seqnode/sequencer/sequencer"
)

// The log's domain: not the chain the contract runs on (1337) nor the
// contract's own address, as SPEC §10 says.
var logDomain = sequencer.Domain{
	ChainID:           big.NewInt(31337),
	VerifyingContract: common.HexToAddress("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"),
}

const unbonding = 7 * 24 * 3600 // seconds

// env is a deployed, bonded contract on go-ethereum's simulated chain.
type env struct {
	t        testing.TB
	backend  *simulated.Backend
	client   simulated.Client
	primary  *ecdsa.PrivateKey // the log key: signs entries and checkpoints, owns the bond
	funder   *ecdsa.PrivateKey // deploys and bonds
	slasher  *ecdsa.PrivateKey // submits proofs
	addr     common.Address
	c        *SequencerAccountability
	bondWei  *big.Int
	gas      map[string]uint64 // gas used by the last transaction of each name
	hasher   *sequencer.Hasher
	chainID  *big.Int
	deployed *types.Receipt
}

// osaka is the simulated chain's rules without the forks after Osaka (the
// rules of Ethereum and its L2s today; Bogota's EIP-8037 prices new state
// higher): the gas the README reports.
var osaka = func() *params.ChainConfig {
	c := *params.AllDevChainProtocolChanges
	c.BogotaTime = nil
	return &c
}()

func newEnv(t testing.TB) *env { return newEnvOn(t, osaka) }

// newEnvOn deploys and bonds the contract on a simulated chain of config.
func newEnvOn(t testing.TB, config *params.ChainConfig) *env {
	t.Helper()
	e := &env{t: t, primary: mustKey(t), funder: mustKey(t), slasher: mustKey(t), gas: map[string]uint64{},
		hasher: sequencer.NewHasher(logDomain), chainID: big.NewInt(1337)}
	eth := new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))
	alloc := types.GenesisAlloc{}
	for _, k := range []*ecdsa.PrivateKey{e.primary, e.funder, e.slasher} {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: eth}
	}
	e.backend = simulated.NewBackend(alloc, func(_ *node.Config, ec *ethconfig.Config) { ec.Genesis.Config = config })
	t.Cleanup(func() { e.backend.Close() })
	e.client = e.backend.Client()

	addr, tx, c, err := DeploySequencerAccountability(e.opts(e.funder), e.client,
		crypto.PubkeyToAddress(e.primary.PublicKey), logDomain.ChainID, logDomain.VerifyingContract, unbonding)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	e.addr, e.c = addr, c
	e.deployed = e.mined("deploy", tx)
	e.bondWei = new(big.Int).Mul(big.NewInt(5), big.NewInt(params.Ether))
	o := e.opts(e.funder)
	o.Value = e.bondWei
	e.mustSend("bond", func() (*types.Transaction, error) { return e.c.Bond(o) })
	if got := e.bonded(); got.Cmp(e.bondWei) != 0 {
		t.Fatalf("bonded %v after bonding %v", got, e.bondWei)
	}
	return e
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (e *env) opts(k *ecdsa.PrivateKey) *bind.TransactOpts {
	o, err := bind.NewKeyedTransactorWithChainID(k, e.chainID)
	if err != nil {
		e.t.Fatal(err)
	}
	o.Context = context.Background()
	return o
}

// mined seals a block and returns tx's receipt, which must be successful.
func (e *env) mined(name string, tx *types.Transaction) *types.Receipt {
	e.t.Helper()
	e.backend.Commit()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := e.client.TransactionReceipt(ctx, tx.Hash())
	if err != nil {
		e.t.Fatalf("%s: receipt: %v", name, err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		e.t.Fatalf("%s: reverted on chain (gas used %d)", name, r.GasUsed)
	}
	e.gas[name] = r.GasUsed
	return r
}

// adjustTime seals an empty block d after the head. go-ethereum's
// simulated chain refuses while its transaction pool still lists a
// transaction, and the pool drops the ones just mined a moment after the
// block that mined them (asynchronously): so it tries again, for up to 5 s.
func (e *env) adjustTime(d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := e.backend.AdjustTime(d)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "non-empty block") || time.Now().After(deadline) {
			e.t.Fatalf("adjust time by %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) mustSend(name string, send func() (*types.Transaction, error)) *types.Receipt {
	e.t.Helper()
	tx, err := send()
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return e.mined(name, tx)
}

// mustRevert sends a transaction that must revert with reason: the
// binding's gas estimate runs it and returns the revert.
func (e *env) mustRevert(name, reason string, send func() (*types.Transaction, error)) {
	e.t.Helper()
	tx, err := send()
	if err == nil {
		e.backend.Commit()
		r, rerr := e.client.TransactionReceipt(context.Background(), tx.Hash())
		e.t.Fatalf("%s: accepted, want a revert %q (receipt %+v, %v)", name, reason, r, rerr)
	}
	if !strings.Contains(err.Error(), reason) {
		e.t.Fatalf("%s: reverted with %q, want %q", name, err, reason)
	}
}

func (e *env) bonded() *big.Int {
	e.t.Helper()
	b, err := e.c.Bonded(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) isSlashed() bool {
	e.t.Helper()
	s, err := e.c.Slashed(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) balance(k *ecdsa.PrivateKey) *big.Int {
	e.t.Helper()
	b, err := e.client.BalanceAt(context.Background(), crypto.PubkeyToAddress(k.PublicKey), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// signEntry fills e's hash and signature with key, as the node does.
func (e *env) signEntry(en *sequencer.Entry, key *ecdsa.PrivateKey) *sequencer.Entry {
	e.t.Helper()
	en.Hash = e.hasher.EntryHash(en)
	sig, err := sequencer.Sign(en.Hash, key)
	if err != nil {
		e.t.Fatal(err)
	}
	en.Signature = sig
	return en
}

func (e *env) signCheckpoint(size uint64, root [32]byte, ts uint64, key *ecdsa.PrivateKey) (SequencerAccountabilityCheckpoint, []byte) {
	e.t.Helper()
	sig, err := sequencer.Sign(e.hasher.CheckpointHash(size, root, ts), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return SequencerAccountabilityCheckpoint{Size: size, Root: root, Timestamp: ts}, sig[:]
}

// assertSlashedOnce checks that the slash receipt r paid the whole bond
// to the slasher and logged it, and that no second slash is possible.
func (e *env) assertPaid(r *types.Receipt, before *big.Int, position uint64) {
	e.t.Helper()
	if !e.isSlashed() || e.bonded().Sign() != 0 {
		e.t.Fatalf("after the slash: slashed=%v bonded=%v", e.isSlashed(), e.bonded())
	}
	fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
	want := new(big.Int).Sub(new(big.Int).Add(before, e.bondWei), fee)
	if got := e.balance(e.slasher); got.Cmp(want) != 0 {
		e.t.Fatalf("slasher balance %v, want %v (before %v + bond %v - fee %v)", got, want, before, e.bondWei, fee)
	}
	var found bool
	for _, l := range r.Logs {
		ev, err := e.c.ParseSlashed(*l)
		if err != nil {
			continue
		}
		found = true
		if ev.By != crypto.PubkeyToAddress(e.slasher.PublicKey) || ev.Position != position || ev.Amount.Cmp(e.bondWei) != 0 {
			e.t.Fatalf("Slashed event %+v, want by %s position %d amount %v", ev, crypto.PubkeyToAddress(e.slasher.PublicKey), position, e.bondWei)
		}
	}
	if !found {
		e.t.Fatal("no Slashed event")
	}
}
