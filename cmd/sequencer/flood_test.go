package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// rssBytes is a process's resident set size, from /proc.
func rssBytes(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// A flood (issue 5): many connections sending batches of the largest
// appends as fast as they can, and WebSocket subscribers that subscribe
// from seq 1 and never read. The node's memory stays bounded (the write
// queue is bounded in count and bytes, groups in bytes, bodies in size,
// a slow subscriber reads from storage at its own pace), it answers
// Overloaded rather than queueing without end, and a normal client still
// gets an answer.
func TestFloodMemoryBounded(t *testing.T) {
	node := testnode.StartNode(t, filepath.Join(t.TempDir(), "d"), nil)
	pid := node.Cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()

	// Subscribers that never read.
	for range 16 {
		u := url.URL{Scheme: "ws", Host: node.Addr, Path: "/"}
		c, _, err := websocket.DefaultDialer.DialContext(ctx, u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"sequencer_subscribe","params":["entries",{"from":1}]}`))
	}

	data := hexutil.Encode(make([]byte, 131072)) // --max-data-bytes
	var ok, overloaded, other atomic.Int64
	var wg sync.WaitGroup
	flood, stop := context.WithTimeout(ctx, 8*time.Second)
	defer stop()
	for range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := testnode.DialRPC(t, node.Addr)
			defer c.Close()
			for i := 0; flood.Err() == nil; i++ {
				batch := make([]gethrpc.BatchElem, 4)
				for j := range batch {
					batch[j] = gethrpc.BatchElem{Method: "sequencer_append", Result: new(wire.Entry),
						Args: []any{map[string]any{"data": data}}}
				}
				if err := c.BatchCallContext(flood, batch); err != nil {
					continue
				}
				for _, b := range batch {
					switch {
					case b.Error == nil:
						ok.Add(1)
					case wire.Code(b.Error) == 4007:
						overloaded.Add(1)
					default:
						other.Add(1)
					}
				}
			}
		}()
	}
	var maxRSS int64
	probe := time.NewTicker(250 * time.Millisecond)
	defer probe.Stop()
	answered := false
	for flood.Err() == nil {
		<-probe.C
		maxRSS = max(maxRSS, rssBytes(pid))
		if !answered {
			// A normal client during the flood: a receipt or a clear 4007.
			var r wire.Entry
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			err := node.Client.CallContext(cctx, &r, "sequencer_append", map[string]any{"data": "0x01", "externalId": "normal"})
			ccancel()
			if err != nil && wire.Code(err) != 4007 {
				t.Fatalf("a normal client during the flood: %v", err)
			}
			answered = true
		}
	}
	wg.Wait()
	maxRSS = max(maxRSS, rssBytes(pid))
	t.Logf("flood: %d appends of 128 KiB stored, %d Overloaded, %d other; max RSS %d MiB", ok.Load(), overloaded.Load(), other.Load(), maxRSS>>20)
	if other.Load() > 0 {
		t.Fatalf("%d answers that were neither receipts nor Overloaded", other.Load())
	}
	if ok.Load() == 0 && !raceEnabled { // under -race a 128 KiB append is very slow
		t.Fatal("nothing was stored during the flood")
	}
	// The bound is the node's; under -race the child is a race-enabled
	// binary whose detector adds its own shadow memory (Go documents 5–10×),
	// which sat at 1.6–1.8 GiB on the 2-core machine: there the bound only
	// catches growth without end, and .ci/run runs this test without -race
	// as well, against the node's own bound.
	bound := int64(1536 << 20)
	if raceEnabled {
		bound = 3 << 30
	}
	if maxRSS == 0 || maxRSS > bound {
		t.Fatalf("max RSS %d MiB (bound %d MiB)", maxRSS>>20, bound>>20)
	}
	// The node is still there once the flood's requests are through (on a
	// loaded machine under -race that takes a few seconds).
	var err error
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		var resp *http.Response
		if resp, err = testnode.HealthClient.Get("http://" + node.Addr + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("node gone after the flood: %v", err)
}
