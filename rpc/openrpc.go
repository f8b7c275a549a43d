package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// The OpenRPC document (rpc_discover) is generated from the receivers the
// server registers, with go-ethereum's own rules for which methods of a
// receiver it serves (exported; at most one result and an error last; a
// context first; a *Subscription result makes a subscription). Param and
// result schemas come from the Go types by reflection; what reflection
// cannot know (a summary, the fields a call needs) is in methodNotes.
// A test checks the document against the methods the server answers.

// service is one JSON-RPC namespace and the receiver that serves it.
type service struct {
	name string
	rcvr any
}

// services are the receivers NewServer registers, in one list so that the
// document and the server cannot disagree.
func services(api *API, discover *DiscoverAPI) []service {
	return []service{
		{"sequencer", api},
		{"eth", &EthAPI{chainID: api.cfg.Domain.ChainID}},
		{"web3", &Web3API{version: api.cfg.Version}},
		{"rpc", discover},
	}
}

// builtin are the receivers go-ethereum's server registers itself
// (rpc_modules); documented, never registered by us.
var builtin = []service{{"rpc", (*gethrpc.RPCService)(nil)}}

// DiscoverAPI serves rpc_discover.
type DiscoverAPI struct{ doc json.RawMessage }

// Discover returns the node's OpenRPC document (rpc_discover).
func (d *DiscoverAPI) Discover() json.RawMessage { return d.doc }

// note is what reflection cannot tell of a method.
type note struct {
	summary  string
	required []string // fields of the params object the call needs
	errors   []int    // SPEC §4 codes the call may answer (besides -32600/-32601)
}

var (
	writeErrors  = []int{CodeInvalidParams, CodeUnauthorized, CodeNotPrimary, CodeHalted, CodeOverloaded}
	ticketErrors = append(slices.Clone(writeErrors), CodeNotFound, CodeTicketFinal)
	appendErrors = append(slices.Clone(writeErrors), CodeTicketFinal, CodeTooManyInFlight, CodeTooLarge, CodeExternalIDConflict)
)

// errorNames are the SPEC §4 names of the codes, for the document.
var errorNames = map[int]string{
	CodeInvalidParams:      "invalid params (the message names the field)",
	CodeUnauthorized:       "Unauthorized",
	CodeNotPrimary:         "NotPrimary",
	CodeNotFound:           "NotFound",
	CodeTicketFinal:        "TicketFinal",
	CodeTooManyInFlight:    "TooManyInFlight",
	CodeTooLarge:           "TooLarge",
	CodeOverloaded:         "Overloaded",
	CodeExternalIDConflict: "ExternalIdConflict",
	CodeHalted:             "Halted",
}

// methodNotes has one row per method served; the test fails when a row is
// missing or names no method.
var methodNotes = map[string]note{
	"sequencer_append":           {"Sequence data; with lineage and externalId, lease the lineage's next nonce (idempotent by externalId). Answers once durable.", []string{"data"}, appendErrors},
	"sequencer_close":            {"Close a leased ticket whose transaction was mined.", []string{"lineage", "externalId"}, ticketErrors},
	"sequencer_release":          {`End a lease: reason "rejected" returns the nonce to the pool, "broadcast" consumes it.`, []string{"lineage", "externalId", "reason"}, ticketErrors},
	"sequencer_syncLineage":      {"Record the chain's nonce of a lineage: tickets below it close, the next lease starts at it.", []string{"lineage", "chainNonce"}, writeErrors},
	"sequencer_attempt":          {"Record, before broadcasting it, the hash of a signed transaction for a leased ticket's nonce (a fee bump is another attempt). TicketFinal: do not broadcast.", []string{"lineage", "externalId", "txHash"}, ticketErrors},
	"sequencer_checkpoint":       {"The log key's signed statement of the Merkle tree's root at size (default: the head): EIP-712 and a C2SP tlog-checkpoint note. A replica answers the latest checkpoint the primary signed for a size it holds (4003 for any other size).", nil, []int{CodeInvalidParams, CodeNotFound}},
	"sequencer_inclusionProof":   {"The RFC 6962 audit path of entry seq in the Merkle tree of the first size entries (default: the head).", []string{"seq"}, []int{CodeInvalidParams, CodeNotFound}},
	"sequencer_consistencyProof": {"The RFC 6962 proof that the tree of size from is a prefix of the tree of size to.", []string{"from", "to"}, []int{CodeInvalidParams, CodeNotFound}},
	"sequencer_read":             {"Consecutive entries from `from` (up to `limit`, default 100, 1-1000), or one lineage's entries with seq >= from, or with `latest` the log's last N entries; and the head seq.", nil, []int{CodeInvalidParams}},
	"sequencer_ticket":           {"A ticket's state.", []string{"lineage", "externalId"}, []int{CodeInvalidParams, CodeNotFound}},
	"sequencer_lineage":          {"A lineage's nonce state.", []string{"lineage"}, []int{CodeInvalidParams, CodeNotFound}},
	"sequencer_info":             {"The node: role, version, signer, domain, head, lineage and peer counts, p2p addresses.", nil, nil},
	"sequencer_equivocations":    {"Proofs of equivocation this node holds: {a, b} two signed entries at one seq; {checkpointA, checkpointB} two signed checkpoints of one size with different roots; {checkpoint, root} a signed checkpoint whose root differs from this node's tree root at its size.", nil, nil},
	"sequencer_subscribe":        {`Subscription "entries" (WebSocket): entries in seq order from ` + "`from`" + ` (default head+1), as sequencer_subscription notifications.`, nil, []int{CodeInvalidParams, CodeOverloaded}},
	"sequencer_unsubscribe":      {"End a subscription.", nil, nil},
	"eth_chainId":                {"The chain id of the log's EIP-712 domain, as a hex quantity.", nil, nil},
	"web3_clientVersion":         {"The node software: sequencer/<version>/<goos>-<goarch>/<go version>.", nil, nil},
	"rpc_discover":               {"This OpenRPC document.", nil, nil},
	"rpc_modules":                {"The namespaces served, each with version 1.0 (go-ethereum).", nil, nil},
}

// OpenRPC document types (https://spec.open-rpc.org), the parts we use.
type openRPCDoc struct {
	OpenRPC string          `json:"openrpc"`
	Info    openRPCInfo     `json:"info"`
	Methods []openRPCMethod `json:"methods"`
}

type openRPCInfo struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Version     string `json:"version"`
}

type openRPCMethod struct {
	Name           string              `json:"name"`
	Summary        string              `json:"summary"`
	ParamStructure string              `json:"paramStructure"`
	Params         []openRPCDescriptor `json:"params"`
	Result         openRPCDescriptor   `json:"result"`
	Errors         []openRPCError      `json:"errors,omitempty"`
}

type openRPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type openRPCDescriptor struct {
	Name     string         `json:"name"`
	Required bool           `json:"required,omitempty"`
	Schema   map[string]any `json:"schema"`
}

var (
	contextType      = reflect.TypeFor[context.Context]()
	errorType        = reflect.TypeFor[error]()
	subscriptionType = reflect.TypeFor[*gethrpc.Subscription]()
)

// callable is one method go-ethereum serves from a receiver.
type callable struct {
	name      string // as called: "sequencer_read"; a subscription: its name ("entries")
	args      []reflect.Type
	result    reflect.Type // nil: no result
	subscribe bool
}

// callables lists the methods go-ethereum serves from rcvr, by its rules
// (rpc/service.go: suitableCallbacks, newCallback, isPubSub).
func callables(ns string, rcvr any) []callable {
	t := reflect.TypeOf(rcvr)
	var out []callable
	for i := range t.NumMethod() {
		m := t.Method(i)
		if m.PkgPath != "" {
			continue
		}
		ft := m.Type
		var outs []reflect.Type
		for j := range ft.NumOut() {
			outs = append(outs, ft.Out(j))
		}
		if len(outs) > 2 || len(outs) == 2 && (outs[0] == errorType || outs[1] != errorType) {
			continue // go-ethereum does not serve it
		}
		first := 1 // the receiver
		if ft.NumIn() > first && ft.In(first) == contextType {
			first++
		}
		c := callable{name: ns + "_" + lowerFirst(m.Name)}
		for j := first; j < ft.NumIn(); j++ {
			c.args = append(c.args, ft.In(j))
		}
		if len(outs) > 0 && outs[0] != errorType {
			c.result = outs[0]
		}
		if first == 2 && len(outs) == 2 && outs[0] == subscriptionType {
			c.subscribe, c.name = true, lowerFirst(m.Name)
		}
		out = append(out, c)
	}
	return out
}

func lowerFirst(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

// openRPC builds the document of svcs (and go-ethereum's builtin methods).
func openRPC(svcs []service, version string) (json.RawMessage, error) {
	doc := openRPCDoc{OpenRPC: "1.2.6", Info: openRPCInfo{
		Title:       "sequencer",
		Description: "A signed, hash-chained, append-only log with tickets and nonces per lineage. Every method takes its parameters by position; the sequencer_ methods take one object.",
		Version:     version,
	}}
	subs := map[string][]string{}      // namespace → subscription names
	subArgs := map[string][]callable{} // namespace → subscription callables
	for _, s := range append(slices.Clone(svcs), builtin...) {
		for _, c := range callables(s.name, s.rcvr) {
			if c.subscribe {
				subs[s.name] = append(subs[s.name], c.name)
				subArgs[s.name] = append(subArgs[s.name], c)
				continue
			}
			m := openRPCMethod{Name: c.name, ParamStructure: "by-position",
				Params: make([]openRPCDescriptor, 0, len(c.args)), Result: openRPCDescriptor{Name: "result", Schema: map[string]any{"type": "null"}}}
			for _, a := range c.args {
				m.Params = append(m.Params, paramDescriptor(a, methodNotes[c.name].required))
			}
			if c.result != nil {
				m.Result.Schema = schemaOf(c.result, true)
			}
			doc.Methods = append(doc.Methods, m)
		}
	}
	for ns, names := range subs {
		slices.Sort(names)
		m := openRPCMethod{Name: ns + "_subscribe", ParamStructure: "by-position",
			Params: []openRPCDescriptor{{Name: "subscription", Required: true, Schema: map[string]any{"type": "string", "enum": names}}},
			Result: openRPCDescriptor{Name: "subscriptionId", Schema: map[string]any{"type": "string"}}}
		for _, c := range subArgs[ns] {
			for _, a := range c.args {
				d := paramDescriptor(a, nil)
				d.Name = c.name + "Params"
				m.Params = append(m.Params, d)
			}
		}
		doc.Methods = append(doc.Methods, m, openRPCMethod{Name: ns + "_unsubscribe", ParamStructure: "by-position",
			Params: []openRPCDescriptor{{Name: "subscriptionId", Required: true, Schema: map[string]any{"type": "string"}}},
			Result: openRPCDescriptor{Name: "ok", Schema: map[string]any{"type": "boolean"}}})
	}
	slices.SortFunc(doc.Methods, func(a, b openRPCMethod) int { return strings.Compare(a.Name, b.Name) })
	for i := range doc.Methods {
		// A method without a row gets no summary (a test fails on it; the
		// node still starts).
		n := methodNotes[doc.Methods[i].Name]
		doc.Methods[i].Summary = n.summary
		for _, code := range n.errors {
			doc.Methods[i].Errors = append(doc.Methods[i].Errors, openRPCError{Code: code, Message: errorNames[code]})
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openrpc: %w", err)
	}
	return b, nil
}

// paramDescriptor describes one positional argument: required unless a
// pointer (go-ethereum lets trailing pointer arguments be left out).
func paramDescriptor(t reflect.Type, required []string) openRPCDescriptor {
	s := schemaOf(t, false)
	if len(required) > 0 {
		s["required"] = required
	}
	return openRPCDescriptor{Name: "params", Required: t.Kind() != reflect.Pointer, Schema: s}
}

const uintPattern = "^(0[xX][0-9a-fA-F]+|[0-9]+)$"

// schemaOf is the JSON schema of values of t as encoding/json (and our
// custom codecs) write and read them. In a result (out), fields without
// omitempty are always present and so required.
func schemaOf(t reflect.Type, out bool) map[string]any {
	switch t {
	case reflect.TypeFor[Uint64]():
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": uintPattern},
		}}
	case reflect.TypeFor[common.Hash]():
		return map[string]any{"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}
	case reflect.TypeFor[common.Address](), reflect.TypeFor[Address]():
		return map[string]any{"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
	case reflect.TypeFor[hexutil.Bytes]():
		return map[string]any{"type": "string", "pattern": "^0x([0-9a-fA-F]{2})*$"}
	case reflect.TypeFor[hexutil.Big](), reflect.TypeFor[hexutil.Uint64]():
		return map[string]any{"type": "string", "pattern": "^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$"}
	case reflect.TypeFor[big.Int]():
		return map[string]any{"type": "integer"}
	case reflect.TypeFor[json.RawMessage]():
		return map[string]any{} // any JSON value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), out)
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), out)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), out)}
	case reflect.Struct:
		props, required := map[string]any{}, []string{}
		structFields(t, out, props, &required)
		s := map[string]any{"type": "object", "properties": props}
		if out && len(required) > 0 {
			s["required"] = required
		}
		if !out {
			s["additionalProperties"] = false // params decode strictly
		}
		return s
	}
	return map[string]any{}
}

func structFields(t reflect.Type, out bool, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			structFields(f.Type, out, props, required) // embedded: its fields are ours
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, out)
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
}
