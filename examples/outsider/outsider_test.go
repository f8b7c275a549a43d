package main

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// The outsider's checks pass for entries of every kind of a real node in a
// domain other than the defaults, and each fails when one piece of the
// evidence is changed.
func TestOutsider(t *testing.T) {
	n := testnode.New(t, testnode.Options{Domain: sequencer.Domain{ChainID: big.NewInt(31337),
		VerifyingContract: common.HexToAddress("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC")}})
	written := testnode.Workload{Seq: n.Sequencer, Prefix: "outsider"}.Run(t, 300, 4, nil)
	primary := crypto.PubkeyToAddress(n.Key.PublicKey)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	seen := map[string]bool{}
	for _, seq := range []uint64{1, 2, 77, 128, 255, 256, uint64(written)} {
		ev, err := fetch(ctx, n.URL, seq)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if err := ev.verify(primary); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		seen[ev.Entry.Kind] = true
	}
	t.Logf("kinds checked: %v", seen)

	ev, err := fetch(ctx, n.URL, 100)
	if err != nil {
		t.Fatal(err)
	}
	other, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(e *evidence)
		signer common.Address
	}{
		{"another primary", func(*evidence) {}, crypto.PubkeyToAddress(other.PublicKey)},
		{"a field", func(e *evidence) { e.Entry.Lineage += "x" }, primary},
		{"the domain", func(e *evidence) { e.Info.ChainID = "1" }, primary},
		{"the entry's signature", func(e *evidence) { e.Entry.Signature[10] ^= 1 }, primary},
		{"the checkpoint's root", func(e *evidence) { e.Checkpoint.Root[0] ^= 1 }, primary},
		{"the checkpoint's size", func(e *evidence) { e.Checkpoint.Size-- }, primary},
		{"a proof hash", func(e *evidence) { e.Proof[2][5] ^= 1 }, primary},
		{"a shorter proof", func(e *evidence) { e.Proof = e.Proof[:len(e.Proof)-1] }, primary},
		{"another entry's proof", func(e *evidence) {
			o, err := fetch(ctx, n.URL, 101)
			if err != nil {
				t.Fatal(err)
			}
			e.Proof = o.Proof
		}, primary},
	} {
		e := *ev
		e.Entry.Signature = append([]byte(nil), ev.Entry.Signature...)
		e.Proof = append([]common.Hash(nil), ev.Proof...)
		c.change(&e)
		if err := e.verify(c.signer); err == nil {
			t.Errorf("changed %s: accepted", c.name)
		} else {
			t.Logf("changed %s: %v", c.name, err)
		}
	}
}
