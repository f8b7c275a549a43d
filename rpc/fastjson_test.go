package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fastCallSeeds are write calls in the shapes clients send, and near misses
// the fast reader must leave to the general path (escapes, non-ASCII,
// duplicate or differently cased keys, floats, leading zeros, params before
// the method, trailing data).
var fastCallSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":"0x01ff","lineage":"eip155:1:0xab","externalId":"job-1"}]}`,
	`{"jsonrpc":"2.0","id":"a-1","method":"sequencer_append","params":[{"data":"0x","externalId":"p"}]}`,
	` { "jsonrpc" : "2.0" , "id" : 0 , "method" : "sequencer_append" , "params" : [ { "data" : "0x00" } ] } `,
	`{"jsonrpc":"2.0","id":7,"method":"sequencer_close","params":[{"lineage":"l","externalId":"x","from":"0x52908400098527886E0F7030069857D2E4169EE7","deadline":99,"signature":"0x0102"}]}`,
	`{"jsonrpc":"2.0","id":8,"method":"sequencer_release","params":[{"lineage":"l","externalId":"x","reason":"rejected"}]}`,
	`{"jsonrpc":"2.0","id":9,"method":"sequencer_syncLineage","params":[{"lineage":"l","chainNonce":"0x10","deadline":"12"}]}`,
	`{"jsonrpc":"2.0","id":9,"method":"sequencer_syncLineage","params":[{"lineage":"l","chainNonce":18446744073709551615}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":null,"lineage":null,"from":null}]}`,
	`{"jsonrpc":"2.0","id":9,"method":"sequencer_syncLineage","params":[{"lineage":"l","chainNonce":18446744073709551616}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"externalId":"a\"b"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"externalId":"é"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"externalId":"a","externalId":"b"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"ExternalID":"a"}]}`,
	`{"jsonrpc":"2.0","id":1.5,"method":"sequencer_append","params":[{}]}`,
	`{"jsonrpc":"2.0","id":01,"method":"sequencer_append","params":[{}]}`,
	`{"jsonrpc":"2.0","id":-1,"method":"sequencer_append","params":[{}]}`,
	`{"jsonrpc":"2.0","id":1,"params":[{}],"method":"sequencer_append"}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{}]}x`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{},{}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_read","params":[{}]}`,
	`{"jsonrpc":"1.0","id":1,"method":"sequencer_append","params":[{}]}`,
	`{"jsonrpc":"2.0","method":"sequencer_append","params":[{}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"data":"0x1"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"deadline":-1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"deadline":1e3}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"from":"0x12"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sequencer_append","params":[{"bogus":1}]}`,
}

// slowDecodeCall decodes one call the general way: encoding/json for the
// envelope and the params' own strict decoders.
func slowDecodeCall(b []byte) (*writeCall, error) {
	var env callEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	c, ok := decodeCall(&env)
	if !ok {
		return nil, errors.New("not a write call with one params object that decodes")
	}
	return c, nil
}

// checkFastCall: whatever the fast reader accepts, the general path decodes
// to the same call.
func checkFastCall(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := readSingleWrite(b)
	if !ok {
		return false
	}
	slow, err := slowDecodeCall(b)
	if err != nil {
		t.Fatalf("fast reader accepted %q, the general path refuses it: %v", b, err)
	}
	if !bytes.Equal(fast.id, slow.id) || !reflect.DeepEqual(fast, &writeCall{id: fast.id, method: slow.method,
		append: slow.append, ticket: slow.ticket, rel: slow.rel, sync: slow.sync}) {
		t.Fatalf("%q: fast reader %+v, general path %+v", b, *fast, *slow)
	}
	return true
}

func TestFastCallMatchesGeneralPath(t *testing.T) {
	accepted := 0
	for _, s := range fastCallSeeds {
		if checkFastCall(t, []byte(s)) {
			accepted++
		}
	}
	// The shapes clients send are taken; the near misses are not.
	if accepted != 8 {
		t.Fatalf("fast reader took %d of the seeds, want the first 8", accepted)
	}
	batch := "[" + strings.Join(fastCallSeeds[:8], ",") + "]"
	calls, ok := readWriteBatch([]byte(batch), 1000)
	if !ok || len(calls) != 8 {
		t.Fatalf("batch of 8 write calls: %d, %v", len(calls), ok)
	}
	if _, ok := readWriteBatch([]byte(batch), 7); ok {
		t.Fatal("batch over the limit taken")
	}
	read := `{"jsonrpc":"2.0","id":2,"method":"sequencer_read","params":[{}]}`
	if _, ok := readWriteBatch([]byte("["+fastCallSeeds[0]+","+read+"]"), 1000); ok {
		t.Fatal("batch with a read call taken")
	}
}

// FuzzFastCall: on any bytes, the fast reader either gives up or agrees
// with encoding/json and the strict params decoders; a batch it accepts is
// valid JSON of the calls it read.
func FuzzFastCall(f *testing.F) {
	for _, s := range fastCallSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("[" + fastCallSeeds[0] + "," + fastCallSeeds[3] + "]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastCall(t, b)
		calls, ok := readWriteBatch(b, 100)
		if !ok {
			return
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(b, &elems); err != nil || len(elems) != len(calls) {
			t.Fatalf("fast reader took batch %q of %d calls; encoding/json: %d, %v", b, len(calls), len(elems), err)
		}
		for i, el := range elems {
			if !checkFastCall(t, el) {
				t.Fatalf("batch element %d %q taken in the batch but not alone", i, el)
			}
		}
	})
}

// BenchmarkBatchDecode: a batch of 100 appends of 256 bytes read by the
// general path (encoding/json four times over) and by the fast reader.
func BenchmarkBatchDecode(b *testing.B) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"jsonrpc":"2.0","id":%d,"method":"sequencer_append","params":[{"data":"0x%s","lineage":"eip155:1:0x52908400098527886E0F7030069857D2E4169EE7","externalId":"bench-1234-%d"}]}`,
			i, strings.Repeat("ab", 256), i)
	}
	sb.WriteByte(']')
	body := []byte(sb.String())
	b.Run("general", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var elems []json.RawMessage
			if err := json.Unmarshal(body, &elems); err != nil {
				b.Fatal(err)
			}
			for _, el := range elems {
				if _, err := slowDecodeCall(el); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if calls, ok := readWriteBatch(body, 1000); !ok || len(calls) != 100 {
				b.Fatal("not read")
			}
		}
	})
}
