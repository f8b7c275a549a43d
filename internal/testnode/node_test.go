package testnode_test

import (
	"testing"

	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// The in-process node answers over 127.0.0.1 what the wire calls expect.
func TestNewServesAppendAndRead(t *testing.T) {
	n := testnode.New(t, testnode.Options{})
	r := wire.AppendTx(t, n.URL, []byte("x"), "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7", "a")
	if r.Seq != 1 || r.Kind != "tx" || r.IsExisting() {
		t.Fatalf("receipt %s", r.Raw)
	}
	wire.CheckReadable(t, n.URL, []wire.Entry{r})
	if in, _ := wire.GetInfo(t, n.URL); in.Head.Seq != 1 || in.Head.Hash != r.Signed().Hash || in.Primary != n.Sequencer.Address().Hex() {
		t.Fatalf("info %+v after receipt %s", in, r.Raw)
	}
}
