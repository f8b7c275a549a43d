package main

import (
	"strings"

	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"

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

// TestKeystoreSurvivesPowerCut: the keystore file keygen writes, in a
// directory it makes, survives a power cut once written (SPEC §5); a cut
// at any earlier point leaves no file or the whole file, never a partial
// one. (Light scrypt here; keygen uses the standard parameters.)
func TestKeystoreSurvivesPowerCut(t *testing.T) {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	const path = "/home/op/keys/primary.json"
	write := func(fsys durable.FS) error {
		return writeKeystore(fsys, path, k, "pw", keystore.LightScryptN, keystore.LightScryptP)
	}
	for cut := 0; ; cut++ {
		fsys := durable.NewCrashFS()
		if err := durable.MkdirAll(fsys, "/home/op", 0o700); err != nil {
			t.Fatal(err)
		}
		fsys.CutAfter(cut)
		err := write(fsys)
		fsys.Cut()
		fsys.Restart()
		js, rerr := fsys.ReadFile(path)
		if err == nil && rerr != nil {
			t.Fatalf("keystore lost in a power cut after keygen wrote it: %v", rerr)
		}
		if rerr == nil {
			got, err := keystore.DecryptKey(js, "pw")
			if err != nil || !got.PrivateKey.Equal(k) {
				t.Fatalf("cut at operation %d: keystore file damaged: %v", cut, err)
			}
		}
		if err == nil {
			if err := write(fsys); err == nil {
				t.Fatal("keygen replaced an existing keystore file")
			}
			return
		}
		if cut > 100 {
			t.Fatal("the write never completed")
		}
	}
}
