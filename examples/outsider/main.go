// Command outsider checks one entry of a sequencer's log the way anyone
// can, with none of this repository's code: plain JSON-RPC over HTTP,
// go-ethereum's EIP-712 implementation (apitypes) and ecrecover, and
// transparency-dev/merkle's RFC 6962 proof verifier (SPEC §10).
//
//	go run ./examples/outsider --rpc http://127.0.0.1:24444 --seq 1 [--primary 0x..]
//
// It fetches the entry, the node's signed checkpoint of its head and the
// entry's inclusion proof in that tree, then checks that
//
//  1. the entry's hash is the EIP-712 hash of its fields;
//  2. ecrecover of the entry's signature is the primary;
//  3. ecrecover of the checkpoint's EIP-712 signature is the primary;
//  4. the proof leads from the entry's leaf, SHA-256(0x00 ‖ hash) at index
//     seq − 1, to the checkpoint's root.
//
// Together: the primary signed this entry at this position, and signed a
// tree that holds it there; a primary that later shows anyone a tree
// without it has signed two trees of one size, which the accountability
// contract slashes.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func main() {
	rpcURL := flag.String("rpc", "http://127.0.0.1:24444", "the node's JSON-RPC URL")
	seq := flag.Uint64("seq", 1, "the entry to check")
	primary := flag.String("primary", "", "the primary whose log you expect (default: what the node says, which proves less)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := fetch(ctx, *rpcURL, *seq)
	if err != nil {
		fmt.Fprintln(os.Stderr, "outsider:", err)
		os.Exit(1)
	}
	want := ev.Info.Primary
	if *primary != "" {
		want = common.HexToAddress(*primary)
	} else {
		fmt.Fprintf(os.Stderr, "trusting the node's word that the log is %s's: give --primary to check it\n", want.Hex())
	}
	if err := ev.verify(want); err != nil {
		fmt.Fprintln(os.Stderr, "outsider: REJECTED:", err)
		os.Exit(1)
	}
	fmt.Printf("ok: entry %d (hash %s) is signed by %s and is leaf %d of the tree of size %d (root %s) the same key signed\n",
		*seq, ev.Entry.Hash.Hex(), want.Hex(), *seq-1, ev.Checkpoint.Size, ev.Checkpoint.Root.Hex())
}

// evidence is what the node gives out about one entry.
type evidence struct {
	Info struct {
		Primary           common.Address `json:"primary"`
		ChainID           json.Number    `json:"chainId"`
		VerifyingContract common.Address `json:"verifyingContract"`
	}
	Entry struct {
		Seq        uint64         `json:"seq"`
		Hash       common.Hash    `json:"hash"`
		PrevHash   common.Hash    `json:"prevHash"`
		Kind       string         `json:"kind"`
		Sender     common.Address `json:"sender"`
		Lineage    string         `json:"lineage"`
		Nonce      uint64         `json:"nonce"`
		ExternalID string         `json:"externalId"`
		DataHash   common.Hash    `json:"dataHash"`
		Timestamp  uint64         `json:"timestamp"`
		Signature  hexutil.Bytes  `json:"signature"`
	}
	Checkpoint struct {
		Size      uint64        `json:"size"`
		Root      common.Hash   `json:"root"`
		Timestamp uint64        `json:"timestamp"`
		Signature hexutil.Bytes `json:"signature"`
	}
	Proof []common.Hash
}

func fetch(ctx context.Context, url string, seq uint64) (*evidence, error) {
	ev := &evidence{}
	if err := call(ctx, url, &ev.Info, "sequencer_info"); err != nil {
		return nil, err
	}
	var read struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := call(ctx, url, &read, "sequencer_read", map[string]any{"from": seq, "limit": 1}); err != nil {
		return nil, err
	}
	if len(read.Entries) != 1 {
		return nil, fmt.Errorf("the node has no entry %d", seq)
	}
	if err := json.Unmarshal(read.Entries[0], &ev.Entry); err != nil {
		return nil, err
	}
	if err := call(ctx, url, &ev.Checkpoint, "sequencer_checkpoint", map[string]any{}); err != nil {
		return nil, err
	}
	var p struct {
		Proof []common.Hash `json:"proof"`
	}
	err := call(ctx, url, &p, "sequencer_inclusionProof", map[string]any{"seq": seq, "size": ev.Checkpoint.Size})
	ev.Proof = p.Proof
	return ev, err
}

// call is one JSON-RPC 2.0 request over HTTP.
func call(ctx context.Context, url string, out any, method string, params ...any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if r.Error != nil {
		return fmt.Errorf("%s: error %d: %s", method, r.Error.Code, r.Error.Message)
	}
	return json.Unmarshal(r.Result, out)
}

// The entry kinds of SPEC §2, by number.
var kinds = []string{"tx", "close", "release", "fail", "sync", "attempt", "confirm", "expire", "reclaim"}

func (ev *evidence) verify(primary common.Address) error {
	domain := apitypes.TypedDataDomain{Name: "Sequencer", Version: "1",
		ChainId: (*math.HexOrDecimal256)(mustBig(ev.Info.ChainID)), VerifyingContract: ev.Info.VerifyingContract.Hex()}
	e := ev.Entry
	kind := -1
	for i, k := range kinds {
		if k == e.Kind {
			kind = i
		}
	}
	if kind < 0 {
		return fmt.Errorf("unknown kind %q", e.Kind)
	}
	// 1. The hash is the EIP-712 hash of the fields.
	hash, err := typedHash(domain, "Entry", []apitypes.Type{
		{Name: "seq", Type: "uint64"}, {Name: "prevHash", Type: "bytes32"}, {Name: "kind", Type: "uint8"},
		{Name: "sender", Type: "address"}, {Name: "lineage", Type: "string"}, {Name: "nonce", Type: "uint64"},
		{Name: "externalId", Type: "string"}, {Name: "dataHash", Type: "bytes32"}, {Name: "timestamp", Type: "uint64"},
	}, apitypes.TypedDataMessage{
		"seq": dec(e.Seq), "prevHash": e.PrevHash.Hex(), "kind": strconv.Itoa(kind), "sender": e.Sender.Hex(),
		"lineage": e.Lineage, "nonce": dec(e.Nonce), "externalId": e.ExternalID, "dataHash": e.DataHash.Hex(),
		"timestamp": dec(e.Timestamp),
	})
	if err != nil {
		return err
	}
	if hash != e.Hash {
		return fmt.Errorf("entry %d: its hash %s is not the EIP-712 hash of its fields %s", e.Seq, e.Hash.Hex(), hash.Hex())
	}
	// 2. The primary signed it.
	if err := signedBy(hash, e.Signature, primary); err != nil {
		return fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	// 3. The primary signed the checkpoint.
	c := ev.Checkpoint
	chash, err := typedHash(domain, "Checkpoint", []apitypes.Type{
		{Name: "size", Type: "uint64"}, {Name: "root", Type: "bytes32"}, {Name: "timestamp", Type: "uint64"},
	}, apitypes.TypedDataMessage{"size": dec(c.Size), "root": c.Root.Hex(), "timestamp": dec(c.Timestamp)})
	if err != nil {
		return err
	}
	if err := signedBy(chash, c.Signature, primary); err != nil {
		return fmt.Errorf("checkpoint %d: %w", c.Size, err)
	}
	// 4. The checkpoint's tree holds the entry at leaf seq - 1.
	proofHashes := make([][]byte, len(ev.Proof))
	for i, h := range ev.Proof {
		proofHashes[i] = h.Bytes()
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(e.Hash.Bytes())
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Seq-1, c.Size, leaf, proofHashes, c.Root.Bytes()); err != nil {
		return fmt.Errorf("inclusion of entry %d in the tree of size %d: %w", e.Seq, c.Size, err)
	}
	return nil
}

func typedHash(domain apitypes.TypedDataDomain, primaryType string, fields []apitypes.Type, msg apitypes.TypedDataMessage) (common.Hash, error) {
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}},
			primaryType: fields,
		},
		PrimaryType: primaryType, Domain: domain, Message: msg,
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	return common.BytesToHash(h), err
}

// signedBy checks r ‖ s ‖ v (v 27 or 28) with ecrecover.
func signedBy(hash common.Hash, sig []byte, want common.Address) error {
	if len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
		return errors.New("not a 65-byte signature with v 27 or 28")
	}
	rsv := append([]byte(nil), sig...)
	rsv[64] -= 27
	pub, err := crypto.SigToPub(hash[:], rsv)
	if err != nil {
		return err
	}
	if got := crypto.PubkeyToAddress(*pub); got != want {
		return fmt.Errorf("signed by %s, not %s", got.Hex(), want.Hex())
	}
	return nil
}

func dec(v uint64) string { return strconv.FormatUint(v, 10) }

// mustBig reads the chain id; a malformed one becomes 0, whose domain
// then matches no signature.
func mustBig(n json.Number) *big.Int {
	b, ok := new(big.Int).SetString(strings.TrimSpace(n.String()), 10)
	if !ok {
		return new(big.Int)
	}
	return b
}
