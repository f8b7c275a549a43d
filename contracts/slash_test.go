package contracts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/seqnode/sequencer/sequencer"
)

// entryJSONText is an entry as the API writes it (rpc.EntryJSON's fields).
func entryJSONText(e *sequencer.Entry) string {
	return fmt.Sprintf(`{"seq":%d,"hash":"%s","prevHash":"%s","kind":"%s","sender":"%s","lineage":%q,"nonce":%d,"externalId":%q,"dataHash":"%s","timestamp":%d,"signature":"%s"}`,
		e.Seq, e.Hash.Hex(), e.PrevHash.Hex(), e.Kind, e.Sender.Hex(), e.Lineage, e.Nonce, e.ExternalID, e.DataHash.Hex(), e.Timestamp, hexutil.Encode(e.Signature[:]))
}

func checkpointJSONText(c SequencerAccountabilityCheckpoint, sig []byte) string {
	return fmt.Sprintf(`{"origin":"sequencer/x","size":%d,"root":"%s","timestamp":%d,"signature":"%s","note":"x"}`,
		c.Size, hexutil.Encode(c.Root[:]), c.Timestamp, hexutil.Encode(sig))
}

// Each proof form, written as sequencer_equivocations writes it, is read
// by ParseProofs and slashes through Slash; a form no function takes says so.
func TestSlashProofForms(t *testing.T) {
	send := func(e *env, text string) (*types.Transaction, error) {
		ps, err := ParseProofs([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return Slash(e.opts(e.slasher), e.c, &ps[len(ps)-1])
	}

	e := newEnv(t)
	a := e.signEntry(entryAt(3, "x", 1), e.primary)
	b := e.signEntry(entryAt(3, "y", 2), e.primary)
	list := fmt.Sprintf(`[{"a":%s,"b":%s}]`, entryJSONText(a), entryJSONText(b))
	e.mustSend("entries", func() (*types.Transaction, error) { return send(e, list) })
	if !e.isSlashed() {
		t.Fatal("not slashed")
	}

	e = newEnv(t)
	ca, sa := e.signCheckpoint(9, [32]byte{1}, 1, e.primary)
	cb, sb := e.signCheckpoint(9, [32]byte{2}, 1, e.primary)
	two := fmt.Sprintf(`{"checkpointA":%s,"checkpointB":%s}`, checkpointJSONText(ca, sa), checkpointJSONText(cb, sb))
	e.mustSend("checkpoints", func() (*types.Transaction, error) { return send(e, two) })

	e = newEnv(t)
	f := newFraud(t, e, 20, 11)
	p, err := f.lying.InclusionProof(11, 20)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, h := range p {
		path = append(path, `"`+hexutil.Encode(h)+`"`)
	}
	c, sc := e.signCheckpoint(20, f.lie, 1, e.primary)
	incl := fmt.Sprintf(`{"checkpoint":%s,"root":"%s","entry":%s,"leafEntryHash":"%s","proof":[%s]}`,
		checkpointJSONText(c, sc), hexutil.Encode(f.honestRoot[:]), entryJSONText(f.entries[11]), hexutil.Encode(f.leafEntryHash[:]), strings.Join(path, ","))
	e.mustSend("inclusion", func() (*types.Transaction, error) { return send(e, incl) })

	for _, bad := range []struct{ text, want string }{
		{fmt.Sprintf(`{"checkpoint":%s,"root":"%s"}`, checkpointJSONText(c, sc), hexutil.Encode(f.honestRoot[:])), "no contract function takes it"},
		{`{}`, "not a proof"},
		{`{"a":{"seq":1}}`, "not a proof"},
	} {
		ps, err := ParseProofs([]byte(bad.text))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Slash(e.opts(e.slasher), e.c, &ps[0]); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.text, err, bad.want)
		}
	}
	if _, err := ParseProofs([]byte(`{"a": 5}`)); err == nil {
		t.Error("a malformed proof parsed")
	}
}
