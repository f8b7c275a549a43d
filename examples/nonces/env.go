package main

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"sync"

	"github.com/seqnode/sequencer/internal/testnode"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
	"github.com/seqnode/sequencer/client"
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

// Env is everything the executors share: one sequencer node, one simulated
// chain, and one funded account whose nonces the sequencer leases.
type Env struct {
	Chain   *simulated.Backend
	Eth     simulated.Client
	Seq     *client.Client
	SeqURL  string
	Key     *ecdsa.PrivateKey
	Account common.Address
	Signer  types.Signer
	Lineage string // "eip155:1337:0x<account>"

	// mining is held for writing while a block is sealed. An executor that
	// needs two sends to land in the pool before the next block (a
	// replacement) holds it for reading.
	mining sync.RWMutex
	stop   []func()
}

// Start runs a sequencer primary in-process (LevelDB under dir, the
// JSON-RPC server on 127.0.0.1) and a simulated chain that funds a fresh
// account, and dials the node with the client package.
func Start(ctx context.Context, dir string) (*Env, error) {
	url, stopNode, err := launchNode(dir)
	if err != nil {
		return nil, fmt.Errorf("start sequencer: %w", err)
	}
	e := &Env{SeqURL: url, stop: []func(){stopNode}}
	e.Seq, err = client.Dial(ctx, url)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("dial sequencer: %w", err)
	}
	e.stop = append(e.stop, e.Seq.Disconnect)

	e.Key, err = crypto.GenerateKey()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.Account = crypto.PubkeyToAddress(e.Key.PublicKey)
	e.Lineage = fmt.Sprintf("eip155:%d:%s", chainID, e.Account.Hex())
	e.Signer = types.LatestSignerForChainID(big.NewInt(chainID))
	e.Chain = simulated.NewBackend(types.GenesisAlloc{
		e.Account:  {Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))},
		revertAddr: {Code: revertCode, Balance: new(big.Int)},
	})
	e.stop = append(e.stop, func() { e.Chain.Close() })
	e.Eth = e.Chain.Client()
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
// the pipeline, the JSON-RPC server on 127.0.0.1, open mode.
func launchNode(dir string) (url string, stop func(), err error) {
	n, err := testnode.Start(dir, testnode.Options{Domain: sequencer.Domain{ChainID: big.NewInt(chainID)}})
	if err != nil {
		return "", nil, err
	}
	return n.URL, n.Close, nil
}
