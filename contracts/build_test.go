package contracts

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/abigen"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"

	"github.com/seqnode/sequencer/internal/npmtest"
)

const name = "SequencerAccountability"

// The ABI of SPEC §10, exactly: every function and event with its types
// and mutability, nothing more.
var specABI = []string{
	"constructor(address,uint256,address,uint64) nonpayable",
	"function bond() payable",
	"function bonded() view returns (uint256)",
	"function slashed() view returns (bool)",
	"function requestWithdrawal() nonpayable",
	"function withdraw() nonpayable",
	"function entryHash((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64)) view returns (bytes32)",
	"function checkpointHash((uint64,bytes32,uint64)) view returns (bytes32)",
	"function slashEquivocation((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64),bytes,(uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64),bytes) nonpayable",
	"function slashCheckpointEquivocation((uint64,bytes32,uint64),bytes,(uint64,bytes32,uint64),bytes) nonpayable",
	"function slashInclusion((uint64,bytes32,uint64),bytes,(uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64),bytes,bytes32,bytes32[]) nonpayable",
	"function anchor((uint64,bytes32,uint64),bytes) nonpayable",
	"function latestAnchor() view returns (uint64,bytes32,uint64)",
	"event Slashed(address indexed,uint64,uint256)",
	"event Anchored(uint64,bytes32,uint64)",
}

func TestABIMatchesSpec(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("build", name+".abi"))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := abi.JSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	types := func(args abi.Arguments) string {
		var s []string
		for _, a := range args {
			ty := a.Type.String()
			if a.Indexed {
				ty += " indexed"
			}
			s = append(s, ty)
		}
		return strings.Join(s, ",")
	}
	var got []string
	got = append(got, fmt.Sprintf("constructor(%s) %s", types(parsed.Constructor.Inputs), parsed.Constructor.StateMutability))
	for _, m := range parsed.Methods {
		s := fmt.Sprintf("function %s(%s) %s", m.RawName, types(m.Inputs), m.StateMutability)
		if len(m.Outputs) > 0 {
			s += " returns (" + types(m.Outputs) + ")"
		}
		got = append(got, s)
	}
	for _, ev := range parsed.Events {
		got = append(got, fmt.Sprintf("event %s(%s)", ev.RawName, types(ev.Inputs)))
	}
	if len(parsed.Errors) > 0 || parsed.HasFallback() || parsed.HasReceive() {
		t.Errorf("the ABI has more than SPEC §10: errors %v fallback %v receive %v", parsed.Errors, parsed.HasFallback(), parsed.HasReceive())
	}
	want := slices.Clone(specABI)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ABI differs from SPEC §10:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// The Go binding is what go-ethereum's abigen makes from the committed ABI
// and bytecode (go generate ./contracts runs the abigen command; this runs
// the same library call).
func TestBindingsMatchBuild(t *testing.T) {
	abiJSON, err := os.ReadFile(filepath.Join("build", name+".abi"))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join("build", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	code, err := abigen.Bind([]string{name}, []string{string(abiJSON)}, []string{string(bin)}, nil, "contracts", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("accountability.go")
	if err != nil {
		t.Fatal(err)
	}
	if code != string(have) {
		t.Fatal("accountability.go is not abigen's binding of build/: run `go generate ./contracts`")
	}
}

// The committed ABI and bytecode are what the pinned solc makes of the
// source: compile.mjs runs in a temporary directory after `npm ci`.
func TestCompiledMatchesSource(t *testing.T) {
	dir := installSolc(t)
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "compile.mjs", out)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("compile.mjs: %v\n%s", err, b)
	}
	t.Logf("%s", b)
	for _, f := range []string{name + ".abi", name + ".bin"} {
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("build", f))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("build/%s differs from what solc makes of the source: run `cd contracts && npm ci && npm run build`, then `go generate ./contracts`", f)
		}
	}
}

// installSolc installs the compile script and the pinned solc in a
// temporary directory; it skips without Node.js or the registry.
func installSolc(t *testing.T) string {
	t.Helper()
	return npmtest.Install(t, "the recompilation of SequencerAccountability.sol (the committed build is still checked against the SPEC's ABI)",
		"package.json", "package-lock.json", "compile.mjs", name+".sol")
}

// TestGas reports the gas of each function (the README's table) and
// guards it from growing unnoticed. Gas is deterministic: these are exact
// figures of this build, not timings.
func TestGas(t *testing.T) {
	osakaGas := gasFigures(t, osaka)
	bogotaGas := gasFigures(t, params.AllDevChainProtocolChanges)
	var table strings.Builder
	table.WriteString("\n| function | gas (Osaka) | gas (Bogota, EIP-8037) |\n|---|---|---|\n")
	for _, r := range []struct {
		name  string
		limit uint64 // under Osaka
	}{{"deploy", 1_600_000}, {"bond", 60_000}, {"anchor (first)", 120_000}, {"anchor", 60_000},
		{"requestWithdrawal", 50_000}, {"slashEquivocation", 100_000}, {"slashCheckpointEquivocation", 100_000},
		{"slashInclusion (20-hash path)", 120_000}} {
		g, ok := osakaGas[r.name]
		if !ok {
			t.Fatalf("no gas figure for %s", r.name)
		}
		if g > r.limit {
			t.Errorf("%s used %d gas, more than %d", r.name, g, r.limit)
		}
		fmt.Fprintf(&table, "| `%s` | %d | %d |\n", r.name, g, bogotaGas[r.name])
	}
	t.Log(table.String())
}

// gasFigures runs every function once on a chain of config and returns
// the gas each used.
func gasFigures(t *testing.T, config *params.ChainConfig) map[string]uint64 {
	e := newEnvOn(t, config)
	c1, s1 := e.signCheckpoint(10, [32]byte{1}, 1, e.primary)
	e.mustSend("anchor (first)", func() (*types.Transaction, error) { return e.c.Anchor(e.opts(e.funder), c1, s1) })
	c2, s2 := e.signCheckpoint(11, [32]byte{2}, 2, e.primary)
	e.mustSend("anchor", func() (*types.Transaction, error) { return e.c.Anchor(e.opts(e.funder), c2, s2) })
	e.mustSend("requestWithdrawal", func() (*types.Transaction, error) { return e.c.RequestWithdrawal(e.opts(e.primary)) })

	a := e.signEntry(entryAt(7, "job-a", 1), e.primary)
	b := e.signEntry(entryAt(7, "job-b", 2), e.primary)
	e.mustSend("slashEquivocation", func() (*types.Transaction, error) {
		return e.c.SlashEquivocation(e.opts(e.slasher), EntryArg(a), a.Signature[:], EntryArg(b), b.Signature[:])
	})
	e2 := newEnvOn(t, config)
	ca, sa := e2.signCheckpoint(1000, [32]byte{1}, 5, e2.primary)
	cb, sb := e2.signCheckpoint(1000, [32]byte{2}, 5, e2.primary)
	e2.mustSend("slashCheckpointEquivocation", func() (*types.Transaction, error) {
		return e2.c.SlashCheckpointEquivocation(e2.opts(e2.slasher), ca, sa, cb, sb)
	})
	e3 := newEnvOn(t, config)
	const n, k = 1 << 20, 12345 // a path of 20 hashes: a log of a million entries
	f := newFraudSparse(t, e3, n, k)
	c, sc := e3.signCheckpoint(n, f.root, 9, e3.primary)
	e3.mustSend("slashInclusion (20-hash path)", func() (*types.Transaction, error) {
		return e3.c.SlashInclusion(e3.opts(e3.slasher), c, sc, EntryArg(f.entry), f.entry.Signature[:], f.leafEntryHash, f.path)
	})

	all := map[string]uint64{}
	for _, m := range []map[string]uint64{e.gas, e2.gas, e3.gas} {
		for k, v := range m {
			all[k] = v
		}
	}
	return all
}
