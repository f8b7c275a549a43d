package rpc

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A batch runs its calls concurrently but with the effects of batch order:
// a close after its append in one batch finds the ticket, a read sees the
// writes before it, and 100 appends share group commits instead of taking
// one commit each (go-ethereum alone would run them one by one).
func TestBatchConcurrentInOrder(t *testing.T) {
	n := newNode(t, nodeOptions{metrics: true})
	var calls []string
	calls = append(calls,
		request("sequencer_append", map[string]any{"data": "0x01", "lineage": "L", "externalId": "a"}),
		request("sequencer_close", map[string]any{"lineage": "L", "externalId": "a"}),
		request("sequencer_append", map[string]any{"data": "0x02", "lineage": "L", "externalId": "b"}),
		request("sequencer_release", map[string]any{"lineage": "L", "externalId": "b", "reason": "rejected"}),
		request("sequencer_append", map[string]any{"data": "0x03", "lineage": "L", "externalId": "c"}),
		request("sequencer_ticket", map[string]any{"lineage": "L", "externalId": "a"}),
		request("sequencer_lineage", map[string]any{"lineage": "L"}),
	)
	for i := range 100 {
		calls = append(calls, request("sequencer_append", map[string]any{"data": fmt.Sprintf("0x%04x", i), "externalId": fmt.Sprint("p", i)}))
	}
	for i := range calls {
		calls[i] = strings.Replace(calls[i], `"id":1`, fmt.Sprintf(`"id":%d`, i+1), 1)
	}
	before := testutil.ToFloat64(n.mets.Groups)
	status, body := post(t, n.url, "["+strings.Join(calls, ",")+"]")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var resp []response
	if err := json.Unmarshal(body, &resp); err != nil || len(resp) != len(calls) {
		t.Fatalf("%d answers for %d calls: %v", len(resp), len(calls), err)
	}
	for i, r := range resp {
		if r.Error != nil {
			t.Fatalf("call %d: %+v", i+1, r.Error)
		}
		if string(r.ID) != fmt.Sprint(i+1) {
			t.Fatalf("answer %d has id %s: answers must keep the batch order", i, r.ID)
		}
	}
	var e3 wEntry
	json.Unmarshal(resp[4].Result, &e3)
	if e3.Nonce != 1 { // b's released nonce 1 is re-leased to c
		t.Fatalf("c leased nonce %d, want the released 1", e3.Nonce)
	}
	var tk wTicket
	json.Unmarshal(resp[5].Result, &tk)
	if tk.State != "closed" || tk.FinalSeq == nil || *tk.FinalSeq != 2 {
		t.Fatalf("ticket read after its close in the batch: %+v", tk)
	}
	var l wLineage
	json.Unmarshal(resp[6].Result, &l)
	if l.NextNonce != 2 || len(l.InFlight) != 1 || l.Closed != 1 {
		t.Fatalf("lineage read in the batch: %+v", l)
	}
	commits := testutil.ToFloat64(n.mets.Groups) - before
	if commits > 50 {
		t.Fatalf("%v group commits for a batch of %d writes: the calls ran one by one", commits, len(calls)-2)
	}
	t.Logf("%d writes in one batch took %v group commits", len(calls)-2, commits)
	verifyLog(t, n)
}
