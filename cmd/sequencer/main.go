// Command sequencer runs a node of the P2P signed append-only sequencer and
// its operator tools:
//
//	sequencer [run] [flags]     start a node (the default)
//	sequencer keygen [flags]    make a signing key
//	sequencer verify --datadir  check a stored log offline
//	sequencer info|append|read|ticket|lineage --rpc URL   operator calls
//
// Every flag also reads SEQUENCER_<FLAG> from the environment
// (--rpc-addr from SEQUENCER_RPC_ADDR); a flag on the command line wins.
package main

import (
	"fmt"
	"io"
	"os"
)

// Version is the node's version, reported by sequencer_info.
const Version = "0.1.0"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(args, stdout, stderr)
	case "keygen":
		return cmdKeygen(args, stdout, stderr)
	case "verify":
		return cmdVerify(args, stdout, stderr)
	case "info", "append", "read", "ticket", "lineage":
		return cmdOp(cmd, args, stdout, stderr)
	case "help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "sequencer: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  sequencer [run] [flags]              start a node (sequencer run --help for flags)
  sequencer keygen [--key-file FILE --password-file FILE]
  sequencer verify --datadir DIR       check a stored log offline
  sequencer info|append|read|ticket|lineage [--rpc URL] [--json] ...
                                       talk to a running node (see -h of each)
`)
}
