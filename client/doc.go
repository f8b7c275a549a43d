// Package client is the Go client of the sequencer's JSON-RPC API (SPEC §4).
//
// It gives typed calls (Append, Close, Release, SyncLineage, Read, Ticket,
// Lineage, Info, Equivocations), a Subscribe that resumes after a dropped
// connection from the last seq it delivered, automatic request signing when
// given a key (permissioned nodes), retries that are safe because every
// write named by an externalId is idempotent, and helpers that check
// entries, chains and equivocation proofs against a primary's address.
package client
