package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/rpc"
)

// Writes over HTTP (append, close, release, alone or in a batch) are sent
// and read here rather than through go-ethereum's client, whose
// reflection-driven JSON cost an executor (and the benchmark harness)
// ~19 µs of CPU per call in a batch of 100: the params are written by
// hand, and the answers read in one pass by rpc.ReadWriteAnswers, which
// falls back to encoding/json for any shape it does not know. Over
// WebSocket the same, on a connection of the client's own (ws.go).

// writeCall is one write call.
type writeCall struct {
	method string
	params writeParams
}

// writeParams are the params of an append, close or release.
type writeParams struct {
	append     bool // an append: data is written, even empty
	data       []byte
	lineage    string
	externalID string
	reason     string // a release's
	auth       *auth
}

// auth is what a client with a key adds to a write (SPEC §4).
type auth struct {
	from     common.Address
	deadline uint64
	sig      [65]byte
}

func (a *auth) put(params map[string]any) {
	params["from"] = a.from.Hex()
	params["deadline"] = a.deadline
	params["signature"] = "0x" + hex.EncodeToString(a.sig[:])
}

// appendJSON writes the params object as the map-built params of the
// other calls would be: an append's lineage and externalId only when set,
// a close's or release's always.
func (p *writeParams) appendJSON(b []byte) []byte {
	b = append(b, '{')
	start := len(b)
	field := func(b []byte, name string) []byte {
		if len(b) > start {
			b = append(b, ',')
		}
		return append(b, name...)
	}
	if p.append {
		b = append(hex.AppendEncode(field(b, `"data":"0x`), p.data), '"')
	}
	if !p.append || p.lineage != "" {
		b = rpc.AppendJSONString(field(b, `"lineage":`), p.lineage)
	}
	if !p.append || p.externalID != "" {
		b = rpc.AppendJSONString(field(b, `"externalId":`), p.externalID)
	}
	if p.reason != "" {
		b = rpc.AppendJSONString(field(b, `"reason":`), p.reason)
	}
	if a := p.auth; a != nil {
		b = append(append(field(b, `"from":"`), a.from.Hex()...), '"')
		b = strconv.AppendUint(append(b, `,"deadline":`...), a.deadline, 10)
		b = append(hex.AppendEncode(append(b, `,"signature":"0x`...), a.sig[:]), '"')
	}
	return append(b, '}')
}

// overHTTP reports whether writes take the hand-written path.
func (c *Client) overHTTP() bool {
	return strings.HasPrefix(c.url, "http://") || strings.HasPrefix(c.url, "https://")
}

// maxAnswer bounds the answer to a write batch (a receipt is ~600 bytes;
// a batch is at most the node's batch limit of calls).
const maxAnswer = 64 << 20

// answerBufs holds read buffers for answers (each is decoded into fresh
// values before its buffer goes back).
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// post sends calls in one HTTP request, as a batch, or as one plain call
// when single (then len(calls) is 1), and returns one result per call. The
// error is the transport's (then no call has a result); an answer the node
// gave with an error is in its result.
func (c *Client) post(ctx context.Context, calls []writeCall, single bool) ([]BatchResult, error) {
	b := encodeCalls(calls, single)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answers []rpc.WriteAnswer
	err = withAnswer(resp.Body, func(b []byte) (err error) {
		if resp.StatusCode < 200 || resp.StatusCode >= 300 {
			return gethrpc.HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, Body: bytes.Clone(b)}
		}
		answers, err = rpc.ReadWriteAnswers(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results(answers, 0, len(calls), single)
}

// withAnswer reads an answer (at most maxAnswer bytes) into a pooled
// buffer and calls f with its bytes, which f must not keep (the answers
// rpc.ReadWriteAnswers reads are values of their own).
func withAnswer(r io.Reader, f func([]byte) error) error {
	ans := answerBufs.Get().(*bytes.Buffer)
	defer func() {
		if ans.Cap() <= 1<<20 { // a huge answer's buffer is not kept
			answerBufs.Put(ans)
		}
	}()
	ans.Reset()
	if _, err := ans.ReadFrom(io.LimitReader(r, maxAnswer+1)); err != nil {
		return err
	}
	if ans.Len() > maxAnswer {
		return fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	return f(ans.Bytes())
}

// results sorts the answers to a request of n calls with ids from base (a
// batch, or one plain call when single) into one result per call. An
// answer with a null id and an error means the node could not read the
// call or the batch: the one call's error, or the batch's (err). Answers
// to no call of the request are passed over (as go-ethereum's client
// does); a call left without an answer gets errMissingAnswer.
func results(answers []rpc.WriteAnswer, base uint64, n int, single bool) ([]BatchResult, error) {
	out := make([]BatchResult, n)
	got := make([]bool, n)
	for _, a := range answers {
		if a.NoID {
			if a.Error == nil {
				continue
			}
			e := (*Error)(a.Error)
			if !single {
				return nil, e
			}
			out[0].Err = e
			return out, nil
		}
		if a.ID < base || a.ID-base >= uint64(n) || got[a.ID-base] {
			continue
		}
		i := a.ID - base
		got[i] = true
		if a.Error != nil {
			out[i].Err = (*Error)(a.Error)
		} else {
			out[i].Receipt = a.Receipt
		}
	}
	for i := range out {
		if !got[i] {
			out[i].Err = errMissingAnswer
		}
	}
	return out, nil
}

// encodeCalls writes calls as a batch (ids 0, 1, ...), or as one plain
// call when single. The bytes are not pooled: net/http may still read a
// request's body after Do returned (when the node answered before reading
// it all).
func encodeCalls(calls []writeCall, single bool) []byte { return encodeCallsFrom(calls, single, 0) }

// errMissingAnswer is go-ethereum's error for a batch call left without
// an answer, so that callers can test for it either way.
var errMissingAnswer = gethrpc.ErrMissingBatchResponse

// send sends calls in one request (HTTP) or frame (WebSocket): a batch,
// or one plain call when single.
func (c *Client) send(ctx context.Context, calls []writeCall, single bool) ([]BatchResult, error) {
	if c.overHTTP() {
		return c.post(ctx, calls, single)
	}
	l, err := c.wsLinkFor(ctx)
	if err != nil {
		return nil, err
	}
	return l.send(ctx, calls, single)
}

// write makes one write call, retrying as WithRetries says.
func (c *Client) write(ctx context.Context, idempotent bool, wc writeCall) (*Receipt, error) {
	var out *Receipt
	err := c.retry(ctx, idempotent, func() error {
		res, err := c.send(ctx, []writeCall{wc}, true)
		if err != nil {
			return err
		}
		out = res[0].Receipt
		return res[0].Err
	})
	if out == nil {
		out = new(Receipt)
	}
	return out, err
}
