package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/seqnode/sequencer/cluster"
)

// cmdCluster runs `sequencer cluster status|add|remove` against a voter's
// cluster address (SPEC §8; docs/cluster.md has the runbook).
func cmdCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "status" && args[0] != "add" && args[0] != "remove") {
		fmt.Fprintln(stderr, "usage: sequencer cluster status|add|remove --cluster-addr HOST:PORT [--id ID] [--address HOST:PORT]")
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("sequencer cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	via := fs.String("cluster-addr", "127.0.0.1:24446", "a voter's cluster address (its entry in --cluster); changes go to the leader it names")
	id := fs.String("id", "", "add, remove: the voter's node id")
	addr := fs.String("address", "", "add: the new voter's cluster address HOST:PORT")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the answer; add and remove are sent again across a change of leader until then")
	if err := parseFlags(fs, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "sequencer cluster:", err)
		return 2
	}
	a := cluster.NewAdmin(*timeout)
	var st cluster.Status
	var err error
	switch sub {
	case "status":
		st, err = a.Status(*via)
	case "add":
		if *id == "" || *addr == "" {
			fmt.Fprintln(stderr, "sequencer cluster add: --id and --address are required")
			return 2
		}
		st, err = a.AddVoter(*via, cluster.Member{ID: *id, Addr: *addr})
	case "remove":
		if *id == "" {
			fmt.Fprintln(stderr, "sequencer cluster remove: --id is required")
			return 2
		}
		st, err = a.RemoveVoter(*via, *id)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sequencer cluster "+sub+":", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(st)
	return 0
}
