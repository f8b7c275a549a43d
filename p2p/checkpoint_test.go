package p2p

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
	"github.com/seqnode/sequencer/sequencer/oracle"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// treeRoot is the RFC 6962 root over entry hashes, computed with
// transparency-dev/merkle: an oracle independent of our logtree.
func treeRoot(t testing.TB, es []*sequencer.Entry) [32]byte {
	t.Helper()
	h := rfc6962.DefaultHasher
	r := (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	for _, e := range es {
		if err := r.Append(h.HashLeaf(e.Hash[:]), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(root)
}

// checkCheckpointSigned checks a checkpoint as an outsider does: the
// EIP-712 hash by go-ethereum's apitypes, ecrecover to the primary, and
// the note opened by sumdb/note with the primary's checkpoint key.
func checkCheckpointSigned(t testing.TB, lg testnode.Log, vkey string, cp *sequencer.Checkpoint) {
	t.Helper()
	hash, err := oracle.CheckpointHash(lg.Domain.ChainID, lg.Domain.VerifyingContract, cp.Size, cp.Root, cp.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := oracle.Recover(hash, cp.Signature[:]); err != nil || a != lg.Addr {
		t.Fatalf("checkpoint %d signed by %s (%v), not the primary %s", cp.Size, a, err, lg.Addr)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp.Note, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note of checkpoint %d: %v", cp.Size, err)
	}
	if want := fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:])); n.Text != want {
		t.Fatalf("note text %q, want %q", n.Text, want)
	}
}

// SPEC §10: the primary gossips checkpoints of its head, at most one a
// second while the log grows; a replica checks each against its own tree
// and keeps, durably, the latest one the primary signed for a size it
// holds, byte for byte as signed.
func TestReplicaKeepsPrimaryCheckpoint(t *testing.T) {
	lg := testnode.NewLog(t)
	signer, err := sequencer.NewCheckpointSigner(lg.Key, lg.Domain)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrimary(t, lg, primaryOpts{})
	p.Node.SignCheckpoints(signer)
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	waitTopicPeers(t, p.Node, r.node)
	start := time.Now()
	for i := range 3 {
		testnode.WritePlain(t, p.Seq, fmt.Sprint("cp", i), 20)
		time.Sleep(300 * time.Millisecond)
	}
	testnode.WaitHead(t, r.store, 60, "replica")
	waitFor(t, waitLong, "the replica to hold the primary's checkpoint of the head", func() bool {
		cp := r.mirror.PrimaryCheckpoint()
		return cp != nil && cp.Size == 60
	})
	elapsed := time.Since(start)
	// Rate: at most one a checkpointEvery (the first at once).
	if n, most := counter(t, p.Node.m.checkpoints), 1+elapsed.Seconds()/checkpointEvery.Seconds(); n < 1 || n > most {
		t.Errorf("%v checkpoints published in %v, want 1..%.1f", n, elapsed, most)
	}
	cp, err := r.store.PrimaryCheckpoint()
	if err != nil || cp == nil {
		t.Fatalf("stored checkpoint %v, %v", cp, err)
	}
	checkCheckpointSigned(t, lg, signer.VerifierKey(), cp)
	all, err := r.store.Range(1, 60)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := r.store.Root(60)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Root != ours || cp.Root != treeRoot(t, all) {
		t.Fatalf("checkpoint root %x, our tree's %x", cp.Root, ours)
	}
	want, err := signer.Sign(60, ours, all[59].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Equal(want) {
		t.Fatalf("stored checkpoint differs from the primary's:\n%+v\n%+v", cp, want)
	}
	if r.mirror.Halted() != nil {
		t.Fatalf("halted: %v", r.mirror.Halted())
	}
	// A restarted replica serves it from its store.
	r.stopFollower(t)
	m, err := r.reopenMirror()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.PrimaryCheckpoint(); got == nil || !got.Equal(cp) {
		t.Fatalf("after a restart: %+v", got)
	}
}

// joinedRogue joins a rogue that holds the log key to replica r's
// topic.
func joinedRogue(t *testing.T, lg testnode.Log, r *testReplica) (*rogue, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	t.Cleanup(cancel)
	rg := newFlooder(t, lg)
	joinRogue(t, ctx, rg, r.node)
	return rg, ctx
}

func publishCheckpoint(t *testing.T, ctx context.Context, rg *rogue, cp *sequencer.Checkpoint) {
	t.Helper()
	b, err := encodeCheckpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	if err := rg.topic.Publish(ctx, b); err != nil {
		t.Fatal(err)
	}
}

// waitCheckpointProof waits for the replica to store a checkpoint proof,
// halt and stop following (SPEC §6, §10: as on an entry equivocation).
func waitCheckpointProof(t *testing.T, r *testReplica) []sequencer.CheckpointProof {
	t.Helper()
	var proofs []sequencer.CheckpointProof
	waitFor(t, waitLong, "a checkpoint equivocation proof", func() bool {
		proofs, _ = r.store.CheckpointProofs()
		return len(proofs) > 0
	})
	if err := r.mirror.Halted(); !errors.Is(err, sequencer.ErrEquivocation) {
		t.Fatalf("mirror stopped with %v, want ErrEquivocation", err)
	}
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("follower still running after a checkpoint equivocation")
	}
	if n := counter(t, r.follower.equivocations); n < 1 {
		t.Errorf("sequencer_equivocations_total is %v", n)
	}
	if m, err := r.reopenMirror(); err != nil || !errors.Is(m.Halted(), sequencer.ErrEquivocation) {
		t.Fatalf("a restarted mirror is not halted: %v (%v)", m.Halted(), err)
	}
	return proofs
}

// SPEC §10: a primary (the same key, another host) signs a checkpoint
// over a log whose entries 5..10 differ from the ones it gave the replica.
// The replica keeps the checkpoint and its own root as proof, logs it at
// error level, and stops following.
func TestCheckpointContradictsTree(t *testing.T) {
	lg := testnode.NewLog(t)
	signer, err := sequencer.NewCheckpointSigner(lg.Key, lg.Domain)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrimary(t, lg, primaryOpts{})
	rec := &recordingHandler{}
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}, mirrorLog: slog.New(rec)})
	testnode.WritePlain(t, p.Seq, "honest", 10)
	testnode.WaitHead(t, r.store, 10, "replica")
	held, err := r.store.Range(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	lie := append(held[:4:4], chain(t, lg.Key, lg.Domain, headOf(held[3]), 6, "lie")...)
	bad, err := signer.Sign(10, treeRoot(t, lie), lie[9].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	rg, ctx := joinedRogue(t, lg, r)
	publishCheckpoint(t, ctx, rg, bad)
	proofs := waitCheckpointProof(t, r)
	if len(proofs) != 1 {
		t.Fatalf("%d proofs", len(proofs))
	}
	pr := proofs[0]
	ours := treeRoot(t, held)
	if pr.Other != nil || !pr.Checkpoint.Equal(bad) || pr.Root != ours || pr.Root == pr.Checkpoint.Root {
		t.Fatalf("proof %+v; want the rogue checkpoint and our root %x", pr, ours)
	}
	checkCheckpointSigned(t, lg, signer.VerifierKey(), pr.Checkpoint)
	if pr.Entry != nil {
		t.Errorf("proof completed, yet no peer holds the signed tree: %+v", pr)
	}
	if !rec.logged("EQUIVOCATION") {
		t.Error("no error-level EQUIVOCATION record")
	}
	if _, err := sequencer.Verify(r.store); err != nil {
		t.Fatal(err)
	}
}

// SPEC §10: two checkpoints of one size with different roots, both
// signed by the primary, are a self-contained proof, kept even for a
// size past the replica's head.
func TestCheckpointPair(t *testing.T) {
	lg := testnode.NewLog(t)
	signer, err := sequencer.NewCheckpointSigner(lg.Key, lg.Domain)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrimary(t, lg, primaryOpts{})
	r := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	testnode.WritePlain(t, p.Seq, "honest", 5)
	testnode.WaitHead(t, r.store, 5, "replica")
	a, err := signer.Sign(100, [32]byte{1}, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := signer.Sign(100, [32]byte{2}, 7)
	if err != nil {
		t.Fatal(err)
	}
	rg, ctx := joinedRogue(t, lg, r)
	publishCheckpoint(t, ctx, rg, a) // past the head: kept waiting
	publishCheckpoint(t, ctx, rg, b)
	proofs := waitCheckpointProof(t, r)
	if len(proofs) != 1 || proofs[0].Other == nil {
		t.Fatalf("proofs %+v, want one pair", proofs)
	}
	pa, pb := proofs[0].Checkpoint, proofs[0].Other
	if pa.Size != pb.Size || pa.Root == pb.Root || !(pa.Equal(a) && pb.Equal(b) || pa.Equal(b) && pb.Equal(a)) {
		t.Fatalf("pair %+v / %+v", pa, pb)
	}
	for _, c := range []*sequencer.Checkpoint{pa, pb} {
		checkCheckpointSigned(t, lg, signer.VerifierKey(), c)
	}
	if c := counter(t, r.node.m.rejected); c != 0 {
		t.Errorf("%v signed checkpoints rejected", c)
	}
}

// SPEC §6, §10: malformed, unsigned and wrongly signed checkpoint frames
// are rejected by the validator (the sender penalized) and never reach
// the mirror; the mirror refuses them too when handed one, keeping no
// proof and following on. A valid one is accepted.
func TestCheckpointFramesRejected(t *testing.T) {
	lg := testnode.NewLog(t)
	signer, err := sequencer.NewCheckpointSigner(lg.Key, lg.Domain)
	if err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, lg, replicaOpts{noFollower: true})
	held := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 5, "held")
	if _, err := r.mirror.Apply(held); err != nil {
		t.Fatal(err)
	}
	root := treeRoot(t, held)
	good, err := signer.Sign(5, root, held[4].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.GenerateKey()
	otherSigner, _ := sequencer.NewCheckpointSigner(other, lg.Domain)
	wrongSigner, _ := otherSigner.Sign(5, root, held[4].Timestamp)
	otherDomain, _ := sequencer.NewCheckpointSigner(lg.Key, sequencer.Domain{ChainID: big.NewInt(5)})
	wrongDomain, _ := otherDomain.Sign(5, root, held[4].Timestamp)
	mutate := func(f func(c *sequencer.Checkpoint)) *sequencer.Checkpoint {
		c := *good
		c.Note = bytes.Clone(good.Note)
		f(&c)
		return &c
	}
	unsigned := mutate(func(c *sequencer.Checkpoint) { c.Signature = [65]byte{} })
	rootChanged := mutate(func(c *sequencer.Checkpoint) { c.Root[0] ^= 1 })
	sizeChanged := mutate(func(c *sequencer.Checkpoint) { c.Size = 4 })
	noteOther := mutate(func(c *sequencer.Checkpoint) { c.Note = bytes.Replace(c.Note, []byte("\n5\n"), []byte("\n4\n"), 1) })
	noNote := mutate(func(c *sequencer.Checkpoint) { c.Note = nil })
	originChanged := mutate(func(c *sequencer.Checkpoint) { c.Origin += "x" })
	enc := func(c *sequencer.Checkpoint) []byte {
		b, err := encodeCheckpoint(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g := enc(good)
	hugeNote := append(bytes.Clone(g[:len(g)-len(good.Note)-2]), 0xff, 0x7f)
	hugeNote = append(hugeNote, make([]byte, 0x3fff)...)
	cases := []struct {
		name string
		data []byte
		cp   *sequencer.Checkpoint // also handed to the mirror, if set
	}{
		{"type byte only", []byte{msgCheckpoint}, nil},
		{"truncated", g[:len(g)/2], nil},
		{"trailing byte", append(bytes.Clone(g), 0), nil},
		{"note over the bound", hugeNote, nil},
		{"huge origin length", append([]byte{msgCheckpoint}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), nil},
		{"unsigned", enc(unsigned), unsigned},
		{"signed by another key", enc(wrongSigner), wrongSigner},
		{"other domain", enc(wrongDomain), wrongDomain},
		{"root changed after signing", enc(rootChanged), rootChanged},
		{"size changed after signing", enc(sizeChanged), sizeChanged},
		{"note of another size", enc(noteOther), noteOther},
		{"no note", enc(noNote), noNote},
		{"origin changed", enc(originChanged), originChanged},
	}
	from := peer.ID("rogue")
	for _, c := range cases {
		before := counter(t, r.node.m.rejected)
		msg := &pubsub.Message{Message: &pb.Message{Data: c.data}, ReceivedFrom: from}
		if got := r.node.validate(context.Background(), from, msg); got != pubsub.ValidationReject || msg.ValidatorData != nil {
			t.Errorf("%s: verdict %s, data %v; want reject", c.name, verdict(got), msg.ValidatorData)
		}
		if d := counter(t, r.node.m.rejected) - before; d != 1 {
			t.Errorf("%s: rejected counter rose by %v", c.name, d)
		}
		if c.cp != nil {
			if err := r.mirror.ReceiveCheckpoint(c.cp); !errors.Is(err, sequencer.ErrBadCheckpoint) {
				t.Errorf("%s: mirror says %v, want ErrBadCheckpoint", c.name, err)
			}
		}
	}
	if proofs, _ := r.store.CheckpointProofs(); len(proofs) != 0 || r.mirror.Halted() != nil || r.mirror.PrimaryCheckpoint() != nil {
		t.Fatalf("after bad checkpoints: %d proofs, halted %v, kept %v", len(proofs), r.mirror.Halted(), r.mirror.PrimaryCheckpoint())
	}
	msg := &pubsub.Message{Message: &pb.Message{Data: g}, ReceivedFrom: from}
	if got := r.node.validate(context.Background(), from, msg); got != pubsub.ValidationAccept {
		t.Fatalf("valid checkpoint: %s", verdict(got))
	}
	if cp, ok := msg.ValidatorData.(*sequencer.Checkpoint); !ok || !cp.Equal(good) {
		t.Fatalf("validator data %#v", msg.ValidatorData)
	}
	if err := r.mirror.ReceiveCheckpoint(good); err != nil || !r.mirror.PrimaryCheckpoint().Equal(good) {
		t.Fatalf("valid checkpoint: %v", err)
	}
	// A checkpoint past the head waits and is checked once the log gets
	// there; the newest few only.
	next := chain(t, lg.Key, lg.Domain, headOf(held[4]), 20, "next")
	log := append(append([]*sequencer.Entry{}, held...), next...)
	for _, size := range []int{8, 10, 12, 14, 16, 18, 25} {
		c, err := signer.Sign(uint64(size), treeRoot(t, log[:size]), log[size-1].Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.mirror.ReceiveCheckpoint(c); err != nil {
			t.Fatalf("pending %d: %v", size, err)
		}
	}
	if _, err := r.mirror.Apply(next[:15]); err != nil { // head 20
		t.Fatal(err)
	}
	if got := r.mirror.PrimaryCheckpoint(); got == nil || got.Size != 18 {
		t.Fatalf("after reaching 20: latest %+v, want size 18", got)
	}
	if _, err := r.mirror.Apply(next[15:]); err != nil { // head 25
		t.Fatal(err)
	}
	if got := r.mirror.PrimaryCheckpoint(); got == nil || got.Size != 25 {
		t.Fatalf("after reaching 25: latest %+v, want size 25", got)
	}
	if r.mirror.Halted() != nil {
		t.Fatal(r.mirror.Halted())
	}
	// A waiting checkpoint that the log, once there, contradicts: the
	// apply that reaches its size stores the proof and halts.
	more := chain(t, lg.Key, lg.Domain, headOf(next[19]), 5, "more")
	lie, err := signer.Sign(28, [32]byte{9}, more[2].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.mirror.ReceiveCheckpoint(lie); err != nil {
		t.Fatalf("pending lie: %v", err)
	}
	if _, err := r.mirror.Apply(more); !errors.Is(err, sequencer.ErrEquivocation) {
		t.Fatalf("apply past a lying checkpoint: %v", err)
	}
	if proofs, _ := r.store.CheckpointProofs(); len(proofs) != 1 || !proofs[0].Checkpoint.Equal(lie) || proofs[0].Root != treeRoot(t, append(log, more...)[:28]) {
		t.Fatalf("proofs %+v", proofs)
	}
	if r.store.Head().Seq != 30 {
		t.Fatalf("head %d: the entries themselves are the primary's and stored", r.store.Head().Seq)
	}
}

// SPEC §10: the host that signed a checkpoint over a forked log (the same
// key) serves that log. The replica asks it, over the sync protocol, for
// leaves of the signed tree, finds the first that differs from its own,
// and completes the proof for slashInclusion: its own entry there, signed
// by the primary, the entry hash the signed tree holds there, and the
// audit path, which transparency-dev/merkle verifies against the signed
// root.
func TestCheckpointProofCompleted(t *testing.T) {
	lg := testnode.NewLog(t)
	signer, err := sequencer.NewCheckpointSigner(lg.Key, lg.Domain)
	if err != nil {
		t.Fatal(err)
	}
	honest := chain(t, lg.Key, lg.Domain, sequencer.Head{}, 300, "honest")
	const fork = 201 // the first seq that differs
	lie := append(honest[:fork-1:fork-1], chain(t, lg.Key, lg.Domain, headOf(honest[fork-2]), 300-fork+1, "lie")...)
	liar := testnode.OpenStore(t, t.TempDir())
	lm, err := sequencer.NewMirror(liar, lg.Addr, lg.Domain, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lm.Apply(lie); err != nil {
		t.Fatal(err)
	}
	liarNode := startNode(t, lg, liar, nodeOpts{})
	t.Cleanup(func() { liarNode.Close(); liar.Close() })

	r := startReplica(t, lg, replicaOpts{noFollower: true, nodeOpts: nodeOpts{peers: addrInfo(t, liarNode)}})
	if _, err := r.mirror.Apply(honest); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, r.node, liarNode)
	for _, size := range []uint64{250, 300} {
		root, err := liar.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		if root != treeRoot(t, lie[:size]) {
			t.Fatal("the liar's tree is not the forked log's")
		}
	}
	bad, err := signer.Sign(250, treeRoot(t, lie[:250]), lie[249].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFollower(r.node, r.mirror, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	f.checkpoint(ctx, bad)
	if !errors.Is(r.mirror.Halted(), sequencer.ErrEquivocation) {
		t.Fatalf("halted: %v", r.mirror.Halted())
	}
	proofs, err := r.store.CheckpointProofs()
	if err != nil || len(proofs) != 1 {
		t.Fatalf("%d proofs, %v", len(proofs), err)
	}
	p := proofs[0]
	if p.Entry == nil {
		t.Fatalf("proof not completed: %+v", p)
	}
	if !p.Checkpoint.Equal(bad) || p.Root != treeRoot(t, honest[:250]) {
		t.Fatalf("proof of %+v, root %x", p.Checkpoint, p.Root)
	}
	// What a contract checks, with independent code.
	e := p.Entry
	if e.Seq != fork || e.Hash != honest[fork-1].Hash || p.LeafEntryHash != lie[fork-1].Hash || p.LeafEntryHash == e.Hash {
		t.Fatalf("entry %d %s, leaf hash %x; want the first fork %d", e.Seq, e.Hash, p.LeafEntryHash, fork)
	}
	if a := oracleSigner(t, lg.Domain, e); a != lg.Addr {
		t.Fatalf("entry signed by %s", a)
	}
	h := rfc6962.DefaultHasher
	path := make([][]byte, len(p.Proof))
	for i := range p.Proof {
		path[i] = p.Proof[i][:]
	}
	if err := proof.VerifyInclusion(h, e.Seq-1, bad.Size, h.HashLeaf(p.LeafEntryHash[:]), path, bad.Root[:]); err != nil {
		t.Fatalf("leaf path against the signed root: %v", err)
	}
	if err := proof.VerifyInclusion(h, e.Seq-1, bad.Size, h.HashLeaf(e.Hash[:]), path, bad.Root[:]); err == nil {
		t.Fatal("our entry verifies in the signed tree too")
	}
	checkCheckpointSigned(t, lg, signer.VerifierKey(), p.Checkpoint)
}

// SPEC §10: a replica that joins while the log stands still gets the
// primary's latest checkpoint when it has caught up (sync request type 4),
// from the primary, and from a replica that holds one (relayed byte for
// byte).
func TestLateReplicaGetsCheckpoint(t *testing.T) {
	lg := testnode.NewLog(t)
	signer, err := sequencer.NewCheckpointSigner(lg.Key, lg.Domain)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrimary(t, lg, primaryOpts{})
	p.Node.SignCheckpoints(signer)
	testnode.WritePlain(t, p.Seq, "before", 10)
	waitFor(t, waitLong, "the primary to publish a checkpoint of its head", func() bool {
		return counter(t, p.Node.m.checkpoints) >= 1 && p.Node.heldCheckpoint() != nil && p.Node.heldCheckpoint().Size == 10
	})
	want := p.Node.heldCheckpoint()
	r1 := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, p.Node)}})
	testnode.WaitHead(t, r1.store, 10, "first replica")
	waitFor(t, waitLong, "the first replica to get the head's checkpoint", func() bool {
		cp := r1.mirror.PrimaryCheckpoint()
		return cp != nil && cp.Equal(want)
	})
	r2 := startReplica(t, lg, replicaOpts{nodeOpts: nodeOpts{peers: addrInfo(t, r1.node)}})
	testnode.WaitHead(t, r2.store, 10, "second replica")
	waitFor(t, waitLong, "the second replica to get the checkpoint from the first", func() bool {
		cp := r2.mirror.PrimaryCheckpoint()
		return cp != nil && cp.Equal(want)
	})
	checkCheckpointSigned(t, lg, signer.VerifierKey(), r2.mirror.PrimaryCheckpoint())
	if r1.mirror.Halted() != nil || r2.mirror.Halted() != nil {
		t.Fatal("a replica halted")
	}
}
