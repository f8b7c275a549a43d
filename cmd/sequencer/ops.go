package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/client"
)

// Operator commands: talk to a running node over JSON-RPC.
//
//	sequencer info    [--rpc URL] [--json]
//	sequencer append  --data 0x… | --text STR [--lineage L --external-id ID] [--json]
//	sequencer read    --from N [--limit N] [--lineage L] [--json]
//	sequencer read    --latest N [--json]
//	sequencer ticket  --lineage L --external-id ID [--json]
//	sequencer lineage --lineage L [--json]
//
// Writes to a node with an allowlist are signed with CLIENT_PRIVATE_KEY
// (hex) when it is set.
type opFlags struct {
	rpc, lineage, externalID, data, text string
	from, limit, latest                  uint64
	asJSON                               bool
}

func cmdOp(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sequencer "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f opFlags
	fs.StringVar(&f.rpc, "rpc", "http://127.0.0.1:24444", "node JSON-RPC URL")
	fs.BoolVar(&f.asJSON, "json", false, "print the raw JSON result")
	switch name {
	case "append":
		fs.StringVar(&f.data, "data", "", "data as 0x-hex")
		fs.StringVar(&f.text, "text", "", "data as text")
		fs.StringVar(&f.lineage, "lineage", "", "lineage to lease a nonce of")
		fs.StringVar(&f.externalID, "external-id", "", "your id of the transaction (required with --lineage)")
	case "read":
		fs.Uint64Var(&f.from, "from", 1, "first seq")
		fs.Uint64Var(&f.limit, "limit", 20, "entries, 1-1000")
		fs.StringVar(&f.lineage, "lineage", "", "only this lineage's entries")
		fs.Uint64Var(&f.latest, "latest", 0, "the log's last N entries (1-1000), instead of --from")
	case "ticket":
		fs.StringVar(&f.lineage, "lineage", "", "lineage")
		fs.StringVar(&f.externalID, "external-id", "", "externalId")
	case "lineage":
		fs.StringVar(&f.lineage, "lineage", "", "lineage")
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "sequencer %s: %v\n", name, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts []client.Option
	if k := os.Getenv("CLIENT_PRIVATE_KEY"); k != "" {
		key, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(k), "0x"))
		if err != nil {
			fmt.Fprintf(stderr, "sequencer %s: CLIENT_PRIVATE_KEY is not a valid hex key\n", name)
			return 2
		}
		opts = append(opts, client.WithKey(key))
	}
	c, err := client.Dial(ctx, f.rpc, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "sequencer %s: %v\n", name, err)
		return 1
	}
	defer c.Disconnect()
	res, err := runOp(ctx, c, name, &f)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "sequencer %s: error %d: %s\n", name, ce.Code, ce.Message)
			if ce.Data != nil {
				b, _ := json.Marshal(ce.Data)
				fmt.Fprintf(stderr, "data: %s\n", b)
			}
		} else {
			fmt.Fprintf(stderr, "sequencer %s: %v\n", name, err)
		}
		return 1
	}
	if f.asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	printHuman(stdout, res)
	return 0
}

func runOp(ctx context.Context, c *client.Client, name string, f *opFlags) (any, error) {
	switch name {
	case "info":
		return c.Info(ctx)
	case "append":
		data := []byte(f.text)
		if f.data != "" {
			if f.text != "" {
				return nil, errors.New("give --data or --text, not both")
			}
			b, err := hexutil.Decode(f.data)
			if err != nil {
				return nil, fmt.Errorf("--data: %w", err)
			}
			data = b
		}
		return c.Append(ctx, client.AppendRequest{Data: data, Lineage: f.lineage, ExternalID: f.externalID})
	case "read":
		if f.latest > 0 {
			if f.lineage != "" {
				return nil, errors.New("give --latest or --lineage, not both")
			}
			return c.ReadLatest(ctx, int(min(f.latest, 1<<20)))
		}
		return c.Read(ctx, f.from, int(f.limit), f.lineage)
	case "ticket":
		return c.Ticket(ctx, f.lineage, f.externalID)
	case "lineage":
		return c.Lineage(ctx, f.lineage)
	}
	return nil, fmt.Errorf("unknown command %q", name)
}

func printHuman(w io.Writer, res any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch r := res.(type) {
	case *client.Info:
		fmt.Fprintf(tw, "role\t%s\nversion\t%s\nprimary\t%s\nchain id\t%s\nverifying contract\t%s\nhead\t%d %s\nlineages\t%d\npeers\t%d\nhalted\t%v\n",
			r.Role, r.Version, hexAddr(r.Primary), r.ChainID, hexAddr(r.VerifyingContract), r.Head.Seq, r.Head.Hash, r.Lineages, r.Peers, r.Halted)
		for _, a := range r.P2P {
			fmt.Fprintf(tw, "p2p\t%s\n", a)
		}
		if r.PrimaryHead != nil {
			fmt.Fprintf(tw, "primary head\t%d\n", *r.PrimaryHead)
		}
	case *client.Receipt:
		fmt.Fprintf(tw, "seq\t%d\nkind\t%s\nlineage\t%s\nnonce\t%d\nexternal id\t%s\nhash\t%s\nexisting\t%v\n",
			r.Seq, r.Kind, r.Lineage, r.Nonce, r.ExternalID, r.Hash, r.Existing)
	case *client.ReadPage:
		fmt.Fprintln(tw, "SEQ\tKIND\tLINEAGE\tNONCE\tEXTERNAL ID\tHASH")
		for _, e := range r.Entries {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", e.Seq, e.Kind, e.Lineage, e.Nonce, e.ExternalID, e.Hash)
		}
		fmt.Fprintf(tw, "(%d entries; head %d)\n", len(r.Entries), r.Head)
	case *client.Ticket:
		fmt.Fprintf(tw, "lineage\t%s\nexternal id\t%s\nnonce\t%d\nstate\t%s\nlease seq\t%d\n", r.Lineage, r.ExternalID, r.Nonce, r.State, r.LeaseSeq)
		if r.FinalSeq != 0 {
			fmt.Fprintf(tw, "final seq\t%d\n", r.FinalSeq)
		}
	case *client.Lineage:
		fmt.Fprintf(tw, "lineage\t%s\nnext nonce\t%d\nfloor\t%d\nclosed\t%d\nfailed\t%d\nreleased\t%v\n", r.Lineage, r.NextNonce, r.Floor, r.Closed, r.Failed, r.Released)
		for _, f := range r.InFlight {
			fmt.Fprintf(tw, "in flight\tnonce %d  %s  (seq %d)\n", f.Nonce, f.ExternalID, f.Seq)
		}
	}
}

func hexAddr(a [20]byte) string { return common.Address(a).Hex() } // EIP-55
