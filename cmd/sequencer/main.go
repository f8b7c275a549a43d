// Command sequencer runs a node of the P2P signed append-only sequencer and
// its operator tools:
//
//	sequencer [run] [flags]     start a node (the default)
//	sequencer keygen [flags]    make a signing key
//	sequencer verify --datadir  check a stored log offline
//	sequencer cluster status|add|remove --cluster-addr HOST:PORT
//	                            a cluster's voters (SPEC §8)
//	sequencer cluster reset --datadir DIR --node-id ID --address HOST:PORT
//	                            a stopped voter becomes the first of a new cluster
//	sequencer info|append|attempt|close|release|sync|read|ticket|lineage|equivocations --rpc URL
//	                            operator calls
//	sequencer version           print the version
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
	} else if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "-version", "--version":
			cmd, args = args[0], args[1:]
		}
	}
	switch cmd {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "sequencer %s\n", Version)
		return 0
	case "run":
		return cmdRun(args, stdout, stderr)
	case "keygen":
		return cmdKeygen(args, stdout, stderr)
	case "verify":
		return cmdVerify(args, stdout, stderr)
	case "cluster":
		return cmdCluster(args, stdout, stderr)
	case "prove":
		return cmdProve(args, stdout, stderr)
	case "audit":
		return cmdAudit(args, stdout, stderr)
	case "slash":
		return cmdSlash(args, stdout, stderr)
	case "info", "append", "attempt", "close", "release", "sync", "read", "ticket", "lineage", "equivocations":
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
	fmt.Fprint(w, `sequencer: a P2P signed append-only sequencer node and its operator tools.

usage: sequencer [command] [flags]

Node:
  run            start a node (the default command; flags below)
  keygen         make a signing key (--key-file F --password-file P: an encrypted keystore)
  verify         check a stored log offline (--datadir DIR; stop the node first)
  cluster        a cluster's voters: status | add --id ID --address HOST:PORT | remove --id ID
                 (--cluster-addr: any voter's cluster address; changes go to the leader);
                 reset --datadir DIR --node-id ID --address HOST:PORT: a stopped voter
                 becomes the first voter of a new cluster (a majority lost for good)
  version        print the version

Operator calls to a running node (--rpc URL, default http://127.0.0.1:24444; --json for JSON;
writes to a node with an allowlist are signed with CLIENT_PRIVATE_KEY):
  info           the node: role, head, peers, addresses
  append         sequence data (--data 0x.. | --text STR | --empty) [--lineage L --external-id ID]
  attempt        record a signed transaction's hash before broadcasting it (--lineage L --external-id ID --tx-hash 0x..)
  close          a ticket's transaction was mined (--lineage L --external-id ID)
  release        end a lease (--lineage L --external-id ID --reason rejected|broadcast)
  sync           report the chain's nonce of a lineage (--lineage L --chain-nonce N)
  read           entries (--from N [--limit N] [--lineage L] | --latest N)
  ticket         one ticket (--lineage L --external-id ID)
  lineage        one lineage (--lineage L)
  equivocations  proofs that the primary signed two entries at one seq
  prove          check one entry against the node's signed checkpoint (--seq N [--primary 0x..])
  audit          a monitor: each checkpoint signed and extending the last seen ([--primary 0x..] [--state F] [--count N] [--every D])
  slash          submit an equivocation proof to SequencerAccountability, which pays the bond to the sender (--proof F --rpc URL --contract 0x..; key in $SLASH_PRIVATE_KEY)

Each command takes -h. Every flag also reads SEQUENCER_<FLAG> from the environment.

Flags of run:
`)
	fs, _ := runFlags(w)
	fs.PrintDefaults()
}
