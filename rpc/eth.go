package rpc

import (
	"fmt"
	"math/big"
	"runtime"

	"github.com/ethereum/go-ethereum/common/hexutil"
)

// EthAPI serves eth_chainId: the chain id of the log's EIP-712 domain.
// Ethereum clients ask it first (ethers' JsonRpcProvider will not start
// without it), so they work against a node unchanged.
type EthAPI struct{ chainID *big.Int }

// ChainId returns the domain's chain id as a hex quantity (eth_chainId).
func (e *EthAPI) ChainId() *hexutil.Big { return (*hexutil.Big)(e.chainID) }

// Web3API serves web3_clientVersion, in go-ethereum's form
// ("sequencer/<version>/<goos>-<goarch>/<go version>"), which wallets and
// explorers ask to tell what they talk to.
type Web3API struct{ version string }

// ClientVersion names the node software (web3_clientVersion).
func (w *Web3API) ClientVersion() string { return clientVersion(w.version) }

func clientVersion(version string) string {
	if version == "" {
		version = "unknown"
	}
	return fmt.Sprintf("sequencer/%s/%s-%s/%s", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
