package main

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

// A full disk (SPEC §5): the node's datadir is on a small tmpfs. Appends
// succeed until the disk is full; then writes answer 4009 Halted, /healthz
// says 503, the metric sequencer_halted is 1, and reads keep working.
// After the filesystem is grown, a restart resumes: every receipt is there
// unchanged, the log verifies, and new appends continue the log.
// Needs root to mount a tmpfs; skipped otherwise.
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	dir := filepath.Join(mnt, "node")
	node := testnode.StartNode(t, dir, nil)

	var receipts []*wire.Entry
	halted := false
	data := hexutil.Encode(make([]byte, 2048))
	for i := 0; i < 400 && !halted; i++ {
		batch := make([]gethrpc.BatchElem, 20)
		for j := range batch {
			batch[j] = gethrpc.BatchElem{Method: "sequencer_append", Result: new(wire.Entry),
				Args: []any{map[string]any{"data": data, "externalId": fmt.Sprintf("b%d-%d", i, j)}}}
		}
		if err := node.Client.BatchCall(batch); err != nil {
			t.Fatalf("transport: %v", err)
		}
		for _, b := range batch {
			switch {
			case b.Error == nil:
				receipts = append(receipts, b.Result.(*wire.Entry))
			case wire.Code(b.Error) == 4009:
				halted = true
			default:
				t.Fatalf("append: %v", b.Error)
			}
		}
	}
	if !halted || len(receipts) == 0 {
		t.Fatalf("halted %v after %d receipts: the disk never filled?", halted, len(receipts))
	}
	// Halted: writes refused at once, reads served, health and metric say so.
	if err := node.Call(new(wire.Entry), "sequencer_append", map[string]any{"data": "0x01"}); wire.Code(err) != 4009 {
		t.Fatalf("append after the disk filled: %v", err)
	}
	if !node.Info().Halted {
		t.Fatal("info.halted is false")
	}
	resp, err := testnode.HealthClient.Get("http://" + node.Addr + "/healthz")
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("/healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, _ = testnode.HealthClient.Get("http://" + node.Addr + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "sequencer_halted 1\n") {
		t.Fatal("metric sequencer_halted is not 1")
	}
	if got := node.ReadAll(); len(got) < len(receipts) {
		t.Fatalf("reads while halted: %d entries, %d receipts", len(got), len(receipts))
	}
	if !strings.Contains(node.Stderr(), "writes halted") {
		t.Fatal("no log line for the halt")
	}

	// Free space, restart: nothing lost, the log goes on.
	node.Term(30 * time.Second)
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	node = testnode.StartNode(t, dir, nil)
	got := node.ReadAll()
	for _, r := range receipts {
		if r.Seq > uint64(len(got)) || got[r.Seq-1].Signed() != r.Signed() {
			t.Fatalf("receipt %d lost or changed after the restart", r.Seq)
		}
	}
	var next wire.Entry
	node.MustCall(&next, "sequencer_append", map[string]any{"data": "0x02"})
	if next.Seq != uint64(len(got))+1 {
		t.Fatalf("after the restart: seq %d, log had %d", next.Seq, len(got))
	}
	node.Term(30 * time.Second)
	if code, _, stderr := verifyDir(dir); code != 0 {
		t.Fatalf("verify: %s", stderr)
	}
	t.Logf("%d receipts before the disk filled; resumed at seq %d", len(receipts), next.Seq)
}
