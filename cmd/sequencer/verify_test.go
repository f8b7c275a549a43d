package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/sequencer"
	"github.com/syndtr/goleveldb/leveldb"
)

// verifyLog is the script of the log the verify tests damage: every kind,
// a nonce re-leased from the pool, syncs that close tickets. Entry 7 is a tx
// with lineage, externalId and data, so that every field of its record can
// be damaged.
var verifyLog = []sequencer.Op{
	{Kind: sequencer.KindTx, Lineage: "eip155:1:0xabc", ExternalID: "a1", Data: []byte("one")},
	{Kind: sequencer.KindTx, Lineage: "eip155:1:0xabc", ExternalID: "a2", Data: []byte("two")},
	{Kind: sequencer.KindTx, Data: []byte("plain three")},
	{Kind: sequencer.KindClose, Lineage: "eip155:1:0xabc", ExternalID: "a1"},
	{Kind: sequencer.KindTx, Lineage: "eip155:5:0xdef", ExternalID: "b1", Data: []byte("five")},
	{Kind: sequencer.KindRelease, Lineage: "eip155:1:0xabc", ExternalID: "a2"},
	{Kind: sequencer.KindTx, Lineage: "eip155:1:0xabc", ExternalID: "a3-seven", Data: []byte("the data of entry seven")},
	{Kind: sequencer.KindTx, ExternalID: "p8", Data: []byte("plain eight")},
	{Kind: sequencer.KindFail, Lineage: "eip155:5:0xdef", ExternalID: "b1"},
	{Kind: sequencer.KindSync, Lineage: "eip155:1:0xabc", ChainNonce: 1},
	{Kind: sequencer.KindTx, Lineage: "eip155:5:0xdef", ExternalID: "b2", Data: []byte("eleven")},
	{Kind: sequencer.KindTx, Lineage: "eip155:1:0xabc", ExternalID: "a4", Data: []byte("twelve")},
	{Kind: sequencer.KindClose, Lineage: "eip155:1:0xabc", ExternalID: "a3-seven"},
	{Kind: sequencer.KindFail, Lineage: "eip155:5:0xdef", ExternalID: "b2"},
	{Kind: sequencer.KindTx, Lineage: "solana:x", ExternalID: "c1", Data: []byte{}},
	{Kind: sequencer.KindSync, Lineage: "eip155:1:0xabc", ChainNonce: 3},
	{Kind: sequencer.KindTx, ExternalID: "p17", Data: []byte("plain seventeen")},
	{Kind: sequencer.KindTx, Lineage: "solana:x", ExternalID: "c2", Data: []byte("eighteen")},
	{Kind: sequencer.KindClose, Lineage: "solana:x", ExternalID: "c1"},
	{Kind: sequencer.KindTx, Lineage: "eip155:1:0xabc", ExternalID: "a5", Data: []byte("twenty")},
}

// buildLog writes verifyLog into datadir in-process, as a node would.
func buildLog(t *testing.T, datadir string) {
	t.Helper()
	key, err := crypto.HexToECDSA(testnode.TestKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sequencer.OpenLevelStore(filepath.Join(datadir, "db"), false)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := sequencer.New(store, sequencer.Config{
		Key: key, Domain: sequencer.Domain{ChainID: big.NewInt(1)}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	for i, op := range verifyLog {
		if op.Kind == sequencer.KindTx {
			op.DataHash = crypto.Keccak256Hash(op.Data)
		}
		res, err := seq.Submit(context.Background(), op)
		if err != nil || res.Existing || res.Entry.Seq != uint64(i+1) {
			seq.Close()
			store.Close()
			t.Fatalf("op %d: %+v, %v", i+1, res, err)
		}
	}
	seq.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func storedKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'e'}, seq) }

// Offsets in the stored record (entry.go, version 1): ver(1) seq(8)
// prevHash(32) kind(1) sender(20) nonce(8) dataHash(32) timestamp(8)
// hash(32) sig(65) lineageLen(1) lineage extIDLen(2) extID dataLen(4) data.
const (
	offSeq       = 1
	offPrevHash  = 9
	offKind      = 41
	offSender    = 42
	offNonce     = 62
	offDataHash  = 70
	offTimestamp = 102
	offHash      = 110
	offSig       = 142
	offLineage   = 208
)

// TestVerifyDetectsDamage proves SPEC §5: `sequencer verify` passes a clean
// log and, for a flipped byte in any signed field of stored entry 7, a
// removed entry 7, a removed last entry or a damaged ticket record, exits
// non-zero naming the fault (the seq where there is one).
func TestVerifyDetectsDamage(t *testing.T) {
	clean := t.TempDir()
	buildLog(t, clean)

	// The layout the cases rely on: entry 7 as stored.
	db, err := leveldb.OpenFile(filepath.Join(clean, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := db.Get(storedKey(7), nil)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var e7 sequencer.Entry
	if err := e7.UnmarshalBinary(rec); err != nil {
		t.Fatal(err)
	}
	lin, ext := verifyLog[6].Lineage, verifyLog[6].ExternalID
	if e7.Seq != 7 || e7.Kind != sequencer.KindTx || e7.Lineage != lin || e7.ExternalID != ext || e7.Nonce != 1 ||
		binary.BigEndian.Uint64(rec[offSeq:]) != 7 || binary.BigEndian.Uint64(rec[offTimestamp:]) != e7.Timestamp ||
		binary.BigEndian.Uint64(rec[offNonce:]) != 1 || string(rec[offLineage:offLineage+len(lin)]) != lin ||
		!strings.HasSuffix(string(rec), string(verifyLog[6].Data)) || rec[offKind] != 0 || [32]byte(rec[offHash:offHash+32]) != e7.Hash {
		t.Fatalf("entry 7 is not stored as the test expects: %+v", e7)
	}
	offExtID := offLineage + len(lin) + 2
	offData := len(rec) - len(verifyLog[6].Data)

	t.Run("clean", func(t *testing.T) {
		code, out, errs := verifyDir(clean)
		if code != 0 || !strings.Contains(out, "ok: 20 entries, head seq 20") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
	})

	flip := func(off int, mask byte) func(*leveldb.DB) error {
		return func(db *leveldb.DB) error {
			v, err := db.Get(storedKey(7), nil)
			if err != nil {
				return err
			}
			v[off] ^= mask
			return db.Put(storedKey(7), v, nil)
		}
	}
	seq7 := regexp.MustCompile(`\bseq 7\b`)
	cases := []struct {
		name   string
		damage func(*leveldb.DB) error
		want   *regexp.Regexp
	}{
		{"seq", flip(offSeq+7, 0x01), seq7},
		{"prevHash", flip(offPrevHash+3, 0x10), seq7},
		{"kind", flip(offKind, 0x01), seq7},
		{"kind out of range", flip(offKind, 0x80), seq7},
		{"sender", flip(offSender+19, 0x01), seq7},
		{"nonce", flip(offNonce+7, 0x01), seq7},
		{"dataHash", flip(offDataHash+31, 0x01), seq7},
		{"timestamp", flip(offTimestamp+7, 0x01), seq7},
		{"hash", flip(offHash, 0x01), seq7},
		{"signature r", flip(offSig+5, 0x01), seq7},
		{"signature s", flip(offSig+40, 0x01), seq7},
		{"signature v", flip(offSig+64, 0x01), seq7},
		{"lineage", flip(offLineage+1, 0x01), seq7},
		{"lineage length", flip(offLineage-1, 0x01), seq7},
		{"externalId", flip(offExtID, 0x01), seq7},
		{"data", flip(offData+2, 0x01), seq7},
		{"entry 7 removed", func(db *leveldb.DB) error { return db.Delete(storedKey(7), nil) }, seq7},
		{"last entry removed", func(db *leveldb.DB) error { return db.Delete(storedKey(20), nil) }, regexp.MustCompile(`\bseq 20\b`)},
		{"last entry's timestamp", func(db *leveldb.DB) error {
			v, err := db.Get(storedKey(20), nil)
			if err != nil {
				return err
			}
			v[offTimestamp+7] ^= 0x01
			return db.Put(storedKey(20), v, nil)
		}, regexp.MustCompile(`\b(seq|entry) 20\b`)},
		{"lineage index record removed", func(db *leveldb.DB) error {
			// sequencer_read {lineage} would silently leave entry 7 out.
			k := binary.BigEndian.AppendUint64(append(append([]byte{'i'}, lin...), 0), 7)
			if ok, err := db.Has(k, nil); err != nil || !ok {
				return fmt.Errorf("index record of entry 7 not found (%v)", err)
			}
			return db.Delete(k, nil)
		}, regexp.MustCompile(`seq 7\b.*lineage index`)},
		{"stray lineage index record", func(db *leveldb.DB) error {
			k := binary.BigEndian.AppendUint64(append(append([]byte{'i'}, "eip155:1:0xabc"...), 0), 3)
			return db.Put(k, nil, nil)
		}, regexp.MustCompile(`lineage index holds 18 records, the log names a lineage in 17 entries`)},
		{"ticket record", func(db *leveldb.DB) error {
			// The ticket of seq 20 ("a5", leased) stored as closed.
			k := append(append(append([]byte{'t'}, "eip155:1:0xabc"...), 0), "a5"...)
			v, err := db.Get(k, nil)
			if err != nil {
				return err
			}
			v[0] = 1
			return db.Put(k, v, nil)
		}, regexp.MustCompile(`ticket state`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, clean, dir)
			db, err := leveldb.OpenFile(filepath.Join(dir, "db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.damage(db)
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			code, out, errs := verifyDir(dir)
			if code == 0 || strings.Contains(out, "ok:") {
				t.Fatalf("verify passed a damaged log: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(errs))
			if !c.want.MatchString(errs) || !strings.Contains(errs, "FAULT") {
				t.Fatalf("exit %d, stderr does not name the fault (want %v):\n%s", code, c.want, errs)
			}
		})
	}
}

// TestVerifyWithoutLog: verify of a datadir that does not exist, or holds no
// log, fails cleanly (exit 1, a message, no panic) and creates nothing.
func TestVerifyWithoutLog(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "datadir")
	code, out, errs := verifyDir(missing)
	if code != 1 || out != "" || !strings.Contains(errs, "no log in "+missing) {
		t.Fatalf("missing datadir: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("verify created %s (%v)", missing, err)
	}

	empty := t.TempDir()
	if code, out, errs := verifyDir(empty); code == 0 || out != "" || errs == "" {
		t.Fatalf("datadir without a log: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(empty, "db")); !os.IsNotExist(err) {
		t.Fatalf("verify created a db in an empty datadir (%v)", err)
	}

	var out2, errb bytes.Buffer
	if code := Main([]string{"verify", "--datadir", empty, "extra"}, &out2, &errb); code != 2 {
		t.Fatalf("verify with a stray argument: exit %d, want 2 (%s)", code, errb.String())
	}
}

// TestVerifyJournalDamage (SPEC §5): verify tells a torn journal tail, which
// a crash leaves and which was never acknowledged (reported, allowed), from
// a flipped bit inside the last complete record and from a journal cut
// short after a clean stop (faults). Both once passed as "ok" with fewer
// entries than were acknowledged.
func TestVerifyJournalDamage(t *testing.T) {
	clean := t.TempDir()
	buildLog(t, clean)
	logs, _ := filepath.Glob(filepath.Join(clean, "db", "*.log"))
	if len(logs) != 1 {
		t.Fatalf("journals: %v", logs)
	}
	journal, _ := filepath.Rel(clean, logs[0])
	orig, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		crash    bool // no clean stop recorded
		damage   func([]byte) []byte
		wantCode int
		want     string
	}{
		{"torn tail after a crash", true, func(b []byte) []byte { return b[:len(b)-30] }, 0, "torn journal tail"},
		{"bit flipped in the last complete record", true, func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[len(c)-30] ^= 0x04
			return c
		}, 1, "checksum mismatch in the complete chunk"},
		{"journal cut in half after a clean stop", false, func(b []byte) []byte { return b[:len(b)/2] }, 1, "stopped cleanly at seq 20"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, clean, dir)
			if c.crash {
				os.Remove(filepath.Join(dir, "db", "CLEAN-STOP"))
			}
			if err := os.WriteFile(filepath.Join(dir, journal), c.damage(orig), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := verifyDir(dir)
			t.Logf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			if code != c.wantCode || !strings.Contains(out+errs, c.want) {
				t.Fatalf("exit %d (want %d), output does not say %q", code, c.wantCode, c.want)
			}
			if c.wantCode != 0 && (strings.Contains(out, "ok:") || !strings.Contains(errs, "FAULT")) {
				t.Fatal("damage reported as ok")
			}
		})
	}
}
