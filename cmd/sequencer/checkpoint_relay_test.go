package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/seqnode/sequencer/internal/testnode"
	"golang.org/x/mod/sumdb/note"
)

// SPEC §10, end to end: a replica process serves the checkpoint its
// primary process signed (relayed over gossip), byte for byte: over
// JSON-RPC, and as the note of GET /checkpoint, which sumdb/note opens
// with the primary's checkpointKey, which the replica was given and checked
// every note against.
func TestReplicaRelaysCheckpointEndToEnd(t *testing.T) {
	base := t.TempDir()
	primary := testnode.StartNode(t, filepath.Join(base, "p"), nil)
	info := primary.Info()
	// With --checkpoint-key the replica checks each note's Ed25519
	// signature too, and shows the key as its own info.checkpointKey.
	r := startReplica(t, filepath.Join(base, "r"), info.Primary, p2pAddr(primary), p2pPort(t), "--checkpoint-key", info.CheckpointKey)
	if got := r.Info().CheckpointKey; got != info.CheckpointKey {
		t.Fatalf("replica's checkpointKey %q, the primary's %q", got, info.CheckpointKey)
	}
	appendLoad(t, primary, "cp", 300, 2)
	head := primary.Info().Head
	waitHead(t, r, head.Seq, 60*time.Second)
	var want, got json.RawMessage
	primary.MustCall(&want, "sequencer_checkpoint")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := r.Call(&got, "sequencer_checkpoint")
		if err == nil && string(got) == string(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica's checkpoint %s (%v), primary's %s", got, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var cp struct {
		Size uint64 `json:"size"`
		Note string `json:"note"`
	}
	if err := json.Unmarshal(got, &cp); err != nil || cp.Size != head.Seq {
		t.Fatalf("checkpoint %s (%v), head %d", got, err, head.Seq)
	}
	resp, err := testnode.HealthClient.Get("http://" + r.Addr + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != cp.Note {
		t.Fatalf("replica GET /checkpoint: %d %q", resp.StatusCode, body)
	}
	v, err := note.NewVerifier(info.CheckpointKey)
	if err != nil {
		t.Fatalf("checkpointKey %q: %v", info.CheckpointKey, err)
	}
	if _, err := note.Open(body, note.VerifierList(v)); err != nil {
		t.Fatalf("the replica's note does not open with the primary's key: %v", err)
	}
	if code := r.Term(30 * time.Second); code != 0 {
		t.Fatalf("replica exit %d", code)
	}
}
