package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/seqnode/sequencer/contracts"
	"github.com/seqnode/sequencer/node"
	"github.com/seqnode/sequencer/sequencer"
)

// SPEC §10's on-chain side: anchoring from `sequencer run` and the
// `sequencer slash` command.

const (
	anchorKeyEnv = "ANCHOR_PRIVATE_KEY"
	slashKeyEnv  = "SLASH_PRIVATE_KEY"
)

// loadHexKey reads a secp256k1 key in hex (0x optional) from the
// environment variable env, or else from file.
func loadHexKey(env, file, flagName string) (*ecdsa.PrivateKey, error) {
	v, from := os.Getenv(env), env
	if v == "" && file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		v, from = string(b), file
	}
	if v == "" {
		return nil, fmt.Errorf("no paying key: set %s or %s", env, flagName)
	}
	k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(v), "0x"))
	if err != nil {
		return nil, fmt.Errorf("the key in %s is not a hex secp256k1 private key: %w", from, err)
	}
	return k, nil
}

// anchoring reads the --anchor-* flags; nil without --anchor-rpc.
func (c *runConfig) anchoring(role node.Role) (*contracts.AnchorConfig, error) {
	if c.anchorRPC == "" {
		if c.anchorContract != "" || c.anchorKeyFile != "" {
			return nil, errors.New("--anchor-contract and --anchor-key-file need --anchor-rpc")
		}
		return nil, nil
	}
	if role != node.Primary {
		return nil, errors.New("--anchor-rpc is for the node that holds the log key (a primary or cluster voter)")
	}
	if !common.IsHexAddress(c.anchorContract) {
		return nil, fmt.Errorf("--anchor-rpc needs --anchor-contract ADDRESS (got %q)", c.anchorContract)
	}
	if c.anchorEvery <= 0 {
		return nil, errors.New("--anchor-every must be positive")
	}
	key, err := loadHexKey(anchorKeyEnv, c.anchorKeyFile, "--anchor-key-file")
	if err != nil {
		return nil, err
	}
	return &contracts.AnchorConfig{URL: c.anchorRPC, Contract: common.HexToAddress(c.anchorContract),
		Every: c.anchorEvery, Key: key}, nil
}

// runAnchorer starts anchoring the log's checkpoints (SPEC §10) when the
// flags ask for it; only the node that writes the log sends them.
func (n *nodeParts) runAnchorer(cfg *contracts.AnchorConfig, signer *sequencer.CheckpointSigner) error {
	if cfg == nil {
		return nil
	}
	cfg.Signer, cfg.Log, cfg.Logger, cfg.Registerer = signer, n.store, n.log, n.reg
	cfg.IsLeader = func() bool {
		f := n.isLeader.Load()
		return f == nil || (*f)()
	}
	a, err := contracts.NewAnchorer(*cfg)
	if err != nil {
		return err
	}
	n.log.Info("anchoring checkpoints", "contract", cfg.Contract.Hex(), "every", cfg.Every,
		"payer", crypto.PubkeyToAddress(cfg.Key.PublicKey).Hex())
	n.goBg(a.Run)
	return nil
}

// cmdSlash submits an equivocation proof a replica holds to the
// accountability contract, which pays the primary's bond to the sender.
func cmdSlash(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sequencer slash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	proofFile := fs.String("proof", "", "file holding the proof: an element of sequencer_equivocations, or the whole list (with --index)")
	index := fs.Int("index", 0, "which proof of a list to submit")
	rpcURL := fs.String("rpc", "", "JSON-RPC endpoint of the chain the contract is on")
	contract := fs.String("contract", "", "address of SequencerAccountability")
	keyFile := fs.String("key-file", "", "file holding the paying account's hex private key (default: $"+slashKeyEnv+")")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the transaction to be mined")
	if code, ok := parseCommand(fs, args, stderr, "sequencer slash"); !ok {
		return code
	}
	fail := func(err error) int { fmt.Fprintln(stderr, "sequencer slash:", err); return 1 }
	if *proofFile == "" || *rpcURL == "" || !common.IsHexAddress(*contract) {
		fmt.Fprintln(stderr, "sequencer slash: --proof FILE, --rpc URL and --contract ADDRESS are required")
		return 2
	}
	b, err := os.ReadFile(*proofFile)
	if err != nil {
		return fail(err)
	}
	proofs, err := contracts.ParseProofs(b)
	if err != nil {
		return fail(err)
	}
	if *index < 0 || *index >= len(proofs) {
		return fail(fmt.Errorf("--index %d: the file holds %d proofs", *index, len(proofs)))
	}
	p := &proofs[*index]
	form, err := p.Form()
	if err != nil {
		return fail(err)
	}
	key, err := loadHexKey(slashKeyEnv, *keyFile, "--key-file")
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cl, err := ethclient.DialContext(ctx, *rpcURL)
	if err != nil {
		return fail(err)
	}
	defer cl.Close()
	chainID, err := cl.ChainID(ctx)
	if err != nil {
		return fail(fmt.Errorf("eth_chainId: %w", err))
	}
	c, err := contracts.NewSequencerAccountability(common.HexToAddress(*contract), cl)
	if err != nil {
		return fail(err)
	}
	opts, err := bind.NewKeyedTransactorWithChainID(key, chainID)
	if err != nil {
		return fail(err)
	}
	opts.Context = ctx
	tx, err := contracts.Slash(opts, c, p)
	if err != nil {
		return fail(fmt.Errorf("%s refused: %w", form, err))
	}
	fmt.Fprintf(stdout, "sent %s: tx %s\n", form, tx.Hash().Hex())
	r, err := bind.WaitMined(ctx, cl, tx)
	if err != nil {
		return fail(fmt.Errorf("waiting for %s: %w", tx.Hash().Hex(), err))
	}
	if r.Status != 1 {
		return fail(fmt.Errorf("%s reverted on chain (block %d)", tx.Hash().Hex(), r.BlockNumber))
	}
	paid := new(big.Int)
	for _, l := range r.Logs {
		if ev, err := c.ParseSlashed(*l); err == nil {
			paid = ev.Amount
			fmt.Fprintf(stdout, "slashed at position %d: %s wei paid to %s (block %d, gas %d)\n",
				ev.Position, ev.Amount, ev.By.Hex(), r.BlockNumber, r.GasUsed)
		}
	}
	if paid.Sign() == 0 {
		fmt.Fprintln(stdout, "the contract held no bond: nothing was paid")
	}
	return 0
}
