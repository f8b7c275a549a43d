// Package oracle computes SPEC §2 entry hashes and recovers their signers
// with go-ethereum's own EIP-712 code (signer/core/apitypes), independently
// of the sequencer's hasher. Tests use it as the outside auditor would; it
// imports nothing of this module, so any package's tests can use it.
package oracle

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// Entry holds the signed fields of an entry (SPEC §2).
type Entry struct {
	Seq        uint64
	PrevHash   common.Hash
	Kind       uint8
	Sender     common.Address
	Lineage    string
	Nonce      uint64
	ExternalID string
	DataHash   common.Hash
	Timestamp  uint64
}

// EntryHash is keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(Entry))
// as go-ethereum's apitypes computes it.
func EntryHash(chainID *big.Int, verifyingContract common.Address, e Entry) (common.Hash, error) {
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {
				{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"},
			},
			"Entry": {
				{Name: "seq", Type: "uint64"}, {Name: "prevHash", Type: "bytes32"}, {Name: "kind", Type: "uint8"},
				{Name: "sender", Type: "address"}, {Name: "lineage", Type: "string"}, {Name: "nonce", Type: "uint64"},
				{Name: "externalId", Type: "string"}, {Name: "dataHash", Type: "bytes32"}, {Name: "timestamp", Type: "uint64"},
			},
		},
		PrimaryType: "Entry",
		Domain: apitypes.TypedDataDomain{
			Name: "Sequencer", Version: "1",
			ChainId:           (*math.HexOrDecimal256)(chainID),
			VerifyingContract: verifyingContract.Hex(),
		},
		Message: apitypes.TypedDataMessage{
			"seq":        new(big.Int).SetUint64(e.Seq),
			"prevHash":   e.PrevHash[:],
			"kind":       new(big.Int).SetUint64(uint64(e.Kind)),
			"sender":     e.Sender.Hex(),
			"lineage":    e.Lineage,
			"nonce":      new(big.Int).SetUint64(e.Nonce),
			"externalId": e.ExternalID,
			"dataHash":   e.DataHash[:],
			"timestamp":  new(big.Int).SetUint64(e.Timestamp),
		},
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return common.Hash{}, fmt.Errorf("apitypes: %w", err)
	}
	return common.BytesToHash(h), nil
}

// Request holds the fields of a signed request (SPEC §4).
type Request struct {
	Kind       uint8
	Lineage    string
	ExternalID string
	DataHash   common.Hash
	Nonce      uint64
	Deadline   uint64
}

// RequestHash is the EIP-712 hash of a Request as apitypes computes it.
func RequestHash(chainID *big.Int, verifyingContract common.Address, r Request) (common.Hash, error) {
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": domainType,
			"Request": {
				{Name: "kind", Type: "uint8"}, {Name: "lineage", Type: "string"}, {Name: "externalId", Type: "string"},
				{Name: "dataHash", Type: "bytes32"}, {Name: "nonce", Type: "uint64"}, {Name: "deadline", Type: "uint64"},
			},
		},
		PrimaryType: "Request",
		Domain:      domain(chainID, verifyingContract),
		Message: apitypes.TypedDataMessage{
			"kind":       new(big.Int).SetUint64(uint64(r.Kind)),
			"lineage":    r.Lineage,
			"externalId": r.ExternalID,
			"dataHash":   r.DataHash[:],
			"nonce":      new(big.Int).SetUint64(r.Nonce),
			"deadline":   new(big.Int).SetUint64(r.Deadline),
		},
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return common.Hash{}, fmt.Errorf("apitypes: %w", err)
	}
	return common.BytesToHash(h), nil
}

// CheckpointHash is the EIP-712 hash of a Checkpoint (SPEC §10) as
// apitypes computes it.
func CheckpointHash(chainID *big.Int, verifyingContract common.Address, size uint64, root common.Hash, timestamp uint64) (common.Hash, error) {
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": domainType,
			"Checkpoint":   {{Name: "size", Type: "uint64"}, {Name: "root", Type: "bytes32"}, {Name: "timestamp", Type: "uint64"}},
		},
		PrimaryType: "Checkpoint",
		Domain:      domain(chainID, verifyingContract),
		Message: apitypes.TypedDataMessage{
			"size":      new(big.Int).SetUint64(size),
			"root":      root[:],
			"timestamp": new(big.Int).SetUint64(timestamp),
		},
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return common.Hash{}, fmt.Errorf("apitypes: %w", err)
	}
	return common.BytesToHash(h), nil
}

var domainType = []apitypes.Type{
	{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
	{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"},
}

func domain(chainID *big.Int, verifyingContract common.Address) apitypes.TypedDataDomain {
	return apitypes.TypedDataDomain{
		Name: "Sequencer", Version: "1",
		ChainId:           (*math.HexOrDecimal256)(chainID),
		VerifyingContract: verifyingContract.Hex(),
	}
}

// Recover returns the signer of hash from a 65-byte r‖s‖v signature with
// v in {27, 28}, as Solidity's ecrecover takes it.
func Recover(hash common.Hash, sig []byte) (common.Address, error) {
	if len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
		return common.Address{}, fmt.Errorf("signature must be 65 bytes with v 27 or 28")
	}
	s := append([]byte(nil), sig...)
	s[64] -= 27
	pub, err := crypto.SigToPub(hash[:], s)
	if err != nil {
		return common.Address{}, err
	}
	return crypto.PubkeyToAddress(*pub), nil
}
