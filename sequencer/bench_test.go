package sequencer

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkSignParallel: signatures on every core at once (-cpu 1,2):
// ns/op times GOMAXPROCS is the CPU per signature when the cores are all
// busy, against one core alone at -cpu 1.
func BenchmarkSignParallel(b *testing.B) {
	key, _ := crypto.GenerateKey()
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		var h [32]byte
		h[1] = byte(n.Add(1))
		for pb.Next() {
			h[0]++
			if _, err := Sign(h, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Microseconds())*float64(runtime.GOMAXPROCS(0))/float64(b.N), "cpu-µs/sig")
}

// BenchmarkSignAfterOtherWork: what a signature costs when the thread
// read other memory just before it (as the node's signers do, between
// other goroutines' work), against one right after another. Each case
// reports µs/sig, the time of the signatures alone; ns/op also counts the
// memory reads between them. The README's issue-15 notes cite it.
func BenchmarkSignAfterOtherWork(b *testing.B) {
	key, _ := crypto.GenerateKey()
	mem := make([]byte, 256<<20)
	for i := range mem {
		mem[i] = byte(i)
	}
	var sink byte
	var r uint64 = 88172645463325252
	touch := func(n int) { // n bytes read at random 64-byte lines of mem
		for range n / 64 {
			r ^= r << 13
			r ^= r >> 7
			r ^= r << 17
			sink += mem[(r%uint64(len(mem)/64))*64]
		}
	}
	for _, c := range []struct {
		name         string
		run, between int // signatures back to back; bytes read between runs
	}{
		{"back-to-back", 1, 0},
		{"each-after-256KiB", 1, 256 << 10},
		{"each-after-2MiB", 1, 2 << 20},
		{"100-after-2MiB", 100, 2 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			var h [32]byte
			var signing time.Duration
			n := 0
			for b.Loop() {
				if n%c.run == 0 {
					touch(c.between)
				}
				h[0]++
				start := time.Now()
				if _, err := Sign(h, key); err != nil {
					b.Fatal(err)
				}
				signing += time.Since(start)
				n++
			}
			b.ReportMetric(float64(signing.Microseconds())/float64(n), "µs/sig")
		})
	}
	_ = sink
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
