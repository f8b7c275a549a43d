// Package simchain serves go-ethereum's simulated chain over HTTP and
// WebSocket on 127.0.0.1 for tests: a real Ethereum JSON-RPC endpoint
// (go-ethereum's own eth API on a real chain database), never a mock of
// eth_getTransactionCount. Blocks are sealed every Period, as geth --dev
// --dev.period does, or by Commit.
package simchain

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
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"
	"github.com/seqnode/sequencer/internal/freeport"
)

// ChainID is the simulated chain's id (go-ethereum fixes it).
const ChainID = 1337

// Chain is a running simulated chain.
type Chain struct {
	Backend *simulated.Backend
	Client  simulated.Client
	URL     string // http://127.0.0.1:port
	WSURL   string // ws://127.0.0.1:port
	Signer  types.Signer

	mining sync.RWMutex
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Account is a funded key.
type Account struct {
	Key     *ecdsa.PrivateKey
	Address common.Address
}

// NewAccount makes a fresh key to fund.
func NewAccount() Account {
	k, err := crypto.GenerateKey()
	if err != nil {
		panic(err)
	}
	return Account{Key: k, Address: crypto.PubkeyToAddress(k.PublicKey)}
}

// Lineage is the account's lineage name on this chain (SPEC §9).
func (a Account) Lineage() string { return fmt.Sprintf("eip155:%d:%s", ChainID, a.Address.Hex()) }

// Start runs a chain that funds accounts with 1000 ether each and seals a
// block every period (0: only on Commit).
func Start(period time.Duration, accounts ...Account) (*Chain, error) {
	alloc := types.GenesisAlloc{}
	for _, a := range accounts {
		alloc[a.Address] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))}
	}
	return StartWith(period, alloc)
}

// StartWith runs a chain whose genesis holds alloc (balances, contract
// code), sealing a block every period (0: only on Commit).
func StartWith(period time.Duration, alloc types.GenesisAlloc) (*Chain, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	wsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	b := simulated.NewBackend(alloc, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", httpPort, []string{"eth", "net", "web3"}
		nc.WSHost, nc.WSPort, nc.WSModules = "127.0.0.1", wsPort, []string{"eth", "net", "web3"}
	})
	c := &Chain{Backend: b, Client: b.Client(), URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		WSURL: fmt.Sprintf("ws://127.0.0.1:%d", wsPort), Signer: types.LatestSignerForChainID(big.NewInt(ChainID)),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.mine(period)
	return c, nil
}

func freePort() (int, error) { return freeport.Port() }

func (c *Chain) mine(period time.Duration) {
	defer close(c.done)
	if period <= 0 {
		<-c.stop
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.Commit()
		}
	}
}

// Commit seals one block with what the pool holds.
func (c *Chain) Commit() {
	c.mining.Lock()
	defer c.mining.Unlock()
	c.Backend.Commit()
}

// HoldBlocks keeps blocks from being sealed until the returned func is
// called (two sends that must meet in the pool: a replacement).
func (c *Chain) HoldBlocks() (release func()) {
	c.mining.RLock()
	return c.mining.RUnlock
}

// Close stops mining and the chain.
func (c *Chain) Close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.Backend.Close()
	})
}

// Transfer signs a transfer of wei from a at nonce with gasPrice wei.
func (c *Chain) Transfer(a Account, nonce uint64, gasPrice int64, to common.Address) *types.Transaction {
	tx := types.NewTx(&types.LegacyTx{Nonce: nonce, GasPrice: big.NewInt(gasPrice), Gas: 21000, To: &to, Value: big.NewInt(1)})
	signed, err := types.SignTx(tx, c.Signer, a.Key)
	if err != nil {
		panic(err)
	}
	return signed
}

// Send broadcasts tx.
func (c *Chain) Send(ctx context.Context, tx *types.Transaction) error {
	return c.Client.SendTransaction(ctx, tx)
}

// Nonce is a's transaction count at the head.
func (c *Chain) Nonce(ctx context.Context, a common.Address) (uint64, error) {
	return c.Client.NonceAt(ctx, a, nil)
}
