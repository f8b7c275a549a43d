package rpc

import (
	"encoding/hex"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// A one-pass reader for the common shape of write calls, so that a batch of
// appends is not walked four times by encoding/json (array, envelope,
// params array, params object: ~20 µs per call, a fifth of the CPU of an
// append). It reads a strict subset of JSON: objects without duplicate or
// unknown keys, ASCII strings without escapes, unsigned integers, null.
// Whatever falls outside that subset makes it give up (ok false) and the
// caller takes the general path, which gives every answer and error its
// usual form; whatever it accepts, encoding/json decodes to the same values
// (FuzzFastCall checks this).

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c if it is the next byte.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string of printable ASCII without escapes and returns its
// token, quotes included.
func (s *scanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i - 1
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start:s.i], true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return nil, false
		}
	}
	return nil, false
}

// uint reads 0 or a digit string without a leading zero.
func (s *scanner) uint() ([]byte, bool) {
	s.ws()
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') {
		return nil, false
	}
	// A number ends at a delimiter; 1.5 or 1e3 are not for us.
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r', ',', '}', ']':
		default:
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *scanner) null() bool {
	s.ws()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// object reads {"key": value, ...}, handing each key to field, which must
// consume the value; keys may appear once each.
func (s *scanner) object(field func(key string) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	var seen [12]string
	n := 0
	for {
		k, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		key := string(k[1 : len(k)-1])
		for _, prev := range seen[:n] {
			if prev == key {
				return false
			}
		}
		if n == len(seen) {
			return false
		}
		seen[n] = key
		n++
		if !field(key) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// text reads a string field's value (null leaves it as it is).
func (s *scanner) text(dst *string) bool {
	if s.null() {
		return true
	}
	t, ok := s.str()
	if ok {
		*dst = string(t[1 : len(t)-1])
	}
	return ok
}

// hexBytes reads a hexutil.Bytes field (null leaves it nil).
func (s *scanner) hexBytes(dst **hexutil.Bytes) bool {
	if s.null() {
		return true
	}
	// "0x" and an even number of hex digits, as hexutil.Bytes takes them;
	// anything else (even "") is left to the general path, which says why
	// it is refused.
	h, ok := s.hexDigits()
	if !ok {
		return false
	}
	b := make(hexutil.Bytes, len(h)/2)
	if _, err := hex.Decode(b, h); err != nil {
		return false
	}
	*dst = &b
	return true
}

// number reads a Uint64 field: a JSON integer or a string (null: nil).
func (s *scanner) number(dst **Uint64) bool {
	if s.null() {
		return true
	}
	var t []byte
	var ok bool
	if s.peek() == '"' {
		t, ok = s.str()
	} else {
		t, ok = s.uint()
	}
	if !ok {
		return false
	}
	u := new(Uint64)
	if u.UnmarshalJSON(t) != nil {
		return false
	}
	*dst = u
	return true
}

func (s *scanner) address(dst **common.Address) bool {
	if s.null() {
		return true
	}
	t, ok := s.str()
	if !ok {
		return false
	}
	a := new(common.Address)
	if a.UnmarshalJSON(t) != nil {
		return false
	}
	*dst = a
	return true
}

func (s *scanner) auth(a *Auth, key string) bool {
	switch key {
	case "from":
		return s.address(&a.From)
	case "deadline":
		return s.number(&a.Deadline)
	case "signature":
		return s.hexBytes(&a.Signature)
	}
	return false
}

// writeCall is a write call read by the fast path: its id token and its
// method's params, decoded.
type writeCall struct {
	id     []byte
	method string
	append AppendParams
	ticket TicketParams
	rel    ReleaseParams
	sync   SyncParams
	try    AttemptParams
}

// readWriteCall reads one JSON-RPC 2.0 call of a write method with a plain
// id and one params object, consuming it from s.
func (s *scanner) readWriteCall(c *writeCall) bool {
	var version, method []byte
	var params bool
	ok := s.object(func(key string) bool {
		var ok bool
		switch key {
		case "jsonrpc":
			version, ok = s.str()
			return ok
		case "id":
			if s.peek() == '"' {
				c.id, ok = s.str()
			} else {
				c.id, ok = s.uint()
			}
			return ok
		case "method":
			method, ok = s.str()
			if !ok || !writeMethods[string(method[1:len(method)-1])] {
				return false
			}
			c.method = string(method[1 : len(method)-1])
			return true
		case "params":
			// Clients send the method first; params before it are left
			// to the general path.
			if c.method == "" || !s.next('[') || !s.params(c, c.method) || !s.next(']') {
				return false
			}
			params = true
			return true
		}
		return false
	})
	return ok && params && string(version) == `"2.0"` && c.id != nil
}

// params reads the params object of method m into c.
func (s *scanner) params(c *writeCall, m string) bool {
	switch m {
	case "sequencer_append":
		p := &c.append
		return s.object(func(key string) bool {
			if key == "data" {
				return s.hexBytes(&p.Data)
			}
			return s.ticketField(&p.Lineage, &p.ExternalID, &p.Auth, key)
		})
	case "sequencer_close":
		p := &c.ticket
		return s.object(func(key string) bool { return s.ticketField(&p.Lineage, &p.ExternalID, &p.Auth, key) })
	case "sequencer_release":
		p := &c.rel
		return s.object(func(key string) bool {
			if key == "reason" {
				return s.text(&p.Reason)
			}
			return s.ticketField(&p.Lineage, &p.ExternalID, &p.Auth, key)
		})
	case "sequencer_syncLineage":
		p := &c.sync
		return s.object(func(key string) bool {
			switch key {
			case "lineage":
				return s.text(&p.Lineage)
			case "chainNonce":
				return s.number(&p.ChainNonce)
			}
			return s.auth(&p.Auth, key)
		})
	case "sequencer_attempt":
		p := &c.try
		return s.object(func(key string) bool {
			if key == "txHash" {
				return s.hexBytes(&p.TxHash)
			}
			return s.ticketField(&p.Lineage, &p.ExternalID, &p.Auth, key)
		})
	}
	return false
}

// ticketField reads the fields that name a ticket, and the auth fields.
func (s *scanner) ticketField(lineage, externalID *string, a *Auth, key string) bool {
	switch key {
	case "lineage":
		return s.text(lineage)
	case "externalId":
		return s.text(externalID)
	}
	return s.auth(a, key)
}

// readWriteBatch reads a whole batch of write calls; false if the body is
// anything else (then nothing of calls may be used).
func readWriteBatch(body []byte, limit int) ([]writeCall, bool) {
	return readWriteBatchInto(body, limit, make([]writeCall, 0, min(limit, 128)))
}

// readWriteBatchInto is readWriteBatch appending to calls (empty).
func readWriteBatchInto(body []byte, limit int, calls []writeCall) ([]writeCall, bool) {
	s := &scanner{b: body}
	ok := s.list(func() bool {
		if len(calls) == limit {
			return false
		}
		calls = append(calls, writeCall{})
		return s.readWriteCall(&calls[len(calls)-1])
	})
	return calls, ok && s.end()
}

// list reads [elem, ...], one element at least, calling elem to consume
// each.
func (s *scanner) list(elem func() bool) bool {
	if !s.next('[') {
		return false
	}
	for {
		if !elem() {
			return false
		}
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// readSingleWrite reads a body that is one write call.
func readSingleWrite(body []byte) (*writeCall, bool) {
	s := &scanner{b: body}
	c := new(writeCall)
	if !s.readWriteCall(c) {
		return nil, false
	}
	s.ws()
	return c, s.i == len(s.b)
}
