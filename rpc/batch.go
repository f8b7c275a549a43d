package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
)

// Calls over HTTP. Single write calls take the fast path below (decoded
// once, answered in go-ethereum's exact form); everything else is served by
// go-ethereum. Batches: go-ethereum's handler runs the calls of a batch one
// after another, so a batch of 100 appends would wait for 100 group
// commits. Here a batch's writes are enqueued one after another (each
// Enqueue fixes the call's place in the log and returns a future at once),
// and their answers are collected once durable, so consecutive writes share
// group commits. Any other call (a read, or a write go-ethereum must
// answer, as a batch of one so that every answer, error and notification
// rule is go-ethereum's) runs once every call before it is done. So the
// sequencer sees the writes in batch order and a read sees every write
// before it, exactly as if the calls ran one by one.
//
// JSON-RPC 2.0 allows a server to process a batch concurrently; the order
// of effects stays the batch order here. One difference from go-ethereum:
// when the batch's answer exceeds the response limit, the calls past it
// have run (and are answered with -32003), where go-ethereum skips them; a
// write is idempotent by its externalId, so a client retries it safely.

var acceptedContentTypes = []string{"application/json", "application/json-rpc", "application/jsonrequest"}

func isJSONContent(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	for _, a := range acceptedContentTypes {
		if a == mt {
			return true
		}
	}
	return false
}

// serveHTTP answers JSON-RPC over HTTP: batches concurrently as above,
// everything else by go-ethereum's server unchanged.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !isJSONContent(r) {
		s.rpc.ServeHTTP(w, r)
		return
	}
	if r.ContentLength > int64(s.opts.BodyLimit) {
		s.rpc.ServeHTTP(w, r) // go-ethereum answers 413
		return
	}
	body, release, err := readBody(r.Context(), s.bodies, r.Body, r.ContentLength, s.opts.BodyLimit)
	defer release()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if n := countReads(body); n > 0 {
		// Reads: bound the answers being built and written at once, and
		// what one request's reads may return together.
		weight := min(int64(n)*int64(s.api.cfg.MaxReadBytes), int64(s.opts.BatchRespLimit))
		if err := s.reads.Acquire(r.Context(), weight); err != nil {
			return
		}
		defer s.reads.Release(weight)
		r = r.WithContext(withReadBudget(r.Context(), int64(s.opts.BatchRespLimit)))
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		// A single call: the write fast path, else go-ethereum.
		if c, ok := readSingleWrite(trimmed); ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(s.runWrite(r, c))
			return
		}
		if refuseDuplicateKeys(w, trimmed) {
			return
		}
		var env callEnvelope
		parsed := json.Unmarshal(trimmed, &env) == nil
		if a, ok := s.serveWrite(r, &env, parsed); ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(a[0])
			return
		}
	}
	if len(trimmed) > 0 && trimmed[0] == '[' {
		cp := callBufs.Get().(*[]writeCall)
		calls, ok := readWriteBatchInto(trimmed, s.opts.BatchItemLimit, (*cp)[:0])
		if ok && len(calls) >= 2 {
			s.serveWriteBatch(w, r, calls)
		}
		// The calls' params were handed on by value: the slice is free
		// again once the batch is answered.
		putCallBuf(cp, calls)
		if ok && len(calls) >= 2 {
			return
		}
		if refuseDuplicateKeys(w, trimmed) {
			return
		}
	}
	var elems []json.RawMessage
	isBatch := len(trimmed) > 0 && trimmed[0] == '[' && json.Unmarshal(trimmed, &elems) == nil
	if isBatch && len(elems) > s.opts.BatchItemLimit {
		s.batchTooLarge(w, elems)
		return
	}
	if !isBatch || len(elems) < 2 {
		// Single calls, malformed JSON, empty, one-call and oversized
		// batches: go-ethereum's own answers.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		s.rpc.ServeHTTP(w, r)
		return
	}
	answers := make([][]json.RawMessage, len(elems))
	var b batchRun
	for i, el := range elems {
		var env callEnvelope
		if json.Unmarshal(el, &env) == nil && writeMethods[env.Method] {
			if c, ok := decodeCall(&env); ok {
				b.write(s, r, c, &answers[i])
				continue
			}
		}
		// Any other call runs once every call before it is done: a read
		// sees the writes before it.
		b.wait()
		if a, ok := s.serveRead(r, &env); ok {
			answers[i] = []json.RawMessage{a}
			continue
		}
		answers[i] = s.serveOne(r, el)
	}
	b.wait()
	s.writeAnswers(w, answers)
}

// batchTooLarge answers a batch of more calls than BatchItemLimit as
// go-ethereum does (one -32600 error, with the id of the first call, and
// nothing run), but names the limit in the message and in data.
func (s *Server) batchTooLarge(w http.ResponseWriter, elems []json.RawMessage) {
	id := json.RawMessage("null")
	for _, el := range elems {
		var env callEnvelope
		if json.Unmarshal(el, &env) == nil && env.Method != "" && len(env.ID) > 0 && plainID(env.ID) {
			id = env.ID
			break
		}
	}
	err := &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("%s: at most %d calls in one batch", msgBatchTooLarge, s.opts.BatchItemLimit),
		Data: map[string]int{"limit": s.opts.BatchItemLimit}}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(append([]byte{'['}, encodeAnswer(id, nil, err)...), ']'))
}

// serveWriteBatch runs a batch of write calls read by the one-pass reader:
// all are enqueued in batch order (so consecutive writes share group
// commits), then each answer is written, once durable, straight into the
// response (as writeAnswers joins them, without an answer of its own).
func (s *Server) serveWriteBatch(w http.ResponseWriter, r *http.Request, calls []writeCall) {
	pending := s.startWrites(calls)
	bp := answerBufs.Get().(*[]byte)
	out := s.appendWriteAnswers(r.Context(), (*bp)[:0], calls, pending)
	defer func() { putAnswerBuf(bp, out) }()
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// startWrites validates and enqueues calls in order.
func (s *Server) startWrites(calls []writeCall) []*pendingWrite {
	pending := make([]*pendingWrite, len(calls))
	for i := range calls {
		pending[i] = s.startWrite(&calls[i])
	}
	return pending
}

// appendWriteAnswers appends to out the batch answer of calls, each answer
// once its write is durable; answers past BatchRespLimit are "response too
// large" errors with their ids.
func (s *Server) appendWriteAnswers(ctx context.Context, out []byte, calls []writeCall, pending []*pendingWrite) []byte {
	out = append(out, '[')
	for i := range calls {
		res, err := s.api.await(ctx, pending[i])
		over := s.opts.BatchRespLimit > 0 && len(out) > s.opts.BatchRespLimit
		if i > 0 {
			out = append(out, ',')
		}
		start := len(out)
		out = appendAnswer(out, calls[i].id, res, err)
		if over {
			out = append(out[:start], tooLarge(out[start:])...)
		}
	}
	return append(out, ']')
}

// batchRun enqueues a batch's writes one after another, so that the log
// holds them in batch order, and collects their answers once durable:
// consecutive writes share group commits.
type batchRun struct {
	waiting []func()
}

// write validates and enqueues call c; its answer goes to *answer at the
// next wait.
func (b *batchRun) write(s *Server, r *http.Request, c *writeCall, answer *[]json.RawMessage) {
	pw := s.startWrite(c)
	b.waiting = append(b.waiting, func() {
		res, err := s.api.await(r.Context(), pw)
		*answer = []json.RawMessage{encodeAnswer(c.id, res, err)}
	})
}

// wait answers every write enqueued so far, once each is durable.
func (b *batchRun) wait() {
	for _, f := range b.waiting {
		f()
	}
	b.waiting = b.waiting[:0]
}

// writeAnswers writes a batch's answers (go-ethereum's own, valid JSON)
// joined as they are.
func (s *Server) writeAnswers(w http.ResponseWriter, answers [][]json.RawMessage) {
	bp := answerBufs.Get().(*[]byte)
	out := append((*bp)[:0], '[')
	defer func() { putAnswerBuf(bp, out) }()
	n := 0
	for _, a := range answers {
		for _, m := range a {
			if s.opts.BatchRespLimit > 0 && len(out) > s.opts.BatchRespLimit {
				m = tooLarge(m)
			}
			if n > 0 {
				out = append(out, ',')
			}
			out = append(out, m...)
			n++
		}
	}
	out = append(out, ']')
	w.Header().Set("Content-Type", "application/json")
	if n == 0 {
		return // only notifications: no answer, as go-ethereum does
	}
	w.Write(out)
}

// answerBufs are writeAnswers' buffers, reused from request to request
// (the answer is written before the buffer goes back).
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 72<<10); return &b }}

// putAnswerBuf gives out, grown from *bp, back to the pool, unless it grew
// huge (a huge answer's buffer is not kept).
func putAnswerBuf(bp *[]byte, out []byte) {
	if cap(out) <= 1<<20 {
		*bp = out[:0]
		answerBufs.Put(bp)
	}
}

// callBufs hold the calls of write batches from one request to the next.
var callBufs = sync.Pool{New: func() any { c := make([]writeCall, 0, 128); return &c }}

// putCallBuf gives calls, grown from *cp, back to the pool once the batch
// is answered (its params were handed on by value), unless it grew huge.
func putCallBuf(cp *[]writeCall, calls []writeCall) {
	clear(calls)
	if cap(calls) <= 1024 {
		*cp = calls[:0]
		callBufs.Put(cp)
	}
}

var writeMethods = map[string]bool{
	"sequencer_append": true, "sequencer_close": true, "sequencer_release": true, "sequencer_syncLineage": true,
	"sequencer_attempt": true,
}

// serveOne runs one call of a batch as a batch of one and returns the
// answers (none for a notification).
func (s *Server) serveOne(r *http.Request, el json.RawMessage) []json.RawMessage {
	body := make([]byte, 0, len(el)+2)
	body = append(append(append(body, '['), el...), ']')
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	rec := &bufferWriter{header: http.Header{}}
	s.rpc.ServeHTTP(rec, r2)
	var msgs []json.RawMessage
	if len(bytes.TrimSpace(rec.buf.Bytes())) == 0 || json.Unmarshal(rec.buf.Bytes(), &msgs) != nil {
		return nil
	}
	return msgs
}

// tooLarge replaces an answer by go-ethereum's "response too large" error
// for the same id.
func tooLarge(m json.RawMessage) json.RawMessage {
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	json.Unmarshal(m, &head)
	if len(head.ID) == 0 {
		head.ID = json.RawMessage("null")
	}
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": head.ID,
		"error": map[string]any{"code": codeResponseTooLarge, "message": msgResponseTooLarge},
	})
	return b
}

// bufferWriter is an http.ResponseWriter into memory.
type bufferWriter struct {
	header http.Header
	buf    bytes.Buffer
	status int
}

func (b *bufferWriter) Header() http.Header         { return b.header }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(code int)        { b.status = code }

// callEnvelope is a JSON-RPC call as the fast path reads it.
type callEnvelope struct {
	Version string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// serveWrite is the fast path of a batch's write calls: a well-formed call
// of sequencer_append, _close, _release or _syncLineage with one object
// parameter that decodes is run on the API directly and answered in
// go-ethereum's response form. Anything else (ok false) goes through
// go-ethereum, so that every protocol error keeps go-ethereum's wording.
func (s *Server) serveWrite(r *http.Request, env *callEnvelope, parsed bool) ([]json.RawMessage, bool) {
	if !parsed {
		return nil, false
	}
	c, ok := decodeCall(env)
	if !ok {
		return nil, false
	}
	return []json.RawMessage{s.runWrite(r, c)}, true
}

// serveRead is the fast path of a batch's hot reads (today
// sequencer_inclusionProof, SPEC §10's 20,000 proofs a second): a
// well-formed call with a plain id and one params object that decodes is
// run on the API directly and answered in go-ethereum's response form, as
// serveWrite does for writes. Going through go-ethereum's handler once per
// call (a request clone, a codec, reflection) costs more than the proof.
// Anything else (ok false) goes through go-ethereum.
func (s *Server) serveRead(r *http.Request, env *callEnvelope) (json.RawMessage, bool) {
	p, ok := readCall(env)
	if !ok {
		return nil, false
	}
	res, err := s.api.InclusionProof(r.Context(), *p)
	return encodeAnswer(env.ID, res, err), true
}

// readCall decodes a read call the fast path takes, the general way (the
// params' own strict decoder).
func readCall(env *callEnvelope) (*InclusionProofParams, bool) {
	if env.Version != "2.0" || env.Method != "sequencer_inclusionProof" || !plainID(env.ID) {
		return nil, false
	}
	var params []json.RawMessage
	if json.Unmarshal(env.Params, &params) != nil || len(params) != 1 || !bytes.HasPrefix(params[0], []byte("{")) {
		return nil, false // go-ethereum names a null argument missing
	}
	p := new(InclusionProofParams)
	if p.UnmarshalJSON(params[0]) != nil {
		return nil, false
	}
	return p, true
}

// decodeCall decodes a write call with a plain id and one params object
// the general way: the params' own strict decoders.
func decodeCall(env *callEnvelope) (*writeCall, bool) {
	if env.Version != "2.0" || !writeMethods[env.Method] || !plainID(env.ID) {
		return nil, false
	}
	var params []json.RawMessage
	if json.Unmarshal(env.Params, &params) != nil || len(params) != 1 {
		return nil, false
	}
	c := &writeCall{id: env.ID, method: env.Method}
	var err error
	switch env.Method {
	case "sequencer_append":
		err = c.append.UnmarshalJSON(params[0])
	case "sequencer_close":
		err = c.ticket.UnmarshalJSON(params[0])
	case "sequencer_release":
		err = c.rel.UnmarshalJSON(params[0])
	case "sequencer_syncLineage":
		err = c.sync.UnmarshalJSON(params[0])
	case "sequencer_attempt":
		err = c.try.UnmarshalJSON(params[0])
	}
	return c, err == nil
}

// runWrite runs a decoded write call on the API and answers it in
// go-ethereum's response form.
func (s *Server) runWrite(r *http.Request, c *writeCall) json.RawMessage {
	res, err := s.api.await(r.Context(), s.startWrite(c))
	return encodeAnswer(c.id, res, err)
}

// startWrite validates and enqueues a decoded write call.
func (s *Server) startWrite(c *writeCall) *pendingWrite {
	switch c.method {
	case "sequencer_append":
		return s.api.startAppend(c.append)
	case "sequencer_close":
		return s.api.startClose(c.ticket)
	case "sequencer_release":
		return s.api.startRelease(c.rel)
	case "sequencer_syncLineage":
		return s.api.startSync(c.sync)
	case "sequencer_attempt":
		return s.api.startAttempt(c.try)
	}
	return refused(fmt.Errorf("logic error: %q is not a write method", c.method))
}

// plainID is a number or a string: ids the fast path echoes verbatim.
func plainID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	c := id[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

// encodeAnswer writes a response exactly as go-ethereum does:
// {"jsonrpc":"2.0","id":…,"result":…} or {"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…,"data":…}}.
func encodeAnswer(id json.RawMessage, res any, err error) json.RawMessage {
	return appendAnswer(make([]byte, 0, 768), id, res, err)
}

// appendAnswer appends the answer encodeAnswer makes to b.
func appendAnswer(b []byte, id json.RawMessage, res any, err error) []byte {
	start := len(b)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	if err != nil {
		e := struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    any    `json:"data,omitempty"`
		}{Code: CodeInternal, Message: err.Error()}
		var re *Error
		if errors.As(err, &re) {
			e.Code, e.Data = re.Code, re.Data
		}
		eb, _ := json.Marshal(e)
		b = append(b, `,"error":`...)
		b = append(b, eb...)
		return append(b, '}')
	}
	switch r := res.(type) {
	case *ReceiptJSON:
		return append(r.appendJSON(append(b, `,"result":`...)), '}')
	case *InclusionProofJSON:
		return append(r.appendJSON(append(b, `,"result":`...)), '}')
	}
	rb, merr := json.Marshal(res)
	if merr != nil {
		return appendAnswer(b[:start], id, nil, &Error{Code: CodeInternal, Message: merr.Error()})
	}
	b = append(b, `,"result":`...)
	b = append(b, rb...)
	return append(b, '}')
}
