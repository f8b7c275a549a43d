package client_test

import (
	"context"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// TestCheckEntryAgainstCheckpoint is what an outsider does with SPEC §10:
// take a checkpoint, check its signature; take an entry and its inclusion
// proof, check the entry and that the checkpoint's tree holds it; check
// that a later checkpoint's tree extends the earlier one. A changed
// entry, root or signer fails.
func TestCheckEntryAgainstCheckpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := sequencer.Domain{ChainID: big.NewInt(5)}
	n := testnode.New(t, testnode.Options{Domain: d})
	c, err := client.Dial(ctx, n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	for i := range 100 {
		if _, err := c.Append(ctx, client.AppendRequest{Data: fmt.Append(nil, i)}); err != nil {
			t.Fatal(err)
		}
	}
	early, err := c.Checkpoint(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := c.Append(ctx, client.AppendRequest{Data: fmt.Append(nil, "more", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := c.Checkpoint(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	primary := n.Sequencer.Address()
	if early.Size != 100 || cp.Size != 300 {
		t.Fatalf("checkpoints of %d and %d entries", early.Size, cp.Size)
	}
	for _, x := range []*client.Checkpoint{early, cp} {
		if err := client.VerifyCheckpoint(d, primary, x); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.Read(ctx, 1, 300, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{1, 77, 256, 300} {
		e := page.Entries[seq-1]
		if err := client.VerifyEntry(d, primary, e); err != nil {
			t.Fatal(err)
		}
		p, err := c.InclusionProof(ctx, seq, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.VerifyInclusion(e, p, cp.Root); err != nil {
			t.Fatalf("entry %d: %v", seq, err)
		}
		forged := *e
		forged.Hash[0] ^= 1
		if client.VerifyInclusion(&forged, p, cp.Root) == nil {
			t.Fatalf("entry %d: a changed entry hash verified", seq)
		}
		if client.VerifyInclusion(e, p, early.Root) == nil {
			t.Fatalf("entry %d: verified against another root", seq)
		}
	}
	cons, err := c.ConsistencyProof(ctx, early.Size, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyConsistency(cons, early.Root, cp.Root); err != nil {
		t.Fatal(err)
	}
	if client.VerifyConsistency(cons, cp.Root, early.Root) == nil {
		t.Fatal("swapped roots verified")
	}
	if client.VerifyCheckpoint(d, common.HexToAddress("0x01"), cp) == nil {
		t.Fatal("a checkpoint verified for another primary")
	}
	other := *cp
	other.Root[0] ^= 1
	if client.VerifyCheckpoint(d, primary, &other) == nil {
		t.Fatal("a checkpoint with another root verified")
	}
}
