package sequencer

import (
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// BenchmarkCoreStep is the orderer's work per op without the pipeline
// around it: the records loaded, the op decided, the entry chained,
// hashed and applied. Half the ops lease a nonce of one of 100 lineages
// (closed by the next op), half are txs without lineage.
func BenchmarkCoreStep(b *testing.B) {
	store, err := OpenMemStore()
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cache, err := store.LoadCache()
	if err != nil {
		b.Fatal(err)
	}
	core := NewCore(testDomain(), cache.State(), Head{}, DefaultMaxInFlight)
	data := make([]byte, 256)
	dh := crypto.Keccak256Hash(data)
	ops := make([]Op, 0, 3000)
	for i := range 1000 {
		l, x := fmt.Sprintf("eip155:1:%d", i%100), fmt.Sprint(i)
		ops = append(ops, Op{Kind: KindTx, Lineage: l, ExternalID: x, Data: data, DataHash: dh},
			Op{Kind: KindClose, Lineage: l, ExternalID: x},
			Op{Kind: KindTx, ExternalID: "p" + x, Data: data, DataHash: dh})
	}
	now := uint64(1_700_000_000_000)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		op := &ops[i%len(ops)]
		if i%len(ops) == 0 && i > 0 {
			b.StopTimer()
			cache.State().TakeDirty()
			cache, _ = store.LoadCache() // a fresh state for the next round of ids
			core = NewCore(testDomain(), cache.State(), Head{}, DefaultMaxInFlight)
			b.StartTimer()
		}
		if err := cache.LoadOp(op); err != nil {
			b.Fatal(err)
		}
		if d, err := core.Step(op, now); err != nil || d.New == nil {
			b.Fatalf("op %d: %+v %v", i, d, err)
		}
		i++
	}
}
