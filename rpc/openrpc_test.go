package rpc

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/seqnode/sequencer/internal/testnode/wire"
)

type openRPCMethodDoc struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	Params  []struct {
		Name   string         `json:"name"`
		Schema map[string]any `json:"schema"`
	} `json:"params"`
	Result struct {
		Schema map[string]any `json:"schema"`
	} `json:"result"`
}

// served probes the live server: does it serve method (over HTTP)? Only
// go-ethereum's "method not found" counts as no; any other answer (a
// result, missing params) means the method exists.
func served(t *testing.T, url, method string) bool {
	t.Helper()
	r := wire.RawCall(t, url, wire.Request(method, nil))
	return !(r.Error != nil && r.Error.Code == -32601 && strings.Contains(r.Error.Message, "does not exist"))
}

// rpc_discover lists exactly the methods the server answers: every
// exported method of every registered receiver (probed on the server, so
// go-ethereum's own rules decide), every namespace of rpc_modules, the
// subscriptions; and nothing the server does not answer (SPEC §4).
func TestOpenRPCMatchesServer(t *testing.T) {
	n := newNode(t, nodeOptions{api: func(c *Config) { c.Version = "v9" }})
	var doc struct {
		OpenRPC string `json:"openrpc"`
		Info    struct{ Version string }
		Methods []openRPCMethodDoc `json:"methods"`
	}
	wire.MustCall(t, n.url, "rpc_discover", nil, &doc)
	if !strings.HasPrefix(doc.OpenRPC, "1.") || doc.Info.Version != "v9" || len(doc.Methods) == 0 {
		t.Fatalf("document: %+v", doc)
	}
	inDoc := map[string]openRPCMethodDoc{}
	for _, m := range doc.Methods {
		if m.Summary == "" {
			t.Errorf("%s has no summary: add its row to methodNotes", m.Name)
		}
		inDoc[m.Name] = m
	}
	for name := range methodNotes {
		if _, ok := inDoc[name]; !ok {
			t.Errorf("methodNotes has a row for %s, which is not a method", name)
		}
	}

	// Every name the document gives is served.
	ws := wsClient(t, n)
	for name := range inDoc {
		switch {
		case strings.HasSuffix(name, "_subscribe"), strings.HasSuffix(name, "_unsubscribe"):
			continue // below, over WebSocket
		case !served(t, n.url, name):
			t.Errorf("the document names %s, which the server does not serve", name)
		}
	}
	// Every namespace the server reports has methods in the document.
	var modules map[string]string
	wire.MustCall(t, n.url, "rpc_modules", nil, &modules)
	for ns := range modules {
		if !slices.ContainsFunc(doc.Methods, func(m openRPCMethodDoc) bool { return strings.HasPrefix(m.Name, ns+"_") }) {
			t.Errorf("namespace %s is served but not in the document", ns)
		}
	}
	// Every exported method of every registered receiver: served ⇔ in the
	// document (a method go-ethereum refuses to serve must not be listed).
	receivers := append(services(n.api, &DiscoverAPI{}), builtin...)
	for _, svc := range receivers {
		if _, ok := modules[svc.name]; !ok {
			t.Errorf("receiver of %s is not registered (rpc_modules: %v)", svc.name, modules)
		}
		rt := reflect.TypeOf(svc.rcvr)
		for i := range rt.NumMethod() {
			m := rt.Method(i)
			name := svc.name + "_" + strings.ToLower(m.Name[:1]) + m.Name[1:]
			if m.Type.NumOut() == 2 && m.Type.Out(0) == reflect.TypeFor[*gethrpc.Subscription]() {
				continue // a subscription, below
			}
			_, listed := inDoc[name]
			if s := served(t, n.url, name); s != listed {
				t.Errorf("%s: served %v, in the document %v", name, s, listed)
			}
		}
	}
	// Subscriptions: the document's names subscribe over WebSocket; an
	// unknown name does not.
	sub, ok := inDoc["sequencer_subscribe"]
	if !ok || len(sub.Params) == 0 {
		t.Fatalf("sequencer_subscribe missing: %+v", sub)
	}
	if _, ok := inDoc["sequencer_unsubscribe"]; !ok {
		t.Error("sequencer_unsubscribe missing")
	}
	names, _ := sub.Params[0].Schema["enum"].([]any)
	if len(names) == 0 {
		t.Fatalf("sequencer_subscribe lists no subscription: %+v", sub.Params[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range append(names, "nope") {
		ch := make(chan json.RawMessage, 1)
		s, err := ws.Subscribe(ctx, "sequencer", ch, name)
		if (err == nil) != (name != "nope") {
			t.Errorf("subscribe %v: %v", name, err)
		}
		if err == nil {
			s.Unsubscribe()
		}
	}
}

// The schemas come from the Go types: read's params name its fields and
// refuse others; info's result requires the fields it always has.
func TestOpenRPCSchemas(t *testing.T) {
	n := newNode(t, nodeOptions{})
	var doc struct{ Methods []openRPCMethodDoc }
	wire.MustCall(t, n.url, "rpc_discover", nil, &doc)
	get := func(name string) openRPCMethodDoc {
		for _, m := range doc.Methods {
			if m.Name == name {
				return m
			}
		}
		t.Fatalf("no %s", name)
		return openRPCMethodDoc{}
	}
	read := get("sequencer_read").Params[0].Schema
	props, _ := read["properties"].(map[string]any)
	for _, f := range []string{"from", "limit", "lineage", "latest"} {
		if _, ok := props[f]; !ok {
			t.Errorf("sequencer_read params lack %s: %v", f, read)
		}
	}
	if read["additionalProperties"] != false {
		t.Errorf("sequencer_read params admit unknown fields: %v", read)
	}
	app := get("sequencer_append").Params[0].Schema
	props, _ = app["properties"].(map[string]any)
	for _, f := range []string{"data", "lineage", "externalId", "from", "deadline", "signature"} {
		if _, ok := props[f]; !ok {
			t.Errorf("sequencer_append params lack %s (embedded auth fields too): %v", f, app)
		}
	}
	info := get("sequencer_info").Result.Schema
	req, _ := info["required"].([]any)
	for _, f := range []string{"role", "head", "peers", "halted"} {
		if !slices.Contains(req, any(f)) {
			t.Errorf("sequencer_info result does not require %s: %v", f, req)
		}
	}
	if get("web3_clientVersion").Result.Schema["type"] != "string" {
		t.Error("web3_clientVersion result is not a string")
	}
}

// The document lists the SPEC §4 codes a call may answer.
func TestOpenRPCErrors(t *testing.T) {
	n := newNode(t, nodeOptions{})
	var doc struct {
		Methods []struct {
			Name   string
			Errors []struct {
				Code    int
				Message string
			}
		}
	}
	wire.MustCall(t, n.url, "rpc_discover", nil, &doc)
	want := map[string][]int{
		"sequencer_append": {CodeNotPrimary, CodeTooLarge, CodeExternalIDConflict},
		"sequencer_close":  {CodeNotPrimary, CodeNotFound, CodeTicketFinal},
		"sequencer_ticket": {CodeNotFound},
	}
	for _, m := range doc.Methods {
		for _, code := range want[m.Name] {
			if !slices.ContainsFunc(m.Errors, func(e struct {
				Code    int
				Message string
			}) bool {
				return e.Code == code && e.Message != ""
			}) {
				t.Errorf("%s does not list error %d: %+v", m.Name, code, m.Errors)
			}
		}
		delete(want, m.Name)
	}
	if len(want) > 0 {
		t.Errorf("methods missing: %v", want)
	}
}
