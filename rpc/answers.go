package rpc

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// WriteAnswer is the node's answer to one write call: a receipt, or the
// JSON-RPC error object as the node sent it (its data decoded as
// encoding/json decodes into an interface: an object is a map).
type WriteAnswer struct {
	ID      uint64
	NoID    bool // the id was null: the node could not read the call (or the batch)
	Receipt *ReceiptJSON
	Error   *Error
}

// ReadWriteAnswers reads the answers to write calls sent with numeric ids:
// a JSON array of answers (a batch), or one answer object. The common shape
// (receipts as the node writes them) is read in one pass, the way the node
// reads write calls; anything else goes through encoding/json, which
// decodes the same values (FuzzWriteAnswers checks this), so a client gets
// the same answers either way.
func ReadWriteAnswers(body []byte) ([]WriteAnswer, error) {
	if out, ok := readAnswersFast(body); ok {
		return out, nil
	}
	return readAnswersSlow(body)
}

func readAnswersFast(body []byte) ([]WriteAnswer, bool) {
	s := &scanner{b: body}
	if s.peek() != '[' {
		out := make([]WriteAnswer, 1)
		return out, s.answer(&out[0]) && s.end()
	}
	out := make([]WriteAnswer, 0, 128)
	ok := s.list(func() bool {
		out = append(out, WriteAnswer{})
		return s.answer(&out[len(out)-1])
	})
	return out, ok && s.end()
}

// answer reads {"jsonrpc":"2.0","id":N,"result":{receipt}}; an error
// answer, or any other result, is left to the general path.
func (s *scanner) answer(a *WriteAnswer) bool {
	var version []byte
	var id bool
	ok := s.object(func(key string) bool {
		switch key {
		case "jsonrpc":
			var ok bool
			version, ok = s.str()
			return ok
		case "id":
			t, ok := s.uint()
			if !ok {
				return false
			}
			a.ID, id = parseUint(t)
			return id
		case "result":
			a.Receipt = new(ReceiptJSON)
			return s.receipt(a.Receipt)
		}
		return false
	})
	return ok && id && a.Receipt != nil && string(version) == `"2.0"`
}

// receipt reads a receipt with all its fields (the node writes all of
// them; a missing one leaves the decision to encoding/json).
func (s *scanner) receipt(r *ReceiptJSON) bool {
	const all = 1<<12 - 1
	var have int
	ok := s.object(func(key string) bool {
		var bit int
		var ok bool
		switch key {
		case "seq":
			bit, ok = 0, s.uint64(&r.Seq)
		case "hash":
			bit, ok = 1, s.fixed(r.Hash[:])
		case "prevHash":
			bit, ok = 2, s.fixed(r.PrevHash[:])
		case "kind":
			bit, ok = 3, s.plain(&r.Kind)
		case "sender":
			bit, ok = 4, s.fixed(r.Sender[:])
		case "lineage":
			bit, ok = 5, s.plain(&r.Lineage)
		case "nonce":
			bit, ok = 6, s.uint64(&r.Nonce)
		case "externalId":
			bit, ok = 7, s.plain(&r.ExternalID)
		case "dataHash":
			bit, ok = 8, s.fixed(r.DataHash[:])
		case "timestamp":
			bit, ok = 9, s.uint64(&r.Timestamp)
		case "signature":
			var b []byte
			b, ok = s.hexString()
			bit, r.Signature = 10, b
		case "existing":
			bit, ok = 11, s.boolean(&r.Existing)
		}
		have |= 1 << bit
		return ok
	})
	return ok && have == all
}

// plain reads a string (no null: a null string field is left to
// encoding/json, which leaves the field as it was).
func (s *scanner) plain(dst *string) bool {
	t, ok := s.str()
	if ok {
		*dst = string(t[1 : len(t)-1])
	}
	return ok
}

func (s *scanner) uint64(dst *uint64) bool {
	t, ok := s.uint()
	if ok {
		*dst, ok = parseUint(t)
	}
	return ok
}

func parseUint(t []byte) (uint64, bool) {
	v, err := strconv.ParseUint(string(t), 10, 64)
	return v, err == nil
}

// hexDigits reads "0x..." and returns the digits.
func (s *scanner) hexDigits() ([]byte, bool) {
	t, ok := s.str()
	if !ok || len(t) < 4 || t[1] != '0' || (t[2] != 'x' && t[2] != 'X') || len(t)%2 != 0 {
		return nil, false
	}
	return t[3 : len(t)-1], true
}

// hexString reads "0x..." with an even number of hex digits.
func (s *scanner) hexString() ([]byte, bool) {
	h, ok := s.hexDigits()
	if !ok {
		return nil, false
	}
	out := make([]byte, len(h)/2)
	_, err := hex.Decode(out, h)
	return out, err == nil
}

// fixed reads "0x..." of exactly len(dst) bytes into dst.
func (s *scanner) fixed(dst []byte) bool {
	h, ok := s.hexDigits()
	if !ok || len(h) != 2*len(dst) {
		return false
	}
	_, err := hex.Decode(dst, h)
	return err == nil
}

func (s *scanner) boolean(dst *bool) bool {
	s.ws()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		*dst = true
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		*dst = false
	default:
		return false
	}
	return true
}

// answerJSON is an answer as encoding/json reads it.
type answerJSON struct {
	Version string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
}

func readAnswersSlow(body []byte) ([]WriteAnswer, error) {
	var raw []answerJSON
	var err error
	if t := firstByte(body); t == '[' {
		err = json.Unmarshal(body, &raw)
	} else {
		raw = make([]answerJSON, 1)
		err = json.Unmarshal(body, &raw[0])
	}
	if err != nil {
		return nil, fmt.Errorf("read answers: %w", err)
	}
	out := make([]WriteAnswer, len(raw))
	for i, a := range raw {
		if a.Version != "2.0" {
			return nil, errors.New("read answers: not a JSON-RPC 2.0 answer")
		}
		if len(a.ID) == 0 || string(a.ID) == "null" {
			out[i].NoID = true
		} else if err := json.Unmarshal(a.ID, &out[i].ID); err != nil {
			return nil, fmt.Errorf("read answers: id %s: %w", a.ID, err)
		}
		switch {
		case a.Error != nil:
			out[i].Error = a.Error
		case len(a.Result) == 0 || string(a.Result) == "null":
			return nil, fmt.Errorf("read answers: answer %d has neither result nor error", out[i].ID)
		default:
			out[i].Receipt = new(ReceiptJSON)
			if err := json.Unmarshal(a.Result, out[i].Receipt); err != nil {
				return nil, fmt.Errorf("read answers: answer %d: %w", out[i].ID, err)
			}
		}
	}
	return out, nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}
