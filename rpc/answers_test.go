package rpc

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func answerReceipt(i int) *ReceiptJSON {
	r := &ReceiptJSON{
		Seq: uint64(1000 + i), Kind: "tx", Lineage: "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7",
		Nonce: uint64(i), ExternalID: fmt.Sprintf("job-%d", i), Timestamp: 1764950000000 + uint64(i),
		Signature: make([]byte, 65), Existing: i%3 == 0,
	}
	r.Hash[0], r.PrevHash[1], r.DataHash[31], r.Sender[19], r.Signature[64] = byte(i), 0xAB, 0xCD, 0xEF, 27
	if i%2 == 1 {
		r.Lineage, r.Nonce = "", 0 // a plain tx
	}
	return r
}

// answerBody is a batch answer as the node writes it (encodeAnswer).
func answerBody(results []any) []byte {
	b := []byte{'['}
	for i, res := range results {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if e, ok := res.(error); ok {
			res, err = nil, e
		}
		b = append(b, encodeAnswer(json.RawMessage(fmt.Sprint(i)), res, err)...)
	}
	return append(b, ']')
}

// The answers the node writes are read back to the same values, on the
// fast path for receipts and through encoding/json for errors.
func TestReadWriteAnswers(t *testing.T) {
	var results []any
	for i := range 20 {
		results = append(results, answerReceipt(i))
	}
	final := &Error{Code: CodeTicketFinal, Message: "ticket is final", Data: map[string]any{"state": "closed"}}
	body := answerBody(results)
	if _, ok := readAnswersFast(body); !ok {
		t.Fatal("a batch of receipts as the node writes them is not read in one pass")
	}
	withErr := answerBody(append(append([]any{}, results[:5]...), final, results[5]))
	for name, tc := range map[string]struct {
		body []byte
		want []any
	}{
		"receipts": {body, results},
		"an error": {withErr, append(append([]any{}, results[:5]...), final, results[5])},
	} {
		got, err := ReadWriteAnswers(tc.body)
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%s: %d answers, %v", name, len(got), err)
		}
		for i, a := range got {
			if a.ID != uint64(i) {
				t.Fatalf("%s: answer %d has id %d", name, i, a.ID)
			}
			switch w := tc.want[i].(type) {
			case *ReceiptJSON:
				if a.Error != nil || !reflect.DeepEqual(a.Receipt, w) {
					t.Fatalf("%s: answer %d: %+v %+v, want %+v", name, i, a.Receipt, a.Error, w)
				}
			case *Error:
				if a.Receipt != nil || a.Error == nil || a.Error.Code != w.Code || a.Error.Message != w.Message ||
					!reflect.DeepEqual(a.Error.Data, w.Data) {
					t.Fatalf("%s: answer %d: %+v %+v, want %+v", name, i, a.Receipt, a.Error, w)
				}
			}
		}
	}

	// One call's answer is an object, not an array.
	one := encodeAnswer(json.RawMessage("7"), answerReceipt(4), nil)
	got, err := ReadWriteAnswers(one)
	if err != nil || len(got) != 1 || got[0].ID != 7 || !reflect.DeepEqual(got[0].Receipt, answerReceipt(4)) {
		t.Fatalf("single answer: %+v %v", got, err)
	}

	// Shapes outside the fast path still read right, or fail with an error.
	slow := strings.Replace(string(one), `"seq":`, ` "Seq" : `, 1)
	if got, err := ReadWriteAnswers([]byte(slow)); err != nil || got[0].Receipt.Seq != 1004 {
		t.Fatalf("key in another case: %+v %v", got, err)
	}
	// A call (or batch) the node could not read is answered with a null id.
	noID := `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`
	if got, err := ReadWriteAnswers([]byte(noID)); err != nil || len(got) != 1 || !got[0].NoID || got[0].Error == nil || got[0].Error.Code != -32700 {
		t.Fatalf("null id: %+v %v", got, err)
	}
	for _, bad := range []string{``, `[]x`, `{"jsonrpc":"2.0","id":1}`, `{"jsonrpc":"1.0","id":1,"result":{}}`, `[{"jsonrpc":"2.0","id":"a","result":{}}]`, `{"jsonrpc":"2.0","id":1,"result":{"hash":"0x12"}}`} {
		if got, err := ReadWriteAnswers([]byte(bad)); err == nil {
			t.Fatalf("%q read as %+v", bad, got)
		}
	}
}

// FuzzWriteAnswers: whatever the one-pass reader accepts, encoding/json
// reads to the same answers.
func FuzzWriteAnswers(f *testing.F) {
	f.Add(answerBody([]any{answerReceipt(1), answerReceipt(2)}))
	f.Add([]byte(encodeAnswer(json.RawMessage("3"), answerReceipt(3), nil)))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"seq":1,"hash":"0x` + strings.Repeat("0", 64) + `"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := readAnswersFast(b)
		if !ok {
			return
		}
		slow, err := readAnswersSlow(b)
		if err != nil {
			t.Fatalf("%q: read in one pass, but encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: one pass %+v, encoding/json %+v", b, fast, slow)
		}
	})
}

// BenchmarkReadWriteAnswers: a batch of 100 receipts read in one pass and
// by encoding/json.
func BenchmarkReadWriteAnswers(b *testing.B) {
	var results []any
	for i := range 100 {
		results = append(results, answerReceipt(i))
	}
	body := answerBody(results)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, ok := readAnswersFast(body); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := readAnswersSlow(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
