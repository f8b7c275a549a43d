package testnode

// Logs for the p2p and node tests: a primary's key and domain, stores,
// a concurrent workload, and the checks that two stores hold one log.
// (Their libp2p wiring stays in each package's tests: p2p's own tests
// cannot import a package that imports p2p.)

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// WaitLong bounds every wait for convergence.
const WaitLong = 20 * time.Second

// Log is one log: its primary's key and address, and its EIP-712 domain.
type Log struct {
	Key    *ecdsa.PrivateKey
	Addr   common.Address
	Domain sequencer.Domain
}

func NewLog(t testing.TB) Log {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return Log{Key: key, Addr: crypto.PubkeyToAddress(key.PublicKey),
		Domain: sequencer.Domain{ChainID: big.NewInt(31337), VerifyingContract: common.HexToAddress("0x00000000000000000000000000000000005e9000")}}
}

func OpenStore(t testing.TB, dir string) *sequencer.LevelStore {
	t.Helper()
	st, err := sequencer.OpenLevelStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func MemStore(t testing.TB) *sequencer.LevelStore {
	t.Helper()
	st, err := sequencer.OpenMemStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func WaitHead(t testing.TB, st sequencer.Store, seq uint64, what string) {
	t.Helper()
	wire.WaitFor(t, WaitLong, fmt.Sprintf("%s to reach seq %d", what, seq), func() bool { return st.Head().Seq >= seq })
	if h := st.Head().Seq; h != seq {
		t.Fatalf("%s: head %d, want exactly %d", what, h, seq)
	}
}

// assertSameLog checks that got holds exactly want's log, entry by entry,
// the same derived ticket state, and that it verifies on its own.
func AssertSameLog(t testing.TB, want, got sequencer.Store) {
	t.Helper()
	wh, gh := want.Head(), got.Head()
	if wh != gh {
		t.Fatalf("head %+v, want %+v", gh, wh)
	}
	const chunk = 1000
	for from := uint64(1); from <= wh.Seq; from += chunk {
		we, err := want.Range(from, chunk)
		if err != nil {
			t.Fatal(err)
		}
		ge, err := got.Range(from, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if len(we) != len(ge) {
			t.Fatalf("range from %d: %d entries, want %d", from, len(ge), len(we))
		}
		for i := range we {
			wb, _ := we[i].MarshalBinary()
			gb, _ := ge[i].MarshalBinary()
			if !bytes.Equal(wb, gb) {
				t.Fatalf("entry %d differs:\n got %+v\nwant %+v", we[i].Seq, ge[i], we[i])
			}
		}
	}
	ws, err := want.LoadCache()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := got.LoadCache()
	if err != nil {
		t.Fatal(err)
	}
	if err := gs.State().Diff(ws.State()); err != nil {
		t.Fatalf("derived state differs: %v", err)
	}
	rep, err := sequencer.Verify(got)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Entries != wh.Seq {
		t.Fatalf("verify checked %d entries, want %d", rep.Entries, wh.Seq)
	}
}

func TxOp(data string) sequencer.Op {
	d := []byte(data)
	return sequencer.Op{Kind: sequencer.KindTx, Data: d, DataHash: crypto.Keccak256Hash(d)}
}

// writePlain writes n tx entries without lineage, one at a time.
func WritePlain(t testing.TB, s *sequencer.Sequencer, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.Submit(context.Background(), TxOp(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			t.Fatalf("submit %s-%d: %v", prefix, i, err)
		}
	}
}

// workload writes a mix of every entry kind: leases on per-worker
// lineages, closes, releases (rejected and broadcast), syncs that close
// some tickets, plain txs with and without externalId. Each op writes one
// new entry; an error fails the test.
type Workload struct {
	Seq    *sequencer.Sequencer
	Prefix string
}

// run writes about n entries from workers concurrent callers and returns
// how many it wrote; it stops early when stop is closed (nil: never).
func (w Workload) Run(t testing.TB, n, workers int, stop <-chan struct{}) int {
	t.Helper()
	var wg sync.WaitGroup
	counts := make([]int, workers)
	errs := make(chan error, workers)
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := w.worker(wk, n/workers, stop)
			counts[wk] = c
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	return total
}

func (w Workload) worker(wk, n int, stop <-chan struct{}) (int, error) {
	r := rand.New(rand.NewPCG(uint64(wk), 7))
	lineage := fmt.Sprintf("eip155:1:0x%040x/%s", wk+1, w.Prefix)
	leased := map[string]uint64{} // externalId → nonce
	var ids []string
	ctx := context.Background()
	written := 0
	for i := 0; i < n; i++ {
		if stop != nil {
			select {
			case <-stop:
				return written, nil
			default:
			}
		}
		id := fmt.Sprintf("%s-%d-%d", w.Prefix, wk, i)
		data := fmt.Sprintf("payload %s %d", id, r.Uint64())
		var op sequencer.Op
		k := r.IntN(12)
		if len(ids) == 0 && k >= 4 && k <= 8 {
			k = 0
		}
		pick := func() string {
			j := r.IntN(len(ids))
			x := ids[j]
			ids[j] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
			return x
		}
		switch {
		case k <= 3 && len(ids) < 50:
			op = TxOp(data)
			op.Lineage, op.ExternalID = lineage, id
		case k <= 3:
			op = sequencer.Op{Kind: sequencer.KindClose, Lineage: lineage, ExternalID: pick()}
		case k <= 5:
			op = sequencer.Op{Kind: sequencer.KindClose, Lineage: lineage, ExternalID: pick()}
		case k == 6:
			op = sequencer.Op{Kind: sequencer.KindRelease, Lineage: lineage, ExternalID: pick()}
		case k == 7:
			op = sequencer.Op{Kind: sequencer.KindFail, Lineage: lineage, ExternalID: pick()}
		case k == 8:
			// The chain confirms the lowest in-flight nonce: it closes that
			// ticket and nothing above it.
			low := uint64(1<<63 - 1)
			for _, x := range ids {
				low = min(low, leased[x])
			}
			op = sequencer.Op{Kind: sequencer.KindSync, Lineage: lineage, ChainNonce: low + 1}
		case k == 9:
			op = TxOp(data)
		default:
			op = TxOp(data)
			op.ExternalID = id
		}
		res, err := w.Seq.Submit(ctx, op)
		if err != nil {
			return written, fmt.Errorf("worker %d op %d (%v %s): %w", wk, i, op.Kind, op.ExternalID, err)
		}
		if res.Existing {
			return written, fmt.Errorf("worker %d op %d: unexpectedly existing", wk, i)
		}
		written++
		switch op.Kind {
		case sequencer.KindTx:
			if op.Lineage != "" {
				leased[id] = res.Entry.Nonce
				ids = append(ids, id)
			}
		case sequencer.KindSync:
			kept := ids[:0]
			for _, x := range ids {
				if leased[x] >= op.ChainNonce {
					kept = append(kept, x)
				}
			}
			ids = kept
		}
	}
	return written, nil
}
