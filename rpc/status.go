package rpc

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// The status page: what a person who opens the RPC address in a browser
// sees. Rendered on the server with html/template (every value escaped),
// no script, no external asset; JSON-RPC POST and WebSocket on "/" are
// unchanged (a browser's GET asks for text/html and carries no body).

// statusEntries is how many of the latest entries the page shows.
const statusEntries = 20

// wantsStatusPage: a GET (or HEAD) without a body from a client that
// accepts HTML, i.e. a browser.
func wantsStatusPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.ContentLength > 0 || strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

type statusView struct {
	Info      *InfoJSON
	Health    string // "ok", or what /healthz says is wrong
	Healthy   bool
	HeadHash  string
	Signer    string
	Entries   []statusEntry
	Generated string
}

type statusEntry struct {
	Seq                                 uint64
	Kind, Lineage, ExternalID, Hash, At string
	Nonce                               uint64
	Leased                              bool // has a lineage (a nonce)
}

// captured keeps what a handler wrote, to show /healthz's verdict as is.
type captured struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header         { return c.header }
func (c *captured) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *captured) WriteHeader(code int)        { c.code = code }

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	info, err := s.api.Info(r.Context(), nil)
	if err != nil {
		http.Error(w, "status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	v := statusView{Info: info, HeadHash: info.Head.Hash.Hex(), Signer: common.Address(info.Primary).Hex(), Generated: time.Now().UTC().Format(time.RFC3339)}
	hc := &captured{header: http.Header{}, code: http.StatusOK}
	s.health(hc, r)
	var h struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	json.Unmarshal(hc.body.Bytes(), &h)
	v.Healthy = hc.code == http.StatusOK
	v.Health = h.Status
	if h.Reason != "" {
		v.Health += ": " + h.Reason
	}
	if v.Health == "" {
		v.Health = http.StatusText(hc.code)
	}
	n := Uint64(statusEntries)
	if page, err := s.api.Read(r.Context(), ReadParams{Latest: &n}); err == nil {
		for i := len(page.Entries) - 1; i >= 0; i-- { // newest first
			e := page.Entries[i]
			v.Entries = append(v.Entries, statusEntry{
				Seq: e.Seq, Kind: e.Kind, Lineage: e.Lineage, ExternalID: e.ExternalID, Nonce: e.Nonce,
				Leased: e.Lineage != "", Hash: hexutil.Encode(e.Hash[:]),
				At: time.UnixMilli(int64(e.Timestamp)).UTC().Format("2006-01-02 15:04:05.000"),
			})
		}
	}
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, v); err != nil {
		http.Error(w, "status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if !v.Healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Write(buf.Bytes())
}

var statusTemplate = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sequencer {{.Info.Role}} · head {{.Info.Head.Seq}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}
table{border-collapse:collapse}
td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd;white-space:nowrap}
code{font:12px ui-monospace,monospace}
.ok{color:#1a7f37}.bad{color:#c62828;font-weight:bold}
</style>
</head>
<body>
<h1>sequencer <span id="role">{{.Info.Role}}</span></h1>
<table id="node">
<tr><th>health</th><td id="health" class="{{if .Healthy}}ok{{else}}bad{{end}}">{{.Health}}</td></tr>
<tr><th>head</th><td><span id="head">{{.Info.Head.Seq}}</span> <code>{{.HeadHash}}</code></td></tr>
{{- with .Info.PrimaryHead}}
<tr><th>primary head</th><td id="primary-head">{{.}}</td></tr>
{{- end}}
<tr><th>peers</th><td id="peers">{{.Info.Peers}}</td></tr>
<tr><th>lineages</th><td>{{.Info.Lineages}}</td></tr>
<tr><th>signer</th><td><code>{{.Signer}}</code></td></tr>
<tr><th>chain id</th><td>{{.Info.ChainID}}</td></tr>
<tr><th>version</th><td>{{.Info.Version}}</td></tr>
{{- range .Info.P2P}}
<tr><th>p2p</th><td><code>{{.}}</code></td></tr>
{{- end}}
</table>
<h2>Latest entries</h2>
{{- if .Entries}}
<table id="entries">
<tr><th>seq</th><th>kind</th><th>lineage</th><th>nonce</th><th>externalId</th><th>time (UTC)</th><th>hash</th></tr>
{{- range .Entries}}
<tr><td>{{.Seq}}</td><td>{{.Kind}}</td><td>{{.Lineage}}</td><td>{{if .Leased}}{{.Nonce}}{{end}}</td><td>{{.ExternalID}}</td><td>{{.At}}</td><td><code>{{.Hash}}</code></td></tr>
{{- end}}
</table>
{{- else}}
<p id="entries">The log is empty.</p>
{{- end}}
<p><small>Generated {{.Generated}}. JSON-RPC: POST to this address (or open a WebSocket); methods: rpc_discover. Health: <a href="/healthz">/healthz</a>, metrics: <a href="/metrics">/metrics</a>.</small></p>
</body>
</html>
`))
