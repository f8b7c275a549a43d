package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/sequencer"
)

// The outsider's commands of SPEC §10:
//
//	sequencer prove --seq N [--primary 0x..] [--rpc URL]
//	sequencer audit [--primary 0x..] [--state FILE] [--every D] [--count N] [--rpc URL]
//
// prove checks one entry against the node's signed checkpoint; audit is a
// monitor: it checks that every checkpoint it sees is signed and extends
// the last one it saw (kept in --state between runs).

// trustAnchor dials the node and returns the log's domain and the primary
// to check signatures against: --primary when given, else the node's own
// claim (said on stderr: it proves consistency, not whose log it is).
func trustAnchor(ctx context.Context, rpcURL, primaryFlag string, stderr io.Writer) (*client.Client, sequencer.Domain, common.Address, error) {
	c, err := client.Dial(ctx, rpcURL)
	if err != nil {
		return nil, sequencer.Domain{}, common.Address{}, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		c.Disconnect()
		return nil, sequencer.Domain{}, common.Address{}, err
	}
	d := sequencer.Domain{ChainID: info.ChainID, VerifyingContract: common.Address(info.VerifyingContract)}
	primary := common.Address(info.Primary)
	switch {
	case primaryFlag == "":
		fmt.Fprintf(stderr, "trusting the node's word that the log is %s's: give --primary to check it\n", primary.Hex())
	case !common.IsHexAddress(primaryFlag):
		c.Disconnect()
		return nil, d, primary, fmt.Errorf("--primary %q is not an address", primaryFlag)
	default:
		primary = common.HexToAddress(primaryFlag)
	}
	return c, d, primary, nil
}

func cmdProve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sequencer prove", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rpcURL := fs.String("rpc", "http://127.0.0.1:24444", "node JSON-RPC URL")
	seq := fs.Uint64("seq", 0, "the entry to prove")
	primaryFlag := fs.String("primary", "", "the log's primary address (default: what the node says)")
	if code, ok := parseCommand(fs, args, stderr, "sequencer prove"); !ok {
		return code
	}
	if *seq == 0 {
		fmt.Fprintln(stderr, "sequencer prove: --seq is required")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fail := func(err error) int { fmt.Fprintf(stderr, "sequencer prove: %v\n", err); return 1 }
	c, d, primary, err := trustAnchor(ctx, *rpcURL, *primaryFlag, stderr)
	if err != nil {
		return fail(err)
	}
	defer c.Disconnect()
	cp, err := c.Checkpoint(ctx, 0)
	if err != nil {
		return fail(err)
	}
	if err := client.VerifyCheckpoint(d, primary, cp); err != nil {
		return fail(err)
	}
	page, err := c.Read(ctx, *seq, 1, "")
	if err != nil {
		return fail(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Seq != *seq {
		return fail(fmt.Errorf("the node has no entry %d (head %d)", *seq, page.Head))
	}
	e := page.Entries[0]
	if err := client.VerifyEntry(d, primary, e); err != nil {
		return fail(err)
	}
	p, err := c.InclusionProof(ctx, *seq, cp.Size)
	if err != nil {
		return fail(err)
	}
	if err := client.VerifyInclusion(e, p, cp.Root); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "entry %d (%s, hash %s) is in the tree of size %d, root %s, checkpoint signed by %s\n",
		e.Seq, e.Kind, e.Hash, cp.Size, cp.Root, primary.Hex())
	return 0
}

// auditState is what audit remembers between runs.
type auditState struct {
	Size uint64      `json:"size"`
	Root common.Hash `json:"root"`
}

func cmdAudit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sequencer audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rpcURL := fs.String("rpc", "http://127.0.0.1:24444", "node JSON-RPC URL")
	primaryFlag := fs.String("primary", "", "the log's primary address (default: what the node says)")
	statePath := fs.String("state", "", "file keeping the last checkpoint seen (size and root), so that the next run checks against it")
	every := fs.Duration("every", 10*time.Second, "time between checks")
	count := fs.Int("count", 1, "checks to make (0: until stopped)")
	if code, ok := parseCommand(fs, args, stderr, "sequencer audit"); !ok {
		return code
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "sequencer audit: %v\n", err); return 1 }
	var last auditState
	if *statePath != "" {
		if b, err := os.ReadFile(*statePath); err == nil {
			if err := json.Unmarshal(b, &last); err != nil {
				return fail(fmt.Errorf("--state %s: %w", *statePath, err))
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
	}
	for i := 0; *count == 0 || i < *count; i++ {
		if i > 0 {
			time.Sleep(*every)
		}
		next, err := auditOnce(*rpcURL, *primaryFlag, last, stderr)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "checkpoint %d root %s: signed, extends %d\n", next.Size, next.Root, last.Size)
		last = next
		if *statePath != "" {
			b, _ := json.Marshal(last)
			if err := os.WriteFile(*statePath, b, 0o644); err != nil {
				return fail(err)
			}
		}
	}
	return 0
}

// auditOnce checks the node's latest checkpoint against the last one seen.
func auditOnce(rpcURL, primaryFlag string, last auditState, stderr io.Writer) (auditState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, d, primary, err := trustAnchor(ctx, rpcURL, primaryFlag, stderr)
	if err != nil {
		return last, err
	}
	defer c.Disconnect()
	cp, err := c.Checkpoint(ctx, 0)
	if err != nil {
		return last, err
	}
	if err := client.VerifyCheckpoint(d, primary, cp); err != nil {
		return last, err
	}
	switch {
	case cp.Size < last.Size:
		return last, fmt.Errorf("the log shrank: checkpoint of %d entries after one of %d", cp.Size, last.Size)
	case last.Size > 0:
		p, err := c.ConsistencyProof(ctx, last.Size, cp.Size)
		if err != nil {
			return last, err
		}
		if err := client.VerifyConsistency(p, last.Root, cp.Root); err != nil {
			return last, fmt.Errorf("INCONSISTENT: %w", err)
		}
	}
	return auditState{Size: cp.Size, Root: cp.Root}, nil
}
