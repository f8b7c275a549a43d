package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// rogueMessage is a gossip message no honest node sends, with the
// validator's due verdict on it.
type rogueMessage struct {
	name    string
	data    []byte
	verdict pubsub.ValidationResult
}

// rogueMessages are built against a replica that holds held, the start of
// the log of lg.Key; several carry valid signatures by that key.
func rogueMessages(t testing.TB, lg testnode.Log, held []*sequencer.Entry) []rogueMessage {
	t.Helper()
	head := headOf(held[len(held)-1])
	enc := func(es ...*sequencer.Entry) []byte {
		b, err := encodeBatch(es)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	h := sequencer.NewHasher(lg.Domain)
	next := chain(t, lg.Key, lg.Domain, head, 3, "rogue")

	other, _ := crypto.GenerateKey()
	badSig := chain(t, other, lg.Domain, head, 2, "rogue") // signed by another key

	tampered := cloneEntry(next[0]) // signed, then a field changed
	tampered.Timestamp++
	tamperedData := cloneEntry(next[0]) // signed, then data swapped
	tamperedData.Data = []byte("not what was signed")

	otherDomain := chain(t, lg.Key, sequencer.Domain{ChainID: big.NewInt(5), VerifyingContract: lg.Domain.VerifyingContract}, head, 2, "rogue")

	huge := make([]byte, sequencer.DefaultMaxDataBytes+1) // over --max-data-bytes, signed
	hugeEntry := &sequencer.Entry{Seq: head.Seq + 1, PrevHash: head.Hash, Timestamp: head.Timestamp,
		Data: huge, DataHash: crypto.Keccak256Hash(huge)}
	sign(t, h, lg.Key, hugeEntry)

	closeWithData := &sequencer.Entry{Seq: head.Seq + 1, PrevHash: head.Hash, Kind: sequencer.KindClose,
		Lineage: "l", ExternalID: "x", Timestamp: head.Timestamp, Data: []byte{1}}
	sign(t, h, lg.Key, closeWithData)

	// Valid signatures, but entry 2 does not chain onto entry 1.
	broken := chain(t, lg.Key, lg.Domain, head, 1, "rogue")
	forged := &sequencer.Entry{Seq: head.Seq + 2, PrevHash: common.Hash{0xba, 0xd}, Kind: sequencer.KindTx,
		Timestamp: head.Timestamp, DataHash: crypto.Keccak256Hash(nil)}
	sign(t, h, lg.Key, forged)
	broken = append(broken, forged)

	seq0 := &sequencer.Entry{Seq: 0, Timestamp: head.Timestamp, DataHash: crypto.Keccak256Hash(nil)}
	sign(t, h, lg.Key, seq0)

	garbage := make([]byte, 300)
	for i := range garbage {
		garbage[i] = byte(rand.IntN(256))
	}
	// Consecutive seqs, but more than a message may hold.
	tooManyMsg := []byte{msgEntries}
	for i := range maxBatchEntries + 1 {
		e := cloneEntry(next[0])
		e.Seq += uint64(i)
		rec, _ := e.MarshalBinary()
		tooManyMsg = binary.AppendUvarint(tooManyMsg, uint64(len(rec)))
		tooManyMsg = append(tooManyMsg, rec...)
	}

	return []rogueMessage{
		{"garbage", garbage, pubsub.ValidationReject},
		{"empty", nil, pubsub.ValidationReject},
		{"type byte only", []byte{msgEntries}, pubsub.ValidationReject},
		{"unknown type", append([]byte{7}, enc(next[0])[1:]...), pubsub.ValidationReject},
		{"truncated", enc(next...)[:100], pubsub.ValidationReject},
		{"signed by another key", enc(badSig...), pubsub.ValidationReject},
		{"field changed after signing", enc(tampered), pubsub.ValidationReject},
		{"data changed after signing", enc(tamperedData), pubsub.ValidationReject},
		{"out of order", enc(next[1], next[0]), pubsub.ValidationReject},
		{"gap inside batch", enc(next[0], next[2]), pubsub.ValidationReject},
		{"other domain", enc(otherDomain...), pubsub.ValidationReject},
		{"data over max-data-bytes", enc(hugeEntry), pubsub.ValidationReject},
		{"close carrying data", enc(closeWithData), pubsub.ValidationReject},
		{"seq 0", enc(seq0), pubsub.ValidationReject},
		{"more than maxBatchEntries", tooManyMsg, pubsub.ValidationReject},
		{"broken prevHash chain, valid signatures", enc(broken...), pubsub.ValidationReject},
		{"replay of held entries", enc(held[len(held)-3:]...), pubsub.ValidationIgnore},
	}
}

// SPEC §6: the validator rejects every invalid message (so pubsub
// penalizes the sender), ignores replays, and passes on only batches of
// entries signed by the primary — including an equivocating one, which
// the follower must see.
func TestValidatorVerdicts(t *testing.T) {
	lg := testnode.NewLog(t)
	r := startReplica(t, lg, replicaOpts{noFollower: true})
	held := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 5, "held")
	if _, err := r.mirror.Apply(held); err != nil {
		t.Fatal(err)
	}
	from := peer.ID("rogue")
	validate := func(data []byte) (pubsub.ValidationResult, *pubsub.Message) {
		msg := &pubsub.Message{Message: &pb.Message{Data: data}, ReceivedFrom: from}
		return r.node.validate(context.Background(), from, msg), msg
	}
	rejects := 0
	for _, m := range rogueMessages(t, lg, held) {
		before := counter(t, r.node.m.rejected)
		got, msg := validate(m.data)
		if got != m.verdict {
			t.Errorf("%s: verdict %s, want %s", m.name, verdict(got), verdict(m.verdict))
		}
		if got != pubsub.ValidationAccept && msg.ValidatorData != nil {
			t.Errorf("%s: not accepted, yet entries handed on", m.name)
		}
		if m.verdict == pubsub.ValidationReject {
			rejects++
			if d := counter(t, r.node.m.rejected) - before; d != 1 {
				t.Errorf("%s: rejected counter rose by %v, want 1", m.name, d)
			}
		}
	}
	if rejects < 15 {
		t.Fatalf("only %d rejecting cases", rejects)
	}

	// The next entries of the log: accepted, decoded for the follower.
	next := chain(t, lg.Key, lg.Domain, headOf(held[4]), 3, "next")
	b, _ := encodeBatch(next)
	got, msg := validate(b)
	if got != pubsub.ValidationAccept {
		t.Fatalf("valid next batch: %s", verdict(got))
	}
	if es, ok := msg.ValidatorData.([]*sequencer.Entry); !ok || len(es) != 3 || es[0].Hash != next[0].Hash {
		t.Fatalf("valid next batch: validator data %#v", msg.ValidatorData)
	}
	if r.node.PrimaryHead() != next[2].Seq {
		t.Errorf("primary head %d after a valid batch up to %d", r.node.PrimaryHead(), next[2].Seq)
	}
	// A straddling batch (old and new entries) is accepted.
	b, _ = encodeBatch(append(held[3:], next[0]))
	if got, _ := validate(b); got != pubsub.ValidationAccept {
		t.Errorf("batch straddling the head: %s", verdict(got))
	}
	// A validly signed, different entry at a seq we hold is an
	// equivocation: accepted so that the follower stores the proof.
	fork := chain(t, lg.Key, lg.Domain, headOf(held[1]), 1, "fork")
	b, _ = encodeBatch(fork)
	if got, _ := validate(b); got != pubsub.ValidationAccept {
		t.Errorf("equivocating entry at a held seq: %s, want accept", verdict(got))
	}
	// Nothing reached storage.
	if h := r.store.Head(); h.Seq != 5 || h.Hash != held[4].Hash {
		t.Fatalf("head moved to %d", h.Seq)
	}
}

func verdict(v pubsub.ValidationResult) string {
	switch v {
	case pubsub.ValidationAccept:
		return "accept"
	case pubsub.ValidationReject:
		return "reject"
	case pubsub.ValidationIgnore:
		return "ignore"
	}
	return fmt.Sprintf("verdict(%d)", v)
}

// rogue is a peer that speaks GossipSub on the log's topic with the same
// message-id function and signature policy as a node, and publishes
// whatever it likes.
type rogue struct {
	host  host.Host
	ps    *pubsub.PubSub
	topic *pubsub.Topic
}

func newRogue(t testing.TB, topic string, opts ...pubsub.Option) *rogue {
	t.Helper()
	h, err := newHost(t.TempDir(), "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h, append([]pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			s := sha256.Sum256(m.Data)
			return string(s[:])
		}),
		pubsub.WithMaxMessageSize(8 << 20),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ps.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Cancel()
		tp.Close()
		cancel()
		h.Close()
	})
	return &rogue{host: h, ps: ps, topic: tp}
}

// SPEC §5, §6: a rogue peer on the topic publishes every kind of invalid
// message. No node panics, the replica's log is untouched and still
// verifies, the validator counts the rejections, the rogue's score on the
// replica goes negative, and the replica goes on following the primary.
func TestRoguePeer(t *testing.T) {
	lg := testnode.NewLog(t)
	p := startPrimary(t, lg, primaryOpts{})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	testnode.WritePlain(t, p.Seq, "honest", 30)
	testnode.WaitHead(t, r.store, 30, "replica")
	held, err := r.store.Range(1, 30)
	if err != nil {
		t.Fatal(err)
	}

	rg := newRogue(t, TopicName(lg.Addr, lg.Domain))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := rg.host.Connect(ctx, addrInfo(t, r.node)[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "the rogue to see the replica on the topic", func() bool {
		return slices.Contains(rg.topic.ListPeers(), r.node.ID())
	})
	waitFor(t, waitLong, "the replica to see the rogue on the topic", func() bool {
		return slices.Contains(r.node.ps.ListPeers(r.node.topic.String()), rg.host.ID())
	})

	rejectedBefore := counter(t, r.node.m.rejected)
	// The message that carries valid signatures goes first: it is the one
	// that could slip past a validator that checks signatures only. After
	// two rejections the replica graylists the rogue and drops the rest
	// unread (TestValidatorVerdicts checks each message on its own).
	msgs := rogueMessages(t, lg, held)
	slices.SortStableFunc(msgs, func(a, b rogueMessage) int {
		return boolInt(b.name == "broken prevHash chain, valid signatures") - boolInt(a.name == "broken prevHash chain, valid signatures")
	})
	oversized := make([]byte, 3<<20) // over the node's message limit
	msgs = append(msgs, rogueMessage{name: "oversized", data: oversized})
	for _, m := range msgs {
		if err := rg.topic.Publish(ctx, m.data); err != nil {
			t.Fatalf("rogue publish %s: %v", m.name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, waitLong, "the rogue's score on the replica to go negative", func() bool {
		return r.node.Score(rg.host.ID()) < 0
	})
	if d := counter(t, r.node.m.rejected) - rejectedBefore; d < 2 {
		t.Errorf("sequencer_gossip_rejected_total rose by %v, want at least 2", d)
	}
	t.Logf("rogue score %.1f, rejected %v", r.node.Score(rg.host.ID()), counter(t, r.node.m.rejected)-rejectedBefore)
	if s := r.node.Score(p.Node.ID()); s < 0 {
		t.Errorf("the honest primary's score went to %v", s)
	}

	// The replica's log is untouched, and it still follows the primary.
	if h := r.store.Head(); h.Seq != 30 || h.Hash != held[29].Hash {
		t.Fatalf("replica head %d %s after the attack, want 30 %s", h.Seq, h.Hash, held[29].Hash)
	}
	if eqs, _ := r.store.Equivocations(); len(eqs) != 0 || r.mirror.Halted() != nil {
		t.Fatalf("replica stopped (%v) with %d proofs after garbage", r.mirror.Halted(), len(eqs))
	}
	if _, err := sequencer.Verify(r.store); err != nil {
		t.Fatal(err)
	}
	testnode.WritePlain(t, p.Seq, "after", 10)
	testnode.WaitHead(t, r.store, 40, "replica after the attack")
	testnode.AssertSameLog(t, p.Store, r.store)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
