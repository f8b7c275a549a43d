package rpc

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// TestReceiptJSON: the hand-written receipt encoder writes exactly what
// encoding/json writes for the same struct, strings that need escapes
// (quotes, HTML characters, control characters, non-ASCII, invalid UTF-8,
// U+2028) included.
func TestReceiptJSON(t *testing.T) {
	type reflected ReceiptJSON // no MarshalJSON: encoding/json's own
	strs := []string{"", "eip155:1:0xab", "job-1", `a"b`, `a\b`, "<script>&", "a&b", "x>y", "tab\there", "é", "\xff\xfe", "line\u2028sep", "\x00", "~"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		var rc ReceiptJSON
		rc.Seq, rc.Nonce, rc.Timestamp = r.Uint64(), r.Uint64N(1000), r.Uint64()
		for _, h := range []*common.Hash{&rc.Hash, &rc.PrevHash, &rc.DataHash} {
			for j := range h {
				h[j] = byte(r.Uint32())
			}
		}
		rc.Sender[r.IntN(20)] = byte(r.Uint32())
		rc.Kind = []string{"tx", "close", "release", "fail", "sync"}[r.IntN(5)]
		rc.Lineage, rc.ExternalID = strs[r.IntN(len(strs))], strs[r.IntN(len(strs))]
		if i%7 != 0 {
			rc.Signature = make([]byte, 65)
			for j := range rc.Signature {
				rc.Signature[j] = byte(r.Uint32())
			}
		}
		rc.Existing = r.IntN(2) == 0
		want, err := json.Marshal((*reflected)(&rc))
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(&rc)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("receipt %d:\n got  %s\n want %s", i, got, want)
		}
		if string(rc.appendJSON(nil)) != string(want) {
			t.Fatalf("receipt %d: appendJSON differs", i)
		}
	}
}

func BenchmarkReceiptJSON(b *testing.B) {
	type reflected ReceiptJSON
	rc := &ReceiptJSON{Seq: 123456, Kind: "tx", Lineage: "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7",
		Nonce: 77, ExternalID: "bench-1234-5678", Timestamp: 1_800_000_000_000, Signature: make([]byte, 65)}
	b.Run("reflection", func(b *testing.B) {
		for b.Loop() {
			json.Marshal((*reflected)(rc))
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = rc.appendJSON(buf[:0])
		}
	})
}
