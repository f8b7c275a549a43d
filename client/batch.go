package client

import "context"

// Batch collects writes to send in one JSON-RPC batch. The node sequences
// a batch's writes in batch order (an append before its own close works)
// and lets them share group commits, so a batch is the fast way to write
// many entries. Build one with NewBatch, add calls, then Do.
type Batch struct {
	c     *Client
	calls []writeCall
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
func (b *Batch) Len() int { return len(b.calls) }

func (b *Batch) add(wc writeCall, err error) error {
	if err == nil {
		b.calls = append(b.calls, wc)
	}
	return err
}

// Append adds an append (signed when the client has a key).
func (b *Batch) Append(ctx context.Context, r AppendRequest) error {
	return b.add(b.c.appendCall(ctx, r))
}

// Close adds a close of a ticket.
func (b *Batch) Close(ctx context.Context, lineage, externalID string) error {
	return b.add(b.c.finishCall(ctx, lineage, externalID, ""))
}

// Release adds a release of a ticket, reason "rejected" or "broadcast".
func (b *Batch) Release(ctx context.Context, lineage, externalID, reason string) error {
	return b.add(b.c.finishCall(ctx, lineage, externalID, reason))
}

// Do sends the batch once (no retries: the caller sees every answer) and
// returns one result per call, in order. The error is set only when the
// batch as a whole failed (transport); then every result carries it too.
func (b *Batch) Do(ctx context.Context) ([]BatchResult, error) {
	out := make([]BatchResult, len(b.calls))
	if len(b.calls) == 0 {
		return out, nil
	}
	fail := func(err error) ([]BatchResult, error) {
		for i := range out {
			out[i].Err = err
		}
		return out, err
	}
	res, err := b.c.send(ctx, b.calls, false)
	if err != nil {
		return fail(err)
	}
	return res, nil
}
