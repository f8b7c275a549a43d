package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/seqnode/sequencer/cluster"
	"github.com/seqnode/sequencer/internal/durable"
	"github.com/seqnode/sequencer/sequencer"
)

// cmdCluster runs `sequencer cluster status|add|remove` against a voter's
// cluster address (SPEC §8; docs/cluster.md has the runbook).
func cmdCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "reset" {
		return cmdClusterReset(args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "status" && args[0] != "add" && args[0] != "remove") {
		fmt.Fprintln(stderr, "usage: sequencer cluster status|add|remove --cluster-addr HOST:PORT [--id ID] [--address HOST:PORT]\n       sequencer cluster reset --datadir DIR --node-id ID --address HOST:PORT")
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("sequencer cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	via := fs.String("cluster-addr", "127.0.0.1:24446", "a voter's cluster address (its entry in --cluster); changes go to the leader it names")
	id := fs.String("id", "", "add, remove: the voter's node id")
	addr := fs.String("address", "", "add: the new voter's cluster address HOST:PORT")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the answer; add and remove are sent again across a change of leader until then")
	if code, ok := parseCommand(fs, args[1:], stderr, "sequencer cluster"); !ok {
		return code
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

// cmdClusterReset runs `sequencer cluster reset --datadir DIR --node-id ID
// --address HOST:PORT` on a stopped voter: its Raft state is moved aside
// and replaced by that of a new cluster whose only voter it is, over the
// log it keeps. It is the way back
// when a majority of the voters is lost for good (docs/cluster.md): Raft
// cannot elect a leader without a majority, and nothing else may write.
func cmdClusterReset(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sequencer cluster reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	datadir := fs.String("datadir", "", "the stopped voter's data directory")
	id := fs.String("node-id", "", "its node id in the new cluster")
	addr := fs.String("address", "", "its cluster address HOST:PORT in the new cluster")
	if code, ok := parseCommand(fs, args, stderr, "sequencer cluster reset"); !ok {
		return code
	}
	if *datadir == "" || *id == "" || *addr == "" {
		fmt.Fprintln(stderr, "sequencer cluster reset: --datadir, --node-id and --address are required")
		return 2
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		fmt.Fprintln(stderr, "sequencer cluster reset: --address:", err)
		return 2
	}
	res, err := resetCluster(*datadir, cluster.Member{ID: *id, Addr: *addr}, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "sequencer cluster reset:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res)
	return 0
}

// resetResult is what `cluster reset` did.
type resetResult struct {
	Head         uint64 `json:"head"`
	HeadHash     string `json:"headHash"`
	RaftMovedTo  string `json:"raftMovedTo,omitempty"`
	AppliedIndex uint64 `json:"appliedIndexWas"`
	Start        string `json:"start"` // the flags to start it with
}

// resetCluster moves datadir's Raft state aside and writes that of a new
// cluster of one over the log (cluster.NewClusterState: its index and
// term are past every earlier Raft state of this datadir, so a reset run
// again after one cut short, or after the new cluster ran, is safe). The
// store's lock makes it fail while the node runs.
func resetCluster(datadir string, self cluster.Member, now time.Time) (resetResult, error) {
	var res resetResult
	// Opening would create an empty log where none is: a mistyped datadir
	// must not become a new cluster.
	if _, err := os.Stat(filepath.Join(datadir, "db", "CURRENT")); err != nil {
		return res, fmt.Errorf("no log in %s: %w", datadir, err)
	}
	store, err := sequencer.OpenLevelStore(filepath.Join(datadir, "db"), false)
	if err != nil {
		return res, fmt.Errorf("open the log (is the node stopped?): %w", err)
	}
	defer store.Close()
	if store.Damaged != "" {
		return res, fmt.Errorf("the log is damaged (%s): recover its entries first (start it as a replica of the cluster's other nodes)", store.Damaged)
	}
	h := store.Head()
	res.Head, res.HeadHash = h.Seq, h.Hash.Hex()
	if res.AppliedIndex, err = store.Applied(); err != nil {
		return res, err
	}
	raftDir := filepath.Join(datadir, "raft")
	switch _, err := os.Stat(raftDir); {
	case err == nil:
		res.RaftMovedTo = filepath.Join(datadir, "raft.reset-"+now.UTC().Format("20060102T150405.000Z"))
		if err := os.Rename(raftDir, res.RaftMovedTo); err != nil {
			return res, err
		}
		if err := durable.OS.SyncDir(datadir); err != nil {
			return res, err
		}
	case !errors.Is(err, os.ErrNotExist):
		return res, err
	}
	old, err := filepath.Glob(filepath.Join(datadir, "raft.reset-*"))
	if err != nil {
		return res, err
	}
	if err := cluster.NewClusterState(raftDir, old, store, self, now); err != nil {
		return res, fmt.Errorf("write the new cluster's state: %w", err)
	}
	res.Start = "--cluster " + self.ID + "=" + self.Addr + " --node-id " + self.ID
	return res, nil
}
