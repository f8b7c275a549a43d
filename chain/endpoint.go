package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// maxBatch bounds the calls of one JSON-RPC batch (go-ethereum's server
// refuses more than 1000 by default).
const maxBatch = 500

// maxBackoff bounds the wait between tries of a failing endpoint.
const maxBackoff = 30 * time.Second

// endpoint is one chain's JSON-RPC endpoint, used by that chain's poll
// goroutine only (the metrics are shared).
type endpoint struct {
	chainID uint64
	url     string
	label   string // the chain id, for metrics
	timeout time.Duration
	m       *metrics

	c         *gethrpc.Client
	lastBlock uint64      // the head of the last complete poll
	lastHash  common.Hash // its hash (zero: not known)
	polls     uint64      // polls of a new head, for sweepEvery
	backoff   time.Duration
	failing   bool
	lastWarn  time.Time
	sub       *gethrpc.ClientSubscription
}

func newEndpoint(id uint64, u string, timeout time.Duration, m *metrics) *endpoint {
	return &endpoint{chainID: id, url: u, label: strconv.FormatUint(id, 10), timeout: timeout, m: m}
}

// redacted is the URL without credentials or query (API keys live there).
func (ep *endpoint) redacted() string {
	u, err := url.Parse(ep.url)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	if i := strings.LastIndex(u.Path, "/"); len(u.Path)-i > 20 { // a key as the last path segment
		u.Path = u.Path[:i+1] + "…"
	}
	return u.String()
}

// dial connects once and checks that the endpoint serves the chain it was
// configured for: a wrong chain's nonces would close tickets wrongly.
func (ep *endpoint) dial(ctx context.Context) error {
	if ep.c != nil {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	c, err := gethrpc.DialContext(dctx, ep.url)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	var id hexutil.Big
	ep.m.calls.WithLabelValues(ep.label).Inc()
	ep.m.requests.WithLabelValues(ep.label).Inc()
	if err := c.CallContext(dctx, &id, "eth_chainId"); err != nil {
		c.Close()
		return fmt.Errorf("eth_chainId: %w", err)
	}
	if (*big.Int)(&id).Cmp(new(big.Int).SetUint64(ep.chainID)) != 0 {
		c.Close()
		return fmt.Errorf("the endpoint serves chain %s, not %d", (*big.Int)(&id), ep.chainID)
	}
	ep.c = c
	return nil
}

func (ep *endpoint) close() {
	if ep.sub != nil {
		ep.sub.Unsubscribe()
	}
	if ep.c != nil {
		ep.c.Close()
	}
}

func (ep *endpoint) blockNumber(ctx context.Context) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	var n hexutil.Uint64
	ep.m.calls.WithLabelValues(ep.label).Inc()
	ep.m.requests.WithLabelValues(ep.label).Inc()
	if err := ep.c.CallContext(cctx, &n, "eth_blockNumber"); err != nil {
		return 0, fmt.Errorf("eth_blockNumber: %w", err)
	}
	if uint64(n) < ep.lastBlock && ep.lastBlock-uint64(n) > 64 {
		return 0, fmt.Errorf("eth_blockNumber: head %d, %d blocks below the head seen before (%d): not this chain's head", n, ep.lastBlock-uint64(n), ep.lastBlock)
	}
	return uint64(n), nil
}

// batch runs calls in batches of maxBatch.
func (ep *endpoint) batch(ctx context.Context, calls []gethrpc.BatchElem) error {
	for len(calls) > 0 {
		n := min(len(calls), maxBatch)
		cctx, cancel := context.WithTimeout(ctx, ep.timeout)
		ep.m.requests.WithLabelValues(ep.label).Inc()
		ep.m.calls.WithLabelValues(ep.label).Add(float64(n))
		err := ep.c.BatchCallContext(cctx, calls[:n])
		cancel()
		if err != nil {
			return err
		}
		calls = calls[n:]
	}
	return nil
}

// maxActivityBlocks bounds the blocks one poll reads the senders of; after
// a longer gap (a slow poll, an endpoint that was down) every account is
// read.
const maxActivityBlocks = 32

// sweepEvery: each poll of a new head also reads one in this many of the
// watched accounts, in turn (by the address's last byte), whatever the
// blocks showed, so that every account is read at least once in this many
// polls: a nonce can move in a way no block transaction names (a contract
// creation by an EIP-7702 delegate's code).
const sweepEvery = 16

// swept says whether a poll numbered polls reads account a in any case.
func swept(a common.Address, polls uint64) bool {
	return uint64(a[common.AddressLength-1])%sweepEvery == polls%sweepEvery
}

// block is what the watcher reads of a block: its link to the one before,
// and with full transactions their senders and types.
type block struct {
	Hash         common.Hash     `json:"hash"`
	ParentHash   common.Hash     `json:"parentHash"`
	Transactions json.RawMessage `json:"transactions"`
}

type blockTx struct {
	From common.Address `json:"from"`
	Type hexutil.Uint64 `json:"type"`
}

// activity reads the blocks after the last poll's head up to head and
// returns the accounts that sent a transaction in them: only their nonces
// can have moved since (SPEC §9's reading at each head, for the accounts
// that did not send, is the one read before). ok is false when that cannot
// stand in for reading every account: no head read before, a gap longer
// than maxActivityBlocks, blocks that do not continue the last head seen
// (a reorganisation), or an EIP-7702 transaction (its authorizations move
// the nonces of accounts that did not send it). hash is head's hash.
func (ep *endpoint) activity(ctx context.Context, head uint64) (senders map[common.Address]bool, hash common.Hash, ok bool, err error) {
	from := ep.lastBlock + 1
	ok = ep.lastBlock > 0 && ep.lastHash != (common.Hash{}) && head >= from && head-from < maxActivityBlocks
	if !ok {
		from = head // its hash only, to link the next poll's blocks
	}
	blocks := make([]*block, head-from+1)
	calls := make([]gethrpc.BatchElem, len(blocks))
	for i := range calls {
		calls[i] = gethrpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{hexutil.Uint64(from + uint64(i)), ok}, Result: &blocks[i]}
	}
	if err := ep.batch(ctx, calls); err != nil {
		return nil, hash, false, fmt.Errorf("eth_getBlockByNumber: %w", err)
	}
	senders = map[common.Address]bool{}
	prev := ep.lastHash
	for i, b := range blocks {
		n := from + uint64(i)
		if calls[i].Error != nil || b == nil || b.Hash == (common.Hash{}) {
			ep.m.errors.WithLabelValues(ep.label).Inc()
			return nil, hash, false, fmt.Errorf("eth_getBlockByNumber %d: no block (%v)", n, calls[i].Error)
		}
		if !ok {
			return senders, b.Hash, false, nil
		}
		if b.ParentHash != prev {
			ok = false // a reorganisation: read every account
		}
		prev = b.Hash
		var txs []blockTx
		if err := json.Unmarshal(b.Transactions, &txs); err != nil {
			ep.m.errors.WithLabelValues(ep.label).Inc()
			return nil, hash, false, fmt.Errorf("eth_getBlockByNumber %d: transactions: %w", n, err)
		}
		for _, tx := range txs {
			if tx.Type == types.SetCodeTxType {
				ok = false
			}
			senders[tx.From] = true
		}
	}
	return senders, prev, ok, nil
}

type counts struct{ confirmed, latest uint64 }

// nonces reads each account's transaction count at the head and, where it
// can have changed, at the confirmed block, in batches. The confirmed count
// never decreases and never passes the latest one, so an account whose
// previous reading (prior) had them equal and whose latest count has not
// moved still has that confirmed count: for the idle accounts of a busy
// node that halves the calls; an account with no transaction at the head
// has none at the confirmed block either. An account whose answers are bad is left out
// (and counted as an error); a failed batch fails the poll.
func (ep *endpoint) nonces(ctx context.Context, accounts []common.Address, confirmed, head uint64, prior map[common.Address]counts) (map[common.Address]counts, error) {
	uniq := map[common.Address]bool{}
	var list []common.Address
	for _, a := range accounts {
		if !uniq[a] {
			uniq[a] = true
			list = append(list, a)
		}
	}
	latest := make([]hexutil.Uint64, len(list))
	calls := make([]gethrpc.BatchElem, len(list))
	for i, a := range list {
		calls[i] = gethrpc.BatchElem{Method: "eth_getTransactionCount", Args: []any{a, hexutil.Uint64(head)}, Result: &latest[i]}
	}
	if err := ep.batch(ctx, calls); err != nil {
		return nil, fmt.Errorf("eth_getTransactionCount: %w", err)
	}
	out := make(map[common.Address]counts, len(list))
	var bad error
	var again []int // accounts whose confirmed count must be read
	for i, a := range list {
		if calls[i].Error != nil {
			bad = calls[i].Error
			continue
		}
		if p, ok := prior[a]; ok && p.confirmed == p.latest && p.latest == uint64(latest[i]) {
			out[a] = p
			continue
		}
		if latest[i] == 0 { // never used: 0 at every block before too
			out[a] = counts{}
			continue
		}
		again = append(again, i)
	}
	conf := make([]hexutil.Uint64, len(again))
	calls = make([]gethrpc.BatchElem, len(again))
	for j, i := range again {
		calls[j] = gethrpc.BatchElem{Method: "eth_getTransactionCount", Args: []any{list[i], hexutil.Uint64(confirmed)}, Result: &conf[j]}
	}
	if err := ep.batch(ctx, calls); err != nil {
		return nil, fmt.Errorf("eth_getTransactionCount: %w", err)
	}
	for j, i := range again {
		a := list[i]
		if calls[j].Error != nil {
			bad = calls[j].Error
			continue
		}
		c := counts{confirmed: uint64(conf[j]), latest: uint64(latest[i])}
		if c.confirmed > c.latest { // the count at an older block cannot be higher
			bad = fmt.Errorf("account %s: nonce %d at block %d above %d at block %d", a, c.confirmed, confirmed, c.latest, head)
			continue
		}
		out[a] = c
	}
	if bad != nil {
		ep.m.errors.WithLabelValues(ep.label).Inc()
		if len(out) == 0 {
			return nil, fmt.Errorf("eth_getTransactionCount: %w", bad)
		}
	}
	return out, nil
}

// receipt is the part of a transaction receipt the watcher reads.
type receipt struct {
	BlockNumber *hexutil.Big `json:"blockNumber"`
}

// mined looks up the receipts of txs and returns those mined at or below
// block. A bad answer fails the poll: a ticket would otherwise be closed
// by the sync without the minedTx the chain could have given it.
func (ep *endpoint) mined(ctx context.Context, txs []common.Hash, block uint64) (map[common.Hash]bool, error) {
	out := map[common.Hash]bool{}
	if len(txs) == 0 {
		return out, nil
	}
	res := make([]json.RawMessage, len(txs))
	calls := make([]gethrpc.BatchElem, len(txs))
	for i, h := range txs {
		calls[i] = gethrpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{h}, Result: &res[i]}
	}
	if err := ep.batch(ctx, calls); err != nil {
		return nil, fmt.Errorf("eth_getTransactionReceipt: %w", err)
	}
	for i, h := range txs {
		if calls[i].Error != nil {
			ep.m.errors.WithLabelValues(ep.label).Inc()
			return nil, fmt.Errorf("eth_getTransactionReceipt %s: %w", h, calls[i].Error)
		}
		if len(res[i]) == 0 || string(res[i]) == "null" {
			continue // not mined (or not known to this endpoint)
		}
		var r receipt
		if err := json.Unmarshal(res[i], &r); err != nil || r.BlockNumber == nil {
			ep.m.errors.WithLabelValues(ep.label).Inc()
			return nil, fmt.Errorf("eth_getTransactionReceipt %s: not a receipt: %.80s", h, res[i])
		}
		if b := (*big.Int)(r.BlockNumber); b.IsUint64() && b.Uint64() <= block {
			out[h] = true
		}
	}
	return out, nil
}

// failed records a failed poll and returns how long to wait: doubling
// from the poll interval up to maxBackoff. It warns on the first failure
// and then once a minute; the node never stops for an endpoint.
func (ep *endpoint) failed(err error, poll time.Duration, log *slog.Logger) time.Duration {
	ep.m.errors.WithLabelValues(ep.label).Inc()
	ep.m.up.WithLabelValues(ep.label).Set(0)
	if ep.backoff == 0 {
		ep.backoff = poll
	} else {
		ep.backoff = min(2*ep.backoff, maxBackoff)
	}
	if !ep.failing || time.Since(ep.lastWarn) > time.Minute {
		log.Warn("chain endpoint failing; retrying", "chain", ep.chainID, "url", ep.redacted(), "retryIn", ep.backoff, "err", err)
		ep.lastWarn = time.Now()
	}
	ep.failing = true
	if ep.c != nil && !isAnswerError(err) { // a broken connection: dial again
		ep.close()
		ep.c, ep.sub = nil, nil
	}
	return ep.backoff
}

func (ep *endpoint) ok(log *slog.Logger) {
	ep.m.up.WithLabelValues(ep.label).Set(1)
	if ep.failing {
		log.Info("chain endpoint answers again", "chain", ep.chainID, "url", ep.redacted())
	}
	ep.failing, ep.backoff = false, 0
}

// isAnswerError tells an error the endpoint answered with from a broken
// connection.
func isAnswerError(err error) bool {
	var re gethrpc.Error
	return errors.As(err, &re)
}

// subscribe asks a WebSocket endpoint for new heads, each of which wakes
// the poll; over HTTP the poll interval alone drives it.
func (ep *endpoint) subscribe(ctx context.Context, heads chan<- struct{}, log *slog.Logger) {
	if ep.c == nil || !(strings.HasPrefix(ep.url, "ws://") || strings.HasPrefix(ep.url, "wss://")) {
		return
	}
	if ep.sub != nil {
		select {
		case err := <-ep.sub.Err():
			log.Warn("chain head subscription ended; polling until it is back", "chain", ep.chainID, "err", err)
			ep.sub = nil
		default:
			return
		}
	}
	ch := make(chan json.RawMessage, 16)
	sctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	sub, err := ep.c.EthSubscribe(sctx, ch, "newHeads")
	if err != nil {
		log.Warn("chain endpoint refuses newHeads; polling every --chain-poll", "chain", ep.chainID, "err", err)
		return
	}
	ep.sub = sub
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-ch:
				if !ok {
					return
				}
				select {
				case heads <- struct{}{}:
				default:
				}
			case <-sub.Err():
				return
			}
		}
	}()
}
