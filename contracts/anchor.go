package contracts

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seqnode/sequencer/sequencer"
)

// DefaultAnchorEvery is --anchor-every's default.
const DefaultAnchorEvery = 10 * time.Minute

// AnchorConfig configures an Anchorer (SPEC §10's anchoring).
type AnchorConfig struct {
	URL      string         // the contract's chain: an Ethereum JSON-RPC endpoint
	Contract common.Address // SequencerAccountability on it
	Every    time.Duration  // one anchor per period while the log grows
	Key      *ecdsa.PrivateKey
	Signer   *sequencer.CheckpointSigner // the log key's checkpoints
	Log      sequencer.HeadReader        // the node's log
	// IsLeader reports whether this node writes the log now (a cluster's
	// leader); nil: always. Only the writer anchors.
	IsLeader   func() bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// MineTimeout bounds the wait for a sent anchor's receipt; then the
	// same nonce is sent again with a higher fee. Default: 2 minutes.
	MineTimeout time.Duration
}

// Anchorer sends the log's latest checkpoint to the contract's anchor
// every period while the log grows, and retries failures with backoff.
type Anchorer struct {
	cfg     AnchorConfig
	log     *slog.Logger
	m       *anchorMetrics
	client  *ethclient.Client
	c       *SequencerAccountability
	chainID *big.Int
	pending *types.Transaction // sent, not seen mined: its nonce is reused
}

// NewAnchorer checks cfg; the endpoint is dialled when Run starts, and again
// whenever it fails.
func NewAnchorer(cfg AnchorConfig) (*Anchorer, error) {
	if cfg.URL == "" || cfg.Key == nil || cfg.Signer == nil || cfg.Log == nil {
		return nil, errors.New("anchoring needs an endpoint, a paying key, the checkpoint signer and the log")
	}
	if cfg.Every <= 0 {
		return nil, errors.New("--anchor-every must be positive")
	}
	if cfg.MineTimeout <= 0 {
		cfg.MineTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Anchorer{cfg: cfg, log: cfg.Logger.With("component", "anchor"), m: newAnchorMetrics(cfg.Registerer)}, nil
}

// Run anchors until ctx ends: at once, then every period; after a failure
// again after a backoff of 1 s doubling to min(30 s, period).
func (a *Anchorer) Run(ctx context.Context) {
	defer func() {
		if a.client != nil {
			a.client.Close()
		}
	}()
	backoff := time.Duration(0)
	var lastWarn time.Time
	for {
		wait := a.cfg.Every
		if err := a.round(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.m.failures.Inc()
			a.m.up.Set(0)
			backoff = min(max(2*backoff, time.Second), 30*time.Second, a.cfg.Every)
			wait = backoff
			if time.Since(lastWarn) >= time.Minute {
				a.log.Warn("anchoring failed; retrying", "err", err, "retryIn", wait)
				lastWarn = time.Now()
			}
		} else {
			backoff = 0
			a.m.up.Set(1)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// round anchors the head's checkpoint if it is larger than the contract's.
func (a *Anchorer) round(ctx context.Context) error {
	if a.cfg.IsLeader != nil && !a.cfg.IsLeader() {
		return nil
	}
	if err := a.dial(ctx); err != nil {
		return err
	}
	call := &bind.CallOpts{Context: ctx}
	latest, err := a.c.LatestAnchor(call)
	if err != nil {
		a.drop()
		return fmt.Errorf("latestAnchor: %w", err)
	}
	a.m.size.Set(float64(latest.Size))
	head := a.cfg.Log.Head().Seq
	if head <= latest.Size {
		a.pending = nil // mined, or another writer's anchor passed it
		return nil
	}
	cp, err := a.cfg.Signer.SignHead(a.cfg.Log) // shared with the API and gossip: one signature per head
	if err != nil {
		return err
	}
	head = cp.Size
	opts, err := a.opts(ctx)
	if err != nil {
		return err
	}
	tx, err := a.c.Anchor(opts, CheckpointArg(cp), cp.Signature[:])
	if err != nil {
		a.drop()
		return fmt.Errorf("send anchor of size %d: %w", head, err)
	}
	a.pending = tx
	a.m.sent.Inc()
	mctx, cancel := context.WithTimeout(ctx, a.cfg.MineTimeout)
	defer cancel()
	r, err := bind.WaitMined(mctx, a.client, tx)
	if err != nil {
		return fmt.Errorf("anchor %s of size %d not mined: %w", tx.Hash(), head, err)
	}
	a.pending = nil
	if r.Status != types.ReceiptStatusSuccessful {
		return fmt.Errorf("anchor %s of size %d reverted", tx.Hash(), head)
	}
	a.m.size.Set(float64(head))
	a.m.anchored.Inc()
	a.m.last.SetToCurrentTime()
	a.log.Info("anchored", "size", head, "root", common.Hash(cp.Root), "tx", tx.Hash(), "gas", r.GasUsed)
	return nil
}

// checkpoint is the signed checkpoint of the tree of size entries.
// opts pays from the anchor key; a transaction sent before and not seen
// mined is replaced (its nonce, fees raised by a quarter).
func (a *Anchorer) opts(ctx context.Context) (*bind.TransactOpts, error) {
	o, err := bind.NewKeyedTransactorWithChainID(a.cfg.Key, a.chainID)
	if err != nil {
		return nil, err
	}
	o.Context = ctx
	p := a.pending
	if p == nil {
		return o, nil
	}
	mined, err := a.client.NonceAt(ctx, crypto.PubkeyToAddress(a.cfg.Key.PublicKey), nil)
	if err != nil {
		a.drop()
		return nil, fmt.Errorf("nonce: %w", err)
	}
	if mined > p.Nonce() { // it, or another transaction of this key, took the nonce
		a.pending = nil
		return o, nil
	}
	tip, err := a.client.SuggestGasTipCap(ctx)
	if err != nil {
		a.drop()
		return nil, fmt.Errorf("gas tip: %w", err)
	}
	o.Nonce = new(big.Int).SetUint64(p.Nonce())
	o.GasTipCap = bigMax(tip, bump(p.GasTipCap()))
	head, err := a.client.HeaderByNumber(ctx, nil)
	if err != nil {
		a.drop()
		return nil, fmt.Errorf("head: %w", err)
	}
	feeCap := new(big.Int).Add(o.GasTipCap, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	o.GasFeeCap = bigMax(feeCap, bump(p.GasFeeCap()))
	return o, nil
}

func bump(v *big.Int) *big.Int {
	return new(big.Int).Div(new(big.Int).Mul(v, big.NewInt(5)), big.NewInt(4))
}

func bigMax(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// dial connects once, checking there is a contract at the address.
func (a *Anchorer) dial(ctx context.Context) error {
	if a.client != nil {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := ethclient.DialContext(dctx, a.cfg.URL)
	if err != nil {
		return fmt.Errorf("dial %s: %w", a.cfg.URL, err)
	}
	id, err := cl.ChainID(dctx)
	if err != nil {
		cl.Close()
		return fmt.Errorf("eth_chainId at %s: %w", a.cfg.URL, err)
	}
	code, err := cl.CodeAt(dctx, a.cfg.Contract, nil)
	if err != nil {
		cl.Close()
		return fmt.Errorf("eth_getCode at %s: %w", a.cfg.URL, err)
	}
	if len(code) == 0 {
		cl.Close()
		return fmt.Errorf("no contract at %s on chain %s", a.cfg.Contract, id)
	}
	c, err := NewSequencerAccountability(a.cfg.Contract, cl)
	if err != nil {
		cl.Close()
		return err
	}
	a.client, a.c, a.chainID = cl, c, id
	return nil
}

// drop forgets the connection after an endpoint error: the next round dials.
func (a *Anchorer) drop() {
	if a.client != nil {
		a.client.Close()
		a.client, a.c = nil, nil
	}
}

type anchorMetrics struct {
	sent, anchored, failures prometheus.Counter
	size, last, up           prometheus.Gauge
}

func newAnchorMetrics(reg prometheus.Registerer) *anchorMetrics {
	m := &anchorMetrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "sequencer_anchor_sent_total",
			Help: "anchor transactions sent (a replacement of a stuck one counts again)."}),
		anchored: prometheus.NewCounter(prometheus.CounterOpts{Name: "sequencer_anchor_mined_total",
			Help: "anchor transactions mined successfully."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "sequencer_anchor_failures_total",
			Help: "Anchoring rounds that failed (endpoint down, revert, not mined in time); each is retried."}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sequencer_anchor_size",
			Help: "The size of the latest checkpoint the contract holds, as last read or anchored."}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sequencer_anchor_last_success_timestamp_seconds",
			Help: "When this node's last anchor was mined (Unix seconds)."}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sequencer_anchor_endpoint_up",
			Help: "1 while the last anchoring round succeeded, 0 while it is retried."}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.anchored, m.failures, m.size, m.last, m.up)
	}
	return m
}
