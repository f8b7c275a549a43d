package client

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
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
	wsMu     sync.Mutex
	ws       *wsLink // writes over WebSocket (ws.go)
	quit     bool    // Disconnect was called
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
func (c *Client) Disconnect() {
	c.closeWS()
	c.c.Close()
}

// RPC is the underlying go-ethereum client, for batches and raw calls.
func (c *Client) RPC() *gethrpc.Client { return c.c }

// call makes one call, retrying as WithRetries says.
func (c *Client) call(ctx context.Context, idempotent bool, out any, method string, args ...any) error {
	return c.retry(ctx, idempotent, func() error { return wrap(c.c.CallContext(ctx, out, method, args...)) })
}

// retry runs f until it succeeds, or fails in a way that is not retried,
// or the retries run out: Overloaded is retried always (it wrote
// nothing), a transport error only when the call is idempotent.
func (c *Client) retry(ctx context.Context, idempotent bool, f func() error) error {
	wait := c.backoff
	for attempt := 0; ; attempt++ {
		err := f()
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

// sign signs req when the client has a key (nil when it has none).
func (c *Client) sign(ctx context.Context, req sequencer.Request) (*auth, error) {
	if c.key == nil {
		return nil, nil
	}
	d, err := c.getDomain(ctx)
	if err != nil {
		return nil, err
	}
	req.Deadline = uint64(time.Now().Add(c.validity).Unix())
	sig, err := sequencer.Sign(sequencer.NewHasher(d).RequestHash(&req), c.key)
	if err != nil {
		return nil, err
	}
	return &auth{from: c.from, deadline: req.Deadline, sig: sig}, nil
}

// signParams adds from, deadline and signature to params when the client
// has a key.
func (c *Client) signParams(ctx context.Context, params map[string]any, req sequencer.Request) error {
	a, err := c.sign(ctx, req)
	if a != nil {
		a.put(params)
	}
	return err
}

// AppendRequest is a transaction to sequence. With a Lineage, it leases
// the lineage's next nonce to ExternalID (a ticket).
type AppendRequest struct {
	Data       []byte
	Lineage    string
	ExternalID string
}

// appendCall builds (and signs, with a key) an append.
func (c *Client) appendCall(ctx context.Context, r AppendRequest) (writeCall, error) {
	req := sequencer.Request{Kind: sequencer.KindTx, Lineage: r.Lineage, ExternalID: r.ExternalID, DataHash: crypto.Keccak256Hash(r.Data)}
	a, err := c.sign(ctx, req)
	return writeCall{"sequencer_append", writeParams{append: true, data: r.Data, lineage: r.Lineage, externalID: r.ExternalID, auth: a}}, err
}

// finishCall builds (and signs) a close or release: reason "" for a
// close, "rejected" or "broadcast" for a release.
func (c *Client) finishCall(ctx context.Context, lineage, externalID, reason string) (writeCall, error) {
	kind, method := sequencer.KindClose, "sequencer_close"
	if reason != "" {
		kind, method = sequencer.KindRelease, "sequencer_release"
		if reason == "broadcast" {
			kind = sequencer.KindFail
		}
	}
	a, err := c.sign(ctx, sequencer.Request{Kind: kind, Lineage: lineage, ExternalID: externalID})
	return writeCall{method, writeParams{lineage: lineage, externalID: externalID, reason: reason, auth: a}}, err
}

// Append sequences a transaction (sequencer_append). A retry of the same
// request returns the same receipt with Existing set.
func (c *Client) Append(ctx context.Context, r AppendRequest) (*Receipt, error) {
	wc, err := c.appendCall(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, r.ExternalID != "", wc)
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
	wc, err := c.finishCall(ctx, lineage, externalID, reason)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, true, wc)
}

// Attempt records, before the transaction is broadcast, the hash of the
// signed transaction for a leased ticket's nonce (sequencer_attempt, SPEC
// §9); a fee bump or replacement is another attempt. An error with code
// 4004 (TicketFinal) means the lease ended (for example it expired): the
// transaction must not be broadcast. The same hash again is safe to retry.
func (c *Client) Attempt(ctx context.Context, lineage, externalID string, txHash common.Hash) (*Receipt, error) {
	params := map[string]any{"lineage": lineage, "externalId": externalID, "txHash": txHash}
	if err := c.signParams(ctx, params, sequencer.Request{Kind: sequencer.KindAttempt, Lineage: lineage, ExternalID: externalID, DataHash: txHash}); err != nil {
		return nil, err
	}
	var out Receipt
	return &out, c.call(ctx, true, &out, "sequencer_attempt", params)
}

// SyncLineage reports the chain's nonce of a lineage: leased tickets below
// it close, pooled nonces below it leave the pool (sequencer_syncLineage).
func (c *Client) SyncLineage(ctx context.Context, lineage string, chainNonce uint64) (*Receipt, error) {
	params := map[string]any{"lineage": lineage, "chainNonce": chainNonce}
	if err := c.signParams(ctx, params, sequencer.Request{Kind: sequencer.KindSync, Lineage: lineage, Nonce: chainNonce}); err != nil {
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
