package main

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
	"github.com/seqnode/sequencer/chain"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/internal/simchain"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// chainID is the simulated backend's chain id (it always uses 1337).
const chainID = 1337

var (
	// revertAddr holds, from genesis, a contract whose every call reverts
	// (PUSH1 0 PUSH1 0 REVERT): a call to it is mined with status 0.
	revertAddr = common.HexToAddress("0x00000000000000000000000000000000000bad01")
	revertCode = []byte{0x60, 0x00, 0x60, 0x00, 0xfd}
	// sinkAddr receives the transfers.
	sinkAddr = common.HexToAddress("0x000000000000000000000000000000000000f00d")
)

// Env is everything the executors share: one sequencer node that watches
// the chain (SPEC §9), one simulated chain served over HTTP, and one
// funded account whose nonces the sequencer leases.
type Env struct {
	Chain    *simulated.Backend
	ChainRPC string // the chain's JSON-RPC endpoint, which the node reads
	Eth      simulated.Client
	Seq      *client.Client
	SeqURL   string
	Key      *ecdsa.PrivateKey
	Account  common.Address
	Signer   types.Signer
	Lineage  string // "eip155:1337:0x<account>"

	// mining is held for writing while a block is sealed. An executor that
	// needs two sends to land in the pool before the next block (a
	// replacement) holds it for reading.
	mining sync.RWMutex
	stop   []func()
}

// Start runs a simulated chain that funds a fresh account, served over
// HTTP on 127.0.0.1, and a sequencer primary in-process (LevelDB under
// dir, the JSON-RPC server on 127.0.0.1) whose chain watcher reads it,
// and dials the node with the client package.
func Start(ctx context.Context, dir string) (*Env, error) {
	e := &Env{}
	var err error
	e.Key, err = crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	e.Account = crypto.PubkeyToAddress(e.Key.PublicKey)
	e.Lineage = fmt.Sprintf("eip155:%d:%s", chainID, e.Account.Hex())
	e.Signer = types.LatestSignerForChainID(big.NewInt(chainID))
	ch, err := simchain.StartWith(0, types.GenesisAlloc{ // blocks: Commit
		e.Account:  {Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))},
		revertAddr: {Code: revertCode, Balance: new(big.Int)},
	})
	if err != nil {
		return nil, fmt.Errorf("start chain: %w", err)
	}
	e.stop = append(e.stop, ch.Close)
	e.Chain, e.Eth, e.ChainRPC = ch.Backend, ch.Client, ch.URL

	url, stopNode, err := launchNode(dir, e.ChainRPC)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("start sequencer: %w", err)
	}
	e.SeqURL = url
	e.stop = append(e.stop, stopNode)
	e.Seq, err = client.Dial(ctx, url)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("dial sequencer: %w", err)
	}
	e.stop = append(e.stop, e.Seq.Disconnect)
	id, err := e.Eth.ChainID(ctx)
	if err != nil || id.Int64() != chainID {
		e.Close()
		return nil, fmt.Errorf("simulated chain id %v, want %d (err %v)", id, chainID, err)
	}
	return e, nil
}

// Commit seals one block with what the pool holds.
func (e *Env) Commit() {
	e.mining.Lock()
	defer e.mining.Unlock()
	e.Chain.Commit()
}

// Close stops everything Start started, last first.
func (e *Env) Close() {
	for i := len(e.stop) - 1; i >= 0; i-- {
		e.stop[i]()
	}
	e.stop = nil
}

// launchNode runs a real primary in-process (testnode): LevelDB in dir,
// the pipeline, the JSON-RPC server on 127.0.0.1, open mode, and the chain
// watcher on chainRPC: it confirms the attempts it finds mined one block
// deep (the simulated chain has no reorgs) and syncs the lineage.
func launchNode(dir, chainRPC string) (url string, stop func(), err error) {
	n, err := testnode.Start(dir, testnode.Options{Domain: sequencer.Domain{ChainID: big.NewInt(chainID)},
		Watch: &chain.Config{Endpoints: map[uint64]string{chainID: chainRPC}, Confirmations: 1, Poll: 20 * time.Millisecond}})
	if err != nil {
		return "", nil, err
	}
	return n.URL, n.Close, nil
}
