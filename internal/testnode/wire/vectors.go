package wire

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Vectors is testdata/eip712.json, the fixed EIP-712 vectors that
// internal/vectorgen computes with go-ethereum's apitypes: two logs of
// entries and the signed Requests that wrote them.
type Vectors struct {
	Client     common.Address `json:"client"`
	ClientKey  string         `json:"clientKey"` // hex, 0x-prefixed
	Primary    common.Address `json:"primary"`
	PrimaryKey string         `json:"primaryKey"`
	Logs       []VectorLog    `json:"logs"`
}

// VectorLog is one log: its domain, its entries (a valid chain from zero)
// and the client's Requests.
type VectorLog struct {
	Domain struct {
		ChainID           uint64         `json:"chainId"`
		VerifyingContract common.Address `json:"verifyingContract"`
	} `json:"domain"`
	Entries  []Entry         `json:"entries"`
	Requests []VectorRequest `json:"requests"`
}

// VectorRequest is a signed Request (SPEC §4 Permissioning) with its hash.
type VectorRequest struct {
	Kind       uint8          `json:"kind"`
	Lineage    string         `json:"lineage"`
	ExternalID string         `json:"externalId"`
	DataHash   common.Hash    `json:"dataHash"`
	Nonce      uint64         `json:"nonce"`
	Deadline   uint64         `json:"deadline"`
	From       common.Address `json:"from"`
	Hash       common.Hash    `json:"hash"`
	Signature  hexutil.Bytes  `json:"signature"`
}

// LoadVectors reads the vectors at path (the repository's
// testdata/eip712.json, relative to the test's package).
func LoadVectors(t testing.TB, path string) *Vectors {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	var v Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	if len(v.Logs) != 2 {
		t.Fatalf("test vectors: %d logs, want 2", len(v.Logs))
	}
	return &v
}
