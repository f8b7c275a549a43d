package client

import (
	"context"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Batch collects writes to send in one JSON-RPC batch. The node sequences
// a batch's writes in batch order (an append before its own close works)
// and lets them share group commits, so a batch is the fast way to write
// many entries. Build one with NewBatch, add calls, then Do.
type Batch struct {
	c     *Client
	elems []gethrpc.BatchElem
}

// BatchResult is the answer to one call of a batch: a receipt, or the
// call's error (a *Error with the SPEC code, or the transport's error).
type BatchResult struct {
	Receipt *Receipt
	Err     error
}

// NewBatch starts an empty batch.
func (c *Client) NewBatch() *Batch { return &Batch{c: c} }

// Len is the number of calls in the batch.
func (b *Batch) Len() int { return len(b.elems) }

func (b *Batch) add(method string, params map[string]any) {
	b.elems = append(b.elems, gethrpc.BatchElem{Method: method, Args: []any{params}, Result: new(Receipt)})
}

// Append adds an append (signed when the client has a key).
func (b *Batch) Append(ctx context.Context, r AppendRequest) error {
	params, err := b.c.appendParams(ctx, r)
	if err == nil {
		b.add("sequencer_append", params)
	}
	return err
}

// Close adds a close of a ticket.
func (b *Batch) Close(ctx context.Context, lineage, externalID string) error {
	method, params, err := b.c.finishParams(ctx, lineage, externalID, "")
	if err == nil {
		b.add(method, params)
	}
	return err
}

// Release adds a release of a ticket, reason "rejected" or "broadcast".
func (b *Batch) Release(ctx context.Context, lineage, externalID, reason string) error {
	method, params, err := b.c.finishParams(ctx, lineage, externalID, reason)
	if err == nil {
		b.add(method, params)
	}
	return err
}

// Do sends the batch once (no retries: the caller sees every answer) and
// returns one result per call, in order. The error is set only when the
// batch as a whole failed (transport); then every result carries it too.
func (b *Batch) Do(ctx context.Context) ([]BatchResult, error) {
	out := make([]BatchResult, len(b.elems))
	if len(b.elems) == 0 {
		return out, nil
	}
	if err := b.c.c.BatchCallContext(ctx, b.elems); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out, err
	}
	for i, e := range b.elems {
		if e.Error != nil {
			out[i].Err = wrap(e.Error)
			continue
		}
		out[i].Receipt = e.Result.(*Receipt)
	}
	return out, nil
}
