package main

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/durable"
)

// TestDevKeySurvivesPowerCut: once the node has made its development key
// (and may sign with it), a power cut keeps it (SPEC §5). Before keys were
// written durably this came back as a 0-byte file and the log's key was lost.
func TestDevKeySurvivesPowerCut(t *testing.T) {
	fsys := durable.NewCrashFS()
	if err := durable.MkdirAll(fsys, "/node/data", 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := makeDevKey(fsys, "/node/data/"+devKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	fsys.Cut()
	fsys.Restart()
	b, err := fsys.ReadFile("/node/data/" + devKeyFile)
	if err != nil {
		t.Fatalf("development key lost in a power cut: %v", err)
	}
	got, err := crypto.HexToECDSA(strings.TrimSpace(string(b)))
	if err != nil || !got.Equal(k) {
		t.Fatalf("development key after a power cut: %q, %v", b, err)
	}
	if _, err := makeDevKey(fsys, "/node/data/"+devKeyFile); err == nil {
		t.Fatal("a second development key replaced the first")
	}
}
