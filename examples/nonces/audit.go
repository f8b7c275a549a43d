package main

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/seqnode/sequencer/client"
)

// MinedTx is a transaction of the account found in a block.
type MinedTx struct {
	Nonce  uint64
	Hash   common.Hash
	Block  uint64
	Status uint64
}

// ChainAudit is what the chain says about the account, read block by
// block, independently of what the executors recorded.
type ChainAudit struct {
	Nonce        uint64        // NonceAt the head
	PendingNonce uint64        // PendingNonceAt: the pool's view
	Head         uint64        // the head block number
	Mined        []MinedTx     // the account's transactions, in chain order
	InPool       []common.Hash // of sent, those the pool still holds (pending or queued)
}

// AuditChain reads every block from genesis to the head and collects the
// account's transactions, then asks the pool about every hash in sent.
func AuditChain(ctx context.Context, env *Env, sent []common.Hash) (*ChainAudit, error) {
	a := &ChainAudit{}
	var err error
	if a.Head, err = env.Eth.BlockNumber(ctx); err != nil {
		return nil, err
	}
	for n := uint64(0); n <= a.Head; n++ {
		b, err := env.Eth.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", n, err)
		}
		for _, tx := range b.Transactions() {
			from, err := types.Sender(env.Signer, tx)
			if err != nil || from != env.Account {
				continue
			}
			r, err := env.Eth.TransactionReceipt(ctx, tx.Hash())
			if err != nil {
				return nil, fmt.Errorf("receipt of %s: %w", tx.Hash(), err)
			}
			a.Mined = append(a.Mined, MinedTx{Nonce: tx.Nonce(), Hash: tx.Hash(), Block: n, Status: r.Status})
		}
	}
	if a.Nonce, err = env.Eth.NonceAt(ctx, env.Account, nil); err != nil {
		return nil, err
	}
	if a.PendingNonce, err = env.Eth.PendingNonceAt(ctx, env.Account); err != nil {
		return nil, err
	}
	for _, h := range sent {
		// The pool answers for pending and queued (gapped) transactions
		// alike; a mined one is not pending, a dropped one is not found.
		if _, pending, err := env.Eth.TransactionByHash(ctx, h); err == nil && pending {
			a.InPool = append(a.InPool, h)
		}
	}
	return a, nil
}

// ReLease is a released nonce and the ticket that leased it next.
type ReLease struct {
	Nonce    uint64
	From, To string // externalIds
}

// LeaseLog is the lineage's history read back from the sequencer's log
// (sequencer_read with the lineage) and replayed by the rules of SPEC §3.
type LeaseLog struct {
	Kinds      map[string]int // entries by kind
	ReLeases   []ReLease
	Pool       []uint64 // released nonces that no lease took again
	MaxPool    int      // the most released nonces a lease chose from
	Violations []string // leases that did not get the lowest pooled nonce, else nextNonce
}

// ReadLeases replays a lineage's entries.
func ReadLeases(ctx context.Context, seq *client.Client, lineage string) (*LeaseLog, error) {
	l := &LeaseLog{Kinds: map[string]int{}}
	releasedBy := map[uint64]string{}
	var next uint64
	for from := uint64(1); ; {
		page, err := seq.Read(ctx, from, 1000, lineage)
		if err != nil {
			return nil, err
		}
		if len(page.Entries) == 0 {
			break
		}
		for _, e := range page.Entries {
			l.Kinds[e.Kind]++
			switch e.Kind {
			case "tx":
				want := next
				if len(l.Pool) > 0 {
					want = l.Pool[0]
				}
				if e.Nonce != want {
					l.Violations = append(l.Violations, fmt.Sprintf("seq %d (%s) leased nonce %d, want %d", e.Seq, e.ExternalID, e.Nonce, want))
				}
				l.MaxPool = max(l.MaxPool, len(l.Pool))
				if i, ok := slices.BinarySearch(l.Pool, e.Nonce); ok {
					l.Pool = slices.Delete(l.Pool, i, i+1)
					l.ReLeases = append(l.ReLeases, ReLease{Nonce: e.Nonce, From: releasedBy[e.Nonce], To: e.ExternalID})
				} else {
					next = max(next, e.Nonce+1)
				}
			case "release":
				i, _ := slices.BinarySearch(l.Pool, e.Nonce)
				l.Pool = slices.Insert(l.Pool, i, e.Nonce)
				releasedBy[e.Nonce] = e.ExternalID
			case "sync":
				l.Pool = slices.DeleteFunc(l.Pool, func(n uint64) bool { return n < e.Nonce })
				next = max(next, e.Nonce)
			}
		}
		from = page.Entries[len(page.Entries)-1].Seq + 1
	}
	return l, nil
}
