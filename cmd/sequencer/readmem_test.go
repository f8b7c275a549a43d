package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// BenchmarkConcurrentMaxReads measures the node's peak RSS (VmHWM) while
// 64 clients read maximal answers at once (sequencer_read limit 1000 over
// 128 KiB entries: without --max-read-bytes one such answer was ~250 MB and
// 8 of them took a node to 3.9 GiB), and 8 more ask and never read their
// answers. SPEC §4: it stays under 1 GiB. Run:
//
//	go test -run '^$' -bench ConcurrentMaxReads -benchtime 5x ./cmd/sequencer/
func BenchmarkConcurrentMaxReads(b *testing.B) {
	node := testnode.StartNode(b, filepath.Join(b.TempDir(), "d"), nil)
	data := hexutil.Encode(make([]byte, 128<<10))
	for i := 0; i < 40; i++ {
		batch := make([]gethrpc.BatchElem, 10)
		for j := range batch {
			batch[j] = gethrpc.BatchElem{Method: "sequencer_append", Result: new(wire.Entry),
				Args: []any{map[string]any{"data": data, "externalId": fmt.Sprintf("m%d-%d", i, j)}}}
		}
		if err := node.Client.BatchCall(batch); err != nil {
			b.Fatal(err)
		}
		for _, e := range batch {
			if e.Error != nil {
				b.Fatal(e.Error)
			}
		}
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"sequencer_read","params":[{"from":1,"limit":1000}]}`
	// Clients that never read their answers.
	for range 8 {
		c, err := net.Dial("tcp", node.Addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", node.Addr, len(body), body)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"sequencer_read","params":[{"from":%d,"limit":1000}]}`, 1+i*6)
				resp, err := hc.Post("http://"+node.Addr+"/", "application/json", strings.NewReader(req))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	peak := vmHWM(b, node.Cmd.Process.Pid)
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	if peak > 1<<20 {
		b.Errorf("peak RSS %d MiB under 64 concurrent maximal reads, over 1 GiB", peak/1024)
	}
}

// vmHWM reads a process's peak resident set size, in KiB.
func vmHWM(tb testing.TB, pid int) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	tb.Fatal("no VmHWM")
	return 0
}
