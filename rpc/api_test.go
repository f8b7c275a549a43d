package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

// body builds the exact bytes of a call with id 7 and raw params.
func body(method, params string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":%q,"params":[%s]}`, method, params)
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestBadInput sends malformed and hostile requests and checks each exact
// JSON-RPC error (SPEC §4: standard codes for malformed requests, -32602
// naming the field, the SPEC codes with their data). Afterwards the node
// still answers, no failed write moved the head, a valid append works and
// every earlier entry is still there, unchanged.
func TestBadInput(t *testing.T) {
	const maxData = 64
	open := newNode(t, nodeOptions{
		seq: func(c *sequencer.Config) { c.MaxInFlight = 3 },
		api: func(c *Config) { c.MaxDataBytes = maxData },
	})
	v := loadVectors(t)
	client := mustKey(t, v.ClientKey)
	stranger, _ := crypto.GenerateKey()
	permd := newNode(t, nodeOptions{api: func(c *Config) {
		c.MaxDataBytes = maxData
		c.Allow = Allowlist{v.Client: {}}
		c.Now = func() time.Time { return time.Unix(testNow, 0) }
	}})

	// Seed both logs, so that "nothing lost" means something and the
	// state-dependent errors (4003, 4004, 4005, 4008) have their state.
	var seeds []wire.Entry
	seeds = append(seeds, wire.AppendTx(t, open.url, []byte("plain"), "", "p-1"))
	seeds = append(seeds, wire.AppendTx(t, open.url, []byte{1}, testLineage, "seed-1"))
	seeds = append(seeds, wire.AppendTx(t, open.url, []byte{2}, testLineage, "seed-2"))
	seeds = append(seeds, wire.CloseTicket(t, open.url, testLineage, "seed-2"))
	for i := range 3 {
		seeds = append(seeds, wire.AppendTx(t, open.url, []byte{byte(i)}, "full", fmt.Sprintf("f-%d", i)))
	}
	dl := uint64(testNow + 60)
	sreq := sequencer.Request{Kind: sequencer.KindTx, Lineage: testLineage, ExternalID: "s-1", DataHash: crypto.Keccak256Hash([]byte{9}), Deadline: dl}
	var sseed wire.Entry
	sseed.Raw = wire.MustCall(t, permd.url, "sequencer_append", signed(t, client, chain1, sreq,
		map[string]any{"data": "0x09", "lineage": testLineage, "externalId": "s-1"}), &sseed)
	if sseed.Sender != v.Client {
		t.Fatalf("signed seed: sender %s, want %s", sseed.Sender, v.Client)
	}

	// Signed bodies for the permissioned node.
	appendReq := func(data []byte) sequencer.Request {
		return sequencer.Request{Kind: sequencer.KindTx, DataHash: crypto.Keccak256Hash(data), Deadline: dl}
	}
	signedAppend := func(data []byte, key string, mutate func(p map[string]any)) string {
		p := signed(t, client, chain1, appendReq(data), map[string]any{"data": hexData(data)})
		if key == "stranger" {
			p = signed(t, stranger, chain1, appendReq(data), map[string]any{"data": hexData(data)})
		}
		if mutate != nil {
			mutate(p)
		}
		return body("sequencer_append", jsonString(p))
	}
	validSig := signRequest(t, client, chain1, appendReq([]byte("x")))
	highS := func() hexutil.Bytes {
		// The malleable twin (r, n-s, v^1) of a valid signature.
		n := crypto.S256().Params().N
		s := new(big.Int).SetBytes(validSig[32:64])
		s.Sub(n, s)
		out := append(hexutil.Bytes{}, validSig...)
		s.FillBytes(out[32:64])
		out[64] ^= 1 // 27 <-> 28
		return out
	}()
	closeSigned := func(kind sequencer.Kind, externalID string) map[string]any {
		return signed(t, client, chain1, sequencer.Request{Kind: kind, Lineage: testLineage, ExternalID: externalID, Deadline: dl},
			map[string]any{"lineage": testLineage, "externalId": externalID})
	}

	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	tx := func(fields string) string { return body("sequencer_append", "{"+fields+"}") }
	seed2 := `{"lineage":"` + testLineage + `","externalId":"seed-2","nonce":1,"state":"closed","leaseSeq":3,"finalSeq":4,"attempts":[]}`

	cases := []struct {
		name   string
		signed bool   // sent to the permissioned node
		body   string // the exact request
		code   int
		data   string // exact error data, where SPEC §4 gives it
		msg    string // must appear in the message (the field, for -32602)
	}{
		// JSON and JSON-RPC envelope.
		{name: "broken JSON", body: `{`, code: -32700},
		{name: "truncated call", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_info"`, code: -32700},
		{name: "truncated batch", body: `[{"jsonrpc":"2.0","id":7,"method":"sequencer_info"},`, code: -32700},
		{name: "trailing garbage", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_info"} x`, code: -32700},
		{name: "nested 20000 deep", body: body("sequencer_append", strings.Repeat("[", 20000)+strings.Repeat("]", 20000)), code: -32700},
		{name: "string, not an object", body: `"sequencer_info"`, code: -32600},
		{name: "number, not an object", body: `42`, code: -32600},
		{name: "null", body: `null`, code: -32600},
		{name: "empty batch", body: `[]`, code: -32600},
		{name: "jsonrpc 1.0", body: `{"jsonrpc":"1.0","id":7,"method":"sequencer_info"}`, code: -32600},
		{name: "no jsonrpc member", body: `{"id":7,"method":"sequencer_info"}`, code: -32600},
		{name: "no method", body: `{"jsonrpc":"2.0","id":7}`, code: -32600},
		{name: "method a number", body: `{"jsonrpc":"2.0","id":7,"method":5}`, code: -32600},
		{name: "id an object", body: `{"jsonrpc":"2.0","id":{"a":1},"method":"sequencer_info"}`, code: -32600},
		{name: "unknown method", body: body("sequencer_nope", "{}"), code: -32601},
		{name: "other namespace", body: `{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber"}`, code: -32601},
		{name: "method name in Go case", body: body("sequencer_Append", `{"data":"0x"}`), code: -32601},
		{name: "unexported stop is not served", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_stop"}`, code: -32601},
		{name: "subscribe over HTTP", body: body("sequencer_subscribe", `"entries",{}`), code: -32601},

		// params shapes.
		{name: "params an object", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_append","params":{"data":"0x"}}`, code: -32602},
		{name: "params a string", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_append","params":"0x"}`, code: -32602},
		{name: "params missing", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_append"}`, code: -32602},
		{name: "params [null]", body: body("sequencer_append", "null"), code: -32602},
		{name: "params [5]", body: body("sequencer_append", "5"), code: -32602},
		{name: "params [[]]", body: body("sequencer_append", "[]"), code: -32602},
		{name: "two params objects", body: body("sequencer_append", `{"data":"0x"},{}`), code: -32602},

		// sequencer_append.
		{name: "append: data missing", body: tx(``), code: -32602, msg: "data"},
		{name: "append: data null", body: tx(`"data":null`), code: -32602, msg: "data"},
		{name: "append: data a number", body: tx(`"data":1234`), code: -32602, msg: "data"},
		{name: "append: data an array", body: tx(`"data":[1,2]`), code: -32602, msg: "data"},
		{name: "append: data without 0x", body: tx(`"data":"deadbeef"`), code: -32602, msg: "data"},
		{name: "append: data odd length", body: tx(`"data":"0xabc"`), code: -32602, msg: "data"},
		{name: "append: data not hex", body: tx(`"data":"0xzz"`), code: -32602, msg: "data"},
		{name: "append: lineage a number", body: tx(`"data":"0x","lineage":5,"externalId":"a"`), code: -32602, msg: "lineage"},
		{name: "append: externalId a number", body: tx(`"data":"0x","lineage":"l","externalId":5`), code: -32602, msg: "externalId"},
		{name: "append: lineage without externalId", body: tx(`"data":"0x","lineage":"l"`), code: -32602, msg: "externalId"},
		{name: "append: lineage of 129 bytes", body: tx(`"data":"0x","externalId":"a","lineage":"` + long('a', 129) + `"`), code: -32602, msg: "lineage"},
		{name: "append: lineage with a space", body: tx(`"data":"0x","externalId":"a","lineage":"eip155 1"`), code: -32602, msg: "lineage"},
		{name: "append: lineage with *", body: tx(`"data":"0x","externalId":"a","lineage":"a*b"`), code: -32602, msg: "lineage"},
		{name: "append: lineage with NUL", body: tx(`"data":"0x","externalId":"a","lineage":"a\u0000b"`), code: -32602, msg: "lineage"},
		{name: "append: lineage non-ASCII", body: tx(`"data":"0x","externalId":"a","lineage":"línea"`), code: -32602, msg: "lineage"},
		{name: "append: lineage invalid UTF-8", body: tx("\"data\":\"0x\",\"externalId\":\"a\",\"lineage\":\"a\xff\""), code: -32602, msg: "lineage"},
		{name: "append: externalId of 256 bytes", body: tx(`"data":"0x","lineage":"l","externalId":"` + long('x', 256) + `"`), code: -32602, msg: "externalId"},
		{name: "append: externalId with a space", body: tx(`"data":"0x","lineage":"l","externalId":"job 1"`), code: -32602, msg: "externalId"},
		{name: "append: externalId with a tab", body: tx(`"data":"0x","lineage":"l","externalId":"job\t1"`), code: -32602, msg: "externalId"},
		{name: "append: externalId non-ASCII", body: tx(`"data":"0x","lineage":"l","externalId":"jöb"`), code: -32602, msg: "externalId"},
		{name: "append: externalId with DEL", body: tx(`"data":"0x","lineage":"l","externalId":"a\u007f"`), code: -32602, msg: "externalId"},
		{name: "append: bad externalId without lineage", body: tx(`"data":"0x","externalId":"a b"`), code: -32602, msg: "externalId"},
		{name: "append: unknown field", body: tx(`"data":"0x","foo":1`), code: -32602, msg: "foo"},
		{name: "append: from not an address", body: tx(`"data":"0x","from":"abc"`), code: -32602, msg: "from"},
		{name: "append: deadline garbage", body: tx(`"data":"0x","deadline":"soon"`), code: -32602, msg: "deadline"},
		{name: "append: signature not hex", body: tx(`"data":"0x","signature":"0xqq"`), code: -32602, msg: "signature"},
		{name: "append: data over --max-data-bytes", body: tx(`"data":"` + hexData(make([]byte, maxData+1)) + `"`), code: 4006, data: fmt.Sprintf(`{"limit":%d}`, maxData)},
		{name: "append: far over --max-data-bytes", body: tx(`"data":"` + hexData(make([]byte, 100*maxData)) + `"`), code: 4006, data: fmt.Sprintf(`{"limit":%d}`, maxData)},
		{name: "append: leased ticket, other data", body: tx(`"data":"0x02","lineage":"` + testLineage + `","externalId":"seed-1"`), code: 4008},
		{name: "append: closed ticket", body: tx(`"data":"0x02","lineage":"` + testLineage + `","externalId":"seed-2"`), code: 4004, data: seed2},
		{name: "append: lineage at --max-in-flight", body: tx(`"data":"0x","lineage":"full","externalId":"f-9"`), code: 4005, data: `{"limit":3}`},
		{name: "append: plain externalId, other data", body: tx(`"data":"0x00","externalId":"p-1"`), code: 4008},

		// sequencer_close and sequencer_release.
		{name: "close: lineage missing", body: body("sequencer_close", `{"externalId":"a"}`), code: -32602, msg: "lineage"},
		{name: "close: externalId missing", body: body("sequencer_close", `{"lineage":"l"}`), code: -32602, msg: "externalId"},
		{name: "close: data is not a field", body: body("sequencer_close", `{"lineage":"l","externalId":"a","data":"0x"}`), code: -32602, msg: "data"},
		{name: "close: unknown ticket", body: body("sequencer_close", `{"lineage":"`+testLineage+`","externalId":"nope"}`), code: 4003},
		{name: "close: unknown lineage", body: body("sequencer_close", `{"lineage":"nowhere","externalId":"seed-1"}`), code: 4003},
		{name: "release: reason foo", body: body("sequencer_release", `{"lineage":"l","externalId":"a","reason":"foo"}`), code: -32602, msg: "reason"},
		{name: "release: reason in capitals", body: body("sequencer_release", `{"lineage":"l","externalId":"a","reason":"REJECTED"}`), code: -32602, msg: "reason"},
		{name: "release: reason missing", body: body("sequencer_release", `{"lineage":"l","externalId":"a"}`), code: -32602, msg: "reason"},
		{name: "release: reason a number", body: body("sequencer_release", `{"lineage":"l","externalId":"a","reason":2}`), code: -32602, msg: "reason"},
		{name: "release: unknown ticket", body: body("sequencer_release", `{"lineage":"`+testLineage+`","externalId":"nope","reason":"rejected"}`), code: 4003},
		{name: "release: closed ticket", body: body("sequencer_release", `{"lineage":"`+testLineage+`","externalId":"seed-2","reason":"broadcast"}`), code: 4004, data: seed2},

		// sequencer_syncLineage.
		{name: "sync: chainNonce missing", body: body("sequencer_syncLineage", `{"lineage":"l"}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce null", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":null}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce negative", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":-1}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce a float", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":1.5}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce exponent", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":1e3}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce 2^64", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":18446744073709551616}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce huge", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":1`+strings.Repeat("0", 400)+`}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce garbage string", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":"abc"}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce bad hex string", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":"0xzz"}`), code: -32602, msg: "chainNonce"},
		{name: "sync: chainNonce a bool", body: body("sequencer_syncLineage", `{"lineage":"l","chainNonce":true}`), code: -32602, msg: "chainNonce"},
		{name: "sync: lineage missing", body: body("sequencer_syncLineage", `{"chainNonce":1}`), code: -32602, msg: "lineage"},
		{name: "sync: lineage a number", body: body("sequencer_syncLineage", `{"lineage":1,"chainNonce":1}`), code: -32602, msg: "lineage"},
		{name: "sync: lineage with bad chars", body: body("sequencer_syncLineage", `{"lineage":"a,b","chainNonce":1}`), code: -32602, msg: "lineage"},
		{name: "sync: externalId is not a field", body: body("sequencer_syncLineage", `{"lineage":"l","externalId":"a","chainNonce":1}`), code: -32602, msg: "externalId"},

		// Reads.
		{name: "read: params missing", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_read"}`, code: -32602},
		{name: "read: from missing", body: body("sequencer_read", `{}`), code: -32602, msg: "from"},
		{name: "read: from 0", body: body("sequencer_read", `{"from":0}`), code: -32602, msg: "from"},
		{name: "read: from -1", body: body("sequencer_read", `{"from":-1}`), code: -32602, msg: "from"},
		{name: "read: limit 0", body: body("sequencer_read", `{"from":1,"limit":0}`), code: -32602, msg: "limit"},
		{name: "read: limit 1001", body: body("sequencer_read", `{"from":1,"limit":1001}`), code: -32602, msg: "limit"},
		{name: "read: limit -1", body: body("sequencer_read", `{"from":1,"limit":-1}`), code: -32602, msg: "limit"},
		{name: "read: limit not a number", body: body("sequencer_read", `{"from":1,"limit":"five"}`), code: -32602, msg: "limit"},
		{name: "read: lineage with bad chars", body: body("sequencer_read", `{"from":1,"lineage":"a b"}`), code: -32602, msg: "lineage"},
		{name: "ticket: not found", body: body("sequencer_ticket", `{"lineage":"`+testLineage+`","externalId":"nope"}`), code: 4003},
		{name: "ticket: externalId missing", body: body("sequencer_ticket", `{"lineage":"l"}`), code: -32602, msg: "externalId"},
		{name: "lineage: not found", body: body("sequencer_lineage", `{"lineage":"nowhere"}`), code: 4003},
		{name: "lineage: missing", body: body("sequencer_lineage", `{}`), code: -32602, msg: "lineage"},
		{name: "info: unknown field", body: body("sequencer_info", `{"x":1}`), code: -32602, msg: "x"},
		{name: "equivocations: unknown field", body: body("sequencer_equivocations", `{"x":1}`), code: -32602, msg: "x"},

		// Permissioned node (SPEC §4 Permissioning): all 4001 unless noted.
		{name: "signed: no from, deadline, signature", signed: true, body: tx(`"data":"0x78"`), code: 4001},
		{name: "signed: signature missing", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { delete(p, "signature") }), code: 4001},
		{name: "signed: deadline missing", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { delete(p, "deadline") }), code: 4001},
		{name: "signed: from missing", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { delete(p, "from") }), code: 4001},
		{name: "signed: by a key not allowed", signed: true, body: signedAppend([]byte("x"), "stranger", nil), code: 4001},
		{name: "signed: by another key than from", signed: true, body: signedAppend([]byte("x"), "stranger", func(p map[string]any) { p["from"] = v.Client.Hex() }), code: 4001},
		{name: "signed: over other data", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { p["data"] = "0x79" }), code: 4001},
		{name: "signed: with a lineage added", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { p["lineage"], p["externalId"] = "l", "a" }), code: 4001},
		{name: "signed: deadline other than signed", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { p["deadline"] = dl + 1 }), code: 4001},
		{name: "signed: deadline past", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) {
			r := appendReq([]byte("x"))
			r.Deadline = testNow - 1
			p["deadline"], p["signature"] = r.Deadline, signRequest(t, client, chain1, r)
		}), code: 4001},
		{name: "signed: deadline over an hour ahead", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) {
			r := appendReq([]byte("x"))
			r.Deadline = testNow + 3601
			p["deadline"], p["signature"] = r.Deadline, signRequest(t, client, chain1, r)
		}), code: 4001},
		{name: "signed: deadline max uint64", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) {
			r := appendReq([]byte("x"))
			r.Deadline = math.MaxUint64
			p["deadline"], p["signature"] = r.Deadline, signRequest(t, client, chain1, r)
		}), code: 4001},
		{name: "signed: other domain", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) {
			p["signature"] = signRequest(t, client, sequencer.Domain{ChainID: big.NewInt(5)}, appendReq([]byte("x")))
		}), code: 4001},
		{name: "signed: 64-byte signature", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { p["signature"] = validSig[:64] }), code: 4001},
		{name: "signed: 66-byte signature", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { p["signature"] = append(append(hexutil.Bytes{}, validSig...), 0) }), code: 4001},
		{name: "signed: v = 29", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) {
			s := append(hexutil.Bytes{}, validSig...)
			s[64] = 29
			p["signature"] = s
		}), code: 4001},
		{name: "signed: high-s twin", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { p["signature"] = highS }), code: 4001},
		{name: "signed: zero signature", signed: true, body: signedAppend([]byte("x"), "", func(p map[string]any) { p["signature"] = make(hexutil.Bytes, 65) }), code: 4001},
		{name: "signed: close signature on a release", signed: true, body: func() string {
			p := closeSigned(sequencer.KindClose, "s-1")
			p["reason"] = "rejected"
			return body("sequencer_release", jsonString(p))
		}(), code: 4001},
		{name: "signed: rejected signature on broadcast", signed: true, body: func() string {
			p := closeSigned(sequencer.KindRelease, "s-1")
			p["reason"] = "broadcast"
			return body("sequencer_release", jsonString(p))
		}(), code: 4001},
		{name: "signed: sync of another chainNonce", signed: true, body: func() string {
			p := signed(t, client, chain1, sequencer.Request{Kind: sequencer.KindSync, Lineage: testLineage, Nonce: 5, Deadline: dl},
				map[string]any{"lineage": testLineage})
			p["chainNonce"] = 6
			return body("sequencer_syncLineage", jsonString(p))
		}(), code: 4001},
		{name: "signed: close of another ticket", signed: true, body: func() string {
			p := closeSigned(sequencer.KindClose, "s-1")
			p["externalId"] = "s-2"
			return body("sequencer_close", jsonString(p))
		}(), code: 4001},
		{name: "signed: close of unknown ticket", signed: true, body: body("sequencer_close", jsonString(closeSigned(sequencer.KindClose, "nope"))), code: 4003},
		{name: "signed: data over --max-data-bytes", signed: true, body: signedAppend(make([]byte, maxData+1), "", nil), code: 4006, data: fmt.Sprintf(`{"limit":%d}`, maxData)},
		{name: "signed: bad params before auth", signed: true, body: tx(`"data":"0x","lineage":"l"`), code: -32602, msg: "externalId"},
		// Duplicate keys: encoding/json keeps the last, so the request
		// would not do what its first reader sees.
		{name: "duplicate method", body: `{"jsonrpc":"2.0","id":7,"method":"sequencer_info","method":"sequencer_append","params":[{"data":"0x01"}]}`, code: -32600, msg: `duplicate key "method"`},
		{name: "duplicate param", body: body("sequencer_append", `{"data":"0x01","data":"0x02"}`), code: -32600, msg: `duplicate key "data"`},
		{name: "duplicate in a batch", body: `[` + body("sequencer_info", "") + `,` + body("sequencer_append", `{"data":"0x01","lineage":"x","lineage":"y","externalId":"e"}`) + `]`, code: -32600, msg: `duplicate key "lineage"`},
		{name: "data empty string", body: body("sequencer_append", `{"data":""}`), code: -32602, msg: `"0x" for an empty payload`},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}

	before := map[string]wire.Info{}
	for _, n := range []*node{open, permd} {
		before[n.url], _ = wire.GetInfo(t, n.url)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := open.url
			if tc.signed {
				url = permd.url
			}
			status, b := wire.Post(t, url, tc.body)
			if status != http.StatusOK {
				t.Fatalf("HTTP %d: %s", status, b)
			}
			var r wire.Response
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("not one JSON-RPC response: %s", b)
			}
			if r.Error == nil {
				t.Fatalf("no error: %s", b)
			}
			if r.Result != nil {
				t.Fatalf("both result and error: %s", b)
			}
			wire.CheckError(t, r.Error, tc.code, tc.data)
			if tc.msg != "" && !strings.Contains(r.Error.Message, tc.msg) {
				t.Errorf("message %q does not name %q", r.Error.Message, tc.msg)
			}
			if tc.code != -32700 && tc.code != -32600 && string(r.ID) != "7" {
				t.Errorf("id %s, want 7", r.ID)
			}
		})
	}

	// The node still answers, the failed writes wrote nothing, valid writes
	// still work, and nothing was lost.
	for _, n := range []*node{open, permd} {
		after, _ := wire.GetInfo(t, n.url)
		if after.Head != before[n.url].Head {
			t.Fatalf("head moved from %+v to %+v by failed writes", before[n.url].Head, after.Head)
		}
	}
	wire.CheckReadable(t, open.url, seeds)
	wire.CheckReadable(t, permd.url, []wire.Entry{sseed})
	last := wire.AppendTx(t, open.url, bytes.Repeat([]byte{0xab}, maxData), "", "") // exactly the limit
	if last.Seq != before[open.url].Head.Seq+1 || last.PrevHash.Hex() != before[open.url].Head.Hash {
		t.Fatalf("append after the table: seq %d prev %s, head was %+v", last.Seq, last.PrevHash, before[open.url].Head)
	}
	var plast wire.Entry
	wire.MustCall(t, permd.url, "sequencer_append", signed(t, client, chain1, appendReq([]byte("x")), map[string]any{"data": "0x78"}), &plast)
	if plast.Seq != 2 || plast.Sender != v.Client {
		t.Fatalf("signed append after the table: %+v", plast)
	}
	wire.CheckReadable(t, open.url, append(seeds, last))
	wire.CheckReadable(t, permd.url, []wire.Entry{sseed, plast})
	open.seq.Close()
	permd.seq.Close()
	verifyLog(t, open)
	verifyLog(t, permd)
}

// TestErrorPrecedence checks SPEC §4: when several errors apply, the first
// of -32602, 4002, 4009, 4001, 4006, 4003, 4008, 4004, 4005, 4007 wins.
// (4003 and 4006 cannot both apply: only append carries data, and append
// never answers 4003; 4006 is shown to beat 4008, 4004 and 4005 instead.
// The 4007 rows are in TestOverloadedPrecedence.)
func TestErrorPrecedence(t *testing.T) {
	v := loadVectors(t)
	client := mustKey(t, v.ClientKey)
	n := newNode(t, nodeOptions{
		key: mustKey(t, v.PrimaryKey),
		seq: func(c *sequencer.Config) { c.MaxInFlight = 2 },
		api: func(c *Config) { c.MaxDataBytes = 8 },
	})
	now := func() time.Time { return time.Unix(testNow, 0) }
	_, permURL, _ := serveAPI(t, n.seq, Config{Role: "primary", Primary: n.seq.Address(), Domain: chain1,
		MaxDataBytes: 8, Allow: Allowlist{v.Client: {}}, Now: now, Logger: quietLogger()}, nil)
	_, replicaURL, _ := serveAPI(t, n.seq, Config{Role: "replica", Primary: n.seq.Address(), Domain: chain1,
		MaxDataBytes: 8, Logger: quietLogger()}, nil)
	_, signedReplicaURL, _ := serveAPI(t, n.seq, Config{Role: "replica", Primary: n.seq.Address(), Domain: chain1,
		MaxDataBytes: 8, Allow: Allowlist{v.Client: {}}, Now: now, Logger: quietLogger()}, nil)
	notPrimary := `{"primary":"0x08e87E97B8bBFB7fcED2004C8Aad20182c5d2D64"}` // EIP-55, as in the vectors
	tooBig := hexData(make([]byte, 9))

	// State: lineage L at --max-in-flight 2 with one closed ticket.
	const L = "prec"
	wire.AppendTx(t, n.url, []byte{1}, L, "closed")
	wire.CloseTicket(t, n.url, L, "closed")
	wire.AppendTx(t, n.url, []byte{1}, L, "a")
	wire.AppendTx(t, n.url, []byte{1}, L, "b")
	closedTicket := `{"lineage":"prec","externalId":"closed","nonce":0,"state":"closed","leaseSeq":1,"finalSeq":2,"attempts":[]}`
	dl := uint64(testNow + 60)

	t.Run("-32602 beats 4001", func(t *testing.T) {
		wire.WantError(t, permURL, "sequencer_append", map[string]any{"data": "0x", "lineage": L}, -32602, "")
		wire.WantError(t, permURL, "sequencer_close", map[string]any{"lineage": "bad lineage", "externalId": "a"}, -32602, "")
		wire.WantError(t, permURL, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "foo"}, -32602, "")
		wire.WantError(t, permURL, "sequencer_syncLineage", map[string]any{"lineage": L}, -32602, "")
	})
	t.Run("-32602 beats 4002", func(t *testing.T) {
		wire.WantError(t, replicaURL, "sequencer_append", map[string]any{"data": "0x", "lineage": L}, -32602, "")
		wire.WantError(t, replicaURL, "sequencer_close", map[string]any{"lineage": L}, -32602, "")
		wire.WantError(t, replicaURL, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "foo"}, -32602, "")
		wire.WantError(t, replicaURL, "sequencer_syncLineage", map[string]any{"lineage": "a b", "chainNonce": 1}, -32602, "")
	})
	t.Run("4002 on every write of a replica, with {primary}", func(t *testing.T) {
		for _, u := range []string{replicaURL, signedReplicaURL} {
			wire.WantError(t, u, "sequencer_append", map[string]any{"data": "0x"}, 4002, notPrimary)
			wire.WantError(t, u, "sequencer_append", map[string]any{"data": tooBig, "lineage": L, "externalId": "closed"}, 4002, notPrimary)
			wire.WantError(t, u, "sequencer_close", map[string]any{"lineage": L, "externalId": "nope"}, 4002, notPrimary)
			wire.WantError(t, u, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "rejected"}, 4002, notPrimary)
			wire.WantError(t, u, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "broadcast"}, 4002, notPrimary)
			wire.WantError(t, u, "sequencer_syncLineage", map[string]any{"lineage": L, "chainNonce": 1}, 4002, notPrimary)
		}
		// A replica still serves reads.
		i, _ := wire.GetInfo(t, replicaURL)
		if i.Role != "replica" || i.Head.Seq != 4 {
			t.Fatalf("replica info %+v", i)
		}
		r, _ := wire.ReadLog(t, replicaURL, map[string]any{"from": 1})
		if len(r.Entries) != 4 {
			t.Fatalf("replica read %d entries", len(r.Entries))
		}
	})
	t.Run("4001 beats 4006", func(t *testing.T) {
		wire.WantError(t, permURL, "sequencer_append", map[string]any{"data": tooBig}, 4001, "")
		stranger, _ := crypto.GenerateKey()
		req := sequencer.Request{Kind: sequencer.KindTx, DataHash: crypto.Keccak256Hash(make([]byte, 9)), Deadline: dl}
		wire.WantError(t, permURL, "sequencer_append", signed(t, stranger, chain1, req, map[string]any{"data": tooBig}), 4001, "")
		// Signed right, the same call is too large.
		wire.WantError(t, permURL, "sequencer_append", signed(t, client, chain1, req, map[string]any{"data": tooBig}), 4006, `{"limit":8}`)
	})
	t.Run("4001 beats 4003, 4004, 4005 and 4008", func(t *testing.T) {
		wire.WantError(t, permURL, "sequencer_close", map[string]any{"lineage": L, "externalId": "nope"}, 4001, "")
		wire.WantError(t, permURL, "sequencer_close", map[string]any{"lineage": "nowhere", "externalId": "nope"}, 4001, "")
		wire.WantError(t, permURL, "sequencer_append", map[string]any{"data": "0x", "lineage": L, "externalId": "closed"}, 4001, "")
		wire.WantError(t, permURL, "sequencer_append", map[string]any{"data": "0x", "lineage": L, "externalId": "c"}, 4001, "")
		wire.WantError(t, permURL, "sequencer_append", map[string]any{"data": "0x02", "lineage": L, "externalId": "a"}, 4001, "")
	})
	t.Run("4006 beats 4008, 4004 and 4005", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": tooBig, "lineage": L, "externalId": "a"}, 4006, `{"limit":8}`)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": tooBig, "lineage": L, "externalId": "closed"}, 4006, `{"limit":8}`)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": tooBig, "lineage": L, "externalId": "c"}, 4006, `{"limit":8}`)
		// Without the size, each gives its own code.
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x02", "lineage": L, "externalId": "a"}, 4008, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x01", "lineage": L, "externalId": "closed"}, 4004, closedTicket)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x02", "lineage": L, "externalId": "c"}, 4005, `{"limit":2}`)
	})
	t.Run("4008 beats 4004", func(t *testing.T) {
		// A final ticket asked again with other data: both apply.
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x02", "lineage": L, "externalId": "closed"}, 4008, "")
	})
	t.Run("4008 and 4004 beat 4005", func(t *testing.T) {
		// L is at --max-in-flight: a conflicting retry and a final ticket
		// still get their own answers, and a same-data retry its receipt.
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x0102", "lineage": L, "externalId": "b"}, 4008, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x01", "lineage": L, "externalId": "closed"}, 4004, closedTicket)
		r := wire.AppendTx(t, n.url, []byte{1}, L, "b")
		if r.Existing == nil || !*r.Existing || r.Seq != 4 {
			t.Fatalf("retry at max in flight: %s", r.Raw)
		}
	})
	t.Run("-32602 beats 4003", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": "nowhere", "externalId": "a b"}, -32602, "")
		wire.WantError(t, n.url, "sequencer_ticket", map[string]any{"lineage": "nowhere", "externalId": "a b"}, -32602, "")
	})

	// Halt the node: a commit fails (SPEC §5: it halts writes, keeps reads).
	head, _ := wire.GetInfo(t, n.url)
	n.store.failWith(errors.New("disk on fire"))
	wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x"}, 4009, "")
	n.store.failWith(nil)
	t.Run("4009 on every write of a halted node", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x"}, 4009, "")
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "a"}, 4009, "")
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "rejected"}, 4009, "")
		wire.WantError(t, n.url, "sequencer_syncLineage", map[string]any{"lineage": L, "chainNonce": 9}, 4009, "")
	})
	t.Run("4002 beats 4009", func(t *testing.T) {
		wire.WantError(t, replicaURL, "sequencer_append", map[string]any{"data": "0x"}, 4002, notPrimary)
		wire.WantError(t, signedReplicaURL, "sequencer_close", map[string]any{"lineage": L, "externalId": "a"}, 4002, notPrimary)
	})
	t.Run("-32602 beats 4009", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x", "lineage": L}, -32602, "")
	})
	t.Run("4009 beats 4001, 4006, 4003, 4004, 4005, 4008", func(t *testing.T) {
		wire.WantError(t, permURL, "sequencer_append", map[string]any{"data": tooBig}, 4009, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": tooBig}, 4009, "")
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "nope"}, 4009, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x01", "lineage": L, "externalId": "closed"}, 4009, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x01", "lineage": L, "externalId": "c"}, 4009, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x02", "lineage": L, "externalId": "a"}, 4009, "")
	})
	t.Run("a halted node serves reads", func(t *testing.T) {
		i, _ := wire.GetInfo(t, n.url)
		if !i.Halted || i.Head != head.Head {
			t.Fatalf("info %+v, want halted at %+v", i, head.Head)
		}
		if tk, _ := wire.GetTicket(t, n.url, L, "a"); tk.State != "leased" {
			t.Fatalf("ticket %+v", tk)
		}
		if r, _ := wire.ReadLog(t, n.url, map[string]any{"from": 1}); len(r.Entries) != 4 {
			t.Fatalf("read %d entries", len(r.Entries))
		}
		resp, err := wire.HTTPClient.Get(strings.TrimSuffix(n.url, "/") + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"halted"`) {
			t.Fatalf("healthz of a halted node: %d %s", resp.StatusCode, b)
		}
	})
}
