package sequencer

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

func benchEntry() *Entry {
	e := &Entry{Seq: 12345, Kind: KindTx, Lineage: "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7",
		Nonce: 77, ExternalID: "job-123456", Timestamp: 1763683200000}
	rand.Read(e.PrevHash[:])
	rand.Read(e.DataHash[:])
	return e
}

// BenchmarkEntryHash: our reflection-free EIP-712 entry hash.
func BenchmarkEntryHash(b *testing.B) {
	h := NewHasher(testDomain())
	e := benchEntry()
	b.ReportAllocs()
	for b.Loop() {
		e.Hash = h.EntryHash(e)
	}
}

// BenchmarkEntryHashApitypes: go-ethereum's apitypes, for comparison.
func BenchmarkEntryHashApitypes(b *testing.B) {
	e := benchEntry()
	d := testDomain()
	b.ReportAllocs()
	for b.Loop() {
		oracleEntryHash(b, d, e)
	}
}

func BenchmarkSign(b *testing.B) {
	key, _ := crypto.GenerateKey()
	h := benchEntry().PrevHash
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(h, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecover(b *testing.B) {
	key, _ := crypto.GenerateKey()
	h := benchEntry().PrevHash
	sig, _ := Sign(h, key)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Recover(h, sig[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEntryEncode(b *testing.B) {
	e := benchEntry()
	e.Data = make([]byte, 256)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = e.AppendBinary(buf[:0])
	}
}

// BenchmarkDurableAppend is the whole durable path without RPC: many
// concurrent callers, order + chain + parallel signing + one synced LevelDB
// batch per group, answered after fsync. 256-byte payloads; half of the
// appends lease a nonce of one of 100 lineages (each ticket closed right
// away by the same caller, so leases never hit max-in-flight).
func BenchmarkDurableAppend(b *testing.B) {
	for _, callers := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			store, _ := openTestStore(b)
			s := newTestSequencer(b, store, nil)
			payload := make([]byte, 256)
			var next atomic.Int64
			b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := next.Add(1)
					op := Op{Kind: KindTx, Data: payload, DataHash: crypto.Keccak256Hash(payload)}
					if i%2 == 0 {
						op.Lineage = fmt.Sprintf("eip155:1:%d", i%100)
						op.ExternalID = fmt.Sprint(i)
					}
					if _, err := s.Submit(ctx, op); err != nil {
						b.Fatal(err)
					}
					if op.Lineage != "" {
						if _, err := s.Submit(ctx, Op{Kind: KindClose, Lineage: op.Lineage, ExternalID: op.ExternalID}); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
			b.StopTimer()
			entries := float64(store.Head().Seq)
			b.ReportMetric(entries/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
