package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/rpc"
)

func dial(t testing.TB, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Disconnect)
	return c
}

// The ticket lifecycle through typed calls, with idempotent retries and
// SPEC error codes surfaced as client.Code.
func TestTicketLifecycle(t *testing.T) {
	n := startNode(t, nil, nil)
	c := dial(t, n.URL)
	ctx := context.Background()
	const L = "eip155:1:0x52908400098527886E0F7030069857D2E4169EE7"
	r1, err := c.Append(ctx, client.AppendRequest{Data: []byte{1}, Lineage: L, ExternalID: "a"})
	if err != nil || r1.Nonce != 0 || r1.Existing {
		t.Fatalf("append: %+v %v", r1, err)
	}
	again, err := c.Append(ctx, client.AppendRequest{Data: []byte{1}, Lineage: L, ExternalID: "a"})
	if err != nil || !again.Existing || again.Hash != r1.Hash {
		t.Fatalf("retry: %+v %v", again, err)
	}
	if _, err := c.Append(ctx, client.AppendRequest{Data: []byte{2}, Lineage: L, ExternalID: "a"}); client.Code(err) != client.CodeExternalIDConflict {
		t.Fatalf("conflict: %v", err)
	}
	r2, _ := c.Append(ctx, client.AppendRequest{Data: []byte{2}, Lineage: L, ExternalID: "b"})
	if _, err := c.Release(ctx, L, "b", "rejected"); err != nil {
		t.Fatal(err)
	}
	r3, _ := c.Append(ctx, client.AppendRequest{Data: []byte{3}, Lineage: L, ExternalID: "c"})
	if r3.Nonce != r2.Nonce {
		t.Fatalf("released nonce %d not reused (got %d)", r2.Nonce, r3.Nonce)
	}
	if _, err := c.Close(ctx, L, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Close(ctx, L, "zzz"); client.Code(err) != client.CodeNotFound {
		t.Fatalf("unknown ticket: %v", err)
	}
	var ce *client.Error
	if _, err := c.Append(ctx, client.AppendRequest{Data: []byte{1}, Lineage: L, ExternalID: "a"}); !errors.As(err, &ce) || ce.Code != client.CodeTicketFinal || ce.Data == nil {
		t.Fatalf("append on closed ticket: %v", err)
	}
	if _, err := c.SyncLineage(ctx, L, 5); err != nil {
		t.Fatal(err)
	}
	tk, err := c.Ticket(ctx, L, "c")
	if err != nil || tk.State != "closed" {
		t.Fatalf("ticket after sync: %+v %v", tk, err)
	}
	l, err := c.Lineage(ctx, L)
	if err != nil || l.NextNonce != 5 || l.Floor != 5 || len(l.InFlight) != 0 {
		t.Fatalf("lineage: %+v %v", l, err)
	}
	in, err := c.Info(ctx)
	if err != nil || in.Head.Seq != 6 || common.Address(in.Primary) != n.Sequencer.Address() {
		t.Fatalf("info: %+v %v", in, err)
	}
	page, err := c.Read(ctx, 1, 100, "")
	if err != nil || len(page.Entries) != 6 {
		t.Fatalf("read: %v", err)
	}
	// Everything the node returned verifies against the primary.
	if err := client.VerifyChain(domain, n.Sequencer.Address(), common.Hash{}, page.Entries); err != nil {
		t.Fatal(err)
	}
	bad := *page.Entries[3]
	bad.Nonce++
	if err := client.VerifyEntry(domain, n.Sequencer.Address(), &bad); err == nil {
		t.Fatal("a tampered entry verified")
	}
	if err := client.VerifyChain(domain, n.Sequencer.Address(), common.Hash{}, page.Entries[1:]); err == nil {
		t.Fatal("a chain missing its first entry verified from the zero hash")
	}
	other, _ := crypto.GenerateKey()
	if err := client.VerifyEntry(domain, crypto.PubkeyToAddress(other.PublicKey), page.Entries[0]); err == nil {
		t.Fatal("an entry verified against another primary")
	}
}

// With a key, every write is signed and the node records the sender; a
// client without the key is refused (SPEC §4 permissioning).
func TestSignedWrites(t *testing.T) {
	key, _ := crypto.GenerateKey()
	from := crypto.PubkeyToAddress(key.PublicKey)
	n := startNode(t, nil, rpc.Allowlist{from: {}})
	ctx := context.Background()
	c := dial(t, n.URL, client.WithKey(key))
	r, err := c.Append(ctx, client.AppendRequest{Data: []byte("x"), Lineage: "l", ExternalID: "1"})
	if err != nil || common.Address(r.Sender) != from {
		t.Fatalf("signed append: %+v %v", r, err)
	}
	for _, f := range []func() error{
		func() error { _, err := c.Close(ctx, "l", "1"); return err },
		func() error { _, err := c.SyncLineage(ctx, "l", 1); return err },
		func() error {
			c.Append(ctx, client.AppendRequest{Data: []byte("y"), Lineage: "l", ExternalID: "2"})
			_, err := c.Release(ctx, "l", "2", "broadcast")
			return err
		},
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	anon := dial(t, n.URL)
	if _, err := anon.Append(ctx, client.AppendRequest{Data: []byte("z")}); client.Code(err) != client.CodeUnauthorized {
		t.Fatalf("unsigned append: %v", err)
	}
}

// Subscribe resumes after the connection drops: every entry arrives once,
// in order, across several drops.
func TestSubscribeResumes(t *testing.T) {
	n := startNode(t, nil, nil)
	p := newProxy(t, strings.TrimSuffix(strings.TrimPrefix(n.URL, "http://"), "/"))
	c := dial(t, n.URL)
	sc := dial(t, "ws://"+p.ln.Addr().String()+"/", client.WithRetries(3, 10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, errc := sc.Subscribe(ctx, 1)
	const total = 300
	go func() {
		for i := range total {
			if _, err := c.Append(ctx, client.AppendRequest{Data: []byte(fmt.Sprint(i))}); err != nil {
				return
			}
			if i%60 == 30 {
				p.drop()
			}
		}
	}()
	for want := uint64(1); want <= total; want++ {
		select {
		case e, ok := <-entries:
			if !ok {
				t.Fatalf("stream closed at %d: %v", want, <-errc)
			}
			if e.Seq != want {
				t.Fatalf("got seq %d, want %d", e.Seq, want)
			}
		case err := <-errc:
			t.Fatalf("subscription failed at %d: %v", want, err)
		case <-ctx.Done():
			t.Fatalf("timed out waiting for seq %d", want)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accepted < 3 {
		t.Fatalf("only %d connections: the drops did not happen", p.accepted)
	}
}

// Two entries signed by one key at one seq prove equivocation; anything
// else does not.
func TestVerifyEquivocation(t *testing.T) {
	key, _ := crypto.GenerateKey()
	a, b := startNode(t, key, nil), startNode(t, key, nil)
	ctx := context.Background()
	ca, cb := dial(t, a.URL), dial(t, b.URL)
	ca.Append(ctx, client.AppendRequest{Data: []byte("a")})
	cb.Append(ctx, client.AppendRequest{Data: []byte("b")})
	pa, _ := ca.Read(ctx, 1, 1, "")
	pb, _ := cb.Read(ctx, 1, 1, "")
	addr := crypto.PubkeyToAddress(key.PublicKey)
	if err := client.VerifyEquivocation(domain, addr, pa.Entries[0], pb.Entries[0]); err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyEquivocation(domain, addr, pa.Entries[0], pa.Entries[0]); !errors.Is(err, client.ErrNotEquivocation) {
		t.Fatalf("same entry twice: %v", err)
	}
	other, _ := crypto.GenerateKey()
	if err := client.VerifyEquivocation(domain, crypto.PubkeyToAddress(other.PublicKey), pa.Entries[0], pb.Entries[0]); err == nil {
		t.Fatal("proof accepted against another primary")
	}
	if _, err := client.ToEntry(&client.Entry{Kind: "nope"}); err == nil {
		t.Fatal("unknown kind converted")
	}
}

// A batch sends many writes in one request, sequenced in batch order (an
// append and its own close together), with a result per call; with a key
// every call is signed.
func TestBatch(t *testing.T) {
	key, _ := crypto.GenerateKey()
	from := crypto.PubkeyToAddress(key.PublicKey)
	n := startNode(t, nil, rpc.Allowlist{from: {}})
	c := dial(t, n.URL, client.WithKey(key))
	ctx := context.Background()
	b := c.NewBatch()
	for i := range 10 {
		id := fmt.Sprint("b", i)
		if err := b.Append(ctx, client.AppendRequest{Data: []byte(id), Lineage: "L", ExternalID: id}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			b.Close(ctx, "L", id)
		}
	}
	b.Release(ctx, "L", "b1", "rejected")
	b.Close(ctx, "L", "nope")
	res, err := b.Do(ctx)
	if err != nil || len(res) != b.Len() || b.Len() != 17 {
		t.Fatalf("%d results of %d calls: %v", len(res), b.Len(), err)
	}
	for i, r := range res[:16] {
		if r.Err != nil || r.Receipt.Seq != uint64(i+1) || common.Address(r.Receipt.Sender) != from {
			t.Fatalf("call %d: %+v %v", i, r.Receipt, r.Err)
		}
	}
	if client.Code(res[16].Err) != client.CodeNotFound {
		t.Fatalf("close of an unknown ticket in a batch: %v", res[16].Err)
	}
	l, _ := c.Lineage(ctx, "L")
	if l.Closed != 5 || len(l.InFlight) != 4 || len(l.Released) != 1 {
		t.Fatalf("lineage after the batch: %+v", l)
	}
}
