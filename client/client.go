package client

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/rpc"
	"github.com/seqnode/sequencer/sequencer"
)

// The JSON shapes of SPEC §4, shared with the server.
type (
	Entry    = rpc.EntryJSON
	Receipt  = rpc.ReceiptJSON
	Ticket   = rpc.TicketJSON
	Lineage  = rpc.LineageJSON
	Info     = rpc.InfoJSON
	ReadPage = rpc.ReadResult
	// Checkpoint, InclusionProof and ConsistencyProof are SPEC §10's.
	Checkpoint       = rpc.CheckpointJSON
	InclusionProof   = rpc.InclusionProofJSON
	ConsistencyProof = rpc.ConsistencyProofJSON
)

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	c        *gethrpc.Client
	url      string
	hc       *http.Client
	key      *ecdsa.PrivateKey
	from     common.Address
	domain   *sequencer.Domain
	retries  int
	backoff  time.Duration
	validity time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithKey signs every write with key (EIP-712 Request, SPEC §4), as a node
// with an allowlist requires.
func WithKey(key *ecdsa.PrivateKey) Option {
	return func(c *Client) { c.key, c.from = key, crypto.PubkeyToAddress(key.PublicKey) }
}

// WithDomain sets the log's EIP-712 domain instead of asking the node.
func WithDomain(d sequencer.Domain) Option { return func(c *Client) { c.domain = &d } }

// WithRetries retries a call up to n more times on transport errors and on
// Overloaded (4007), waiting backoff, then twice as long each time. A write
// without externalId is retried only on Overloaded, which wrote nothing.
// The default is 3 retries from 50 ms.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// WithHTTPClient sets the HTTP client (its transport's connection pool).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// Dial connects to a node at url: http(s):// or ws(s)://. Subscribe uses
// WebSocket; with an http URL it derives the ws URL.
func Dial(ctx context.Context, url string, opts ...Option) (*Client, error) {
	c := &Client{url: url, retries: 3, backoff: 50 * time.Millisecond, validity: 5 * time.Minute}
	for _, o := range opts {
		o(c)
	}
	var copts []gethrpc.ClientOption
	if c.hc != nil {
		copts = append(copts, gethrpc.WithHTTPClient(c.hc))
	}
	rc, err := gethrpc.DialOptions(ctx, url, copts...)
	if err != nil {
		return nil, err
	}
	c.c = rc
	return c, nil
}

// Disconnect closes the connection. (Close is the ticket call of SPEC §4.)
func (c *Client) Disconnect() { c.c.Close() }

// RPC is the underlying go-ethereum client, for batches and raw calls.
func (c *Client) RPC() *gethrpc.Client { return c.c }

// call makes one call, retrying as WithRetries says.
func (c *Client) call(ctx context.Context, idempotent bool, out any, method string, args ...any) error {
	wait := c.backoff
	for attempt := 0; ; attempt++ {
		err := wrap(c.c.CallContext(ctx, out, method, args...))
		if err == nil {
			return nil
		}
		code := Code(err)
		retry := code == CodeOverloaded || (code == 0 && idempotent && ctx.Err() == nil)
		if !retry || attempt >= c.retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *Client) getDomain(ctx context.Context) (sequencer.Domain, error) {
	if c.domain != nil {
		return *c.domain, nil
	}
	in, err := c.Info(ctx)
	if err != nil {
		return sequencer.Domain{}, fmt.Errorf("fetch domain: %w", err)
	}
	d := sequencer.Domain{ChainID: in.ChainID, VerifyingContract: common.Address(in.VerifyingContract)}
	c.domain = &d
	return d, nil
}

// sign adds from, deadline and signature to params when the client has a key.
func (c *Client) sign(ctx context.Context, params map[string]any, req sequencer.Request) error {
	if c.key == nil {
		return nil
	}
	d, err := c.getDomain(ctx)
	if err != nil {
		return err
	}
	req.Deadline = uint64(time.Now().Add(c.validity).Unix())
	sig, err := sequencer.Sign(sequencer.NewHasher(d).RequestHash(&req), c.key)
	if err != nil {
		return err
	}
	params["from"] = c.from.Hex()
	params["deadline"] = req.Deadline
	params["signature"] = hexutil.Encode(sig[:])
	return nil
}

// AppendRequest is a transaction to sequence. With a Lineage, it leases
// the lineage's next nonce to ExternalID (a ticket).
type AppendRequest struct {
	Data       []byte
	Lineage    string
	ExternalID string
}

// appendParams builds (and signs, with a key) the params of an append.
func (c *Client) appendParams(ctx context.Context, r AppendRequest) (map[string]any, error) {
	params := map[string]any{"data": hexutil.Encode(r.Data)}
	if r.Lineage != "" {
		params["lineage"] = r.Lineage
	}
	if r.ExternalID != "" {
		params["externalId"] = r.ExternalID
	}
	req := sequencer.Request{Kind: sequencer.KindTx, Lineage: r.Lineage, ExternalID: r.ExternalID, DataHash: crypto.Keccak256Hash(r.Data)}
	return params, c.sign(ctx, params, req)
}

// finishParams builds (and signs) the params of a close or release:
// reason "" for a close, "rejected" or "broadcast" for a release.
func (c *Client) finishParams(ctx context.Context, lineage, externalID, reason string) (string, map[string]any, error) {
	params := map[string]any{"lineage": lineage, "externalId": externalID}
	kind, method := sequencer.KindClose, "sequencer_close"
	if reason != "" {
		params["reason"] = reason
		kind, method = sequencer.KindRelease, "sequencer_release"
		if reason == "broadcast" {
			kind = sequencer.KindFail
		}
	}
	return method, params, c.sign(ctx, params, sequencer.Request{Kind: kind, Lineage: lineage, ExternalID: externalID})
}

// Append sequences a transaction (sequencer_append). A retry of the same
// request returns the same receipt with Existing set.
func (c *Client) Append(ctx context.Context, r AppendRequest) (*Receipt, error) {
	params, err := c.appendParams(ctx, r)
	if err != nil {
		return nil, err
	}
	var out Receipt
	return &out, c.call(ctx, r.ExternalID != "", &out, "sequencer_append", params)
}

// Close closes a ticket whose transaction was mined (sequencer_close).
func (c *Client) Close(ctx context.Context, lineage, externalID string) (*Receipt, error) {
	return c.finish(ctx, lineage, externalID, "")
}

// Release ends a lease whose transaction did not make it: reason
// "rejected" (never reached the network: the nonce is reused) or
// "broadcast" (sent and failed: the nonce stays consumed).
func (c *Client) Release(ctx context.Context, lineage, externalID, reason string) (*Receipt, error) {
	return c.finish(ctx, lineage, externalID, reason)
}

func (c *Client) finish(ctx context.Context, lineage, externalID, reason string) (*Receipt, error) {
	method, params, err := c.finishParams(ctx, lineage, externalID, reason)
	if err != nil {
		return nil, err
	}
	var out Receipt
	return &out, c.call(ctx, true, &out, method, params)
}

// Attempt records, before the transaction is broadcast, the hash of the
// signed transaction for a leased ticket's nonce (sequencer_attempt, SPEC
// §9); a fee bump or replacement is another attempt. An error with code
// 4004 (TicketFinal) means the lease ended (for example it expired): the
// transaction must not be broadcast. The same hash again is safe to retry.
func (c *Client) Attempt(ctx context.Context, lineage, externalID string, txHash common.Hash) (*Receipt, error) {
	params := map[string]any{"lineage": lineage, "externalId": externalID, "txHash": txHash}
	if err := c.sign(ctx, params, sequencer.Request{Kind: sequencer.KindAttempt, Lineage: lineage, ExternalID: externalID, DataHash: txHash}); err != nil {
		return nil, err
	}
	var out Receipt
	return &out, c.call(ctx, true, &out, "sequencer_attempt", params)
}

// SyncLineage reports the chain's nonce of a lineage: leased tickets below
// it close, pooled nonces below it leave the pool (sequencer_syncLineage).
func (c *Client) SyncLineage(ctx context.Context, lineage string, chainNonce uint64) (*Receipt, error) {
	params := map[string]any{"lineage": lineage, "chainNonce": chainNonce}
	if err := c.sign(ctx, params, sequencer.Request{Kind: sequencer.KindSync, Lineage: lineage, Nonce: chainNonce}); err != nil {
		return nil, err
	}
	var out Receipt
	// Applying the same chain nonce twice changes nothing: safe to retry.
	return &out, c.call(ctx, true, &out, "sequencer_syncLineage", params)
}

// Read returns up to limit entries from seq from; with lineage, only that
// lineage's entries (sequencer_read).
func (c *Client) Read(ctx context.Context, from uint64, limit int, lineage string) (*ReadPage, error) {
	params := map[string]any{"from": from, "limit": limit}
	if lineage != "" {
		params["lineage"] = lineage
	}
	var out ReadPage
	return &out, c.call(ctx, true, &out, "sequencer_read", params)
}

// ReadLatest returns the log's last n entries (1-1000), in seq order
// (sequencer_read {latest}).
func (c *Client) ReadLatest(ctx context.Context, n int) (*ReadPage, error) {
	var out ReadPage
	return &out, c.call(ctx, true, &out, "sequencer_read", map[string]any{"latest": n})
}

// Ticket returns a ticket (sequencer_ticket).
func (c *Client) Ticket(ctx context.Context, lineage, externalID string) (*Ticket, error) {
	var out Ticket
	return &out, c.call(ctx, true, &out, "sequencer_ticket", map[string]any{"lineage": lineage, "externalId": externalID})
}

// Lineage returns a lineage's nonce state (sequencer_lineage).
func (c *Client) Lineage(ctx context.Context, lineage string) (*Lineage, error) {
	var out Lineage
	return &out, c.call(ctx, true, &out, "sequencer_lineage", map[string]any{"lineage": lineage})
}

// Checkpoint returns the log key's signed checkpoint of the tree at size
// (0: the head), sequencer_checkpoint. Check it with VerifyCheckpoint.
func (c *Client) Checkpoint(ctx context.Context, size uint64) (*Checkpoint, error) {
	params := map[string]any{}
	if size > 0 {
		params["size"] = size
	}
	var out Checkpoint
	return &out, c.call(ctx, true, &out, "sequencer_checkpoint", params)
}

// InclusionProof returns the audit path of entry seq in the tree of size
// (0: the head), sequencer_inclusionProof. Check it with VerifyInclusion.
func (c *Client) InclusionProof(ctx context.Context, seq, size uint64) (*InclusionProof, error) {
	params := map[string]any{"seq": seq}
	if size > 0 {
		params["size"] = size
	}
	var out InclusionProof
	return &out, c.call(ctx, true, &out, "sequencer_inclusionProof", params)
}

// ConsistencyProof returns the proof that the tree of size from is a
// prefix of the tree of size to. Check it with VerifyConsistency.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) (*ConsistencyProof, error) {
	var out ConsistencyProof
	return &out, c.call(ctx, true, &out, "sequencer_consistencyProof", map[string]any{"from": from, "to": to})
}

// Info describes the node (sequencer_info).
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var out Info
	return &out, c.call(ctx, true, &out, "sequencer_info")
}

// Equivocations returns the equivocation proofs the node holds.
func (c *Client) Equivocations(ctx context.Context) ([]rpc.EquivocationJSON, error) {
	var out []rpc.EquivocationJSON
	return out, c.call(ctx, true, &out, "sequencer_equivocations")
}
