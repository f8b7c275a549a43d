// Package client is the Go client of the sequencer's JSON-RPC API (SPEC §4).
//
// It gives typed calls (Append, Close, Release, SyncLineage, Read, Ticket,
// Lineage, Info, Equivocations), a Subscribe that resumes after a dropped
// connection from the last seq it delivered, automatic request signing when
// given a key (permissioned nodes), retries that are safe because every
// write named by an externalId is idempotent, and helpers that check
// entries, chains and equivocation proofs against a primary's address.
//
// Writes (append, close, release, alone or in a Batch) to an http(s) URL
// are encoded and decoded by the package itself, without reflection, for
// executors that write many entries; every other call, and every call to
// a ws(s) URL, goes through go-ethereum's rpc client. Both give the same
// receipts and the same errors (*Error for the node's answers,
// go-ethereum's rpc.HTTPError for a status other than 2xx). Headers added
// to a context with go-ethereum's rpc.NewContextWithHeaders reach only the
// calls that go through go-ethereum's client; set them on the transport of
// WithHTTPClient to have them on writes too.
package client
