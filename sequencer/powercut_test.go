package sequencer

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/powercut"
)

// TestPowerCutMatrix is the crash matrix on a storage that loses what was
// never fsynced (SPEC §5: power loss, not kill -9). Concurrent callers
// append (with and without lineage), close, release, fail and sync; the
// power is cut at a random moment, sometimes tearing the write under way;
// after each restart every acknowledged receipt is there byte for byte,
// the store verifies (a torn tail is allowed, damage is not), and the log
// goes on from its head.
func TestPowerCutMatrix(t *testing.T) {
	rounds, cycles := 2, 8
	if testing.Short() {
		rounds, cycles = 1, 4
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	// Small memtables: LevelDB moves to a new journal every few groups,
	// so cuts land while a journal's name is new (see dirSyncStorage).
	defer func(n int) { writeBuffer = n }(writeBuffer)
	writeBuffer = 64 << 10
	for round := range rounds {
		rng := rand.New(rand.NewSource(int64(round) + 1))
		stor := powercut.New()
		acked := map[uint64]*Entry{}
		torn := 0
		for cycle := range cycles {
			store, err := OpenLevelStoreOn(stor, false)
			if err != nil {
				t.Fatalf("round %d cycle %d: reopen after a power cut: %v", round, cycle, err)
			}
			if store.Recovered != "" {
				torn++
			}
			if _, err := Verify(store); err != nil {
				t.Fatalf("round %d cycle %d: verify after a power cut: %v (recovered %q)", round, cycle, err, store.Recovered)
			}
			head := store.Head()
			for seq, want := range acked {
				got, err := store.Entry(seq)
				if err != nil || got.Hash != want.Hash || got.Signature != want.Signature || got.Timestamp != want.Timestamp {
					t.Fatalf("round %d cycle %d: acknowledged entry %d lost or changed by a power cut (head %d): %v", round, cycle, seq, head.Seq, err)
				}
			}
			s, err := New(store, Config{Key: key, Domain: testDomain(), MaxInFlight: 1 << 20, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			cycleAcks := 0
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					wr := rand.New(rand.NewSource(int64(round*1000 + cycle*10 + w)))
					for i := 0; i < 400; i++ {
						ext := fmt.Sprintf("r%d-c%d-w%d-%d", round, cycle, w, i)
						lin := fmt.Sprintf("eip155:1:%d", wr.Intn(4))
						ops := []Op{{Kind: KindTx, Lineage: lin, ExternalID: ext, Data: []byte(ext)}}
						switch wr.Intn(6) {
						case 0:
							ops = append(ops, Op{Kind: KindClose, Lineage: lin, ExternalID: ext})
						case 1:
							ops = append(ops, Op{Kind: KindRelease, Lineage: lin, ExternalID: ext})
						case 2:
							ops = append(ops, Op{Kind: KindFail, Lineage: lin, ExternalID: ext})
						case 3:
							ops = []Op{{Kind: KindTx, ExternalID: ext, Data: make([]byte, wr.Intn(3000))}}
						case 4:
							ops = append(ops, Op{Kind: KindSync, Lineage: lin, ChainNonce: uint64(wr.Intn(50))})
						}
						for _, op := range ops {
							if op.Kind == KindTx {
								op.DataHash = crypto.Keccak256Hash(op.Data)
							}
							r, err := s.Submit(context.Background(), op)
							if err != nil {
								// Refused by the rules (a sync closed the
								// ticket) or halted by the cut.
								if s.Halted() != nil {
									return
								}
								continue
							}
							mu.Lock()
							acked[r.Entry.Seq] = r.Entry
							cycleAcks++
							mu.Unlock()
						}
					}
				}()
			}
			// Cut after a seeded number of receipts of this cycle (not after
			// a time, which a loaded machine would stretch to nothing).
			target := 1 + rng.Intn(200)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				mu.Lock()
				n := cycleAcks
				mu.Unlock()
				if n >= target || time.Now().After(deadline) {
					break
				}
			}
			var next *powercut.Storage
			if rng.Intn(2) == 0 {
				// Now, wherever the pipeline is.
				next = stor.Cut(nil)
			} else {
				// In the middle of a group's synced write: torn.
				stor.ArmCut(rng)
				for deadline := time.Now().Add(2 * time.Second); next == nil; time.Sleep(time.Millisecond) {
					if next = stor.Survivor(); next == nil && time.Now().After(deadline) {
						next = stor.Cut(nil) // no synced write came: cut anyway
					}
				}
			}
			wg.Wait()
			s.Close()
			store.Close()
			stor = next
			mu.Lock()
			if len(acked) == 0 {
				t.Fatalf("round %d cycle %d: nothing acknowledged before the cut", round, cycle)
			}
			mu.Unlock()
		}
		// The last restart: the log goes on from its head.
		store, err := OpenLevelStoreOn(stor, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(store); err != nil {
			t.Fatal(err)
		}
		head := store.Head()
		s, err := New(store, Config{Key: key, Domain: testDomain(), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Submit(context.Background(), Op{Kind: KindTx, Data: []byte("after"), DataHash: crypto.Keccak256Hash([]byte("after"))})
		if err != nil || r.Entry.Seq != head.Seq+1 || r.Entry.PrevHash != head.Hash {
			t.Fatalf("append after the last cut: %+v, %v (head %d)", r.Entry, err, head.Seq)
		}
		s.Close()
		store.Close()
		t.Logf("round %d: %d cycles, %d acknowledged entries survived, head %d, %d restarts dropped a torn tail", round, cycles, len(acked), head.Seq, torn)
	}
}
