// Package wire is what the tests know of the JSON-RPC API (SPEC §4) without
// the product's help: its answers decoded into types of their own, and calls
// made with the exact bytes a client would send. Tests must not take the
// rpc package's JSON types as their own oracle, so nothing here imports the
// rpc package; that also lets rpc's in-package tests import it.
package wire

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Entry is an Entry or a Receipt as the API writes it.
type Entry struct {
	Seq        uint64         `json:"seq"`
	Hash       common.Hash    `json:"hash"`
	PrevHash   common.Hash    `json:"prevHash"`
	Kind       string         `json:"kind"`
	Sender     common.Address `json:"sender"`
	Lineage    string         `json:"lineage"`
	Nonce      uint64         `json:"nonce"`
	ExternalID string         `json:"externalId"`
	DataHash   common.Hash    `json:"dataHash"`
	Data       *hexutil.Bytes `json:"data"`
	Timestamp  uint64         `json:"timestamp"`
	Signature  hexutil.Bytes  `json:"signature"`
	Existing   *bool          `json:"existing"`

	// Raw is the object as it was on the wire: the typed fields above
	// forgive what a byte-for-byte comparison must not (the case of hex).
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes the fields and keeps the bytes in Raw.
func (e *Entry) UnmarshalJSON(b []byte) error {
	type plain Entry // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = Entry(p)
	e.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// IsExisting reports "existing": true; a missing or null field is false.
func (e *Entry) IsExisting() bool { return e.Existing != nil && *e.Existing }

// Signed is the part of an entry that its receipt repeats, with every hex
// field exactly as its text on the wire, so that == compares byte for byte.
type Signed struct {
	Seq, Nonce, Timestamp                             uint64
	Hash, PrevHash, Kind, Sender, Lineage, ExternalID string
	DataHash, Signature                               string
}

// Signed returns the signed fields as they were written (from Raw).
func (e *Entry) Signed() Signed {
	text := e.texts()
	return Signed{Seq: e.Seq, Nonce: e.Nonce, Timestamp: e.Timestamp,
		Hash: text["hash"], PrevHash: text["prevHash"], Kind: text["kind"], Sender: text["sender"],
		Lineage: text["lineage"], ExternalID: text["externalId"], DataHash: text["dataHash"], Signature: text["signature"]}
}

// DataText returns the "data" field as written, and whether there was one
// (null counts as none).
func (e *Entry) DataText() (string, bool) {
	s, ok := e.texts()["data"]
	return s, ok
}

// texts returns the string fields of Raw.
func (e *Entry) texts() map[string]string {
	var m map[string]any
	if err := json.Unmarshal(e.Raw, &m); err != nil {
		panic(fmt.Sprintf("wire: entry without its raw JSON (%v): decode it with json.Unmarshal", err))
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Ticket is the answer of sequencer_ticket.
type Ticket struct {
	Lineage    string  `json:"lineage"`
	ExternalID string  `json:"externalId"`
	Nonce      uint64  `json:"nonce"`
	State      string  `json:"state"`
	LeaseSeq   uint64  `json:"leaseSeq"`
	FinalSeq   *uint64 `json:"finalSeq"`
	// Attempts and MinedTx: SPEC §9.
	Attempts []common.Hash `json:"attempts"`
	MinedTx  *common.Hash  `json:"minedTx"`
}

// Final returns finalSeq, 0 while the ticket is leased.
func (t *Ticket) Final() uint64 {
	if t.FinalSeq == nil {
		return 0
	}
	return *t.FinalSeq
}

// Equal compares the values (not the FinalSeq pointers).
func (t *Ticket) Equal(o *Ticket) bool {
	return t.Lineage == o.Lineage && t.ExternalID == o.ExternalID && t.Nonce == o.Nonce &&
		t.State == o.State && t.LeaseSeq == o.LeaseSeq && (t.FinalSeq == nil) == (o.FinalSeq == nil) && t.Final() == o.Final() &&
		slices.Equal(t.Attempts, o.Attempts) && (t.MinedTx == nil) == (o.MinedTx == nil) &&
		(t.MinedTx == nil || *t.MinedTx == *o.MinedTx)
}

// Lineage is the answer of sequencer_lineage.
type Lineage struct {
	Lineage   string `json:"lineage"`
	NextNonce uint64 `json:"nextNonce"`
	Floor     uint64 `json:"floor"`
	InFlight  []struct {
		Nonce      uint64 `json:"nonce"`
		ExternalID string `json:"externalId"`
		Seq        uint64 `json:"seq"`
	} `json:"inFlight"`
	Released []uint64 `json:"released"`
	Closed   uint64   `json:"closed"`
	Failed   uint64   `json:"failed"`
}

// Read is the answer of sequencer_read.
type Read struct {
	Entries []Entry `json:"entries"`
	Head    uint64  `json:"head"`
}

// Info is the answer of sequencer_info. Primary and the head's hash are
// kept as text, compared byte for byte (EIP-55, lowercase hex).
type Info struct {
	Role              string `json:"role"`
	Version           string `json:"version"`
	Primary           string `json:"primary"`
	ChainID           uint64 `json:"chainId"`
	VerifyingContract string `json:"verifyingContract"`
	Head              struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	} `json:"head"`
	Lineages    int      `json:"lineages"`
	Peers       int      `json:"peers"`
	P2P         []string `json:"p2p"`
	Halted      bool     `json:"halted"`
	PrimaryHead *uint64  `json:"primaryHead"`
	Cluster     *Cluster `json:"cluster"`
	// CheckpointKey is the checkpoints' note verifier key (SPEC §10).
	CheckpointKey string `json:"checkpointKey"`
}

// Cluster is sequencer_info's cluster object (SPEC §8).
type Cluster struct {
	NodeID string `json:"nodeId"`
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	Voters []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
	} `json:"voters"`
}

// Error is a JSON-RPC error object.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("code %d: %s (data %s)", e.Code, e.Message, e.Data)
}

// Response is one JSON-RPC response.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
}
