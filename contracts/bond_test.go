package contracts

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

func TestWithdrawal(t *testing.T) {
	e := newEnv(t)
	po := e.opts(e.primary)
	withdraw := func() (*types.Transaction, error) { return e.c.Withdraw(po) }
	e.mustRevert("not the primary requests", "not the primary", func() (*types.Transaction, error) { return e.c.RequestWithdrawal(e.opts(e.slasher)) })
	e.mustRevert("withdraw without request", "no withdrawal requested", withdraw)
	e.mustSend("requestWithdrawal", func() (*types.Transaction, error) { return e.c.RequestWithdrawal(po) })
	e.mustRevert("withdraw at once", "unbonding", withdraw)
	e.adjustTime((unbonding - 60) * time.Second)
	e.mustRevert("withdraw a minute early", "unbonding", withdraw)
	e.adjustTime(61 * time.Second)
	e.mustRevert("not the primary withdraws", "not the primary", func() (*types.Transaction, error) { return e.c.Withdraw(e.opts(e.slasher)) })
	before := e.balance(e.primary)
	r := e.mustSend("withdraw", withdraw)
	fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
	want := new(big.Int).Sub(new(big.Int).Add(before, e.bondWei), fee)
	if got := e.balance(e.primary); got.Cmp(want) != 0 {
		t.Fatalf("primary balance %v after withdrawing, want %v", got, want)
	}
	if e.bonded().Sign() != 0 {
		t.Fatalf("bonded %v after the withdrawal", e.bonded())
	}
	e.mustRevert("withdraw twice", "no withdrawal requested", withdraw)
}

// A slash during the unbonding period takes the bond: the withdrawal that
// was requested first fails, and the contract takes no new bond.
func TestWithdrawalAfterSlash(t *testing.T) {
	e := newEnv(t)
	po := e.opts(e.primary)
	e.mustSend("requestWithdrawal", func() (*types.Transaction, error) { return e.c.RequestWithdrawal(po) })
	ca, sa := e.signCheckpoint(3, [32]byte{1}, 5, e.primary)
	cb, sb := e.signCheckpoint(3, [32]byte{2}, 5, e.primary)
	e.mustSend("slash", func() (*types.Transaction, error) {
		return e.c.SlashCheckpointEquivocation(e.opts(e.slasher), ca, sa, cb, sb)
	})
	e.adjustTime((unbonding + 60) * time.Second)
	e.mustRevert("withdraw after slash", "slashed", func() (*types.Transaction, error) { return e.c.Withdraw(po) })
	e.mustRevert("request after slash", "slashed", func() (*types.Transaction, error) { return e.c.RequestWithdrawal(po) })
	o := e.opts(e.funder)
	o.Value = big.NewInt(1)
	e.mustRevert("bond after slash", "slashed", func() (*types.Transaction, error) { return e.c.Bond(o) })
}

func TestAnchor(t *testing.T) {
	e := newEnv(t)
	// Anyone may send the primary's checkpoint: here the funder pays.
	fo := e.opts(e.funder)
	c1, s1 := e.signCheckpoint(10, [32]byte{0xa}, 1000, e.primary)
	r := e.mustSend("anchor (first)", func() (*types.Transaction, error) { return e.c.Anchor(fo, c1, s1) })
	checkAnchor(t, e, c1)
	var events int
	for _, l := range r.Logs {
		if ev, err := e.c.ParseAnchored(*l); err == nil {
			events++
			if ev.Size != c1.Size || ev.Root != c1.Root || ev.Timestamp != c1.Timestamp {
				t.Fatalf("Anchored %+v, want %+v", ev, c1)
			}
		}
	}
	if events != 1 {
		t.Fatalf("%d Anchored events", events)
	}
	c2, s2 := e.signCheckpoint(11, [32]byte{0xb}, 1001, e.primary)
	e.mustSend("anchor", func() (*types.Transaction, error) { return e.c.Anchor(fo, c2, s2) })
	checkAnchor(t, e, c2)

	e.mustRevert("same size", "not larger than the last anchor", func() (*types.Transaction, error) { return e.c.Anchor(fo, c2, s2) })
	c0, s0 := e.signCheckpoint(5, [32]byte{0xc}, 900, e.primary)
	e.mustRevert("smaller", "not larger than the last anchor", func() (*types.Transaction, error) { return e.c.Anchor(fo, c0, s0) })
	c3, s3 := e.signCheckpoint(12, [32]byte{0xd}, 1002, mustKey(t))
	e.mustRevert("wrong signer", "not signed by the primary", func() (*types.Transaction, error) { return e.c.Anchor(fo, c3, s3) })
	c4, s4 := e.signCheckpoint(12, [32]byte{0xd}, 1002, e.primary)
	for _, v := range badSignatures {
		e.mustRevert(v.name, v.reason, func() (*types.Transaction, error) { return e.c.Anchor(fo, c4, v.mutate(s4)) })
	}
	checkAnchor(t, e, c2)
	if addr := crypto.PubkeyToAddress(e.funder.PublicKey); addr == crypto.PubkeyToAddress(e.primary.PublicKey) {
		t.Fatal("the test meant a payer other than the primary")
	}
}

func checkAnchor(t *testing.T, e *env, want SequencerAccountabilityCheckpoint) {
	t.Helper()
	got, err := e.c.LatestAnchor(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != want.Size || got.Root != want.Root || got.Timestamp != want.Timestamp {
		t.Fatalf("latestAnchor %+v, want %+v", got, want)
	}
}
