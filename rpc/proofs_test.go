package rpc

import (
	"context"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestProofs: sequencer_inclusionProof and sequencer_consistencyProof
// (SPEC §10) answer RFC 6962 proofs that transparency-dev/merkle's
// verifiers accept against roots computed independently from the entries
// the node serves; bad sizes are -32602.
func TestProofs(t *testing.T) {
	n := newNode(t, nodeOptions{})
	for i := range 600 {
		data := []byte(fmt.Sprint("proof ", i))
		if _, err := n.seq.Submit(context.Background(), sequencer.Op{Kind: sequencer.KindTx, Data: data, DataHash: crypto.Keccak256Hash(data)}); err != nil {
			t.Fatal(err)
		}
	}
	entries := wire.ReadAll(t, n.url)
	h := rfc6962.DefaultHasher
	r := (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	roots := [][]byte{nil}
	for _, e := range entries {
		if err := r.Append(h.HashLeaf(e.Hash[:]), nil); err != nil {
			t.Fatal(err)
		}
		root, _ := r.GetRootHash(nil)
		roots = append(roots, root)
	}
	hashes := func(hs []string) [][]byte {
		var out [][]byte
		for _, x := range hs {
			b, err := hexutil.Decode(x)
			if err != nil || len(b) != 32 {
				t.Fatalf("proof hash %q", x)
			}
			out = append(out, b)
		}
		return out
	}
	type incl struct {
		Seq   uint64   `json:"seq"`
		Size  uint64   `json:"size"`
		Proof []string `json:"proof"`
	}
	for _, c := range []struct{ seq, size uint64 }{{1, 1}, {1, 600}, {256, 600}, {257, 300}, {600, 600}, {17, 0}} {
		params := map[string]any{"seq": c.seq}
		size := c.size
		if size == 0 {
			size = 600 // default: the head
		} else {
			params["size"] = size
		}
		var got incl
		wire.MustCall(t, n.url, "sequencer_inclusionProof", params, &got)
		if got.Seq != c.seq || got.Size != size {
			t.Fatalf("inclusion %+v for %+v", got, c)
		}
		leaf := entries[c.seq-1].Hash
		if err := proof.VerifyInclusion(h, c.seq-1, size, h.HashLeaf(leaf[:]), hashes(got.Proof), roots[size]); err != nil {
			t.Fatalf("inclusion of %d in %d: %v", c.seq, size, err)
		}
	}
	type cons struct {
		From  uint64   `json:"from"`
		To    uint64   `json:"to"`
		Proof []string `json:"proof"`
	}
	for _, c := range []struct{ from, to uint64 }{{1, 600}, {255, 256}, {300, 599}, {600, 600}} {
		var got cons
		wire.MustCall(t, n.url, "sequencer_consistencyProof", map[string]any{"from": c.from, "to": c.to}, &got)
		if err := proof.VerifyConsistency(h, c.from, c.to, hashes(got.Proof), roots[c.from], roots[c.to]); err != nil {
			t.Fatalf("consistency %d → %d: %v", c.from, c.to, err)
		}
	}
	for _, bad := range []struct {
		method string
		params map[string]any
	}{
		{"sequencer_inclusionProof", map[string]any{"seq": 0}},
		{"sequencer_inclusionProof", map[string]any{"seq": 10, "size": 9}},
		{"sequencer_inclusionProof", map[string]any{"seq": 1, "size": 601}},
		{"sequencer_inclusionProof", map[string]any{}},
		{"sequencer_consistencyProof", map[string]any{"from": 10, "to": 9}},
		{"sequencer_consistencyProof", map[string]any{"from": 1, "to": 601}},
		{"sequencer_consistencyProof", map[string]any{"from": 1}},
	} {
		wire.WantError(t, n.url, bad.method, bad.params, -32602, "")
	}
}
