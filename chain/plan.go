package chain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/seqnode/sequencer/sequencer"
)

// Lease is one leased ticket as the watcher keeps it: enough to expire it
// and to look up its attempts on chain.
type Lease struct {
	ExternalID string
	Nonce      uint64
	LeasedAt   uint64        // the leasing entry's timestamp, Unix ms (the log's clock)
	Attempts   []common.Hash // in the order recorded
}

// View is what the node knows of one lineage when it plans: its record
// (next nonce, floor, in-flight tickets, pool) and its leases.
type View struct {
	Lineage *sequencer.Lineage
	Leases  []Lease
	// LastHolder names the final ticket that last held a nonce (for the
	// reclaim entry, SPEC §2); "" when unknown.
	LastHolder func(nonce uint64) (externalID string)
}

// Observation is one reading of the chain for one lineage's account.
type Observation struct {
	Block          uint64 // the head the reading was taken at
	ConfirmedNonce uint64 // transaction count at Block − confirmations
	LatestNonce    uint64 // transaction count at Block
	// LatestSince is when LatestNonce was first seen at its value.
	LatestSince time.Time
	// Mined holds the attempts found mined at or below the confirmed block.
	Mined map[common.Hash]bool
}

// Policy is what the node was told to do on its own.
type Policy struct {
	Primary  common.Address // sender of node-written entries (SPEC §2)
	GapAfter time.Duration  // --gap-after; 0: never reclaim
}

// Lookups are the attempts whose receipts decide a plan: those of leases
// below the confirmed nonce (their transactions are mined, or replaced by
// one the node does not know).
func Lookups(v View, confirmed uint64) []common.Hash {
	var out []common.Hash
	for _, l := range v.Leases {
		if l.Nonce < confirmed {
			out = append(out, l.Attempts...)
		}
	}
	return out
}

// Plan is what the watcher writes for one lineage after one observation
// (SPEC §9), in this order:
//
//   - a confirm for each lease below the confirmed nonce whose attempt was
//     found mined (the ticket is closed with minedTx);
//   - a sync with the confirmed nonce when it is above the lineage's floor:
//     it closes the leases below it that no known attempt explains, drops
//     used nonces from the pool and raises nextNonce past nonces used
//     outside the node;
//   - a reclaim when the latest nonce n has stood for GapAfter while n is
//     below nextNonce, in no pool and held by no lease: the gap a dropped
//     transaction left goes back to the pool for the next lease.
//
// It reads nothing and changes nothing: the ops are checked again by the
// rules when they are ordered, so a plan made on a stale view is refused,
// never wrongly applied.
func Plan(name string, v View, o Observation, now time.Time, p Policy) []sequencer.Op {
	var ops []sequencer.Op
	l := v.Lineage
	for _, ls := range v.Leases {
		if ls.Nonce >= o.ConfirmedNonce {
			continue
		}
		for _, a := range ls.Attempts {
			if o.Mined[a] {
				ops = append(ops, sequencer.Op{Kind: sequencer.KindConfirm, Lineage: name, ExternalID: ls.ExternalID, DataHash: a, Sender: p.Primary})
				break
			}
		}
	}
	floor, next := uint64(0), uint64(0)
	if l != nil {
		floor, next = l.Floor, l.NextNonce
	}
	if o.ConfirmedNonce > floor {
		ops = append(ops, sequencer.Op{Kind: sequencer.KindSync, Lineage: name, ChainNonce: o.ConfirmedNonce, Sender: p.Primary})
		floor, next = o.ConfirmedNonce, max(next, o.ConfirmedNonce)
	}
	if n := o.LatestNonce; p.GapAfter > 0 && l != nil && n < next && n >= floor && !o.LatestSince.IsZero() &&
		now.Sub(o.LatestSince) >= p.GapAfter && !slices.Contains(l.Released, n) && !held(l, n) {
		ext := ""
		if v.LastHolder != nil {
			ext = v.LastHolder(n)
		}
		ops = append(ops, sequencer.Op{Kind: sequencer.KindReclaim, Lineage: name, ExternalID: ext, ChainNonce: n, Sender: p.Primary})
	}
	return ops
}

func held(l *sequencer.Lineage, n uint64) bool {
	return slices.ContainsFunc(l.InFlight, func(f sequencer.InFlight) bool { return f.Nonce == n })
}

// Expired are the expire ops of the leases with no attempt that are older
// than ttl at now (SPEC §9: a lease with attempts never expires, its
// transaction may still be pending).
func Expired(name string, leases []Lease, now time.Time, ttl time.Duration, primary common.Address) []sequencer.Op {
	if ttl <= 0 {
		return nil
	}
	var ops []sequencer.Op
	nowMs := uint64(now.UnixMilli())
	for _, l := range leases {
		if len(l.Attempts) == 0 && nowMs >= l.LeasedAt && time.Duration(nowMs-l.LeasedAt)*time.Millisecond >= ttl {
			ops = append(ops, sequencer.Op{Kind: sequencer.KindExpire, Lineage: name, ExternalID: l.ExternalID, Sender: primary})
		}
	}
	return ops
}

// Stuck reports whether a lease with attempts waits at the latest nonce:
// its transaction was broadcast but the account does not move.
func Stuck(leases []Lease, latest uint64) bool {
	return slices.ContainsFunc(leases, func(l Lease) bool { return l.Nonce == latest && len(l.Attempts) > 0 })
}

// ParseLineage reads a lineage named eip155:<chainId>:<address> (SPEC §9):
// the chain it is on and the account whose nonces it leases.
func ParseLineage(name string) (chainID uint64, account common.Address, ok bool) {
	rest, found := strings.CutPrefix(name, "eip155:")
	if !found {
		return 0, common.Address{}, false
	}
	id, addr, found := strings.Cut(rest, ":")
	if !found || !common.IsHexAddress(addr) || !strings.HasPrefix(addr, "0x") || len(addr) != 42 {
		return 0, common.Address{}, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 || id != strconv.FormatUint(n, 10) {
		return 0, common.Address{}, false
	}
	return n, common.HexToAddress(addr), true
}

// ParseEndpoints reads --chain-rpc: CHAINID=URL[,CHAINID=URL...].
func ParseEndpoints(s string) (map[uint64]string, error) {
	out := map[uint64]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		id, url, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.ParseUint(id, 10, 64)
		if !ok || err != nil || n == 0 || url == "" {
			return nil, fmt.Errorf("--chain-rpc %q: want CHAINID=URL[,CHAINID=URL...]", part)
		}
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "ws://") && !strings.HasPrefix(url, "wss://") {
			return nil, fmt.Errorf("--chain-rpc %q: the URL must be http(s):// or ws(s)://", part)
		}
		if _, dup := out[n]; dup {
			return nil, fmt.Errorf("--chain-rpc: chain %d given twice", n)
		}
		out[n] = url
	}
	return out, nil
}
