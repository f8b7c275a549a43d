package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/rpc"
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
	rpc, lineage, externalID, data, text, reason, txHash string
	from, limit, latest, chainNonce                      uint64
	asJSON, empty                                        bool
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
		fs.BoolVar(&f.empty, "empty", false, "append an empty payload (neither --data nor --text)")
	case "close", "release":
		fs.StringVar(&f.lineage, "lineage", "", "lineage of the ticket")
		fs.StringVar(&f.externalID, "external-id", "", "externalId of the ticket")
		if name == "release" {
			fs.StringVar(&f.reason, "reason", "", "rejected (never reached the network: nonce back to the pool) or broadcast (sent and failed: nonce used)")
		}
	case "attempt":
		fs.StringVar(&f.lineage, "lineage", "", "lineage of the ticket")
		fs.StringVar(&f.externalID, "external-id", "", "externalId of the ticket")
		fs.StringVar(&f.txHash, "tx-hash", "", "hash of the signed transaction about to be broadcast (0x + 64 hex)")
	case "sync":
		fs.StringVar(&f.lineage, "lineage", "", "lineage")
		fs.Uint64Var(&f.chainNonce, "chain-nonce", 0, "the account's confirmed transaction count on chain")
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
	if code, ok := parseCommand(fs, args, stderr, "sequencer "+name); !ok {
		return code
	}
	fail := func(code int, err error) int {
		if f.asJSON {
			// --json: the error as JSON too, for scripts.
			out := map[string]any{"message": err.Error()}
			var ce *client.Error
			if errors.As(err, &ce) {
				out = map[string]any{"code": ce.Code, "message": ce.Message}
				if ce.Data != nil {
					out["data"] = ce.Data
				}
			}
			b, _ := json.MarshalIndent(map[string]any{"error": out}, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return code
		}
		var ce *client.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "sequencer %s: error %d: %s\n", name, ce.Code, ce.Message)
			if ce.Data != nil {
				b, _ := json.Marshal(ce.Data)
				fmt.Fprintf(stderr, "data: %s\n", b)
			}
			return code
		}
		fmt.Fprintf(stderr, "sequencer %s: %v\n", name, err)
		return code
	}
	if err := checkOpFlags(name, fs, &f); err != nil {
		return fail(2, err)
	}
	if !strings.Contains(f.rpc, "://") {
		f.rpc = "http://" + f.rpc // host:port
	}
	if u, err := url.Parse(f.rpc); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
		return fail(2, fmt.Errorf("--rpc %q is not a node URL such as http://127.0.0.1:24444", f.rpc))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts []client.Option
	if k := os.Getenv("CLIENT_PRIVATE_KEY"); k != "" {
		key, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(k), "0x"))
		if err != nil {
			return fail(2, errors.New("CLIENT_PRIVATE_KEY is not a valid hex key"))
		}
		opts = append(opts, client.WithKey(key))
	}
	c, err := client.Dial(ctx, f.rpc, opts...)
	if err != nil {
		return fail(1, err)
	}
	defer c.Disconnect()
	res, err := runOp(ctx, c, name, &f)
	if err != nil {
		return fail(1, err)
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
	case "close":
		return c.Close(ctx, f.lineage, f.externalID)
	case "release":
		return c.Release(ctx, f.lineage, f.externalID, f.reason)
	case "sync":
		return c.SyncLineage(ctx, f.lineage, f.chainNonce)
	case "attempt":
		b, err := hexutil.Decode(f.txHash)
		if err != nil || len(b) != 32 {
			return nil, errors.New("--tx-hash must be 0x followed by 64 hex digits")
		}
		return c.Attempt(ctx, f.lineage, f.externalID, common.BytesToHash(b))
	case "equivocations":
		return c.Equivocations(ctx)
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
		for _, a := range r.Attempts {
			fmt.Fprintf(tw, "attempt\t%s\n", a)
		}
		if r.MinedTx != nil {
			fmt.Fprintf(tw, "mined tx\t%s\n", *r.MinedTx)
		}
	case []rpc.EquivocationJSON:
		if len(r) == 0 {
			fmt.Fprintln(tw, "no equivocation seen")
		}
		for _, q := range r {
			fmt.Fprintf(tw, "seq %d\t%s\t%s\n", q.A.Seq, q.A.Hash, q.B.Hash)
		}
	case *client.Lineage:
		fmt.Fprintf(tw, "lineage\t%s\nnext nonce\t%d\nfloor\t%d\nclosed\t%d\nfailed\t%d\nreleased\t%v\n", r.Lineage, r.NextNonce, r.Floor, r.Closed, r.Failed, r.Released)
		for _, f := range r.InFlight {
			fmt.Fprintf(tw, "in flight\tnonce %d  %s  (seq %d)\n", f.Nonce, f.ExternalID, f.Seq)
		}
		if ch := r.Chain; ch != nil {
			fmt.Fprintf(tw, "chain\tconfirmed nonce %d, latest nonce %d at block %d\n", ch.ConfirmedNonce, ch.LatestNonce, ch.Block)
			if ch.StuckSince != nil {
				since := time.UnixMilli(int64(*ch.StuckSince)).UTC()
				fmt.Fprintf(tw, "stuck since\t%s (%s): a broadcast transaction waits at nonce %d\n", since.Format(time.RFC3339), time.Since(since).Round(time.Second), ch.LatestNonce)
			}
		}
	}
}

// checkOpFlags refuses a call that would not do what was meant: an append
// with no payload given (an empty entry needs --empty), a ticket call
// without its ticket, a release without its reason, a sync without its
// nonce.
func checkOpFlags(name string, fs *flag.FlagSet, f *opFlags) error {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	need := func(flags ...string) error {
		for _, n := range flags {
			if !set[n] {
				return fmt.Errorf("--%s is required", n)
			}
		}
		return nil
	}
	switch name {
	case "append":
		n := 0
		for _, k := range []string{"data", "text", "empty"} {
			if set[k] {
				n++
			}
		}
		if n != 1 {
			return errors.New("give exactly one of --data 0x.., --text STR or --empty")
		}
	case "close", "ticket":
		return need("lineage", "external-id")
	case "attempt":
		return need("lineage", "external-id", "tx-hash")
	case "release":
		return need("lineage", "external-id", "reason")
	case "sync":
		return need("lineage", "chain-nonce")
	case "lineage":
		return need("lineage")
	}
	return nil
}

func hexAddr(a [20]byte) string { return common.Address(a).Hex() } // EIP-55
