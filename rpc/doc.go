// Package rpc maps the JSON-RPC 2.0 API of SPEC §4 onto the sequencer core,
// on go-ethereum's rpc package: HTTP POST and WebSocket on one listener,
// batch requests, subscriptions in go-ethereum's form, and the SPEC's error
// codes (each error carries ErrorCode and, where the SPEC gives it,
// ErrorData). It also owns request permissioning (allowlist and EIP-712
// signed Requests), the /metrics and /healthz endpoints, the OpenRPC
// document of what it serves (rpc_discover, openrpc.go) and the status page
// a browser gets at "/" (status.go).
package rpc
