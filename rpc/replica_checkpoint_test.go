package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// checkpointReplica is a replica of a test primary's log: its own store
// and mirror, fed the primary's entries, with a "replica" API over it.
type checkpointReplica struct {
	store  *sequencer.LevelStore
	mirror *sequencer.Mirror
	url    string
}

func newCheckpointReplica(t *testing.T, p *node, upTo uint64) *checkpointReplica {
	t.Helper()
	st, err := sequencer.OpenLevelStore(filepath.Join(t.TempDir(), "db"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := sequencer.NewMirror(st, p.seq.Address(), chain1, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	es, err := p.store.Range(1, int(upTo))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(es); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	api := NewAPI(m, m.Store(), Config{Role: "replica", Version: "test", Primary: p.seq.Address(), Domain: chain1, Logger: quietLogger()}, reg)
	srv, err := NewServer(api, reg, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
	})
	return &checkpointReplica{store: st, mirror: m, url: hs.URL + "/"}
}

func getCheckpointNote(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := wire.HTTPClient.Get(strings.TrimSuffix(url, "/") + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// keys are the JSON object's field names, sorted.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// SPEC §10: a replica serves the latest checkpoint the primary signed for
// a size it holds, byte for byte as the primary serves it (JSON-RPC and
// GET /checkpoint); before it has one, and for any other size, it
// answers NotFound (4003) and 404. A primary signs its head once while it
// stands still.
func TestReplicaServesPrimaryCheckpoint(t *testing.T) {
	key, _ := crypto.GenerateKey()
	signer, err := sequencer.NewCheckpointSigner(key, chain1)
	if err != nil {
		t.Fatal(err)
	}
	p := newNode(t, nodeOptions{key: key, api: func(c *Config) { c.Checkpoints = signer }})
	for i := range 12 {
		data := []byte(fmt.Sprint("cp ", i))
		if _, err := p.seq.Submit(context.Background(), sequencer.Op{Kind: sequencer.KindTx, Data: data, DataHash: crypto.Keccak256Hash(data)}); err != nil {
			t.Fatal(err)
		}
	}
	r := newCheckpointReplica(t, p, 12)
	wire.WantError(t, r.url, "sequencer_checkpoint", nil, CodeNotFound, "")
	if code, _ := getCheckpointNote(t, r.url); code != 404 {
		t.Fatalf("GET /checkpoint on a replica with none: %d", code)
	}

	primaryRaw := wire.MustCall(t, p.url, "sequencer_checkpoint", nil, nil)
	a, err := signer.SignHead(p.store)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := signer.SignHead(p.store); a != b {
		t.Error("the head's checkpoint was signed again while the head stood still")
	}
	if err := r.mirror.ReceiveCheckpoint(a); err != nil {
		t.Fatal(err)
	}
	for _, params := range []any{nil, map[string]any{}, map[string]any{"size": 12}} {
		if got := wire.MustCall(t, r.url, "sequencer_checkpoint", params, nil); string(got) != string(primaryRaw) {
			t.Fatalf("replica (%v): %s\nprimary: %s", params, got, primaryRaw)
		}
	}
	if code, body := getCheckpointNote(t, r.url); code != 200 || body != string(a.Note) {
		t.Fatalf("GET /checkpoint on the replica: %d %q", code, body)
	}
	if _, body := getCheckpointNote(t, p.url); body != string(a.Note) {
		t.Fatalf("GET /checkpoint on the primary: %q, want %q", body, a.Note)
	}
	wire.WantError(t, r.url, "sequencer_checkpoint", map[string]any{"size": 5}, CodeNotFound, "")
	wire.WantError(t, r.url, "sequencer_checkpoint", map[string]any{"size": 13}, CodeNotFound, "")
	if raw := wire.MustCall(t, r.url, "sequencer_equivocations", nil, nil); string(raw) != "[]" {
		t.Fatalf("equivocations %s", raw)
	}
}

// SPEC §10: sequencer_equivocations lists checkpoint proofs in their
// exact shapes: {checkpointA, checkpointB} for two signed checkpoints of
// one size, {checkpoint, root} for one that contradicts the replica's
// tree; each checkpoint as sequencer_checkpoint gives it.
func TestCheckpointEquivocationShapes(t *testing.T) {
	key, _ := crypto.GenerateKey()
	signer, err := sequencer.NewCheckpointSigner(key, chain1)
	if err != nil {
		t.Fatal(err)
	}
	p := newNode(t, nodeOptions{key: key, api: func(c *Config) { c.Checkpoints = signer }})
	for i := range 6 {
		data := []byte(fmt.Sprint("eq ", i))
		if _, err := p.seq.Submit(context.Background(), sequencer.Op{Kind: sequencer.KindTx, Data: data, DataHash: crypto.Keccak256Hash(data)}); err != nil {
			t.Fatal(err)
		}
	}
	head := p.store.Head()

	t.Run("pair", func(t *testing.T) {
		r := newCheckpointReplica(t, p, 6)
		a, _ := signer.Sign(9, [32]byte{1}, head.Timestamp)
		b, _ := signer.Sign(9, [32]byte{2}, head.Timestamp)
		if err := r.mirror.ReceiveCheckpoint(a); err != nil {
			t.Fatal(err)
		}
		if err := r.mirror.ReceiveCheckpoint(b); err == nil {
			t.Fatal("a conflicting pair accepted")
		}
		var got []json.RawMessage
		wire.MustCall(t, r.url, "sequencer_equivocations", nil, &got)
		if len(got) != 1 || !slices.Equal(keys(t, got[0]), []string{"checkpointA", "checkpointB"}) {
			t.Fatalf("equivocations %s", got)
		}
		var pair struct{ CheckpointA, CheckpointB CheckpointJSON }
		if err := json.Unmarshal(got[0], &pair); err != nil {
			t.Fatal(err)
		}
		wantA, _ := json.Marshal(checkpointJSON(a))
		wantB, _ := json.Marshal(checkpointJSON(b))
		gotA, _ := json.Marshal(pair.CheckpointA)
		gotB, _ := json.Marshal(pair.CheckpointB)
		if string(gotA) != string(wantA) || string(gotB) != string(wantB) {
			t.Fatalf("pair %s / %s, want %s / %s", gotA, gotB, wantA, wantB)
		}
		if !slices.Equal(keys(t, wantA), []string{"note", "origin", "root", "signature", "size", "timestamp"}) {
			t.Fatalf("checkpoint fields %v", keys(t, wantA))
		}
		info, _ := wire.GetInfo(t, r.url)
		if !info.Halted {
			t.Error("the replica does not say it halted")
		}
	})
	t.Run("tree", func(t *testing.T) {
		r := newCheckpointReplica(t, p, 6)
		bad, _ := signer.Sign(4, [32]byte{3}, head.Timestamp)
		if err := r.mirror.ReceiveCheckpoint(bad); err == nil {
			t.Fatal("a checkpoint contradicting the tree accepted")
		}
		var got []json.RawMessage
		wire.MustCall(t, r.url, "sequencer_equivocations", nil, &got)
		if len(got) != 1 || !slices.Equal(keys(t, got[0]), []string{"checkpoint", "root"}) {
			t.Fatalf("equivocations %s", got)
		}
		var tree struct {
			Checkpoint CheckpointJSON
			Root       string
		}
		if err := json.Unmarshal(got[0], &tree); err != nil {
			t.Fatal(err)
		}
		ours, _ := r.store.Root(4)
		if tree.Root != common.Hash(ours).Hex() || tree.Checkpoint.Size != 4 || tree.Checkpoint.Root != [32]byte{3} {
			t.Fatalf("proof %s; our root at 4 is %x", got[0], ours)
		}
	})
	t.Run("tree, completed", func(t *testing.T) {
		r := newCheckpointReplica(t, p, 6)
		// The log the primary signs a checkpoint over: entries 1..3 as
		// given, then another entry 4.
		held, _ := p.store.Range(1, 6)
		h := sequencer.NewHasher(chain1)
		lie := append([]*sequencer.Entry{}, held[:3]...)
		data := []byte("lie")
		e := &sequencer.Entry{Seq: 4, PrevHash: held[2].Hash, Kind: sequencer.KindTx, DataHash: crypto.Keccak256Hash(data), Data: data, Timestamp: held[2].Timestamp}
		e.Hash = h.EntryHash(e)
		e.Signature, _ = sequencer.Sign(e.Hash, key)
		lie = append(lie, e)
		ls, err := sequencer.OpenLevelStore(filepath.Join(t.TempDir(), "db"), false)
		if err != nil {
			t.Fatal(err)
		}
		defer ls.Close()
		lm, err := sequencer.NewMirror(ls, p.seq.Address(), chain1, quietLogger(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lm.Apply(lie); err != nil {
			t.Fatal(err)
		}
		lieRoot, _ := ls.Root(4)
		bad, _ := signer.Sign(4, lieRoot, e.Timestamp)
		if err := r.mirror.ReceiveCheckpoint(bad); err == nil {
			t.Fatal("a checkpoint contradicting the tree accepted")
		}
		path, err := ls.InclusionProof(4, 4)
		if err != nil {
			t.Fatal(err)
		}
		proof := make([][32]byte, len(path))
		for i := range path {
			proof[i] = path[i]
		}
		ours, _ := r.store.Root(4)
		done := sequencer.CheckpointProof{Checkpoint: bad, Root: ours, Entry: held[3], LeafEntryHash: e.Hash, Proof: proof}
		wrong := done
		wrong.LeafEntryHash = held[3].Hash // our own hash: no contradiction
		if err := r.mirror.CompleteCheckpointProof(wrong); err == nil {
			t.Fatal("a proof of no contradiction completed")
		}
		wrong = done
		wrong.Proof = append([][32]byte{}, proof...)
		wrong.Proof[0][0] ^= 1
		if err := r.mirror.CompleteCheckpointProof(wrong); err == nil {
			t.Fatal("a proof with a broken path completed")
		}
		if err := r.mirror.CompleteCheckpointProof(done); err != nil {
			t.Fatal(err)
		}
		var got []json.RawMessage
		wire.MustCall(t, r.url, "sequencer_equivocations", nil, &got)
		if len(got) != 1 || !slices.Equal(keys(t, got[0]), []string{"checkpoint", "entry", "leafEntryHash", "proof", "root"}) {
			t.Fatalf("equivocations %s", got)
		}
		var tree struct {
			Checkpoint    CheckpointJSON
			Root          common.Hash
			Entry         EntryJSON
			LeafEntryHash common.Hash
			Proof         []common.Hash
		}
		if err := json.Unmarshal(got[0], &tree); err != nil {
			t.Fatal(err)
		}
		if tree.Entry.Seq != 4 || tree.Entry.Hash != held[3].Hash || tree.LeafEntryHash != e.Hash || len(tree.Proof) != len(path) || tree.Root != common.Hash(ours) {
			t.Fatalf("completed proof %s", got[0])
		}
	})
}
