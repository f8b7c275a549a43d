package rpc

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common/hexutil"
)

// EthAPI serves eth_chainId: the chain id of the log's EIP-712 domain.
// Ethereum clients ask it first (ethers' JsonRpcProvider will not start
// without it), so they work against a node unchanged.
type EthAPI struct{ chainID *big.Int }

// ChainId returns the domain's chain id as a hex quantity (eth_chainId).
func (e *EthAPI) ChainId() *hexutil.Big { return (*hexutil.Big)(e.chainID) }
