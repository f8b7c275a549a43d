package rpc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// vectorDeadline is the deadline of the vectors' signed Requests.
const vectorDeadline = 1763686800

// TestVectorsThroughAPI rebuilds both logs of the fixed vectors
// (testdata/eip712.json) through the JSON-RPC API: the open
// entries (sender zero) through an open API, the client's entries through
// a permissioned API over the same node that accepts the vectors' own
// signed Requests (SPEC §4 Permissioning) and freshly signed ones for the
// rest. Every receipt and every entry read back must equal the vector,
// byte for byte in its JSON values: hashes, signatures, EIP-55 senders,
// data, numbers.
func TestVectorsThroughAPI(t *testing.T) {
	v := loadVectors(t)
	client := mustKey(t, v.ClientKey)
	if crypto.PubkeyToAddress(client.PublicKey) != v.Client {
		t.Fatal("vectors: clientKey does not give client")
	}
	for li := range v.Logs {
		vl := &v.Logs[li]
		t.Run(fmt.Sprintf("chain %d", vl.Domain.ChainID), func(t *testing.T) {
			d := vectorDomain(vl)
			var clock atomic.Int64 // the primary's clock, Unix ms
			n := newNode(t, nodeOptions{key: mustKey(t, v.PrimaryKey), domain: d, seq: func(c *sequencer.Config) {
				c.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
			}})
			if n.seq.Address() != v.Primary {
				t.Fatalf("primary %s, vectors say %s", n.seq.Address(), v.Primary)
			}
			_, signedURL, _ := serveAPI(t, n.seq, Config{Role: "primary", Version: "test", Primary: n.seq.Address(), Domain: d,
				Allow: Allowlist{v.Client: {}}, Now: func() time.Time { return time.Unix(vectorDeadline-1, 0) }, Logger: quietLogger()}, nil)

			// The vectors' Requests are what our hasher signs.
			h := sequencer.NewHasher(d)
			for i, r := range vl.Requests {
				req := sequencer.Request{Kind: sequencer.Kind(r.Kind), Lineage: r.Lineage, ExternalID: r.ExternalID,
					DataHash: r.DataHash, Nonce: r.Nonce, Deadline: r.Deadline}
				if got := h.RequestHash(&req); got != r.Hash {
					t.Fatalf("request %d: hash %s, vector %s", i, got, r.Hash)
				}
				if a, err := sequencer.Recover(r.Hash, r.Signature); err != nil || a != v.Client || r.From != v.Client {
					t.Fatalf("request %d: signed by %s (%v)", i, a, err)
				}
			}

			used := map[int]bool{}
			// The last entry holds max uint64 values (its timestamp among
			// them); the others are rebuilt exactly.
			exact := len(vl.Entries) - 1
			for i := range vl.Entries {
				e := vl.Entries[i]
				if i < exact {
					clock.Store(int64(e.Timestamp))
				} else {
					clock.Store(int64(vl.Entries[i-1].Timestamp))
				}
				if k, _ := sequencer.ParseKind(e.Kind); k.NodeWritten() {
					// Written by the node on its own (SPEC §9), as the chain
					// watcher writes: through the pipeline, the primary as sender.
					if e.Sender != v.Primary {
						t.Fatalf("vector entry %d: %s with sender %s", e.Seq, e.Kind, e.Sender)
					}
					op := sequencer.Op{Kind: k, Lineage: e.Lineage, ExternalID: e.ExternalID, Sender: v.Primary}
					switch k {
					case sequencer.KindConfirm:
						op.DataHash = e.DataHash
					case sequencer.KindReclaim:
						op.ChainNonce = e.Nonce
					}
					res, err := n.seq.Submit(context.Background(), op)
					if err != nil || res.Entry.Hash != e.Hash || res.Entry.Signature != [65]byte(e.Signature) {
						t.Fatalf("seq %d: %s wrote %+v (%v), vector %s", e.Seq, e.Kind, res.Entry, err, e.Raw)
					}
					continue
				}
				method, params := vectorCall(e)
				url := n.url
				if e.Sender != (common.Address{}) {
					if e.Sender != v.Client {
						t.Fatalf("vector entry %d: sender %s", e.Seq, e.Sender)
					}
					url = signedURL
					req := requestOf(e)
					sig := hexutil.Bytes(nil)
					for ri, r := range vl.Requests {
						if uint8(req.Kind) == r.Kind && req.Lineage == r.Lineage && req.ExternalID == r.ExternalID &&
							req.DataHash == r.DataHash && req.Nonce == r.Nonce && r.Deadline == vectorDeadline {
							sig = r.Signature
							used[ri] = true
						}
					}
					if sig == nil {
						sig = signRequest(t, client, d, req)
					}
					params["from"], params["deadline"], params["signature"] = v.Client.Hex(), uint64(vectorDeadline), sig
				}
				var r wire.Entry
				raw := wire.MustCall(t, url, method, params, &r)
				if i < exact {
					want := string(e.Raw)
					if e.Data != nil { // a Receipt carries no data
						var m map[string]any
						mustJSON(t, e.Raw, &m)
						delete(m, "data")
						m["existing"] = false
						want = mustMarshal(t, m)
					} else {
						want = strings.TrimSuffix(strings.TrimSpace(want), "}") + `,"existing":false}`
					}
					if !wire.JSONEqual(raw, []byte(want)) {
						t.Fatalf("seq %d: receipt\n %s\nvector\n %s", e.Seq, raw, want)
					}
				} else if r.Seq != e.Seq || r.PrevHash != e.PrevHash || r.Kind != e.Kind || r.Sender != e.Sender ||
					r.Lineage != e.Lineage || r.Nonce != e.Nonce || r.ExternalID != e.ExternalID || r.DataHash != e.DataHash {
					t.Fatalf("seq %d: receipt %s, vector %s", e.Seq, raw, e.Raw)
				}
				if !bytes.Contains(raw, []byte(fmt.Sprintf(`"nonce":%d,`, e.Nonce))) {
					t.Fatalf("seq %d: nonce not the JSON number %d: %s", e.Seq, e.Nonce, raw)
				}
			}
			for ri := range 5 {
				if !used[ri] {
					t.Errorf("vector request %d was not used", ri)
				}
			}

			// Read back: the entries are the vector's, data included.
			log := wire.ReadAll(t, n.url)
			_, raw := wire.ReadLog(t, n.url, map[string]any{"from": 1})
			var rr struct {
				Entries []json.RawMessage `json:"entries"`
			}
			mustJSON(t, raw, &rr)
			if len(log) != len(vl.Entries) || len(rr.Entries) != len(vl.Entries) {
				t.Fatalf("log has %d entries, vectors %d", len(log), len(vl.Entries))
			}
			for i := range exact {
				if !wire.JSONEqual(rr.Entries[i], vl.Entries[i].Raw) {
					t.Fatalf("entry %d:\n %s\nvector\n %s", i+1, rr.Entries[i], vl.Entries[i].Raw)
				}
			}
			if last := log[len(log)-1]; last.Nonce != math.MaxUint64 || !bytes.Contains(rr.Entries[len(log)-1], []byte(`"nonce":18446744073709551615,`)) {
				t.Fatalf("max uint64 sync read back as %s", rr.Entries[len(log)-1])
			}

			// The sixth Request (deadline max uint64) is more than an hour
			// ahead: refused, whatever it signs.
			r := vl.Requests[5]
			wire.WantError(t, signedURL, "sequencer_append", map[string]any{"data": "0x", "from": r.From.Hex(),
				"deadline": r.Deadline, "signature": r.Signature}, 4001, "")
			// Replaying a vector Request after its deadline: refused.
			_, lateURL, _ := serveAPI(t, n.seq, Config{Role: "primary", Primary: n.seq.Address(), Domain: d,
				Allow: Allowlist{v.Client: {}}, Now: func() time.Time { return time.Unix(vectorDeadline+1, 0) }, Logger: quietLogger()}, nil)
			r = vl.Requests[0]
			wire.WantError(t, lateURL, "sequencer_append", map[string]any{"data": "0xdeadbeef", "lineage": r.Lineage, "externalId": r.ExternalID,
				"from": r.From.Hex(), "deadline": r.Deadline, "signature": r.Signature}, 4001, "")
			// In time, the same Request is a repeat of one that wrote seq 3:
			// it is used once (SPEC §4), so it answers that receipt, although
			// its ticket was closed since, and writes nothing.
			var again wire.Entry
			wire.MustCall(t, signedURL, "sequencer_append", map[string]any{"data": "0xdeadbeef", "lineage": r.Lineage, "externalId": r.ExternalID,
				"from": r.From.Hex(), "deadline": r.Deadline, "signature": r.Signature}, &again)
			if again.Existing == nil || !*again.Existing || again.Seq != 3 || again.Hash != log[2].Hash {
				t.Fatalf("repeat of the request that wrote seq 3: %+v", again)
			}
			if head, _ := n.seq.Head(); head.Seq != uint64(len(vl.Entries)) {
				t.Fatalf("the repeat wrote: head %d", head.Seq)
			}
			n.seq.Close()
			verifyLog(t, n)
		})
	}
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func mustMarshal(t testing.TB, v any) string {
	t.Helper()
	return jsonString(v)
}

// vectorCall is the API call that writes e.
func vectorCall(e wire.Entry) (string, map[string]any) {
	switch e.Kind {
	case "tx":
		p := map[string]any{"data": hexData(*e.Data)}
		if e.Lineage != "" {
			p["lineage"] = e.Lineage
		}
		if e.ExternalID != "" {
			p["externalId"] = e.ExternalID
		}
		return "sequencer_append", p
	case "close":
		return "sequencer_close", map[string]any{"lineage": e.Lineage, "externalId": e.ExternalID}
	case "release", "fail":
		reason := "rejected"
		if e.Kind == "fail" {
			reason = "broadcast"
		}
		return "sequencer_release", map[string]any{"lineage": e.Lineage, "externalId": e.ExternalID, "reason": reason}
	case "sync":
		return "sequencer_syncLineage", map[string]any{"lineage": e.Lineage, "chainNonce": e.Nonce}
	case "attempt":
		return "sequencer_attempt", map[string]any{"lineage": e.Lineage, "externalId": e.ExternalID, "txHash": e.DataHash}
	}
	panic("unknown kind " + e.Kind)
}

// requestOf is the Request (without deadline) that asks for the entry e
// (SPEC §4: dataHash of the data for append, zero otherwise; nonce the
// chain nonce for sync, 0 otherwise).
func requestOf(e wire.Entry) sequencer.Request {
	k, _ := sequencer.ParseKind(e.Kind)
	r := sequencer.Request{Kind: k, Lineage: e.Lineage, ExternalID: e.ExternalID, Deadline: vectorDeadline}
	switch k {
	case sequencer.KindTx:
		r.DataHash = crypto.Keccak256Hash(*e.Data)
	case sequencer.KindAttempt:
		r.DataHash = e.DataHash
	case sequencer.KindSync:
		r.ExternalID, r.Nonce = "", e.Nonce
	}
	return r
}

// TestPermissioned checks SPEC §4 Permissioning with freshly signed
// Requests: every write kind, the sender recorded, the deadline window
// (not past, at most one hour ahead, both ends inclusive), a second allowed
// key, unsigned reads, and an empty allowlist that lets nobody write.
func TestPermissioned(t *testing.T) {
	v := loadVectors(t)
	client := mustKey(t, v.ClientKey)
	second, _ := crypto.GenerateKey()
	secondAddr := crypto.PubkeyToAddress(second.PublicKey)
	n := newNode(t, nodeOptions{api: func(c *Config) {
		c.Allow = Allowlist{v.Client: {}, secondAddr: {}}
		c.Now = func() time.Time { return time.Unix(testNow, 0) }
	}})
	const L = "perm"
	dl := uint64(testNow + 10)
	write := func(key *ecdsa.PrivateKey, method string, req sequencer.Request, params map[string]any) (wire.Entry, *wire.Error) {
		t.Helper()
		res, e := wire.Call(t, n.url, method, signed(t, key, chain1, req, params))
		var r wire.Entry
		if e == nil {
			mustJSON(t, res, &r)
			r.Raw = res
		}
		return r, e
	}
	mustWrite := func(key *ecdsa.PrivateKey, method string, req sequencer.Request, params map[string]any) wire.Entry {
		t.Helper()
		r, e := write(key, method, req, params)
		if e != nil {
			t.Fatalf("%s: %v", method, e)
		}
		return r
	}
	tx := func(data []byte, lineage, id string) (sequencer.Request, map[string]any) {
		p := map[string]any{"data": hexData(data)}
		if lineage != "" {
			p["lineage"], p["externalId"] = lineage, id
		}
		return sequencer.Request{Kind: sequencer.KindTx, Lineage: lineage, ExternalID: id, DataHash: crypto.Keccak256Hash(data), Deadline: dl}, p
	}
	tk := func(kind sequencer.Kind, id string) (sequencer.Request, map[string]any) {
		p := map[string]any{"lineage": L, "externalId": id}
		switch kind {
		case sequencer.KindRelease:
			p["reason"] = "rejected"
		case sequencer.KindFail:
			p["reason"] = "broadcast"
		}
		return sequencer.Request{Kind: kind, Lineage: L, ExternalID: id, Deadline: dl}, p
	}

	var receipts []wire.Entry
	t.Run("every write kind, signed", func(t *testing.T) {
		for _, id := range []string{"a", "b", "c", "d"} {
			req, p := tx([]byte(id), L, id)
			receipts = append(receipts, mustWrite(client, "sequencer_append", req, p))
		}
		req, p := tx(nil, "", "")
		receipts = append(receipts, mustWrite(client, "sequencer_append", req, p))
		for _, c := range []struct {
			kind sequencer.Kind
			id   string
		}{{sequencer.KindClose, "a"}, {sequencer.KindRelease, "b"}, {sequencer.KindFail, "c"}} {
			method := "sequencer_release"
			if c.kind == sequencer.KindClose {
				method = "sequencer_close"
			}
			req, p := tk(c.kind, c.id)
			r := mustWrite(client, method, req, p)
			if r.Kind != c.kind.String() {
				t.Fatalf("%s: entry kind %s", c.kind, r.Kind)
			}
			receipts = append(receipts, r)
		}
		receipts = append(receipts, mustWrite(client, "sequencer_syncLineage",
			sequencer.Request{Kind: sequencer.KindSync, Lineage: L, Nonce: 3, Deadline: dl}, map[string]any{"lineage": L, "chainNonce": 3}))
		for _, r := range receipts {
			if r.Sender != v.Client || !bytes.Contains(r.Raw, []byte(`"sender":"0xbE6ed49BF781207acC97622935459A99f9EC0f18"`)) {
				t.Fatalf("sender of %s", r.Raw)
			}
		}
		wire.CheckReadable(t, n.url, receipts)
		for _, e := range wire.ReadAll(t, n.url) {
			if e.Sender != v.Client {
				t.Fatalf("stored entry %d has sender %s", e.Seq, e.Sender)
			}
		}
	})
	t.Run("a second allowed key is the sender of its entries", func(t *testing.T) {
		req, p := tx([]byte("second"), L, "e")
		r := mustWrite(second, "sequencer_append", req, p)
		if r.Sender != secondAddr || !bytes.Contains(r.Raw, []byte(secondAddr.Hex())) {
			t.Fatalf("sender %s, want %s", r.Sender, secondAddr)
		}
		// Its retry signed by the other client is the existing receipt.
		again := mustWrite(client, "sequencer_append", req, p)
		if !*again.Existing || again.Sender != secondAddr || again.Hash != r.Hash {
			t.Fatalf("retry by another client: %s", again.Raw)
		}
	})
	t.Run("deadline window", func(t *testing.T) {
		for i, c := range []struct {
			deadline uint64
			ok       bool
		}{
			{testNow, true}, {testNow + 3600, true}, {testNow - 1, false}, {testNow + 3601, false}, {0, false}, {math.MaxUint64, false},
		} {
			req, p := tx([]byte{byte(i)}, "", "")
			req.Deadline = c.deadline
			_, e := write(client, "sequencer_append", req, p)
			if c.ok && e != nil {
				t.Fatalf("deadline now%+d: %v", int64(c.deadline)-testNow, e)
			}
			if !c.ok {
				if e == nil {
					t.Fatalf("deadline %d accepted", c.deadline)
				}
				wire.CheckError(t, e, 4001, "")
			}
		}
	})
	t.Run("a signed request is bound to its call", func(t *testing.T) {
		head, _ := wire.GetInfo(t, n.url)
		req, p := tx([]byte("bound"), L, "f")
		p["externalId"] = "g"
		_, e := write(client, "sequencer_append", req, p)
		if e == nil {
			t.Fatal("externalId changed after signing: accepted")
		}
		wire.CheckError(t, e, 4001, "")
		req, p = tk(sequencer.KindRelease, "d")
		p["reason"] = "broadcast"
		if _, e = write(client, "sequencer_release", req, p); e == nil || e.Code != 4001 {
			t.Fatalf("reason changed after signing: %v", e)
		}
		req, p = tk(sequencer.KindClose, "d")
		if _, e = wire.Call(t, n.url, "sequencer_close", signed(t, client, sequencer.Domain{ChainID: chain1.ChainID, VerifyingContract: common.HexToAddress("0x01")}, req, p)); e == nil || e.Code != 4001 {
			t.Fatalf("signed under another verifyingContract: %v", e)
		}
		if after, _ := wire.GetInfo(t, n.url); after.Head != head.Head {
			t.Fatal("a refused write moved the head")
		}
	})
	t.Run("reads need no signature", func(t *testing.T) {
		wire.GetInfo(t, n.url)
		wire.ReadLog(t, n.url, map[string]any{"from": 1})
		wire.GetTicket(t, n.url, L, "a")
		wire.GetLineage(t, n.url, L)
		wire.MustCall(t, n.url, "sequencer_equivocations", nil, nil)
	})
	t.Run("an empty allowlist lets nobody write", func(t *testing.T) {
		_, url, _ := serveAPI(t, n.seq, Config{Role: "primary", Primary: n.seq.Address(), Domain: chain1,
			Allow: Allowlist{}, Now: func() time.Time { return time.Unix(testNow, 0) }, Logger: quietLogger()}, nil)
		req, p := tx([]byte("x"), "", "")
		wire.WantError(t, url, "sequencer_append", signed(t, client, chain1, req, p), 4001, "")
		wire.WantError(t, url, "sequencer_append", map[string]any{"data": "0x"}, 4001, "")
	})
}

// TestOpenMode: without an allowlist any caller writes and the sender is
// the zero address, even when the caller signs (SPEC §4).
func TestOpenMode(t *testing.T) {
	v := loadVectors(t)
	client := mustKey(t, v.ClientKey)
	n := newNode(t, nodeOptions{})
	r := wire.AppendTx(t, n.url, []byte("open"), "o", "1")
	req := sequencer.Request{Kind: sequencer.KindTx, DataHash: crypto.Keccak256Hash([]byte("x")), Deadline: uint64(time.Now().Unix() + 60)}
	var s wire.Entry
	s.Raw = wire.MustCall(t, n.url, "sequencer_append", signed(t, client, chain1, req, map[string]any{"data": "0x78"}), &s)
	for _, e := range []wire.Entry{r, s, wire.CloseTicket(t, n.url, "o", "1"), wire.SyncLineage(t, n.url, "o", 5)} {
		if e.Sender != (common.Address{}) || !bytes.Contains(e.Raw, []byte(`"sender":"0x0000000000000000000000000000000000000000"`)) {
			t.Fatalf("open mode sender: %s", e.Raw)
		}
	}
	for _, e := range wire.ReadAll(t, n.url) {
		if e.Sender != (common.Address{}) {
			t.Fatalf("stored sender %s", e.Sender)
		}
	}
}

// TestAllowlistParsing checks --allow (comma-separated) and --allow-file
// (one per line, '#' comments) as SPEC §4 describes them.
func TestAllowlistParsing(t *testing.T) {
	a1 := "0xbE6ed49BF781207acC97622935459A99f9EC0f18"
	a2 := "0x08e87e97b8bbfb7fced2004c8aad20182c5d2d64"
	al, err := ParseAllowlist(a1 + ", " + strings.ToUpper(a2[:2]) + strings.ToUpper(a2[2:]) + ",")
	if err != nil {
		t.Fatal(err)
	}
	if len(al) != 2 {
		t.Fatalf("%d addresses", len(al))
	}
	for _, a := range []string{a1, a2} {
		if _, ok := al[common.HexToAddress(a)]; !ok {
			t.Fatalf("%s missing", a)
		}
	}
	for _, bad := range []string{"0x1234", "bE6ed49BF781207acC97622935459A99f9EC0f18", a1 + ",nope", "0xZZ6ed49BF781207acC97622935459A99f9EC0f18"} {
		if _, err := ParseAllowlist(bad); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted", bad)
		}
	}
	file := "# writers\n" + a1 + "  # the client\n\n   \n" + a2 + "\n#" + "0x0000000000000000000000000000000000000001\n"
	al, err = ReadAllowlist(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(al) != 2 {
		t.Fatalf("allow file: %d addresses, want 2", len(al))
	}
	_, err = ReadAllowlist(strings.NewReader(a1 + "\nnot-an-address\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad allow file: %v", err)
	}
}
