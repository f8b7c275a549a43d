package p2p

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
)

// flipTable flips n bytes a third of the way into the largest LevelDB
// table in dir (inside its data blocks, not its index or footer).
func flipTable(t testing.TB, dir string, n int) string {
	t.Helper()
	tables, _ := filepath.Glob(filepath.Join(dir, "*.ldb"))
	var path string
	var size int64
	for _, p := range tables {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			path, size = p, fi.Size()
		}
	}
	if path == "" {
		t.Fatalf("test setup: no table in %s", dir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b[len(b)/3+i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(path)
}

// SPEC §6: bit rot on a replica. Bytes flipped inside a table of the
// replica's LevelDB make reads of that range fail. The replica says so in
// its health, fetches the range again from a peer, checks it and rewrites
// it, and then serves it again, entry for entry the primary's.
func TestBitRotRepaired(t *testing.T) {
	lg := testnode.NewLog(t)
	a := startPrimary(t, lg, primaryOpts{})
	const n = 400
	testnode.WritePlain(t, a.Seq, "entry with some bytes of data to fill table blocks", n)
	es, err := a.Store.Range(1, n)
	if err != nil || len(es) != n {
		t.Fatal(len(es), err)
	}
	dir := t.TempDir()
	st := testnode.OpenStore(t, dir)
	m, err := sequencer.NewMirror(st, lg.Addr, lg.Domain, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(es); err != nil {
		t.Fatal(err)
	}
	st.Close()
	testnode.OpenStore(t, dir).Close() // the journal becomes a table
	table := flipTable(t, dir, 64)

	// No peer yet: the damage cannot be repaired, and the health says so.
	r := startReplica(t, lg, replicaOpts{dir: dir})
	if _, err := r.store.Range(1, n); err == nil {
		t.Fatalf("test setup: flipped bytes in %s did not damage reads", table)
	}
	_, rerr := r.mirror.Store().Range(1, n)
	if rerr == nil {
		t.Fatal("a read of the damaged range succeeded at once")
	}
	t.Logf("read error: %v", rerr)
	var herr error
	waitFor(t, waitLong, "the replica to report the damage", func() bool {
		herr = r.health()
		return herr != nil && strings.Contains(herr.Error(), "cannot read entries")
	})
	t.Logf("health: %v", herr)

	// A peer: the range is fetched again, checked and rewritten.
	if err := r.node.host.Connect(context.Background(), addrInfo(t, a.Node)[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "the damaged range to read again", func() bool {
		got, err := r.mirror.Store().Range(1, n)
		return err == nil && len(got) == n
	})
	if err := r.health(); err != nil {
		t.Errorf("repaired replica still unhealthy: %v", err)
	}
	testnode.AssertSameLog(t, a.Store, r.store)
}
