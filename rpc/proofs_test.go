package rpc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	sumnote "golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

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
	key, _ := crypto.GenerateKey()
	signer, err := sequencer.NewCheckpointSigner(key, chain1)
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, nodeOptions{key: key, api: func(c *Config) { c.Checkpoints = signer }})
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
	// Checkpoints (SPEC §10): the root at the size, signed with the log key
	// over the EIP-712 Checkpoint, and as a note sumdb/note opens with the
	// key sequencer_info names; GET /checkpoint serves the head's note.
	info, _ := wire.GetInfo(t, n.url)
	v, err := sumnote.NewVerifier(info.CheckpointKey)
	if err != nil {
		t.Fatalf("checkpointKey %q: %v", info.CheckpointKey, err)
	}
	type cpJSON struct {
		Origin    string        `json:"origin"`
		Size      uint64        `json:"size"`
		Root      common.Hash   `json:"root"`
		Timestamp uint64        `json:"timestamp"`
		Signature hexutil.Bytes `json:"signature"`
		Note      string        `json:"note"`
	}
	for _, size := range []uint64{0, 1, 300, 600} {
		params := map[string]any{}
		want := size
		if size == 0 {
			want = 600
		} else {
			params["size"] = size
		}
		var cp cpJSON
		wire.MustCall(t, n.url, "sequencer_checkpoint", params, &cp)
		if cp.Size != want || !bytes.Equal(cp.Root[:], roots[want]) || cp.Timestamp != entries[want-1].Timestamp {
			t.Fatalf("checkpoint %+v, want size %d root %x", cp, want, roots[want])
		}
		signed := sequencer.NewHasher(chain1).CheckpointHash(cp.Size, cp.Root, cp.Timestamp)
		if a, err := sequencer.Recover(signed, cp.Signature); err != nil || a != n.seq.Address() {
			t.Fatalf("checkpoint signed by %s (%v)", a, err)
		}
		opened, err := sumnote.Open([]byte(cp.Note), sumnote.VerifierList(v))
		if err != nil || opened.Text != fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:])) {
			t.Fatalf("note %q: %v", cp.Note, err)
		}
		if size == 0 {
			resp, err := wire.HTTPClient.Get(strings.TrimSuffix(n.url, "/") + "/checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != cp.Note {
				t.Fatalf("GET /checkpoint: %d %q, want the head's note", resp.StatusCode, body)
			}
		}
	}
	wire.WantError(t, n.url, "sequencer_checkpoint", map[string]any{"size": 601}, -32602, "")

	// Tiles over HTTP (C2SP tlog-tiles): sumdb's tile reader, which
	// authenticates every tile against the root, proves leaves and
	// computes the root from them; the entry bundles hold the entry hashes.
	get := func(path string) (int, []byte) {
		resp, err := wire.HTTPClient.Get(strings.TrimSuffix(n.url, "/") + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	var root600 tlog.Hash
	copy(root600[:], roots[600])
	tr := tlog.TileHashReader(tlog.Tree{N: 600, Hash: root600}, httpTiles{get: get})
	if got, err := tlog.TreeHash(600, tr); err != nil || got != root600 {
		t.Fatalf("sumdb TreeHash over HTTP tiles: %x, %v", got, err)
	}
	for _, i := range []int64{0, 255, 256, 599} {
		p, err := tlog.ProveRecord(600, i, tr)
		if err != nil {
			t.Fatalf("sumdb ProveRecord(%d) over HTTP tiles: %v", i, err)
		}
		if err := tlog.CheckRecord(p, 600, root600, i, tlog.RecordHash(entries[i].Hash[:])); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path  string
		first int
		n     int
	}{{"tile/entries/000", 0, 256}, {"tile/entries/002.p/88", 512, 88}} {
		code, body := get(c.path)
		if code != 200 || len(body) != 34*c.n {
			t.Fatalf("%s: %d, %d bytes", c.path, code, len(body))
		}
		for i := range c.n {
			if body[34*i] != 0 || body[34*i+1] != 32 || !bytes.Equal(body[34*i+2:34*i+34], entries[c.first+i].Hash[:]) {
				t.Fatalf("%s: entry %d differs", c.path, i)
			}
		}
	}
	for _, missing := range []string{"tile/0/003", "tile/0/002.p/89", "tile/entries/002.p/89", "tile/1/000", "tile/nonsense"} {
		if code, _ := get(missing); code != 404 {
			t.Fatalf("%s: %d, want 404", missing, code)
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

// httpTiles reads tiles from the node's C2SP paths for sumdb's reader.
type httpTiles struct{ get func(string) (int, []byte) }

func (h httpTiles) Height() int { return 8 }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := strings.Replace(t.Path(), "tile/8/", "tile/", 1) // C2SP paths do not name the height
		code, body := h.get(path)
		if code != 200 {
			return nil, fmt.Errorf("%s: HTTP %d", path, code)
		}
		out[i] = body
	}
	return out, nil
}

func (h httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// TestProofJSONForms: the hand-written encoding of an inclusion proof (the
// batch read fast path) is encoding/json's, byte for byte.
func TestProofJSONForms(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []*InclusionProofJSON{{Seq: 1, Size: 1}, {Seq: 1, Size: 1, Proof: []common.Hash{}}}
	for range 200 {
		p := &InclusionProofJSON{Seq: r.Uint64(), Size: r.Uint64(), Proof: make([]common.Hash, r.IntN(64))}
		for i := range p.Proof {
			for j := range p.Proof[i] {
				p.Proof[i][j] = byte(r.Uint32())
			}
		}
		cases = append(cases, p)
	}
	for _, p := range cases {
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON %s\nencoding/json %s", got, want)
		}
	}
}
