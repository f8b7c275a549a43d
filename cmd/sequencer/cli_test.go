package main

import (
	"bytes"
	"math/big"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
	"github.com/seqnode/sequencer/internal/testnode"
	"github.com/seqnode/sequencer/internal/testnode/wire"
	"github.com/seqnode/sequencer/sequencer"
)

const childTimeout = 60 * time.Second

// storedPrimary reads the primary named by the meta record of a stopped
// node's datadir.
func storedPrimary(t *testing.T, datadir string) string {
	t.Helper()
	st, err := sequencer.OpenLevelStore(filepath.Join(datadir, "db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, ok, err := st.Meta()
	if err != nil || !ok {
		t.Fatalf("meta: %v %v", ok, err)
	}
	return m.Primary.Hex()
}

// TestFlagsFromEnvironment proves SPEC §7: every flag reads
// SEQUENCER_<FLAG> from the environment, and the command line wins over it.
func TestFlagsFromEnvironment(t *testing.T) {
	t.Parallel()
	t.Run("env only", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "from-env")
		// No arguments at all: `sequencer` alone is `sequencer run`.
		node := testnode.Launch(t, func(addr string) ([]string, []string) {
			return testnode.ChildEnv("PRIVATE_KEY="+testnode.TestKeyHex, "SEQUENCER_RPC_ADDR="+addr, "SEQUENCER_DATADIR="+dir,
				"SEQUENCER_CHAIN_ID=5", "SEQUENCER_MAX_DATA_BYTES=16", "SEQUENCER_P2P_ADDR=/ip4/127.0.0.1/tcp/0"), nil
		})
		if in := node.Info(); in.ChainID != 5 || in.Primary != testnode.KeyAddress(t, testnode.TestKeyHex).Hex() {
			t.Fatalf("SEQUENCER_CHAIN_ID=5: info %+v", in)
		}
		var res wire.Entry
		node.MustCall(&res, "sequencer_append", map[string]any{"data": "0x" + strings.Repeat("ab", 16)})
		err := node.Call(&res, "sequencer_append", map[string]any{"data": "0x" + strings.Repeat("ab", 17)})
		if wire.Code(err) != 4006 {
			t.Fatalf("17 bytes with SEQUENCER_MAX_DATA_BYTES=16: %v, want 4006", err)
		}
		if code := node.Term(childTimeout); code != 0 {
			t.Fatalf("SIGTERM: exit %d", code)
		}
		if _, err := os.Stat(filepath.Join(dir, "db")); err != nil {
			t.Fatalf("SEQUENCER_DATADIR: %v", err)
		}
	})
	t.Run("flag wins", func(t *testing.T) {
		t.Parallel()
		// SEQUENCER_RPC_ADDR names a port this test holds: the node can only
		// start if --rpc-addr wins.
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		envDir, flagDir := filepath.Join(t.TempDir(), "env"), filepath.Join(t.TempDir(), "flag")
		node := testnode.Launch(t, func(addr string) ([]string, []string) {
			return testnode.ChildEnv("PRIVATE_KEY="+testnode.TestKeyHex, "SEQUENCER_RPC_ADDR="+busy.Addr().String(), "SEQUENCER_DATADIR="+envDir,
					"SEQUENCER_CHAIN_ID=5", "SEQUENCER_MAX_DATA_BYTES=16"),
				[]string{"run", "--rpc-addr", addr, "--datadir", flagDir, "--chain-id", "7", "--max-data-bytes", "32", "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}
		})
		if in := node.Info(); in.ChainID != 7 {
			t.Fatalf("--chain-id 7 over SEQUENCER_CHAIN_ID=5: chainId %d", in.ChainID)
		}
		var res wire.Entry
		node.MustCall(&res, "sequencer_append", map[string]any{"data": "0x" + strings.Repeat("ab", 32)})
		if code := node.Term(childTimeout); code != 0 {
			t.Fatalf("SIGTERM: exit %d", code)
		}
		if _, err := os.Stat(filepath.Join(flagDir, "db")); err != nil {
			t.Fatalf("--datadir: %v", err)
		}
		if _, err := os.Stat(envDir); !os.IsNotExist(err) {
			t.Fatalf("SEQUENCER_DATADIR was used over --datadir (%v)", err)
		}
	})
	t.Run("bad env value", func(t *testing.T) {
		t.Parallel()
		code, _, errs := testnode.RunChild(t, testnode.ChildEnv("PRIVATE_KEY="+testnode.TestKeyHex, "SEQUENCER_MAX_IN_FLIGHT=many"), childTimeout,
			"run", "--datadir", t.TempDir(), "--rpc-addr", "127.0.0.1:0")
		if code != 2 || !strings.Contains(errs, "SEQUENCER_MAX_IN_FLIGHT") {
			t.Fatalf("SEQUENCER_MAX_IN_FLIGHT=many: exit %d, stderr:\n%s", code, errs)
		}
	})
}

// TestBadCommandLine: usage errors exit 2 with a message, a bad --mode
// fails at start-up, help exits 0; none of them starts a node.
func TestBadCommandLine(t *testing.T) {
	t.Parallel()
	// The checkpoint key of the test key's log with chain id 1.
	otherLogKey := checkpointKeyOf(t, testnode.TestKeyHex, 1)
	cases := []struct {
		name string
		args []string
		code int // -1: any non-zero
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, 2, "no-such-flag"},
		{"run unknown flag", []string{"run", "--no-such-flag"}, 2, "no-such-flag"},
		{"keygen unknown flag", []string{"keygen", "--no-such-flag"}, 2, "no-such-flag"},
		{"verify unknown flag", []string{"verify", "--no-such-flag"}, 2, "no-such-flag"},
		{"stray argument", []string{"run", "--datadir", "DIR", "stray"}, 2, "stray"},
		{"unknown command", []string{"frobnicate"}, 2, "frobnicate"},
		{"cluster reset without its flags", []string{"cluster", "reset", "--datadir", "DIR"}, 2, "--node-id and --address are required"},
		{"cluster reset bad address", []string{"cluster", "reset", "--datadir", "DIR", "--node-id", "v1", "--address", "nohost"}, 2, "--address"},
		{"cluster reset no log", []string{"cluster", "reset", "--datadir", "/nonexistent/dir", "--node-id", "v1", "--address", "127.0.0.1:1"}, 1, "no log in /nonexistent/dir"},
		{"bad int", []string{"run", "--max-in-flight", "x"}, 2, "max-in-flight"},
		{"mode foo", []string{"run", "--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--mode", "foo"}, -1, "--mode"},
		{"mode=foo", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--mode=foo"}, -1, "foo"},
		{"zero max-in-flight", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--max-in-flight", "0"}, -1, "max-in-flight"},
		{"bad chain id", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--chain-id", "-1"}, -1, "chain-id"},
		{"bad verifying contract", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--verifying-contract", "0x12"}, -1, "verifying-contract"},
		{"zero sync-byte-rate", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--sync-byte-rate", "0"}, -1, "sync-byte-rate"},
		{"zero cache-records", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--cache-records", "0"}, -1, "cache-records"},
		{"checkpoint-key on a primary", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--checkpoint-key", "x"}, -1, "--checkpoint-key is a replica's"},
		{"bad checkpoint-key", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--mode", "replica", "--primary", "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23", "--checkpoint-key", "garbage"}, -1, "malformed verifier id"},
		{"checkpoint-key of another log", []string{"--datadir", "DIR", "--rpc-addr", "127.0.0.1:0", "--mode", "replica", "--primary", "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23", "--chain-id", "5", "--checkpoint-key", otherLogKey}, -1, "this log are named \\\"sequencer/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/5/"},
		{"help", []string{"help"}, 0, "verify"},
		{"run help", []string{"run", "--help"}, 0, "rpc-addr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "datadir")
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "DIR", dir)
			}
			code, out, errs := testnode.RunChild(t, testnode.ChildEnv("PRIVATE_KEY="+testnode.TestKeyHex), childTimeout, args...)
			if c.code == -1 && code <= 0 || c.code >= 0 && code != c.code {
				t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", c.args, code, c.code, out, errs)
			}
			if !strings.Contains(out+errs, c.want) {
				t.Fatalf("%v: output does not mention %q\nstdout: %s\nstderr: %s", c.args, c.want, out, errs)
			}
			if strings.Contains(errs, "serving JSON-RPC") {
				t.Fatalf("%v started serving:\n%s", c.args, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, "db")); !os.IsNotExist(err) {
				t.Fatalf("%v made a log in the datadir (%v)", c.args, err)
			}
		})
	}
}

// TestPrivateKeyForms: PRIVATE_KEY is hex with or without 0x (SPEC §7); both
// forms give the same primary, on the same datadir.
func TestPrivateKeyForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := testnode.KeyAddress(t, testnode.TestKeyHex).Hex()
	for _, k := range []string{"0x" + testnode.TestKeyHex, testnode.TestKeyHex} {
		node := testnode.StartNode(t, dir, []string{"PRIVATE_KEY=" + k})
		if got := node.Info().Primary; got != want {
			t.Fatalf("PRIVATE_KEY=%s…: primary %s, want %s", k[:6], got, want)
		}
		var res wire.Entry
		node.MustCall(&res, "sequencer_append", map[string]any{"data": "0x01"})
		if code := node.Term(childTimeout); code != 0 {
			t.Fatalf("SIGTERM: exit %d", code)
		}
		if got := storedPrimary(t, dir); got != want {
			t.Fatalf("datadir meta names %s, want %s", got, want)
		}
	}
	if code, out, errs := verifyDir(dir); code != 0 || !strings.Contains(out, "ok: 2 entries") || !strings.Contains(out, want) {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
}

// TestBadPrivateKey: a PRIVATE_KEY that is not a secp256k1 key stops the
// node with a message that does not repeat the key, and no development key
// is made in its place.
func TestBadPrivateKey(t *testing.T) {
	t.Parallel()
	secret := "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2"
	cases := map[string]string{
		"not hex":   "0x" + secret[:60] + "zz99",
		"short":     "0x" + secret[:40],
		"long":      secret + "5ec2",
		"zero":      strings.Repeat("0", 64),
		"above N":   "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142",
		"odd":       secret[:63],
		"0x only":   "0x",
		"two 0x":    "0x0x" + secret[:62],
		"with text": "key:" + secret,
	}
	for name, k := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			code, out, errs := testnode.RunChild(t, testnode.ChildEnv("PRIVATE_KEY="+k), childTimeout,
				"run", "--datadir", dir, "--rpc-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0")
			if code == 0 || code == -1 {
				t.Fatalf("PRIVATE_KEY=%q: exit %d", k, code)
			}
			if !strings.Contains(errs, "PRIVATE_KEY") {
				t.Fatalf("the message does not name PRIVATE_KEY:\n%s", errs)
			}
			bare := strings.TrimPrefix(strings.TrimPrefix(k, "0x"), "0x")
			for i := 0; i+12 <= len(bare); i++ {
				chunk := bare[i : i+12]
				if strings.Count(chunk, chunk[:1]) == len(chunk) {
					continue // "000000000000" is in any log line with a zero hash
				}
				if strings.Contains(out+errs, chunk) {
					t.Fatalf("the output repeats part of the key (%q):\nstdout: %s\nstderr: %s", chunk, out, errs)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, devKeyFile)); !os.IsNotExist(err) {
				t.Fatalf("a development key was made instead (%v)", err)
			}
		})
	}
}

// TestDevelopmentKey: a primary without a key makes one in its datadir
// (mode 0600), says so, and signs with it again after a restart.
func TestDevelopmentKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := testnode.StartNode(t, dir, []string{"PRIVATE_KEY="}) // no PRIVATE_KEY at all
	first := node.Info().Primary
	if code := node.Term(childTimeout); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if !strings.Contains(node.Stderr(), "development key") {
		t.Fatalf("the node did not say it made a development key:\n%s", node.Stderr())
	}
	path := filepath.Join(dir, devKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := testnode.KeyAddress(t, strings.TrimSpace(string(b))).Hex(); got != first {
		t.Fatalf("the node signs as %s, the key file is %s's", first, got)
	}
	if strings.Contains(node.Stderr(), strings.TrimSpace(string(b))) {
		t.Fatal("the node logged the development key")
	}

	node = testnode.StartNode(t, dir, []string{"PRIVATE_KEY="})
	if got := node.Info().Primary; got != first {
		t.Fatalf("after a restart the primary is %s, was %s", got, first)
	}
	node.Kill()
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Fatal("the development key changed on restart")
	}
}

var printedKey = regexp.MustCompile(`^address: (0x[0-9a-fA-F]{40})\nPRIVATE_KEY=(0x[0-9a-f]{64})\n$`)

// TestKeygenPrint: keygen without --key-file prints an address and the
// PRIVATE_KEY line for it, a fresh key each time.
func TestKeygenPrint(t *testing.T) {
	t.Parallel()
	var keys []string
	for range 2 {
		var out, errb bytes.Buffer
		if code := Main([]string{"keygen"}, &out, &errb); code != 0 {
			t.Fatalf("keygen: exit %d: %s", code, errb.String())
		}
		m := printedKey.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("keygen printed %q", out.String())
		}
		if got := testnode.KeyAddress(t, m[2]).Hex(); got != m[1] {
			t.Fatalf("printed address %s, the key's address is %s (EIP-55)", m[1], got)
		}
		if strings.Contains(errb.String(), m[2][2:]) {
			t.Fatal("the key went to stderr too")
		}
		keys = append(keys, m[2])
	}
	if keys[0] == keys[1] {
		t.Fatal("keygen printed the same key twice")
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"keygen", "--key-file", filepath.Join(t.TempDir(), "k.json")}, &out, &errb); code != 2 {
		t.Fatalf("keygen --key-file without --password-file: exit %d, want 2 (%s)", code, errb.String())
	}
}

// TestKeygenKeystore: keygen --key-file F --password-file P writes a
// go-ethereum keystore file of mode 0600 that `run --key-file F
// --password-file P` signs with. (keygen uses standard scrypt, seconds under
// -race: this test runs it once, and the node decrypts once.)
func TestKeygenKeystore(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "keys", "primary.json")
	pwFile := filepath.Join(tmp, "password")
	if err := os.WriteFile(pwFile, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"keygen", "--key-file", keyFile, "--password-file", pwFile}, &out, &errb); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errb.String())
	}
	m := regexp.MustCompile(`(?m)^address: (0x[0-9a-fA-F]{40})$`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), keyFile) {
		t.Fatalf("keygen printed %q", out.String())
	}
	addr := m[1]
	if common.HexToAddress(addr).Hex() != addr {
		t.Fatalf("printed address %s is not EIP-55", addr)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	js, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bytes.ToLower(js), []byte(strings.ToLower(addr[2:]))) || !bytes.Contains(js, []byte(`"crypto"`)) {
		t.Fatalf("not a keystore file of %s: %s", addr, js)
	}

	dir := t.TempDir()
	node := testnode.StartNode(t, dir, []string{"PRIVATE_KEY="}, "--key-file", keyFile, "--password-file", pwFile)
	if got := node.Info().Primary; got != addr {
		t.Fatalf("run --key-file: primary %s, keygen printed %s", got, addr)
	}
	if code := node.Term(childTimeout); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
}

// TestKeyFileErrors: a wrong password, a missing password file or a missing
// key file stop the node with a message, and the password is not printed.
// (The keystore here is light scrypt, to keep the test fast; keygen's own
// file is used in TestKeygenKeystore.)
func TestKeyFileErrors(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	k, err := crypto.HexToECDSA(testnode.TestKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	js, err := keystore.EncryptKey(&keystore.Key{Id: uuid.New(), Address: crypto.PubkeyToAddress(k.PublicKey), PrivateKey: k},
		"right", keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, wrong, right := filepath.Join(tmp, "key.json"), filepath.Join(tmp, "wrong"), filepath.Join(tmp, "right")
	for f, b := range map[string][]byte{keyFile: js, wrong: []byte("Tr0ub4dor&3\n"), right: []byte("right\n")} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]struct {
		args []string
		want string
	}{
		"wrong password":      {[]string{"--key-file", keyFile, "--password-file", wrong}, "decrypt key file"},
		"no password file":    {[]string{"--key-file", keyFile}, "--password-file"},
		"missing password":    {[]string{"--key-file", keyFile, "--password-file", filepath.Join(tmp, "nope")}, "password file"},
		"missing key file":    {[]string{"--key-file", filepath.Join(tmp, "nope.json"), "--password-file", right}, "key file"},
		"key file is garbage": {[]string{"--key-file", wrong, "--password-file", right}, "key file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := append([]string{"run", "--datadir", dir, "--rpc-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}, c.args...)
			code, out, errs := testnode.RunChild(t, testnode.ChildEnv(), childTimeout, args...)
			if code <= 0 || !strings.Contains(errs, c.want) || strings.Contains(out+errs, "Tr0ub4dor") {
				t.Fatalf("exit %d, want non-zero and a message with %q, without the password\nstdout: %s\nstderr: %s", code, c.want, out, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, devKeyFile)); !os.IsNotExist(err) {
				t.Fatalf("a development key was made instead (%v)", err)
			}
		})
	}
}

// TestDifferentKeyRefused: a datadir holds one primary's log; a node with
// another key refuses to start on it, names both addresses, and leaves the
// log as it was.
func TestDifferentKeyRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := testnode.StartNode(t, dir, nil)
	for i := range 5 {
		var res wire.Entry
		node.MustCall(&res, "sequencer_append", map[string]any{"data": "0x01", "lineage": "eip155:1:0xabc", "externalId": string(rune('a' + i))})
	}
	head := node.Info().Head
	if code := node.Term(childTimeout); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}

	otherKey := "8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63"
	own, other := testnode.KeyAddress(t, testnode.TestKeyHex).Hex(), testnode.KeyAddress(t, otherKey).Hex()
	code, out, errs := testnode.RunChild(t, testnode.ChildEnv("PRIVATE_KEY="+otherKey), childTimeout,
		"run", "--datadir", dir, "--rpc-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0")
	if code <= 0 {
		t.Fatalf("a node with another key started on the datadir: exit %d", code)
	}
	if !strings.Contains(errs, own) || !strings.Contains(errs, other) || strings.Contains(errs, "serving JSON-RPC") {
		t.Fatalf("the refusal does not name the log's primary %s and the key's %s:\nstdout: %s\nstderr: %s", own, other, out, errs)
	}

	node = testnode.StartNode(t, dir, nil)
	if got := node.Info().Head; got != head {
		t.Fatalf("head after the refused start: %+v, was %+v", got, head)
	}
	if code := node.Term(childTimeout); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if code, out, errs := verifyDir(dir); code != 0 || !strings.Contains(out, own) {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
}

// TestGracefulShutdown: SIGTERM under a write load exits 0; every receipt
// returned is in the log, the calls under way either completed or wrote
// nothing (a retry settles which), and the log verifies.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := &crashRun{t: t, primary: testnode.KeyAddress(t, testnode.TestKeyHex).Hex()}
	node := testnode.StartNode(t, dir, nil, "--max-in-flight", "4096")
	stop := r.start(node, 1, rand.Int63())
	if !r.waitReceipts(50, 30*time.Second) {
		stop(node.Kill)
		t.Fatal("fewer than 50 receipts within 30s")
	}
	code := -2
	stop(func() { code = node.Term(childTimeout) })
	if code != 0 {
		t.Fatalf("SIGTERM under load: exit %d\n%s", code, testnode.Tail(node.Stderr(), 4000))
	}
	if !strings.Contains(node.Stderr(), "stopped cleanly") {
		t.Fatalf("no clean-stop message:\n%s", testnode.Tail(node.Stderr(), 4000))
	}
	vcode, vout, verrs := verifyDir(dir)
	if vcode != 0 {
		t.Fatalf("verify after SIGTERM: exit %d\n%s%s", vcode, vout, verrs)
	}
	node = testnode.StartNode(t, dir, nil, "--max-in-flight", "4096")
	head := node.Info().Head.Seq
	if r.maxSeq > head {
		t.Fatalf("receipt of seq %d, head after restart %d", r.maxSeq, head)
	}
	st := r.resolve(node, head)
	n := r.check(node)
	t.Logf("%d receipts before SIGTERM, %d calls cut off (%d written, %d not, %d without id), %d entries", len(r.receipts)-st.written-st.lost, st.inFlight, st.written, st.lost, st.noID, n)
}

// TestHealthAndMetrics: /healthz and /metrics are served on the RPC
// listener (SPEC §7).
func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	node := testnode.StartNode(t, t.TempDir(), nil)
	var res wire.Entry
	node.MustCall(&res, "sequencer_append", map[string]any{"data": "0x"})
	for path, want := range map[string]string{"/healthz": `"head":1`, "/metrics": "sequencer_"} {
		resp, err := testnode.HealthClient.Get("http://" + node.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, testnode.Tail(b.String(), 500))
		}
	}
}

// checkpointKeyOf is the note verifier key of the log of keyHex with
// chainID and the zero verifying contract (info.checkpointKey).
func checkpointKeyOf(t *testing.T, keyHex string, chainID int64) string {
	t.Helper()
	key, err := crypto.HexToECDSA(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sequencer.NewCheckpointSigner(key, sequencer.Domain{ChainID: big.NewInt(chainID)})
	if err != nil {
		t.Fatal(err)
	}
	return s.VerifierKey()
}
