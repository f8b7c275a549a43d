// Command vectorgen writes testdata/eip712.json, the project's fixed EIP-712
// test vectors: two chained logs under two domains and signed requests,
// every hash computed by go-ethereum's apitypes (through sequencer/oracle,
// not the node's own hasher) and every signature by crypto.Sign (RFC 6979,
// deterministic). Run from the repository root:
//
//	go run ./internal/vectorgen > testdata/eip712.json
//
// Its test checks that the committed file is what it generates.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/sequencer/oracle"
)

// Test keys only: they sign nothing but these vectors.
const (
	primaryKey = "59f54badab26f6279fd88f3a45e4bc780a6806041775ce79b467c62e2971fa4f"
	clientKey  = "8aa946a12cd26ce72ba3efa7d8c427320f11570b24b1f46c41ed33eb8db1377b"
	lineage    = "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7"
	t0         = 1763683200000
	deadline   = 1763686800
)

type domainJSON struct {
	ChainID           uint64 `json:"chainId"`
	Name              string `json:"name"`
	VerifyingContract string `json:"verifyingContract"`
	Version           string `json:"version"`
}

type entryJSON struct {
	Seq        uint64         `json:"seq"`
	Hash       common.Hash    `json:"hash"`
	PrevHash   common.Hash    `json:"prevHash"`
	Kind       string         `json:"kind"`
	Sender     string         `json:"sender"` // EIP-55
	Lineage    string         `json:"lineage"`
	Nonce      uint64         `json:"nonce"`
	ExternalID string         `json:"externalId"`
	DataHash   common.Hash    `json:"dataHash"`
	Data       *hexutil.Bytes `json:"data,omitempty"`
	Timestamp  uint64         `json:"timestamp"`
	Signature  hexutil.Bytes  `json:"signature"`
}

type requestJSON struct {
	Kind       uint8         `json:"kind"`
	Lineage    string        `json:"lineage"`
	ExternalID string        `json:"externalId"`
	DataHash   common.Hash   `json:"dataHash"`
	Nonce      uint64        `json:"nonce"`
	Deadline   uint64        `json:"deadline"`
	From       string        `json:"from"`
	Hash       common.Hash   `json:"hash"`
	Signature  hexutil.Bytes `json:"signature"`
}

type logJSON struct {
	Domain   domainJSON    `json:"domain"`
	Entries  []entryJSON   `json:"entries"`
	Requests []requestJSON `json:"requests"`
}

type fileJSON struct {
	About      string    `json:"about"`
	Client     string    `json:"client"`
	ClientKey  string    `json:"clientKey"`
	Logs       []logJSON `json:"logs"`
	Primary    string    `json:"primary"`
	PrimaryKey string    `json:"primaryKey"`
}

var kinds = map[string]uint8{"tx": 0, "close": 1, "release": 2, "fail": 3, "sync": 4,
	"attempt": 5, "confirm": 6, "expire": 7, "reclaim": 8}

// signedTx stands for the hash of a signed transaction an executor
// records with an attempt (SPEC §9).
var signedTx = crypto.Keccak256Hash([]byte("a signed transaction"))

// step is one entry of the scripted log; data is set for tx only, and the
// dataHash of close/release/fail/expire/reclaim is the hash of the tx at
// txSeq, of attempt/confirm dataHash. Entries the node writes on its own
// (node) have the primary as sender.
type step struct {
	kind, lineage, ext string
	client, node       bool
	nonce              uint64
	data               []byte
	txSeq              uint64
	dataHash           common.Hash
	ts                 uint64
}

func script() []step {
	long := strings.Repeat("x", 255)
	return []step{
		{kind: "tx", data: []byte{}, ts: t0},
		{kind: "tx", ext: "order-1", data: []byte("hello sequencer"), ts: t0 + 1},
		{kind: "tx", lineage: lineage, ext: "job-42", client: true, data: []byte{0xde, 0xad, 0xbe, 0xef}, ts: t0 + 1},
		{kind: "tx", lineage: lineage, ext: long, client: true, nonce: 1, data: make([]byte, 300), ts: t0 + 2},
		{kind: "close", lineage: lineage, ext: "job-42", client: true, txSeq: 3, ts: t0 + 3},
		{kind: "release", lineage: lineage, ext: long, client: true, nonce: 1, txSeq: 4, ts: t0 + 4},
		{kind: "tx", lineage: lineage, ext: "job-43", client: true, nonce: 1, data: []byte("retry"), ts: t0 + 4},
		{kind: "fail", lineage: lineage, ext: "job-43", client: true, nonce: 1, txSeq: 7, ts: t0 + 5},
		{kind: "sync", lineage: lineage, client: true, nonce: 2, ts: t0 + 6},
		// SPEC §9: an attempt confirmed, a lease expired, a reclaim.
		{kind: "tx", lineage: lineage, ext: "job-44", client: true, nonce: 2, data: []byte("bump"), ts: t0 + 6},
		{kind: "attempt", lineage: lineage, ext: "job-44", client: true, nonce: 2, dataHash: signedTx, ts: t0 + 6},
		{kind: "confirm", lineage: lineage, ext: "job-44", node: true, nonce: 2, dataHash: signedTx, ts: t0 + 7},
		{kind: "tx", lineage: lineage, ext: "job-45", client: true, nonce: 3, data: []byte("crashed"), ts: t0 + 7},
		{kind: "expire", lineage: lineage, ext: "job-45", node: true, nonce: 3, txSeq: 13, ts: t0 + 7},
		{kind: "tx", lineage: lineage, ext: "job-46", client: true, nonce: 3, data: []byte("dropped"), ts: t0 + 7},
		{kind: "fail", lineage: lineage, ext: "job-46", client: true, nonce: 3, txSeq: 15, ts: t0 + 7},
		{kind: "reclaim", lineage: lineage, ext: "job-46", node: true, nonce: 3, txSeq: 15, ts: t0 + 7},
		{kind: "tx", lineage: "a/b.c-d:e_f", ext: "!~", client: true, data: []byte{0}, ts: t0 + 7},
		// Max uint64 values: exact in Go, beyond a JavaScript number.
		{kind: "sync", lineage: "a/b.c-d:e_f", client: true, nonce: math.MaxUint64, ts: math.MaxUint64},
	}
}

func requests() []oracle.Request {
	long := strings.Repeat("x", 255)
	return []oracle.Request{
		{Kind: 0, Lineage: lineage, ExternalID: "job-42", DataHash: crypto.Keccak256Hash([]byte{0xde, 0xad, 0xbe, 0xef}), Deadline: deadline},
		{Kind: 1, Lineage: lineage, ExternalID: "job-42", Deadline: deadline},
		{Kind: 2, Lineage: lineage, ExternalID: long, Deadline: deadline},
		{Kind: 3, Lineage: lineage, ExternalID: "job-43", Deadline: deadline},
		{Kind: 4, Lineage: lineage, Nonce: 2, Deadline: deadline},
		{Kind: 5, Lineage: lineage, ExternalID: "job-44", DataHash: signedTx, Deadline: deadline},
		{Kind: 0, DataHash: crypto.Keccak256Hash(nil), Deadline: math.MaxUint64},
	}
}

func sign(h common.Hash, hexKey string) (hexutil.Bytes, error) {
	k, err := crypto.HexToECDSA(hexKey)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(h[:], k)
	if err != nil {
		return nil, err
	}
	sig[64] += 27
	return sig, nil
}

func address(hexKey string) common.Address {
	k, err := crypto.HexToECDSA(hexKey)
	if err != nil {
		panic(err) // a constant above
	}
	return crypto.PubkeyToAddress(k.PublicKey)
}

func generateLog(chainID uint64, contract common.Address) (logJSON, error) {
	out := logJSON{Domain: domainJSON{ChainID: chainID, Name: "Sequencer", VerifyingContract: contract.Hex(), Version: "1"}}
	cid := new(big.Int).SetUint64(chainID)
	var prev common.Hash
	for i, s := range script() {
		e := entryJSON{Seq: uint64(i + 1), PrevHash: prev, Kind: s.kind, Lineage: s.lineage, Nonce: s.nonce, ExternalID: s.ext, Timestamp: s.ts}
		sender := common.Address{}
		if s.client {
			sender = address(clientKey)
		}
		if s.node {
			sender = address(primaryKey)
		}
		e.Sender = sender.Hex()
		switch {
		case s.kind == "tx":
			d := hexutil.Bytes(s.data)
			e.Data = &d
			e.DataHash = crypto.Keccak256Hash(s.data)
		case s.txSeq > 0:
			e.DataHash = out.Entries[s.txSeq-1].Hash
		default:
			e.DataHash = s.dataHash
		}
		h, err := oracle.EntryHash(cid, contract, oracle.Entry{Seq: e.Seq, PrevHash: e.PrevHash, Kind: kinds[s.kind], Sender: sender,
			Lineage: e.Lineage, Nonce: e.Nonce, ExternalID: e.ExternalID, DataHash: e.DataHash, Timestamp: e.Timestamp})
		if err != nil {
			return out, err
		}
		e.Hash = h
		if e.Signature, err = sign(h, primaryKey); err != nil {
			return out, err
		}
		out.Entries = append(out.Entries, e)
		prev = h
	}
	for _, r := range requests() {
		h, err := oracle.RequestHash(cid, contract, r)
		if err != nil {
			return out, err
		}
		sig, err := sign(h, clientKey)
		if err != nil {
			return out, err
		}
		out.Requests = append(out.Requests, requestJSON{Kind: r.Kind, Lineage: r.Lineage, ExternalID: r.ExternalID, DataHash: r.DataHash,
			Nonce: r.Nonce, Deadline: r.Deadline, From: address(clientKey).Hex(), Hash: h, Signature: sig})
	}
	return out, nil
}

// generate returns the vector file's bytes.
func generate() ([]byte, error) {
	f := fileJSON{
		About: "EIP-712 test vectors for docs/protocol.md (entries and signed requests), generated by internal/vectorgen: " +
			"hashes computed with go-ethereum's signer/core/apitypes, signatures with crypto.Sign (RFC 6979, so deterministic), " +
			"v in {27,28}; addresses EIP-55. Each log is a valid hash chain from 32 zero bytes. The last entry of each log (a sync) " +
			"holds max uint64 values: exact in Go, beyond what a JavaScript number holds. Test keys only: never use them for anything else.",
		Client: address(clientKey).Hex(), ClientKey: "0x" + clientKey,
		Primary: address(primaryKey).Hex(), PrimaryKey: "0x" + primaryKey,
	}
	for _, d := range []struct {
		chain    uint64
		contract common.Address
	}{{1, common.Address{}}, {11155111, common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")}} {
		l, err := generateLog(d.chain, d.contract)
		if err != nil {
			return nil, err
		}
		f.Logs = append(f.Logs, l)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func main() {
	b, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vectorgen:", err)
		os.Exit(1)
	}
	os.Stdout.Write(b)
}
