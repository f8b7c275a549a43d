package rpc

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

// Every params decoder and the name checks take any bytes without
// panicking, and what decodes re-encodes to JSON.
func FuzzParams(f *testing.F) {
	for _, s := range []string{
		`{"data":"0x01","lineage":"eip155:1:0xab","externalId":"job-1"}`,
		`{"lineage":"l","externalId":"x","reason":"rejected","from":"0x0000000000000000000000000000000000000001","deadline":1,"signature":"0x00"}`,
		`{"lineage":"l","chainNonce":"0xffffffffffffffff"}`,
		`{"from":1,"limit":1000,"lineage":"l"}`,
		`{"from":"18446744073709551615"}`, `{}`, `[]`, `null`, `{"data":"0x","bogus":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decoders := []json.Unmarshaler{new(AppendParams), new(TicketParams), new(ReleaseParams),
			new(SyncParams), new(ReadParams), new(LineageParams), new(SubscribeParams), new(EmptyParams)}
		for _, d := range decoders {
			if d.UnmarshalJSON(b) == nil {
				if _, err := json.Marshal(d); err != nil {
					t.Fatalf("%T decoded but does not encode: %v", d, err)
				}
			}
		}
		// SPEC §4 limits, read independently as regular expressions.
		s := string(b)
		if got, want := validLineage(s), fuzzLineage.MatchString(s); got != want {
			t.Fatalf("validLineage(%q) = %v, SPEC §4 says %v", s, got, want)
		}
		if got, want := validExternalID(s), fuzzExternalID.MatchString(s); got != want {
			t.Fatalf("validExternalID(%q) = %v, SPEC §4 says %v", s, got, want)
		}
		checkTicketName(s, s)
	})
}

var (
	fuzzLineage    = regexp.MustCompile(`^[A-Za-z0-9:._/-]{1,128}$`)
	fuzzExternalID = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
)

// The request signature check takes any signature bytes without panicking
// and never accepts one that does not recover to the claimed sender.
func FuzzRequestSignature(f *testing.F) {
	f.Add([]byte{}, uint64(0))
	f.Add(make([]byte, 65), uint64(1))
	f.Fuzz(func(t *testing.T, sig []byte, nonce uint64) {
		h := sequencer.NewHasher(chain1)
		req := &sequencer.Request{Kind: sequencer.KindSync, Lineage: "l", Nonce: nonce}
		addr, err := sequencer.Recover(h.RequestHash(req), sig)
		if err == nil && addr == (common.Address{}) {
			t.Fatal("a signature recovered to the zero address")
		}
	})
}
