package main

// The tests drive real nodes with internal/testnode: the test binary
// re-executes itself as a sequencer node (the child runs Main with its own
// command line), so crash and CLI tests can kill a real process with
// SIGKILL.

import (
	"bytes"
	"os"
	"testing"

	"github.com/seqnode/sequencer/internal/testnode"
)

func TestMain(m *testing.M) {
	testnode.ServeChild(Main)
	os.Exit(m.Run())
}

// verifyDir runs `sequencer verify --datadir dir` in-process.
func verifyDir(dir string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main([]string{"verify", "--datadir", dir}, &out, &errb)
	return code, out.String(), errb.String()
}

// runCommand runs an operator command (args[0]) in-process against the
// node at rpcURL.
func runCommand(rpcURL string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(append(args[:1:1], append([]string{"--rpc", rpcURL}, args[1:]...)...), &out, &errb)
	return code, out.String(), errb.String()
}
