package p2p

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/seqnode/sequencer/internal/durable"
)

// TestIdentitySurvivesPowerCut: the node's libp2p identity, once made,
// survives a power cut whole (SPEC §5), so its peer id stays stable.
func TestIdentitySurvivesPowerCut(t *testing.T) {
	fsys := durable.NewCrashFS()
	if err := durable.MkdirAll(fsys, "/data", 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := makeIdentity(fsys, "/data/"+identityFile)
	if err != nil {
		t.Fatal(err)
	}
	fsys.Cut()
	fsys.Restart()
	b, err := fsys.ReadFile("/data/" + identityFile)
	if err != nil {
		t.Fatalf("identity lost in a power cut: %v", err)
	}
	got, err := crypto.UnmarshalPrivateKey(b)
	if err != nil || !got.Equals(k) {
		t.Fatalf("identity after a power cut differs: %v", err)
	}
}
