package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// HTTPClient bounds every call, so a hung node fails the test instead of
// hanging it.
var HTTPClient = &http.Client{Timeout: 20 * time.Second}

// Post sends body as is and returns the HTTP status and the raw answer.
func Post(t testing.TB, url, body string) (int, []byte) {
	t.Helper()
	resp, err := HTTPClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp.StatusCode, b
}

// RawCall posts one request and decodes the single response.
func RawCall(t testing.TB, url, body string) Response {
	t.Helper()
	status, b := Post(t, url, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, b)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer is not one JSON-RPC response: %v: %s", err, b)
	}
	if r.JSONRPC != "2.0" {
		t.Fatalf("answer without jsonrpc 2.0: %s", b)
	}
	return r
}

// Request builds the exact bytes of a call with one params object (or
// none when params is nil).
func Request(method string, params any) string {
	if params == nil {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q}`, method)
	}
	p, err := json.Marshal(params)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":[%s]}`, method, p)
}

// TryCall posts one request and decodes the single response; unlike
// RawCall it may run on any goroutine.
func TryCall(url, body string) (Response, error) {
	resp, err := HTTPClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return Response{}, fmt.Errorf("HTTP %d, not one JSON-RPC response: %s", resp.StatusCode, b)
	}
	if r.Error == nil && r.Result == nil {
		return Response{}, fmt.Errorf("neither result nor error: %s", b)
	}
	return r, nil
}

// Call makes one call with one params object; it returns the raw result,
// or the error.
func Call(t testing.TB, url, method string, params any) (json.RawMessage, *Error) {
	t.Helper()
	r := RawCall(t, url, Request(method, params))
	if r.Error != nil {
		return nil, r.Error
	}
	if r.Result == nil {
		t.Fatalf("%s: neither result nor error", method)
	}
	return r.Result, nil
}

// MustCall makes a call that must succeed and decodes its result into out
// (if non-nil); it returns the raw result.
func MustCall(t testing.TB, url, method string, params any, out any) json.RawMessage {
	t.Helper()
	res, e := Call(t, url, method, params)
	if e != nil {
		t.Fatalf("%s %v: %v", method, params, e)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("%s: decode %s: %v", method, res, err)
		}
	}
	return res
}

// WantError makes a call that must fail with code and, if data is not
// empty, exactly that data (compared as JSON values).
func WantError(t testing.TB, url, method string, params any, code int, data string) *Error {
	t.Helper()
	_, e := Call(t, url, method, params)
	if e == nil {
		t.Fatalf("%s %v: succeeded, want error %d", method, params, code)
	}
	CheckError(t, e, code, data)
	return e
}

// CheckError asserts e's code and, if data is not empty, its data; a code
// whose SPEC §4 row gives no data must come without.
func CheckError(t testing.TB, e *Error, code int, data string) {
	t.Helper()
	if e.Code != code {
		t.Fatalf("error %v, want code %d", e, code)
	}
	if data != "" && !JSONEqual(e.Data, []byte(data)) {
		t.Fatalf("error %d data %s, want %s", code, e.Data, data)
	}
	if data == "" && codeHasNoData[code] && len(e.Data) != 0 && string(e.Data) != "null" {
		t.Fatalf("error %d has data %s; SPEC §4 gives none", code, e.Data)
	}
}

// codeHasNoData: the SPEC §4 codes whose table row gives no data.
var codeHasNoData = map[int]bool{4001: true, 4003: true, 4007: true, 4008: true, 4009: true}

// JSONEqual compares two JSON texts as values (numbers exactly).
func JSONEqual(a, b []byte) bool {
	var x, y any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// Code returns the JSON-RPC code of an error from go-ethereum's client, or
// 0 if err is not a JSON-RPC error (a transport failure).
func Code(err error) int {
	var e gethrpc.Error
	if errors.As(err, &e) {
		return e.ErrorCode()
	}
	return 0
}

// Calls used everywhere.

// AppendTx appends data; lineage and externalID may be empty.
func AppendTx(t testing.TB, url string, data []byte, lineage, externalID string) Entry {
	t.Helper()
	p := map[string]any{"data": hexutil.Encode(data)}
	if lineage != "" {
		p["lineage"] = lineage
	}
	if externalID != "" {
		p["externalId"] = externalID
	}
	var r Entry
	MustCall(t, url, "sequencer_append", p, &r)
	return r
}

func ticketCall(t testing.TB, url, method, lineage, externalID string, extra map[string]any) Entry {
	t.Helper()
	p := map[string]any{"lineage": lineage, "externalId": externalID}
	for k, v := range extra {
		p[k] = v
	}
	var r Entry
	MustCall(t, url, method, p, &r)
	return r
}

func CloseTicket(t testing.TB, url, lineage, externalID string) Entry {
	t.Helper()
	return ticketCall(t, url, "sequencer_close", lineage, externalID, nil)
}

func ReleaseTicket(t testing.TB, url, lineage, externalID, reason string) Entry {
	t.Helper()
	return ticketCall(t, url, "sequencer_release", lineage, externalID, map[string]any{"reason": reason})
}

// Attempt records txHash for a ticket (sequencer_attempt).
func Attempt(t testing.TB, url, lineage, externalID string, txHash common.Hash) Entry {
	t.Helper()
	return ticketCall(t, url, "sequencer_attempt", lineage, externalID, map[string]any{"txHash": txHash})
}

func SyncLineage(t testing.TB, url, lineage string, chainNonce uint64) Entry {
	t.Helper()
	var r Entry
	MustCall(t, url, "sequencer_syncLineage", map[string]any{"lineage": lineage, "chainNonce": chainNonce}, &r)
	return r
}

func GetTicket(t testing.TB, url, lineage, externalID string) (Ticket, json.RawMessage) {
	t.Helper()
	var tk Ticket
	raw := MustCall(t, url, "sequencer_ticket", map[string]any{"lineage": lineage, "externalId": externalID}, &tk)
	return tk, raw
}

func GetLineage(t testing.TB, url, lineage string) (Lineage, json.RawMessage) {
	t.Helper()
	var l Lineage
	raw := MustCall(t, url, "sequencer_lineage", map[string]any{"lineage": lineage}, &l)
	return l, raw
}

func ReadLog(t testing.TB, url string, params map[string]any) (Read, json.RawMessage) {
	t.Helper()
	var r Read
	raw := MustCall(t, url, "sequencer_read", params, &r)
	return r, raw
}

func GetInfo(t testing.TB, url string) (Info, json.RawMessage) {
	t.Helper()
	var i Info
	raw := MustCall(t, url, "sequencer_info", nil, &i)
	return i, raw
}

// ReadAll reads the whole log through the API, 1000 at a time.
func ReadAll(t testing.TB, url string) []Entry {
	t.Helper()
	var out []Entry
	for from := uint64(1); ; {
		r, _ := ReadLog(t, url, map[string]any{"from": from, "limit": 1000})
		out = append(out, r.Entries...)
		if len(r.Entries) == 0 || out[len(out)-1].Seq >= r.Head {
			return out
		}
		from = out[len(out)-1].Seq + 1
	}
}

// CheckReadable asserts that every receipt is in the log, unchanged.
func CheckReadable(t testing.TB, url string, receipts []Entry) {
	t.Helper()
	log := ReadAll(t, url)
	for _, r := range receipts {
		if r.Seq < 1 || r.Seq > uint64(len(log)) {
			t.Fatalf("receipt of seq %d, log has %d entries", r.Seq, len(log))
		}
		e := log[r.Seq-1]
		if e.Seq != r.Seq || e.Hash != r.Hash || e.PrevHash != r.PrevHash || e.Kind != r.Kind ||
			e.Sender != r.Sender || e.Lineage != r.Lineage || e.Nonce != r.Nonce ||
			e.ExternalID != r.ExternalID || e.DataHash != r.DataHash || e.Timestamp != r.Timestamp ||
			!bytes.Equal(e.Signature, r.Signature) {
			t.Fatalf("seq %d: receipt %+v, log %+v", r.Seq, r, e)
		}
	}
}

// WaitFor polls cond until it holds or d passes. Every 20 ms: a condition
// may read a store or call a node, and the machine is shared.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
