package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
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
	seed2 := `{"lineage":"` + testLineage + `","externalId":"seed-2","nonce":1,"state":"closed","leaseSeq":3,"finalSeq":4}`

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
	closedTicket := `{"lineage":"prec","externalId":"closed","nonce":0,"state":"closed","leaseSeq":1,"finalSeq":2}`
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

// TestIdempotency walks every row of SPEC §3's idempotency table through
// the API. An existing receipt is byte for byte the original receipt but
// for "existing".
func TestIdempotency(t *testing.T) {
	n := newNode(t, nodeOptions{})
	const L = "eip155:1:0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B"
	sameAsOriginal := func(t *testing.T, orig, again wire.Entry) {
		t.Helper()
		if orig.Existing == nil || *orig.Existing {
			t.Fatalf("original receipt not existing:false: %s", orig.Raw)
		}
		want := bytes.Replace(orig.Raw, []byte(`"existing":false`), []byte(`"existing":true`), 1)
		if !bytes.Equal(again.Raw, want) {
			t.Fatalf("existing receipt\n %s\nwant\n %s", again.Raw, want)
		}
	}
	headIs := func(t *testing.T, seq uint64) {
		t.Helper()
		if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != seq {
			t.Fatalf("head %d, want %d", i.Head.Seq, seq)
		}
	}
	ticket := func(lineage, id string, nonce uint64, state string, lease, final uint64) string {
		s := fmt.Sprintf(`{"lineage":%q,"externalId":%q,"nonce":%d,"state":%q,"leaseSeq":%d`, lineage, id, nonce, state, lease)
		if final != 0 {
			s += fmt.Sprintf(`,"finalSeq":%d`, final)
		}
		return s + "}"
	}
	wantTicket := func(t *testing.T, lineage, id string, want string) {
		t.Helper()
		if _, raw := wire.GetTicket(t, n.url, lineage, id); !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("ticket %s, want %s", raw, want)
		}
	}

	// append | none -> new tx entry, ticket leased.
	a := wire.AppendTx(t, n.url, []byte("a"), L, "a") // seq 1, nonce 0
	if a.Seq != 1 || a.Kind != "tx" || a.Nonce != 0 || a.DataHash != crypto.Keccak256Hash([]byte("a")) {
		t.Fatalf("append: %s", a.Raw)
	}
	wantTicket(t, L, "a", ticket(L, "a", 0, "leased", 1, 0))

	t.Run("append, same data, leased: existing receipt", func(t *testing.T) {
		sameAsOriginal(t, a, wire.AppendTx(t, n.url, []byte("a"), L, "a"))
		headIs(t, 1)
	})
	t.Run("append, different data, leased: 4008", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x62", "lineage": L, "externalId": "a"}, 4008, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x", "lineage": L, "externalId": "a"}, 4008, "")
		headIs(t, 1)
	})

	b := wire.AppendTx(t, n.url, []byte("b"), L, "b") // seq 2, nonce 1
	c := wire.AppendTx(t, n.url, []byte("c"), L, "c") // seq 3, nonce 2
	if b.Nonce != 1 || c.Nonce != 2 {
		t.Fatalf("nonces %d, %d", b.Nonce, c.Nonce)
	}
	var relB wire.Entry
	t.Run("release rejected, leased: release entry", func(t *testing.T) {
		relB = wire.ReleaseTicket(t, n.url, L, "b", "rejected") // seq 4
		if relB.Kind != "release" || relB.Seq != 4 || relB.Nonce != 1 || relB.DataHash != b.Hash || relB.ExternalID != "b" || relB.Lineage != L {
			t.Fatalf("release: %s", relB.Raw)
		}
		wantTicket(t, L, "b", ticket(L, "b", 1, "released", 2, 4))
	})
	t.Run("release, same reason, released: existing receipt", func(t *testing.T) {
		sameAsOriginal(t, relB, wire.ReleaseTicket(t, n.url, L, "b", "rejected"))
		headIs(t, 4)
	})
	t.Run("release broadcast, released: 4004", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "b", "reason": "broadcast"}, 4004, ticket(L, "b", 1, "released", 2, 4))
	})
	t.Run("close, released: 4004", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "b"}, 4004, ticket(L, "b", 1, "released", 2, 4))
		headIs(t, 4)
	})
	t.Run("append, released: a new lease of the pooled nonce, with the new data", func(t *testing.T) {
		b2 := wire.AppendTx(t, n.url, []byte("b, again"), L, "b") // seq 5
		if b2.Seq != 5 || b2.Nonce != 1 || b2.Existing == nil || *b2.Existing || b2.DataHash != crypto.Keccak256Hash([]byte("b, again")) {
			t.Fatalf("re-lease: %s", b2.Raw)
		}
		wantTicket(t, L, "b", ticket(L, "b", 1, "leased", 5, 0))
		// And it is idempotent again, on the new data.
		again := wire.AppendTx(t, n.url, []byte("b, again"), L, "b")
		sameAsOriginal(t, b2, again)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": hexData([]byte("b")), "lineage": L, "externalId": "b"}, 4008, "")
	})
	var failC wire.Entry
	t.Run("release broadcast, leased: fail entry", func(t *testing.T) {
		failC = wire.ReleaseTicket(t, n.url, L, "c", "broadcast") // seq 6
		if failC.Kind != "fail" || failC.Seq != 6 || failC.Nonce != 2 || failC.DataHash != c.Hash {
			t.Fatalf("fail: %s", failC.Raw)
		}
		wantTicket(t, L, "c", ticket(L, "c", 2, "failed", 3, 6))
	})
	t.Run("release, same reason, failed: existing receipt", func(t *testing.T) {
		sameAsOriginal(t, failC, wire.ReleaseTicket(t, n.url, L, "c", "broadcast"))
	})
	t.Run("failed: append, close, release rejected: 4004", func(t *testing.T) {
		want := ticket(L, "c", 2, "failed", 3, 6)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": hexData([]byte("c")), "lineage": L, "externalId": "c"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "c"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "c", "reason": "rejected"}, 4004, want)
		headIs(t, 6)
	})
	var closeA wire.Entry
	t.Run("close, leased: close entry", func(t *testing.T) {
		closeA = wire.CloseTicket(t, n.url, L, "a") // seq 7
		if closeA.Kind != "close" || closeA.Seq != 7 || closeA.Nonce != 0 || closeA.DataHash != a.Hash || closeA.ExternalID != "a" {
			t.Fatalf("close: %s", closeA.Raw)
		}
		wantTicket(t, L, "a", ticket(L, "a", 0, "closed", 1, 7))
	})
	t.Run("close, closed: the close's receipt", func(t *testing.T) {
		sameAsOriginal(t, closeA, wire.CloseTicket(t, n.url, L, "a"))
		headIs(t, 7)
	})
	t.Run("closed or failed, other data: 4008 ranks before 4004", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x00", "lineage": L, "externalId": "a"}, 4008, "")
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x00", "lineage": L, "externalId": "c"}, 4008, "")
		headIs(t, 7)
	})
	t.Run("closed: append, release either reason: 4004", func(t *testing.T) {
		want := ticket(L, "a", 0, "closed", 1, 7)
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": hexData([]byte("a")), "lineage": L, "externalId": "a"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "rejected"}, 4004, want)
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "a", "reason": "broadcast"}, 4004, want)
		headIs(t, 7)
	})
	t.Run("close or release, no such ticket: 4003", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": L, "externalId": "zz"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "zz", "reason": "rejected"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_release", map[string]any{"lineage": L, "externalId": "zz", "reason": "broadcast"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": "other", "externalId": "a"}, 4003, "")
		wire.WantError(t, n.url, "sequencer_ticket", map[string]any{"lineage": L, "externalId": "zz"}, 4003, "")
		headIs(t, 7)
	})

	// Sync: the ticket b (nonce 1, leased at seq 5) is closed by a sync of 2;
	// a later close answers with the sync's receipt.
	var sync2 wire.Entry
	t.Run("sync closes the leased tickets below it", func(t *testing.T) {
		d := wire.AppendTx(t, n.url, []byte("d"), L, "d") // seq 8, nonce 3
		if d.Nonce != 3 {
			t.Fatalf("nonce %d, want 3", d.Nonce)
		}
		sync2 = wire.SyncLineage(t, n.url, L, 2) // seq 9
		if sync2.Kind != "sync" || sync2.Nonce != 2 || sync2.ExternalID != "" || sync2.DataHash != (common.Hash{}) || sync2.Lineage != L {
			t.Fatalf("sync: %s", sync2.Raw)
		}
		wantTicket(t, L, "b", ticket(L, "b", 1, "closed", 5, 9))
		wantTicket(t, L, "d", ticket(L, "d", 3, "leased", 8, 0)) // in flight at or above: untouched
	})
	t.Run("close, closed by a sync: the sync's receipt", func(t *testing.T) {
		again := wire.CloseTicket(t, n.url, L, "b")
		sameAsOriginal(t, sync2, again)
		headIs(t, 9)
	})
	t.Run("sync is not deduplicated", func(t *testing.T) {
		s := wire.SyncLineage(t, n.url, L, 2)
		if s.Seq != 10 || s.Existing == nil || *s.Existing {
			t.Fatalf("second sync: %s", s.Raw)
		}
	})
	t.Run("sync of an unknown lineage creates it", func(t *testing.T) {
		wire.WantError(t, n.url, "sequencer_lineage", map[string]any{"lineage": "fresh"}, 4003, "")
		wire.SyncLineage(t, n.url, "fresh", 7)
		_, raw := wire.GetLineage(t, n.url, "fresh")
		want := `{"lineage":"fresh","nextNonce":7,"floor":7,"inFlight":[],"released":[],"closed":0,"failed":0}`
		if !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("lineage %s, want %s", raw, want)
		}
		if r := wire.AppendTx(t, n.url, []byte("x"), "fresh", "x"); r.Nonce != 7 {
			t.Fatalf("first lease after sync: nonce %d, want 7", r.Nonce)
		}
	})

	// Without a lineage, by externalId alone.
	t.Run("append without lineage, same externalId, same data: existing", func(t *testing.T) {
		p := wire.AppendTx(t, n.url, []byte("p"), "", "order-1")
		if p.Lineage != "" || p.Nonce != 0 || p.ExternalID != "order-1" {
			t.Fatalf("plain: %s", p.Raw)
		}
		sameAsOriginal(t, p, wire.AppendTx(t, n.url, []byte("p"), "", "order-1"))
		wire.WantError(t, n.url, "sequencer_append", map[string]any{"data": "0x70ff", "externalId": "order-1"}, 4008, "")
		// The same externalId on a lineage is another ticket.
		q := wire.AppendTx(t, n.url, []byte("p"), L, "order-1")
		if q.Seq != p.Seq+1 || q.Lineage != L {
			t.Fatalf("lineage ticket of the same id: %s", q.Raw)
		}
	})
	t.Run("append without externalId is never deduplicated", func(t *testing.T) {
		x := wire.AppendTx(t, n.url, []byte("same"), "", "")
		y := wire.AppendTx(t, n.url, []byte("same"), "", "")
		if y.Seq != x.Seq+1 || *y.Existing {
			t.Fatalf("two plain appends: %s, %s", x.Raw, y.Raw)
		}
	})
	n.seq.Close()
	verifyLog(t, n)
}

// TestConcurrentRetries sends the same append from many clients at once:
// exactly one entry, every caller gets the same receipt (SPEC §3).
func TestConcurrentRetries(t *testing.T) {
	n := newNode(t, nodeOptions{})
	const callers = 16
	out := make([]wire.Entry, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := map[string]any{"data": "0x0102", "lineage": testLineage, "externalId": "job"}
			r, err := wire.TryCall(n.url, wire.Request("sequencer_append", p))
			if err == nil && r.Error != nil {
				err = r.Error
			}
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			json.Unmarshal(r.Result, &out[i])
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	fresh := 0
	for _, r := range out {
		if r.Existing == nil || r.Seq != 1 || r.Nonce != 0 || r.Hash != out[0].Hash {
			t.Fatalf("receipt %+v", r)
		}
		if !*r.Existing {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d receipts with existing:false, want 1", fresh)
	}
	if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != 1 {
		t.Fatalf("head %d, want 1", i.Head.Seq)
	}
}

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
		if want := `{"lineage":"shape","externalId":"t4","nonce":4,"state":"leased","leaseSeq":5}`; !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("ticket %s, want %s", raw, want)
		}
		_, raw = wire.GetTicket(t, n.url, L, "t0")
		if want := `{"lineage":"shape","externalId":"t0","nonce":0,"state":"closed","leaseSeq":1,"finalSeq":9}`; !wire.JSONEqual(raw, []byte(want)) {
			t.Fatalf("ticket %s, want %s", raw, want)
		}
		_, raw = wire.GetTicket(t, n.url, L, "t3")
		if want := `{"lineage":"shape","externalId":"t3","nonce":3,"state":"released","leaseSeq":4,"finalSeq":6}`; !wire.JSONEqual(raw, []byte(want)) {
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

// TestBatch sends JSON-RPC batches (SPEC §4: batch requests supported):
// one response per call, matched by id, each with its own result or error;
// notifications get none.
func TestBatch(t *testing.T) {
	n := newNode(t, nodeOptions{})
	raw := `[
		{"jsonrpc":"2.0","id":1,"method":"sequencer_info"},
		{"jsonrpc":"2.0","id":"two","method":"sequencer_nope"},
		{"jsonrpc":"2.0","id":3,"method":"sequencer_append","params":[{"data":"0x01","lineage":"b","externalId":"x"}]},
		{"jsonrpc":"2.0","id":4,"method":"sequencer_append","params":[{"data":"0xzz"}]},
		{"jsonrpc":"2.0","method":"sequencer_append","params":[{"data":"0x02"}]},
		{"jsonrpc":"2.0","id":5,"method":"sequencer_close","params":[{"lineage":"b","externalId":"nope"}]},
		{"jsonrpc":"2.0","id":6},
		42,
		{"jsonrpc":"2.0","id":7,"method":"sequencer_append","params":[{"data":"0x01","lineage":"b","externalId":"x"}]},
		{"jsonrpc":"2.0","id":8,"method":"sequencer_read","params":[{"from":1,"limit":0}]}
	]`
	status, b := wire.Post(t, n.url, raw)
	if status != http.StatusOK {
		t.Fatalf("HTTP %d: %s", status, b)
	}
	var rs []wire.Response
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatalf("batch answer is not an array: %s", b)
	}
	if len(rs) != 9 {
		t.Fatalf("%d responses, want 9 (the notification gets none): %s", len(rs), b)
	}
	byID := map[string]wire.Response{}
	for _, r := range rs {
		byID[string(r.ID)] = r
	}
	want := map[string]int{`1`: 0, `"two"`: -32601, `3`: 0, `4`: -32602, `5`: 4003, `6`: -32600, `7`: 0, `8`: -32602}
	for id, code := range want {
		r, ok := byID[id]
		if !ok {
			t.Fatalf("no response with id %s: %s", id, b)
		}
		switch {
		case code == 0 && r.Error != nil:
			t.Fatalf("id %s: %v", id, r.Error)
		case code != 0 && (r.Error == nil || r.Error.Code != code):
			t.Fatalf("id %s: %s, want code %d", id, b, code)
		}
	}
	if r, ok := byID["null"]; !ok || r.Error == nil || r.Error.Code != -32600 {
		t.Fatalf("no -32600 with id null for the element 42: %s", b)
	}
	// Within the batch, the retry (id 7) got the receipt of id 3.
	var r3, r7 wire.Entry
	json.Unmarshal(byID["3"].Result, &r3)
	json.Unmarshal(byID["7"].Result, &r7)
	if r3.Seq == 0 || r3.Hash != r7.Hash || *r3.Existing || !*r7.Existing {
		t.Fatalf("retry in batch: %s / %s", byID["3"].Result, byID["7"].Result)
	}
	// The notification was executed: 2 entries in all.
	wire.WaitFor(t, 5*time.Second, "the notification's append", func() bool {
		i, _ := wire.GetInfo(t, n.url)
		return i.Head.Seq == 2
	})

	t.Run("go-ethereum client BatchCallContext", func(t *testing.T) {
		c := httpRPCClient(t, n.url)
		var inf wire.Info
		var app, retry wire.Entry
		var tk wire.Ticket
		var rd wire.Read
		batch := []gethrpc.BatchElem{
			{Method: "sequencer_info", Result: &inf},
			{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x0a", "lineage": "c", "externalId": "y"}}, Result: &app},
			{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x0a", "lineage": "c", "externalId": "y"}}, Result: &retry},
			{Method: "sequencer_ticket", Args: []any{map[string]any{"lineage": "c", "externalId": "y"}}, Result: &tk},
			{Method: "sequencer_ticket", Args: []any{map[string]any{"lineage": "c", "externalId": "nope"}}, Result: new(wire.Ticket)},
			{Method: "sequencer_append", Args: []any{map[string]any{"data": "0x0b", "lineage": "c", "externalId": "y"}}, Result: new(wire.Entry)},
			{Method: "sequencer_read", Args: []any{map[string]any{"from": 1}}, Result: &rd},
			{Method: "sequencer_missing", Result: new(any)},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.BatchCallContext(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{0, 0, 0, 0, 4003, 4008, 0, -32601} {
			if got := wire.Code(batch[i].Error); got != want || (want == 0) != (batch[i].Error == nil) {
				t.Fatalf("batch[%d] %s: error %v, want code %d", i, batch[i].Method, batch[i].Error, want)
			}
		}
		if inf.Head.Seq != 2 || app.Seq != 3 || !*retry.Existing || retry.Hash != app.Hash || tk.LeaseSeq != 3 || tk.State != "leased" || len(rd.Entries) != 3 {
			t.Fatalf("batch results: info %+v, append %+v, retry %+v, ticket %+v, read %d", inf, app, retry, tk, len(rd.Entries))
		}
	})
}

// TestHTTP checks the HTTP side of the listener: wrong verbs, content types,
// paths and oversize bodies are refused before JSON-RPC, and /healthz and
// /metrics answer (SPEC §7).
func TestHTTP(t *testing.T) {
	n := newNode(t, nodeOptions{metrics: true})
	base := strings.TrimSuffix(n.url, "/")
	for range 3 {
		wire.AppendTx(t, n.url, []byte("m"), "", "")
	}
	wire.WantError(t, n.url, "sequencer_close", map[string]any{"lineage": "l", "externalId": "x"}, 4003, "")

	t.Run("healthz", func(t *testing.T) {
		resp, err := wire.HTTPClient.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("healthz: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		var h map[string]any
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("healthz is not JSON: %s", b)
		}
		if h["status"] != "ok" || h["head"] != float64(3) || h["role"] != "primary" {
			t.Fatalf("healthz %s", b)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		resp, err := wire.HTTPClient.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, want := range []string{"\nsequencer_head_seq 3\n", "# TYPE sequencer_head_seq gauge", `sequencer_rpc_errors_total{code="4003"} 1`, `sequencer_entries_total{kind="tx"} 3`} {
			if !strings.Contains(string(b), want) {
				t.Fatalf("metrics lack %q:\n%s", want, b)
			}
		}
	})
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      string
		status                    int
	}{
		{"unknown path", "POST", "/nope", "application/json", `{}`, http.StatusNotFound},
		{"PUT", "PUT", "/", "application/json", `{}`, http.StatusMethodNotAllowed},
		{"text/plain", "POST", "/", "text/plain", wire.Request("sequencer_info", nil), http.StatusUnsupportedMediaType},
		{"no content type", "POST", "/", "", wire.Request("sequencer_info", nil), http.StatusUnsupportedMediaType},
		{"body over the limit", "POST", "/", "application/json", `{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":"0x` + strings.Repeat("00", 3<<20) + `"}]}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := wire.HTTPClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if i, _ := wire.GetInfo(t, n.url); i.Head.Seq != 3 {
		t.Fatalf("head %d after refused requests", i.Head.Seq)
	}
}
