package client_test

import (
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

// TestVerifyEntryAsReplica: a client checks an entry as a replica does
// (SPEC §2, §4): data only on a tx entry, and there hashing to dataHash.
func TestVerifyEntryAsReplica(t *testing.T) {
	key, _ := crypto.GenerateKey()
	primary := crypto.PubkeyToAddress(key.PublicKey)
	d := sequencer.Domain{ChainID: big.NewInt(1)}
	signed := func(kind sequencer.Kind, data []byte) *client.Entry {
		e := &sequencer.Entry{Seq: 1, Kind: kind, Lineage: "L", ExternalID: "a", Timestamp: 1}
		if kind == sequencer.KindTx {
			e.DataHash = crypto.Keccak256Hash(data)
		}
		e.Hash = sequencer.NewHasher(d).EntryHash(e)
		sig, err := sequencer.Sign(e.Hash, key)
		if err != nil {
			t.Fatal(err)
		}
		j := &client.Entry{Seq: e.Seq, Hash: e.Hash, Kind: kind.String(), Lineage: e.Lineage, ExternalID: e.ExternalID,
			DataHash: e.DataHash, Timestamp: e.Timestamp, Signature: sig[:], Sender: rpc.Address(e.Sender)}
		if data != nil {
			b := hexutil.Bytes(data)
			j.Data = &b
		}
		return j
	}
	if err := client.VerifyEntry(d, primary, signed(sequencer.KindTx, []byte("x"))); err != nil {
		t.Fatalf("a valid tx entry: %v", err)
	}
	if err := client.VerifyEntry(d, primary, signed(sequencer.KindClose, nil)); err != nil {
		t.Fatalf("a valid close entry: %v", err)
	}
	withData := signed(sequencer.KindClose, nil)
	b := hexutil.Bytes("smuggled")
	withData.Data = &b
	if err := client.VerifyEntry(d, primary, withData); err == nil || !strings.Contains(err.Error(), "carries data") {
		t.Fatalf("a close entry carrying data: %v", err)
	}
	otherData := signed(sequencer.KindTx, []byte("x"))
	b2 := hexutil.Bytes("y")
	otherData.Data = &b2
	if err := client.VerifyEntry(d, primary, otherData); err == nil {
		t.Fatal("a tx entry whose data does not hash to dataHash verified")
	}
}
