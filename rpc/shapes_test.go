package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// keysOf returns the sorted member names of a JSON object.
func keysOf(t testing.TB, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func wantKeys(t testing.TB, what string, raw []byte, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keysOf(t, raw); !slices.Equal(got, want) {
		t.Fatalf("%s has members %v, want %v: %s", what, got, want, raw)
	}
}

// wantNumbers checks that the named members are JSON numbers (SPEC §4).
func wantNumbers(t testing.TB, what string, raw []byte, names ...string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	for _, k := range names {
		v := m[k]
		if len(v) == 0 || !(v[0] >= '0' && v[0] <= '9') {
			t.Fatalf("%s.%s is %s, want a JSON number", what, k, v)
		}
	}
}

// checkEntry checks an entry's hash and signature against SPEC §2.
func checkEntry(t testing.TB, e wire.Entry, d sequencer.Domain, primary common.Address) {
	t.Helper()
	se := &sequencer.Entry{Seq: e.Seq, PrevHash: e.PrevHash, Sender: e.Sender, Lineage: e.Lineage, Nonce: e.Nonce,
		ExternalID: e.ExternalID, DataHash: e.DataHash, Timestamp: e.Timestamp}
	k, ok := sequencer.ParseKind(e.Kind)
	if !ok {
		t.Fatalf("seq %d: kind %q", e.Seq, e.Kind)
	}
	se.Kind = k
	if h := sequencer.NewHasher(d).EntryHash(se); h != e.Hash {
		t.Fatalf("seq %d: hash %s, recomputed %s", e.Seq, e.Hash, h)
	}
	if len(e.Signature) != 65 || (e.Signature[64] != 27 && e.Signature[64] != 28) {
		t.Fatalf("seq %d: signature %s is not r‖s‖v with v in {27,28}", e.Seq, e.Signature)
	}
	if a, err := sequencer.Recover(e.Hash, e.Signature); err != nil || a != primary {
		t.Fatalf("seq %d: signed by %s (%v), want %s", e.Seq, a, err, primary)
	}
	if e.Data != nil && crypto.Keccak256Hash(*e.Data) != e.DataHash {
		t.Fatalf("seq %d: dataHash is not keccak256(data)", e.Seq)
	}
}

// TestJSONShapes checks the exact JSON of SPEC §4: member names, Receipt
// without data, data only on tx entries, tickets with finalSeq only once
// final, lineages with sorted inFlight and released and [] never null,
// EIP-55 addresses, and numbers as JSON numbers up to max uint64.
func TestJSONShapes(t *testing.T) {
	v := loadVectors(t)
	d2 := vectorDomain(&v.Logs[1])
	n := newNode(t, nodeOptions{key: mustKey(t, v.PrimaryKey), domain: d2})
	const L = "shape"

	t.Run("info on an empty log", func(t *testing.T) {
		_, raw := wire.GetInfo(t, n.url)
		want := `{"role":"primary","version":"test","primary":"0x08e87E97B8bBFB7fcED2004C8Aad20182c5d2D64",` +
			`"chainId":11155111,"verifyingContract":"0x5FbDB2315678afecb367f032d93F642f64180aa3",` +
			`"head":{"seq":0,"hash":"0x0000000000000000000000000000000000000000000000000000000000000000"},` +
			`"lineages":0,"peers":0,"p2p":[],"halted":false}`
		if !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("info\n %s\nwant\n %s", raw, want)
		}
		if !bytes.Contains(raw, []byte(`"chainId":11155111`)) {
			t.Fatalf("chainId is not a JSON number: %s", raw)
		}
	})
	t.Run("equivocations: [] on a primary", func(t *testing.T) {
		if raw := wire.MustCall(t, n.url, "sequencer_equivocations", nil, nil); string(raw) != "[]" {
			t.Fatalf("equivocations %s", raw)
		}
		if raw := wire.MustCall(t, n.url, "sequencer_equivocations", map[string]any{}, nil); string(raw) != "[]" {
			t.Fatalf("equivocations {} %s", raw)
		}
	})

	// Leases 0..4, then release 3 and 1 (in that order): the pool is [1 3];
	// then a new lease takes 1 with a later seq than nonce 4's.
	var receipts []wire.Entry
	for i := range 5 {
		receipts = append(receipts, wire.AppendTx(t, n.url, []byte{byte(i)}, L, fmt.Sprintf("t%d", i)))
	}
	receipts = append(receipts, wire.ReleaseTicket(t, n.url, L, "t3", "rejected"))
	receipts = append(receipts, wire.ReleaseTicket(t, n.url, L, "t1", "rejected"))
	t.Run("lineage: released sorted", func(t *testing.T) {
		_, raw := wire.GetLineage(t, n.url, L)
		want := `{"lineage":"shape","nextNonce":5,"floor":0,"inFlight":[{"nonce":0,"externalId":"t0","seq":1},` +
			`{"nonce":2,"externalId":"t2","seq":3},{"nonce":4,"externalId":"t4","seq":5}],"released":[1,3],"closed":0,"failed":0}`
		if !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("lineage\n %s\nwant\n %s", raw, want)
		}
	})
	receipts = append(receipts, wire.AppendTx(t, n.url, []byte("n"), L, "n1")) // seq 8, nonce 1
	receipts = append(receipts, wire.CloseTicket(t, n.url, L, "t0"))           // seq 9
	receipts = append(receipts, wire.ReleaseTicket(t, n.url, L, "t2", "broadcast"))
	t.Run("lineage: inFlight sorted by nonce, counts", func(t *testing.T) {
		_, raw := wire.GetLineage(t, n.url, L)
		want := `{"lineage":"shape","nextNonce":5,"floor":0,"inFlight":[{"nonce":1,"externalId":"n1","seq":8},` +
			`{"nonce":4,"externalId":"t4","seq":5}],"released":[3],"closed":1,"failed":1}`
		if !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("lineage\n %s\nwant\n %s", raw, want)
		}
	})
	t.Run("ticket: finalSeq omitted while leased", func(t *testing.T) {
		_, raw := wire.GetTicket(t, n.url, L, "t4")
		if want := `{"lineage":"shape","externalId":"t4","nonce":4,"state":"leased","leaseSeq":5,"attempts":[]}`; !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("ticket %s, want %s", raw, want)
		}
		_, raw = wire.GetTicket(t, n.url, L, "t0")
		if want := `{"lineage":"shape","externalId":"t0","nonce":0,"state":"closed","leaseSeq":1,"finalSeq":9,"attempts":[]}`; !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("ticket %s, want %s", raw, want)
		}
		_, raw = wire.GetTicket(t, n.url, L, "t3")
		if want := `{"lineage":"shape","externalId":"t3","nonce":3,"state":"released","leaseSeq":4,"finalSeq":6,"attempts":[]}`; !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("ticket %s, want %s", raw, want)
		}
	})
	t.Run("max uint64 chainNonce round-trips exactly", func(t *testing.T) {
		s := wire.SyncLineage(t, n.url, "max", math.MaxUint64)
		receipts = append(receipts, s)
		if !bytes.Contains(s.Raw, []byte(`"nonce":18446744073709551615,`)) || s.Nonce != math.MaxUint64 {
			t.Fatalf("receipt %s", s.Raw)
		}
		_, raw := wire.GetLineage(t, n.url, "max")
		want := `{"lineage":"max","nextNonce":18446744073709551615,"floor":18446744073709551615,"inFlight":[],"released":[],"closed":0,"failed":0}`
		if !wire.JSONEqual(raw, []byte(want)) || !bytes.Contains(raw, []byte(`"inFlight":[]`)) || !bytes.Contains(raw, []byte(`"released":[]`)) {
			t.Fatalf("lineage\n %s\nwant\n %s", raw, want)
		}
		// Nothing is left to lease: no nonce is issued twice or wraps.
		if _, e := wire.Call(t, n.url, "sequencer_append", map[string]any{"data": "0x", "lineage": "max", "externalId": "x"}); e == nil {
			t.Fatal("a lease past max uint64 succeeded")
		}
		if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != s.Seq {
			t.Fatalf("head %d after the refused lease, want %d", i.Head.Seq, s.Seq)
		}
		_, raw = wire.ReadLog(t, n.url, map[string]any{"from": s.Seq, "lineage": "max"})
		if !bytes.Contains(raw, []byte(`"nonce":18446744073709551615,`)) {
			t.Fatalf("read %s", raw)
		}
	})
	t.Run("receipts: no data, EIP-55, numbers", func(t *testing.T) {
		for _, r := range receipts {
			wantKeys(t, "receipt", r.Raw, "seq", "hash", "prevHash", "kind", "sender", "lineage", "nonce",
				"externalId", "dataHash", "timestamp", "signature", "existing")
			wantNumbers(t, "receipt", r.Raw, "seq", "nonce", "timestamp")
			if !bytes.Contains(r.Raw, []byte(`"sender":"0x0000000000000000000000000000000000000000"`)) {
				t.Fatalf("open mode sender is not the zero address: %s", r.Raw)
			}
		}
		wire.CheckReadable(t, n.url, receipts)
	})
	t.Run("entries: data only on tx entries, hashes and signatures", func(t *testing.T) {
		_, raw := wire.ReadLog(t, n.url, map[string]any{"from": 1})
		var rr struct {
			Entries []json.RawMessage `json:"entries"`
		}
		json.Unmarshal(raw, &rr)
		wantKeys(t, "read result", raw, "entries", "head")
		wantNumbers(t, "read result", raw, "head")
		if len(rr.Entries) != len(receipts) {
			t.Fatalf("%d entries, want %d", len(rr.Entries), len(receipts))
		}
		primary := common.HexToAddress("0x08e87E97B8bBFB7fcED2004C8Aad20182c5d2D64")
		for _, er := range rr.Entries {
			var e wire.Entry
			json.Unmarshal(er, &e)
			base := []string{"seq", "hash", "prevHash", "kind", "sender", "lineage", "nonce", "externalId", "dataHash", "timestamp", "signature"}
			if e.Kind == "tx" {
				wantKeys(t, "tx entry", er, append(base, "data")...)
			} else {
				wantKeys(t, e.Kind+" entry", er, base...)
			}
			wantNumbers(t, "entry", er, "seq", "nonce", "timestamp")
			for _, h := range []string{"hash", "prevHash", "dataHash"} {
				var m map[string]string
				json.Unmarshal(er, &m)
				if s := m[h]; len(s) != 66 || !strings.HasPrefix(s, "0x") || strings.ToLower(s) != s {
					t.Fatalf("%s %q is not 0x-prefixed 32-byte hex", h, s)
				}
			}
			checkEntry(t, e, d2, primary)
		}
	})
	t.Run("info counts lineages and names the head", func(t *testing.T) {
		i, raw := wire.GetInfo(t, n.url)
		wantNumbers(t, "info", raw, "chainId", "lineages", "peers")
		if i.Lineages != 2 || i.Head.Seq != receipts[len(receipts)-1].Seq || i.Head.Hash != receipts[len(receipts)-1].Hash.Hex() {
			t.Fatalf("info %s after %d receipts in 2 lineages", raw, len(receipts))
		}
	})
	t.Run("empty tx data is 0x", func(t *testing.T) {
		e := wire.AppendTx(t, n.url, nil, "", "")
		_, raw := wire.ReadLog(t, n.url, map[string]any{"from": e.Seq})
		if !bytes.Contains(raw, []byte(`"data":"0x"`)) {
			t.Fatalf("empty data: %s", raw)
		}
	})
	t.Run("addresses accepted in any case, written EIP-55", func(t *testing.T) {
		v := loadVectors(t)
		client := mustKey(t, v.ClientKey)
		_, url, _ := serveAPI(t, n.seq, Config{Role: "primary", Primary: n.seq.Address(), Domain: d2,
			Allow: Allowlist{v.Client: {}}, Now: func() time.Time { return time.Unix(testNow, 0) }, Logger: quietLogger()}, nil)
		for i, from := range []string{strings.ToLower(v.Client.Hex()), "0x" + strings.ToUpper(v.Client.Hex()[2:]), v.Client.Hex()} {
			req := sequencer.Request{Kind: sequencer.KindTx, DataHash: crypto.Keccak256Hash([]byte{byte(i)}), Deadline: testNow}
			p := signed(t, client, d2, req, map[string]any{"data": hexData([]byte{byte(i)})})
			p["from"] = from
			var r wire.Entry
			raw := wire.MustCall(t, url, "sequencer_append", p, &r)
			if !bytes.Contains(raw, []byte(`"sender":"0xbE6ed49BF781207acC97622935459A99f9EC0f18"`)) {
				t.Fatalf("from %s: receipt %s", from, raw)
			}
		}
	})
}

// TestRead checks sequencer_read (SPEC §4): consecutive entries from
// `from`, limit default 100 and 1–1000, a lineage filter, and an empty
// list past the head.
func TestRead(t *testing.T) {
	n := newNode(t, nodeOptions{})
	const total = 130
	// Write concurrently (group commit keeps it fast), then read.
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for w := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range total / 5 {
				p := map[string]any{"data": hexData([]byte{byte(w), byte(i)})}
				if i%3 == 0 {
					p["lineage"], p["externalId"] = fmt.Sprintf("w%d", w), fmt.Sprintf("i%d", i)
				}
				r, err := wire.TryCall(n.url, wire.Request("sequencer_append", p))
				if err == nil && r.Error != nil {
					err = r.Error
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	r, _ := wire.ReadLog(t, n.url, map[string]any{"from": 1})
	if r.Head != total || len(r.Entries) != 100 {
		t.Fatalf("default read: head %d, %d entries; want %d, 100", r.Head, len(r.Entries), total)
	}
	for i, e := range r.Entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if i > 0 && e.PrevHash != r.Entries[i-1].Hash {
			t.Fatalf("seq %d: prevHash does not chain", e.Seq)
		}
	}
	if r.Entries[0].PrevHash != (common.Hash{}) {
		t.Fatalf("entry 1 prevHash %s", r.Entries[0].PrevHash)
	}
	for _, tc := range []struct {
		from, limit   uint64
		first, length uint64
	}{
		{1, 1, 1, 1}, {1, 1000, 1, total}, {101, 1000, 101, 30}, {total, 5, total, 1}, {50, 7, 50, 7},
	} {
		r, _ := wire.ReadLog(t, n.url, map[string]any{"from": tc.from, "limit": tc.limit})
		if uint64(len(r.Entries)) != tc.length || r.Entries[0].Seq != tc.first || r.Head != total {
			t.Fatalf("read from %d limit %d: %d entries from %d, head %d", tc.from, tc.limit, len(r.Entries), r.Entries[0].Seq, r.Head)
		}
	}
	for _, from := range []uint64{total + 1, total + 1000, math.MaxUint64} {
		r, raw := wire.ReadLog(t, n.url, map[string]any{"from": from})
		if len(r.Entries) != 0 || r.Head != total || !bytes.Contains(raw, []byte(`"entries":[]`)) {
			t.Fatalf("read past the head (from %d): %s", from, raw)
		}
	}

	t.Run("lineage filter", func(t *testing.T) {
		all := wire.ReadAll(t, n.url)
		var want []uint64
		for _, e := range all {
			if e.Lineage == "w2" {
				want = append(want, e.Seq)
			}
		}
		if len(want) != 9 {
			t.Fatalf("w2 has %d entries, want 9", len(want))
		}
		check := func(from, limit uint64, exp []uint64) {
			t.Helper()
			p := map[string]any{"from": from, "lineage": "w2"}
			if limit > 0 {
				p["limit"] = limit
			}
			r, raw := wire.ReadLog(t, n.url, p)
			var got []uint64
			for _, e := range r.Entries {
				if e.Lineage != "w2" {
					t.Fatalf("lineage filter returned %s", raw)
				}
				got = append(got, e.Seq)
			}
			if !slices.Equal(got, exp) || r.Head != total {
				t.Fatalf("lineage read from %d limit %d: %v, want %v", from, limit, got, exp)
			}
		}
		check(1, 0, want)
		check(want[3], 0, want[3:])
		check(want[3]+1, 2, want[4:6])
		check(want[len(want)-1]+1, 0, nil)
		r, raw := wire.ReadLog(t, n.url, map[string]any{"from": 1, "lineage": "unknown"})
		if len(r.Entries) != 0 || !bytes.Contains(raw, []byte(`"entries":[]`)) {
			t.Fatalf("unknown lineage: %s", raw)
		}
	})
}
