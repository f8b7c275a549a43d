package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/internal/testnode"
)

// TestProveAndAudit: `sequencer prove` checks an entry against the
// node's signed checkpoint (and refuses another primary's claim);
// `sequencer audit` accepts a checkpoint that extends the last one it saw
// and flags one that does not (SPEC §10).
func TestProveAndAudit(t *testing.T) {
	n := testnode.New(t, testnode.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	appendN := func(k int) {
		for i := range k {
			if _, err := c.Append(ctx, client.AppendRequest{Data: fmt.Append(nil, "audit ", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(20)
	primary := n.Sequencer.Address().Hex()
	if code, out, errOut := runCommand(n.URL, "prove", "--seq", "5", "--primary", primary); code != 0 || !strings.Contains(out, "entry 5 (tx") || !strings.Contains(out, "tree of size 20") {
		t.Fatalf("prove: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCommand(n.URL, "prove", "--seq", "5", "--primary", "0x0000000000000000000000000000000000000001"); code != 1 || !strings.Contains(errOut, "not the primary") {
		t.Fatalf("prove with another primary: %d %s", code, errOut)
	}
	if code, _, _ := runCommand(n.URL, "prove", "--seq", "21"); code != 1 {
		t.Fatalf("prove of an entry past the head: %d", code)
	}
	state := filepath.Join(t.TempDir(), "audit.json")
	if code, out, errOut := runCommand(n.URL, "audit", "--primary", primary, "--state", state); code != 0 || !strings.Contains(out, "checkpoint 20") {
		t.Fatalf("audit: %d\n%s%s", code, out, errOut)
	}
	appendN(300)
	if code, out, errOut := runCommand(n.URL, "audit", "--primary", primary, "--state", state); code != 0 || !strings.Contains(out, "checkpoint 320") || !strings.Contains(out, "extends 20") {
		t.Fatalf("audit after growth: %d\n%s%s", code, out, errOut)
	}
	// A state that remembers another root at 320: what the node now says
	// does not extend it.
	var st auditState
	b, _ := os.ReadFile(state)
	if err := json.Unmarshal(b, &st); err != nil || st.Size != 320 {
		t.Fatalf("state %s: %v", b, err)
	}
	appendN(5)
	st.Root[3] ^= 1
	b, _ = json.Marshal(st)
	os.WriteFile(state, b, 0o644)
	if code, _, errOut := runCommand(n.URL, "audit", "--primary", primary, "--state", state); code != 1 || !strings.Contains(errOut, "INCONSISTENT") {
		t.Fatalf("audit of a forked history: %d %s", code, errOut)
	}
}
