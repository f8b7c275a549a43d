package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
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
}

// DefaultMaxReadBytes is the default --max-read-bytes.
const DefaultMaxReadBytes = 4 << 20

// API is the "sequencer" namespace.
type API struct {
	subs      atomic.Int64
	cfg       Config
	backend   Backend
	reader    Reader
	hashers   sync.Pool
	done      chan struct{}
	streamsMu sync.Mutex     // no stream starts once done is closed
	streams   sync.WaitGroup // subscription goroutines, waited for at shutdown
	errs      *prometheus.CounterVec
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
	api := &API{cfg: cfg, backend: backend, reader: reader, done: make(chan struct{})}
	api.hashers.New = func() any { return sequencer.NewHasher(cfg.Domain) }
	api.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sequencer_rpc_errors_total", Help: "Write and read calls answered with an error, by code.",
	}, []string{"code"})
	if reg != nil {
		reg.MustRegister(api.errs)
	}
	return api
}

// stop tells every subscription to end; wait waits until they did. (Not
// exported: every exported method of API is served over JSON-RPC.)
func (api *API) stop() {
	api.streamsMu.Lock()
	defer api.streamsMu.Unlock()
	select {
	case <-api.done:
	default:
		close(api.done)
	}
}

// startStream runs a subscription's goroutine, unless the API stopped.
func (api *API) startStream(fn func()) bool {
	api.streamsMu.Lock()
	defer api.streamsMu.Unlock()
	select {
	case <-api.done:
		return false
	default:
	}
	api.streams.Add(1)
	go func() {
		defer api.streams.Done()
		fn()
	}()
	return true
}

func (api *API) wait() { api.streams.Wait() }

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
		if op.Kind == sequencer.KindClose || op.Kind == sequencer.KindRelease || op.Kind == sequencer.KindFail { // a ticket never leased
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

// MaxReadLimit is the most entries one sequencer_read returns.
const MaxReadLimit = 1000

// Read returns consecutive entries from `from`, or one lineage's entries
// with seq ≥ from (sequencer_read).
func (api *API) Read(ctx context.Context, p ReadParams) (*ReadResult, error) {
	newest := p.Latest != nil // over the byte limit, keep the newest entries
	if newest {
		if err := api.latest(&p); err != nil {
			return nil, api.fail(err)
		}
	}
	if p.From == nil {
		return nil, api.fail(invalidParams("missing field from"))
	}
	if *p.From < 1 {
		return nil, api.fail(invalidParams("from must be at least 1"))
	}
	limit := uint64(100)
	if p.Limit != nil {
		limit = uint64(*p.Limit)
	}
	if limit < 1 || limit > MaxReadLimit {
		return nil, api.fail(invalidParams("limit must be 1-1000"))
	}
	if p.Lineage != "" && !validLineage(p.Lineage) {
		return nil, api.fail(invalidParams("lineage must be 1-128 bytes of [A-Za-z0-9:._/-]"))
	}
	// SPEC §4: an answer holds at most MaxReadBytes of entries (at least
	// one); a batch's reads share the batch's answer limit.
	budget := int64(api.cfg.MaxReadBytes)
	shared := readBudgetOf(ctx)
	if shared != nil {
		left := shared.left.Load()
		if left <= 0 {
			return nil, api.fail(&Error{Code: codeResponseTooLarge, Message: msgResponseTooLarge + ": the reads of this request already fill its answer limit"})
		}
		budget = min(budget, left)
	}
	st := api.reader
	head := st.Head().Seq
	out := &ReadResult{Entries: []*EntryJSON{}, Head: head}
	var used int64
	var sizes []int64 // with newest: the size of each entry in out
	from := uint64(*p.From)
	const chunk = 32 // entries read from the store at a time
read:
	for uint64(len(out.Entries)) < limit {
		n := int(min(limit-uint64(len(out.Entries)), chunk))
		var es []*sequencer.Entry
		var err error
		if p.Lineage != "" {
			es, err = st.LineageRange(p.Lineage, from, n)
		} else {
			es, err = st.Range(from, n)
		}
		if err != nil {
			return nil, api.fail(err)
		}
		for _, e := range es {
			if e.Seq > head { // written after we read the head: keep the answer consistent
				break read
			}
			size := entryJSONSize(e)
			for newest && len(out.Entries) > 0 && used+size > budget {
				used -= sizes[0] // drop the oldest: the answer ends at the head
				out.Entries[0] = nil
				out.Entries, sizes = out.Entries[1:], sizes[1:]
			}
			if len(out.Entries) > 0 && used+size > budget {
				break read
			}
			used += size
			out.Entries = append(out.Entries, entryJSON(e))
			if newest {
				sizes = append(sizes, size)
			}
			from = e.Seq + 1
		}
		if len(es) < n {
			break
		}
	}
	if shared != nil {
		shared.left.Add(-used)
	}
	return out, nil
}

// latest turns {latest: N} into the read of the log's last N entries:
// from = head-N+1 (at least 1), limit = N.
func (api *API) latest(p *ReadParams) error {
	switch {
	case p.From != nil:
		return invalidParams("give from or latest, not both")
	case p.Limit != nil:
		return invalidParams("give limit or latest, not both")
	case p.Lineage != "":
		return invalidParams("latest reads the whole log: leave out lineage")
	case *p.Latest < 1 || *p.Latest > MaxReadLimit:
		return invalidParams("latest must be 1-1000")
	}
	n := uint64(*p.Latest)
	from := Uint64(1)
	if head := api.reader.Head().Seq; head > n {
		from = Uint64(head - n + 1)
	}
	limit := Uint64(n)
	p.From, p.Limit = &from, &limit
	return nil
}

// entryJSONSize is the size of an entry's JSON in an answer, a few bytes
// over: hex doubles the data, and the fixed fields take about 640 bytes.
func entryJSONSize(e *sequencer.Entry) int64 {
	return int64(2*len(e.Data) + len(e.Lineage) + len(e.ExternalID) + 700)
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
	return lineageJSON(l), nil
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
	if n := api.cfg.Node; n != nil {
		info.Peers = n.Peers()
		info.P2P = append(info.P2P, n.P2PAddrs()...)
		if ph, ok := n.PrimaryHead(); ok {
			info.PrimaryHead = &ph
		}
	}
	return info, nil
}

// Equivocations returns the proofs this node holds (sequencer_equivocations).
func (api *API) Equivocations(ctx context.Context, _ *EmptyParams) ([]EquivocationJSON, error) {
	out := []EquivocationJSON{}
	eqs, _ := api.reader.Equivocations() // none read: none shown, as before a store holds any
	for _, p := range eqs {
		out = append(out, EquivocationJSON{A: entryJSON(p.A), B: entryJSON(p.B)})
	}
	return out, nil
}

// Entries streams entries in seq order from `from` (default head+1):
// sequencer_subscribe("entries", {from}). Backfill comes from storage, then
// live entries as they become durable; a slow subscriber reads from storage
// at its own pace, so no buffer grows and no entry is skipped or repeated.
func (api *API) Entries(ctx context.Context, p *SubscribeParams) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	head, _ := api.backend.Head()
	next := head.Seq + 1
	if p != nil && p.From != nil {
		if *p.From < 1 {
			return nil, api.fail(invalidParams("from must be at least 1"))
		}
		next = uint64(*p.From)
	}
	if api.subs.Add(1) > int64(api.cfg.MaxSubscriptions) {
		api.subs.Add(-1)
		return nil, api.fail(&Error{Code: CodeOverloaded, Message: "overloaded: too many subscriptions"})
	}
	sub := notifier.CreateSubscription()
	if !api.startStream(func() {
		defer api.subs.Add(-1)
		api.stream(notifier, sub, next)
	}) {
		api.subs.Add(-1) // shutting down: the connection closes next
	}
	return sub, nil
}

func (api *API) stream(n *gethrpc.Notifier, sub *gethrpc.Subscription, next uint64) {
	st := api.reader
	for {
		head, changed := api.backend.Head()
		for next <= head.Seq {
			// Small chunks: a subscriber that does not read holds at most one
			// chunk (entries may carry up to --max-data-bytes each).
			es, err := st.Range(next, min(16, int(head.Seq-next+1)))
			if err != nil || len(es) == 0 {
				api.cfg.Logger.Error("subscription read", "from", next, "err", err)
				return
			}
			for _, e := range es {
				if err := n.Notify(sub.ID, entryJSON(e)); err != nil {
					return
				}
				next = e.Seq + 1
			}
		}
		select {
		case <-changed:
		case <-sub.Err():
			return
		case <-api.done:
			return
		}
	}
}
