package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/seqnode/sequencer/sequencer"
)

// Config configures the API.
type Config struct {
	Role         string // "primary" or "replica"
	Version      string
	Primary      common.Address
	Domain       sequencer.Domain
	MaxDataBytes int
	Allow        Allowlist // nil: open mode
	Now          func() time.Time
	Logger       *slog.Logger
	// Node is what the node says of itself beyond its log (peers,
	// addresses, the primary's head, health); nil: a node alone.
	Node Node
	// MaxSubscriptions bounds live subscriptions (each holds a goroutine
	// and one chunk of entries); more answer Overloaded. Default 1024.
	MaxSubscriptions int
	// PrimaryRPC is the primary's JSON-RPC URL, where known (a replica's
	// --primary-rpc): 4002 NotPrimary names it in data.rpc.
	PrimaryRPC string
	// MaxReadBytes bounds the entries of one sequencer_read answer
	// (--max-read-bytes, SPEC §4); default DefaultMaxReadBytes.
	MaxReadBytes int
	// Chain is what the chain watcher last read of a lineage's account
	// (SPEC §9: sequencer_lineage.chain); nil, or nil answers: none.
	Chain func(lineage string) *ChainJSON
	// Checkpoints signs checkpoints of the tree (SPEC §10): a node that
	// holds the log key; nil elsewhere.
	Checkpoints *sequencer.CheckpointSigner
	// CheckpointKey is a replica's --checkpoint-key (the primary's note
	// verifier key), shown as info.checkpointKey; "" elsewhere.
	CheckpointKey string
}

// DefaultMaxReadBytes is the default --max-read-bytes.
const DefaultMaxReadBytes = 4 << 20

// API is the "sequencer" namespace.
type API struct {
	cfg     Config
	backend Backend
	reader  Reader
	hashers sync.Pool
	streams *streams // the subscriptions
	errs    *prometheus.CounterVec
}

// NewAPI returns the API that writes to backend and reads from reader;
// reg may be nil.
func NewAPI(backend Backend, reader Reader, cfg Config, reg prometheus.Registerer) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxDataBytes <= 0 {
		cfg.MaxDataBytes = sequencer.DefaultMaxDataBytes
	}
	if cfg.Domain.ChainID == nil {
		cfg.Domain.ChainID = big.NewInt(1)
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = 1024
	}
	if cfg.MaxReadBytes <= 0 {
		cfg.MaxReadBytes = DefaultMaxReadBytes
	}
	api := &API{cfg: cfg, backend: backend, reader: reader,
		streams: newStreams(cfg.MaxSubscriptions, reader, backend, cfg.Logger)}
	api.hashers.New = func() any { return sequencer.NewHasher(cfg.Domain) }
	api.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sequencer_rpc_errors_total", Help: "Write and read calls answered with an error, by code.",
	}, []string{"code"})
	if reg != nil {
		reg.MustRegister(api.errs)
	}
	return api
}

func (api *API) fail(err error) error {
	out := toRPC(err, api.cfg.Primary)
	var re *Error
	if errors.As(out, &re) {
		api.errs.WithLabelValues(strconv.Itoa(re.Code)).Inc()
		if re.Code == CodeNotPrimary && api.cfg.PrimaryRPC != "" {
			re.Data = map[string]string{"primary": api.cfg.Primary.Hex(), "rpc": api.cfg.PrimaryRPC}
		}
	}
	return out
}

// health is nil while the node is healthy (Node.Health).
func (api *API) health() error {
	if api.cfg.Node == nil {
		return nil
	}
	return api.cfg.Node.Health()
}

// precheck applies the checks every write makes before its own: not a
// replica (4002), not halted (4009).
func (api *API) precheck() error {
	if api.cfg.Role == "replica" {
		return sequencer.ErrNotPrimary
	}
	if err := api.backend.Halted(); err != nil {
		if errors.Is(err, sequencer.ErrHalted) {
			return err
		}
		return fmt.Errorf("%w: %v", sequencer.ErrHalted, err)
	}
	return nil
}

func (api *API) requestSender(auth *Auth, req sequencer.Request) (common.Address, sequencer.RequestID, error) {
	if api.cfg.Allow == nil {
		return common.Address{}, sequencer.RequestID{}, nil
	}
	h := api.hashers.Get().(*sequencer.Hasher)
	defer api.hashers.Put(h)
	return api.authorize(auth, &req, h)
}

// pendingWrite is a write call on its way: the op and the future of its
// entry, or the error that refused it before it reached the queue.
type pendingWrite struct {
	op  sequencer.Op
	fut *sequencer.Future
	err error
}

func refused(err error) *pendingWrite { return &pendingWrite{err: err} }

// enqueue hands op to the backend: its place in the log is fixed on return.
func (api *API) enqueue(op sequencer.Op) *pendingWrite {
	return &pendingWrite{op: op, fut: api.backend.Enqueue(op)}
}

// await waits until w's entry is durable and answers with its receipt.
func (api *API) await(ctx context.Context, w *pendingWrite) (*ReceiptJSON, error) {
	if w.err != nil {
		return nil, w.err
	}
	res, err := w.fut.Wait(ctx)
	if err != nil {
		op := &w.op
		if op.Kind != sequencer.KindTx && op.Kind != sequencer.KindSync { // a ticket never leased
			err = ticketNotFound(err, op.Lineage, op.ExternalID)
		}
		return nil, api.fail(err)
	}
	return receiptJSON(res), nil
}

// Append sequences data (sequencer_append).
func (api *API) Append(ctx context.Context, p AppendParams) (*ReceiptJSON, error) {
	return api.await(ctx, api.startAppend(p))
}

// Close closes a ticket whose transaction was mined (sequencer_close).
func (api *API) Close(ctx context.Context, p TicketParams) (*ReceiptJSON, error) {
	return api.await(ctx, api.startClose(p))
}

// Release ends a lease: reason "rejected" returns the nonce to the pool,
// "broadcast" consumes it (sequencer_release).
func (api *API) Release(ctx context.Context, p ReleaseParams) (*ReceiptJSON, error) {
	return api.await(ctx, api.startRelease(p))
}

// SyncLineage records the chain's nonce of a lineage (sequencer_syncLineage).
func (api *API) SyncLineage(ctx context.Context, p SyncParams) (*ReceiptJSON, error) {
	return api.await(ctx, api.startSync(p))
}

// Attempt records, before the executor broadcasts it, the hash of a signed
// transaction for a leased ticket's nonce (sequencer_attempt, SPEC §9).
func (api *API) Attempt(ctx context.Context, p AttemptParams) (*ReceiptJSON, error) {
	return api.await(ctx, api.startAttempt(p))
}

// startAppend validates and enqueues a sequencer_append.
func (api *API) startAppend(p AppendParams) *pendingWrite {
	if p.Data == nil {
		return refused(api.fail(invalidParams("missing field data")))
	}
	if p.Lineage != "" {
		if err := checkTicketName(p.Lineage, p.ExternalID); err != nil {
			return refused(api.fail(err))
		}
	} else if p.ExternalID != "" && !validExternalID(p.ExternalID) {
		return refused(api.fail(invalidParams("externalId must be 1-255 bytes of printable ASCII without space")))
	}
	if err := api.precheck(); err != nil {
		return refused(api.fail(err))
	}
	data := []byte(*p.Data)
	dataHash := crypto.Keccak256Hash(data)
	sender, rid, err := api.requestSender(&p.Auth, sequencer.Request{Kind: sequencer.KindTx, Lineage: p.Lineage, ExternalID: p.ExternalID, DataHash: dataHash})
	if err != nil {
		return refused(api.fail(err))
	}
	if len(data) > api.cfg.MaxDataBytes {
		return refused(api.fail(&sequencer.LimitError{Err: sequencer.ErrTooLarge, Limit: api.cfg.MaxDataBytes}))
	}
	return api.enqueue(sequencer.Op{Kind: sequencer.KindTx, Lineage: p.Lineage, ExternalID: p.ExternalID,
		Data: data, DataHash: dataHash, Sender: sender, Request: rid})
}

func (api *API) startClose(p TicketParams) *pendingWrite {
	return api.startFinish(sequencer.KindClose, p.Lineage, p.ExternalID, &p.Auth)
}

func (api *API) startRelease(p ReleaseParams) *pendingWrite {
	var kind sequencer.Kind
	switch p.Reason {
	case "rejected":
		kind = sequencer.KindRelease
	case "broadcast":
		kind = sequencer.KindFail
	case "":
		if err := checkTicketName(p.Lineage, p.ExternalID); err != nil {
			return refused(api.fail(err))
		}
		return refused(api.fail(invalidParams("missing field reason")))
	default:
		return refused(api.fail(invalidParams(`reason must be "rejected" or "broadcast"`)))
	}
	return api.startFinish(kind, p.Lineage, p.ExternalID, &p.Auth)
}

func (api *API) startFinish(kind sequencer.Kind, lineage, externalID string, auth *Auth) *pendingWrite {
	if err := checkTicketName(lineage, externalID); err != nil {
		return refused(api.fail(err))
	}
	if err := api.precheck(); err != nil {
		return refused(api.fail(err))
	}
	sender, rid, err := api.requestSender(auth, sequencer.Request{Kind: kind, Lineage: lineage, ExternalID: externalID})
	if err != nil {
		return refused(api.fail(err))
	}
	return api.enqueue(sequencer.Op{Kind: kind, Lineage: lineage, ExternalID: externalID, Sender: sender, Request: rid})
}

func (api *API) startAttempt(p AttemptParams) *pendingWrite {
	if err := checkTicketName(p.Lineage, p.ExternalID); err != nil {
		return refused(api.fail(err))
	}
	if p.TxHash == nil {
		return refused(api.fail(invalidParams("missing field txHash")))
	}
	if len(*p.TxHash) != 32 || common.BytesToHash(*p.TxHash) == (common.Hash{}) {
		return refused(api.fail(invalidParams("txHash must be the 32-byte hash of the signed transaction")))
	}
	if err := api.precheck(); err != nil {
		return refused(api.fail(err))
	}
	tx := common.BytesToHash(*p.TxHash)
	sender, rid, err := api.requestSender(&p.Auth, sequencer.Request{Kind: sequencer.KindAttempt, Lineage: p.Lineage, ExternalID: p.ExternalID, DataHash: tx})
	if err != nil {
		return refused(api.fail(err))
	}
	return api.enqueue(sequencer.Op{Kind: sequencer.KindAttempt, Lineage: p.Lineage, ExternalID: p.ExternalID, DataHash: tx, Sender: sender, Request: rid})
}

func (api *API) startSync(p SyncParams) *pendingWrite {
	if p.Lineage == "" {
		return refused(api.fail(invalidParams("missing field lineage")))
	}
	if !validLineage(p.Lineage) {
		return refused(api.fail(invalidParams("lineage must be 1-128 bytes of [A-Za-z0-9:._/-]")))
	}
	if p.ChainNonce == nil {
		return refused(api.fail(invalidParams("missing field chainNonce")))
	}
	if err := api.precheck(); err != nil {
		return refused(api.fail(err))
	}
	c := uint64(*p.ChainNonce)
	sender, rid, err := api.requestSender(&p.Auth, sequencer.Request{Kind: sequencer.KindSync, Lineage: p.Lineage, Nonce: c})
	if err != nil {
		return refused(api.fail(err))
	}
	return api.enqueue(sequencer.Op{Kind: sequencer.KindSync, Lineage: p.Lineage, ChainNonce: c, Sender: sender, Request: rid})
}

// Ticket returns a ticket (sequencer_ticket).
func (api *API) Ticket(ctx context.Context, p TicketParams) (*TicketJSON, error) {
	if err := checkTicketName(p.Lineage, p.ExternalID); err != nil {
		return nil, api.fail(err)
	}
	t, err := api.reader.Ticket(p.Lineage, p.ExternalID)
	if err != nil {
		return nil, api.fail(ticketNotFound(err, p.Lineage, p.ExternalID))
	}
	return ticketJSON(t), nil
}

// Lineage returns a lineage's nonce state (sequencer_lineage).
func (api *API) Lineage(ctx context.Context, p LineageParams) (*LineageJSON, error) {
	if p.Lineage == "" {
		return nil, api.fail(invalidParams("missing field lineage"))
	}
	if !validLineage(p.Lineage) {
		return nil, api.fail(invalidParams("lineage must be 1-128 bytes of [A-Za-z0-9:._/-]"))
	}
	l, err := api.reader.Lineage(p.Lineage)
	if err != nil {
		return nil, api.fail(notFound(err, "no lineage %q", p.Lineage))
	}
	j := lineageJSON(l)
	if api.cfg.Chain != nil {
		j.Chain = api.cfg.Chain(p.Lineage)
	}
	return j, nil
}

// Info describes the node (sequencer_info).
func (api *API) Info(ctx context.Context, _ *EmptyParams) (*InfoJSON, error) {
	st := api.reader
	h := st.Head()
	n, err := st.LineageCount()
	if err != nil {
		return nil, api.fail(err)
	}
	info := &InfoJSON{
		Role: api.cfg.Role, Version: api.cfg.Version, Primary: Address(api.cfg.Primary),
		ChainID: api.cfg.Domain.ChainID, VerifyingContract: Address(api.cfg.Domain.VerifyingContract),
		Head: HeadJSON{Seq: h.Seq, Hash: h.Hash}, Lineages: n, P2P: []string{},
		Halted: api.backend.Halted() != nil,
	}
	if c := api.cfg.Checkpoints; c != nil {
		info.CheckpointKey = c.VerifierKey()
	} else {
		info.CheckpointKey = api.cfg.CheckpointKey
	}
	if n := api.cfg.Node; n != nil {
		info.Peers = n.Peers()
		info.P2P = append(info.P2P, n.P2PAddrs()...)
		if ph, ok := n.PrimaryHead(); ok {
			info.PrimaryHead = &ph
		}
		info.Cluster = n.Cluster()
	}
	return info, nil
}

// Checkpoint signs the tree's root at size (default: the head), SPEC §10
// (sequencer_checkpoint).
func (api *API) Checkpoint(ctx context.Context, p *CheckpointParams) (*CheckpointJSON, error) {
	var size *Uint64
	if p != nil {
		size = p.Size
	}
	cp, err := api.checkpoint(size)
	if err != nil {
		return nil, api.fail(err)
	}
	return checkpointJSON(cp), nil
}

func (api *API) checkpoint(size *Uint64) (*sequencer.Checkpoint, error) {
	if api.cfg.Checkpoints == nil {
		return api.primaryCheckpoint(size)
	}
	if size == nil {
		// The head's checkpoint, signed once per head.
		return api.cfg.Checkpoints.SignHead(api.reader)
	}
	n := uint64(*size)
	if n == 0 || n > api.reader.Head().Seq {
		return nil, fmt.Errorf("%w: size %d: the log holds %d entries", sequencer.ErrInvalidParams, n, api.reader.Head().Seq)
	}
	root, err := api.reader.Root(n)
	if err != nil {
		return nil, err
	}
	es, err := api.reader.Range(n, 1)
	if err != nil || len(es) != 1 {
		return nil, fmt.Errorf("read entry %d: %v", n, err)
	}
	return api.cfg.Checkpoints.Sign(n, root, es[0].Timestamp)
}

// primaryCheckpoint answers sequencer_checkpoint on a node without the log
// key (a replica): the latest checkpoint the primary signed for a size it
// holds, checked against its own tree (SPEC §10), byte for byte as the
// primary signed it. Another size, or none received yet: NotFound.
func (api *API) primaryCheckpoint(size *Uint64) (*sequencer.Checkpoint, error) {
	cp, err := api.reader.PrimaryCheckpoint()
	if err != nil {
		return nil, err
	}
	if cp == nil {
		return nil, fmt.Errorf("%w: no checkpoint signed by the primary received yet (a replica does not hold the log key)", sequencer.ErrNotFound)
	}
	if size != nil && uint64(*size) != cp.Size {
		return nil, fmt.Errorf("%w: this replica holds the primary's checkpoint of size %d only, not of size %d (it does not hold the log key)", sequencer.ErrNotFound, cp.Size, uint64(*size))
	}
	return cp, nil
}

// InclusionProof is the RFC 6962 audit path of entry seq in the tree of
// size entries, default the head (sequencer_inclusionProof, SPEC §10).
func (api *API) InclusionProof(ctx context.Context, p InclusionProofParams) (*InclusionProofJSON, error) {
	if p.Seq == nil {
		return nil, api.fail(invalidParams("missing field seq"))
	}
	size := api.reader.Head().Seq
	if p.Size != nil {
		size = uint64(*p.Size)
	}
	proof, err := api.reader.InclusionProof(uint64(*p.Seq), size)
	if err != nil {
		return nil, api.fail(err)
	}
	return &InclusionProofJSON{Seq: uint64(*p.Seq), Size: size, Proof: hashesJSON(proof)}, nil
}

// ConsistencyProof proves the tree of size from a prefix of the tree of
// size to (sequencer_consistencyProof, SPEC §10).
func (api *API) ConsistencyProof(ctx context.Context, p ConsistencyProofParams) (*ConsistencyProofJSON, error) {
	if p.From == nil || p.To == nil {
		return nil, api.fail(invalidParams("from and to are required"))
	}
	proof, err := api.reader.ConsistencyProof(uint64(*p.From), uint64(*p.To))
	if err != nil {
		return nil, api.fail(err)
	}
	return &ConsistencyProofJSON{From: uint64(*p.From), To: uint64(*p.To), Proof: hashesJSON(proof)}, nil
}

// Equivocations returns the proofs this node holds (sequencer_equivocations).
func (api *API) Equivocations(ctx context.Context, _ *EmptyParams) ([]EquivocationJSON, error) {
	out := []EquivocationJSON{}
	eqs, _ := api.reader.Equivocations() // none read: none shown, as before a store holds any
	for _, p := range eqs {
		out = append(out, EquivocationJSON{A: entryJSON(p.A), B: entryJSON(p.B)})
	}
	cps, _ := api.reader.CheckpointProofs()
	for _, p := range cps {
		out = append(out, checkpointProofJSON(p))
	}
	return out, nil
}
