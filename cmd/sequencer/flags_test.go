package main

import (
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/p2p"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

// SPEC §7 and --config: command line beats SEQUENCER_<FLAG>, which beats
// the config file, which beats the default; unknown settings are errors.
func TestFlagPrecedence(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "node.conf")
	os.WriteFile(conf, []byte("# comment\nrpc-addr = 1.1.1.1:1\n--datadir=/from/file # trailing\nmax-in-flight = 7\nmode = \"replica\"\nsync-request-rate = 2.5\n"), 0o600)
	parse := func(args ...string) (*runConfig, error) {
		fs, c := runFlags(io.Discard)
		return c, parseFlags(fs, args)
	}
	t.Setenv("SEQUENCER_DATADIR", "/from/env")
	c, err := parse("--config", conf, "--mode", "primary")
	if err != nil {
		t.Fatal(err)
	}
	if c.mode != "primary" || c.datadir != "/from/env" || c.rpcAddr != "1.1.1.1:1" || c.maxInFlight != 7 || c.maxDataBytes != 131072 ||
		c.syncRequestRate != 2.5 || c.syncByteRate != p2p.DefaultSyncByteRate {
		t.Fatalf("precedence: %+v", c)
	}
	os.WriteFile(conf, []byte("rpc-adr = x\n"), 0o600)
	if _, err := parse("--config", conf); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Fatalf("typo in config: %v", err)
	}
	os.WriteFile(conf, []byte("max-in-flight = lots\n"), 0o600)
	if _, err := parse("--config", conf); err == nil {
		t.Fatal("bad value accepted")
	}
	if _, err := parse("--config", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing config file accepted")
	}
	t.Setenv("SEQUENCER_CONFIG", conf) // the config flag itself may come from the environment
	os.WriteFile(conf, []byte("queue-size = 9\n"), 0o600)
	if c, err := parse(); err != nil || c.queueSize != 9 {
		t.Fatalf("config from env: %+v %v", c, err)
	}
}

// TestCrossLogWarning (SPEC §4): an allowlist with the zero verifying
// contract is warned about; a distinct contract, or open mode, is not.
func TestCrossLogWarning(t *testing.T) {
	allow := rpc.Allowlist{common.HexToAddress("0x01"): {}}
	d := sequencer.Domain{ChainID: big.NewInt(5)}
	if w := crossLogWarning(allow, d); !strings.Contains(w, "verifying-contract") || !strings.Contains(w, "chain id 5") {
		t.Fatalf("zero contract with an allowlist: %q", w)
	}
	if w := crossLogWarning(nil, d); w != "" {
		t.Fatalf("open mode: %q", w)
	}
	d.VerifyingContract = common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")
	if w := crossLogWarning(allow, d); w != "" {
		t.Fatalf("a distinct contract: %q", w)
	}
}
