package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/seqnode/sequencer/logtree"
	"github.com/seqnode/sequencer/sequencer"
)

// Address is an address written EIP-55 checksummed (go-ethereum's
// common.Address marshals lowercase).
type Address common.Address

func (a Address) MarshalJSON() ([]byte, error) {
	if v, ok := checksummed.Load(a); ok {
		return v.([]byte), nil
	}
	b, err := json.Marshal(common.Address(a).Hex())
	if err == nil && checksummedN.Add(1) <= maxChecksummed {
		checksummed.Store(a, b)
	}
	return b, err
}

// EIP-55 costs a keccak per address; the addresses a node writes (its
// primary, senders on the allowlist, the zero address) are few, so their
// JSON is cached, up to a bound.
var (
	checksummed    sync.Map // Address → []byte (JSON string)
	checksummedN   atomic.Int64
	maxChecksummed = int64(4096)
)

// UnmarshalJSON accepts an address in any case.
func (a *Address) UnmarshalJSON(b []byte) error {
	return (*common.Address)(a).UnmarshalJSON(b)
}

// EntryJSON is an Entry as SPEC §4 shows it; Data only on tx entries.
type EntryJSON struct {
	Seq        uint64         `json:"seq"`
	Hash       common.Hash    `json:"hash"`
	PrevHash   common.Hash    `json:"prevHash"`
	Kind       string         `json:"kind"`
	Sender     Address        `json:"sender"`
	Lineage    string         `json:"lineage"`
	Nonce      uint64         `json:"nonce"`
	ExternalID string         `json:"externalId"`
	DataHash   common.Hash    `json:"dataHash"`
	Data       *hexutil.Bytes `json:"data,omitempty"`
	Timestamp  uint64         `json:"timestamp"`
	Signature  hexutil.Bytes  `json:"signature"`
}

// ReceiptJSON is an Entry without data, plus existing.
type ReceiptJSON struct {
	Seq        uint64        `json:"seq"`
	Hash       common.Hash   `json:"hash"`
	PrevHash   common.Hash   `json:"prevHash"`
	Kind       string        `json:"kind"`
	Sender     Address       `json:"sender"`
	Lineage    string        `json:"lineage"`
	Nonce      uint64        `json:"nonce"`
	ExternalID string        `json:"externalId"`
	DataHash   common.Hash   `json:"dataHash"`
	Timestamp  uint64        `json:"timestamp"`
	Signature  hexutil.Bytes `json:"signature"`
	Existing   bool          `json:"existing"`
}

func entryJSON(e *sequencer.Entry) *EntryJSON {
	j := &EntryJSON{
		Seq: e.Seq, Hash: e.Hash, PrevHash: e.PrevHash, Kind: e.Kind.String(), Sender: Address(e.Sender),
		Lineage: e.Lineage, Nonce: e.Nonce, ExternalID: e.ExternalID, DataHash: e.DataHash,
		Timestamp: e.Timestamp, Signature: e.Signature[:],
	}
	if e.Kind == sequencer.KindTx {
		d := hexutil.Bytes(e.Data)
		if d == nil {
			d = hexutil.Bytes{}
		}
		j.Data = &d
	}
	return j
}

// MarshalJSON writes the receipt by hand: it is the answer to every write,
// and encoding/json's reflection cost several microseconds of it.
func (r *ReceiptJSON) MarshalJSON() ([]byte, error) {
	return r.appendJSON(make([]byte, 0, 640)), nil
}

// appendJSON appends what encoding/json would write for the receipt
// (TestReceiptJSON compares the two).
func (r *ReceiptJSON) appendJSON(b []byte) []byte {
	sender, _ := r.Sender.MarshalJSON()
	b = strconv.AppendUint(append(b, `{"seq":`...), r.Seq, 10)
	b = appendHexField(b, `,"hash":`, r.Hash[:])
	b = appendHexField(b, `,"prevHash":`, r.PrevHash[:])
	b = AppendJSONString(append(b, `,"kind":`...), r.Kind)
	b = append(append(b, `,"sender":`...), sender...)
	b = AppendJSONString(append(b, `,"lineage":`...), r.Lineage)
	b = strconv.AppendUint(append(b, `,"nonce":`...), r.Nonce, 10)
	b = AppendJSONString(append(b, `,"externalId":`...), r.ExternalID)
	b = appendHexField(b, `,"dataHash":`, r.DataHash[:])
	b = strconv.AppendUint(append(b, `,"timestamp":`...), r.Timestamp, 10)
	b = appendHexField(b, `,"signature":`, r.Signature)
	b = strconv.AppendBool(append(b, `,"existing":`...), r.Existing)
	return append(b, '}')
}

func appendHexField(b []byte, name string, v []byte) []byte {
	b = append(append(b, name...), `"0x`...)
	return append(hex.AppendEncode(b, v), '"')
}

// AppendJSONString appends s as encoding/json writes it: printable ASCII
// that needs no escape as it is, anything else through encoding/json.
// Clients that write calls by hand (package client) use it too.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

func receiptJSON(r sequencer.Result) *ReceiptJSON {
	e := r.Entry
	return &ReceiptJSON{
		Seq: e.Seq, Hash: e.Hash, PrevHash: e.PrevHash, Kind: e.Kind.String(), Sender: Address(e.Sender),
		Lineage: e.Lineage, Nonce: e.Nonce, ExternalID: e.ExternalID, DataHash: e.DataHash,
		Timestamp: e.Timestamp, Signature: e.Signature[:], Existing: r.Existing,
	}
}

// TicketJSON is a Ticket as SPEC §4 shows it.
type TicketJSON struct {
	Lineage    string `json:"lineage"`
	ExternalID string `json:"externalId"`
	Nonce      uint64 `json:"nonce"`
	State      string `json:"state"`
	LeaseSeq   uint64 `json:"leaseSeq"`
	FinalSeq   uint64 `json:"finalSeq,omitempty"`
	// Attempts are the transaction hashes recorded by sequencer_attempt,
	// in order (SPEC §9); MinedTx the one a confirm found mined.
	Attempts []common.Hash `json:"attempts"`
	MinedTx  *common.Hash  `json:"minedTx,omitempty"`
}

func ticketJSON(t *sequencer.Ticket) *TicketJSON {
	j := &TicketJSON{Lineage: t.Lineage, ExternalID: t.ExternalID, Nonce: t.Nonce,
		State: t.State.String(), LeaseSeq: t.LeaseSeq, FinalSeq: t.FinalSeq, Attempts: make([]common.Hash, 0, len(t.Attempts))}
	for _, a := range t.Attempts {
		j.Attempts = append(j.Attempts, a.TxHash)
	}
	if t.MinedTx != (common.Hash{}) {
		h := t.MinedTx
		j.MinedTx = &h
	}
	return j
}

// InFlightJSON is one leased ticket of a lineage.
type InFlightJSON struct {
	Nonce      uint64 `json:"nonce"`
	ExternalID string `json:"externalId"`
	Seq        uint64 `json:"seq"`
}

// LineageJSON is a Lineage as SPEC §4 shows it.
type LineageJSON struct {
	Lineage   string         `json:"lineage"`
	NextNonce uint64         `json:"nextNonce"`
	Floor     uint64         `json:"floor"`
	InFlight  []InFlightJSON `json:"inFlight"`
	Released  []uint64       `json:"released"`
	Closed    uint64         `json:"closed"`
	Failed    uint64         `json:"failed"`
	Chain     *ChainJSON     `json:"chain,omitempty"`
}

// ChainJSON is what the chain watcher last read of a watched lineage's
// account (SPEC §9): its nonce at the confirmed block and at the head
// (block), and since when (Unix ms) a broadcast transaction has waited at
// a latest nonce that does not move.
type ChainJSON struct {
	ConfirmedNonce uint64  `json:"confirmedNonce"`
	LatestNonce    uint64  `json:"latestNonce"`
	Block          uint64  `json:"block"`
	StuckSince     *uint64 `json:"stuckSince,omitempty"`
}

func lineageJSON(l *sequencer.Lineage) *LineageJSON {
	j := &LineageJSON{Lineage: l.Name, NextNonce: l.NextNonce, Floor: l.Floor,
		InFlight: make([]InFlightJSON, 0, len(l.InFlight)), Released: append([]uint64{}, l.Released...),
		Closed: l.Closed, Failed: l.Failed}
	for _, f := range l.InFlight {
		j.InFlight = append(j.InFlight, InFlightJSON{Nonce: f.Nonce, ExternalID: f.ExternalID, Seq: f.Seq})
	}
	return j
}

// HeadJSON is the head of a log.
type HeadJSON struct {
	Seq  uint64      `json:"seq"`
	Hash common.Hash `json:"hash"`
}

// InfoJSON answers sequencer_info.
type InfoJSON struct {
	Role              string       `json:"role"`
	Version           string       `json:"version"`
	Primary           Address      `json:"primary"`
	ChainID           *big.Int     `json:"chainId"`
	VerifyingContract Address      `json:"verifyingContract"`
	Head              HeadJSON     `json:"head"`
	Lineages          int          `json:"lineages"`
	Peers             int          `json:"peers"`
	P2P               []string     `json:"p2p"`
	Halted            bool         `json:"halted"`
	PrimaryHead       *uint64      `json:"primaryHead,omitempty"`
	Cluster           *ClusterJSON `json:"cluster,omitempty"`
	// CheckpointKey is the note verifier key of the log's checkpoints
	// (SPEC §10), on a node that signs them.
	CheckpointKey string `json:"checkpointKey,omitempty"`
}

// ClusterJSON is a voter's view of its cluster (SPEC §8): leader is the
// leader's node id, "" when none is known.
type ClusterJSON struct {
	NodeID string      `json:"nodeId"`
	Leader string      `json:"leader"`
	Term   uint64      `json:"term"`
	Voters []VoterJSON `json:"voters"`
}

// VoterJSON is one voter: its node id and cluster address.
type VoterJSON struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

// ReadResult answers sequencer_read.
type ReadResult struct {
	Entries []*EntryJSON `json:"entries"`
	Head    uint64       `json:"head"`
}

// EquivocationJSON is one proof that the primary lied (SPEC §2, §10), in
// one of three forms, each with only its own fields:
//
//   - {a, b}: two entries signed by the primary at one seq;
//   - {checkpointA, checkpointB}: two signed checkpoints of one size with
//     different roots;
//   - {checkpoint, root[, entry, leafEntryHash, proof]}: a signed
//     checkpoint whose root differs from root, this node's tree root at
//     that size; when completed, entry is this node's signed entry at the
//     first leaf that differs, leafEntryHash the entry hash the primary's
//     tree holds at that leaf, and proof the leaf's RFC 6962 inclusion
//     path in the tree of checkpoint.size.
type EquivocationJSON struct {
	A             *EntryJSON      `json:"a,omitempty"`
	B             *EntryJSON      `json:"b,omitempty"`
	CheckpointA   *CheckpointJSON `json:"checkpointA,omitempty"`
	CheckpointB   *CheckpointJSON `json:"checkpointB,omitempty"`
	Checkpoint    *CheckpointJSON `json:"checkpoint,omitempty"`
	Root          *common.Hash    `json:"root,omitempty"`
	Entry         *EntryJSON      `json:"entry,omitempty"`
	LeafEntryHash *common.Hash    `json:"leafEntryHash,omitempty"`
	Proof         *[]common.Hash  `json:"proof,omitempty"` // a pointer: [] for a tree of one leaf
}

// checkpointProofJSON is the JSON form of a checkpoint equivocation proof.
func checkpointProofJSON(p sequencer.CheckpointProof) EquivocationJSON {
	if p.Other != nil {
		return EquivocationJSON{CheckpointA: checkpointJSON(p.Checkpoint), CheckpointB: checkpointJSON(p.Other)}
	}
	root := common.Hash(p.Root)
	j := EquivocationJSON{Checkpoint: checkpointJSON(p.Checkpoint), Root: &root}
	if p.Entry != nil {
		leaf := common.Hash(p.LeafEntryHash)
		j.Entry, j.LeafEntryHash = entryJSON(p.Entry), &leaf
		proof := make([]common.Hash, len(p.Proof))
		for i, h := range p.Proof {
			proof[i] = h
		}
		j.Proof = &proof
	}
	return j
}

// Uint64 is a JSON number, or a string holding a decimal or 0x-hex number
// (for JavaScript clients whose numbers cannot hold every uint64).
type Uint64 uint64

func (u *Uint64) UnmarshalJSON(b []byte) error {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		if strings.HasPrefix(str, "0x") || strings.HasPrefix(str, "0X") {
			v, err := hexutil.DecodeUint64(str)
			if err != nil {
				return &json.UnmarshalTypeError{Value: fmt.Sprintf("%q (not a uint64)", str), Type: uint64Type}
			}
			*u = Uint64(v)
			return nil
		}
		s = str
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: s + " (not a uint64)", Type: uint64Type}
	}
	*u = Uint64(v)
	return nil
}

var uint64Type = reflect.TypeFor[uint64]()

// strictDecode decodes b into v, rejecting unknown fields and trailing data,
// so that a misspelled parameter is an error and not silently ignored.
func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return describeDecodeError(err)
	}
	if d.More() {
		return fmt.Errorf("trailing data after object")
	}
	return nil
}

// Auth is the permissioning part of every write (SPEC §4).
type Auth struct {
	From      *common.Address `json:"from"`
	Deadline  *Uint64         `json:"deadline"`
	Signature *hexutil.Bytes  `json:"signature"`
}

// AppendParams are the params of sequencer_append.
type AppendParams struct {
	Data       *hexutil.Bytes `json:"data"`
	Lineage    string         `json:"lineage"`
	ExternalID string         `json:"externalId"`
	Auth
}

func (p *AppendParams) UnmarshalJSON(b []byte) error {
	type plain AppendParams
	if err := strictDecode(b, (*plain)(p)); err != nil {
		return err
	}
	if p.Data != nil && len(*p.Data) == 0 {
		// hexutil reads "" as no bytes; data is required, and the empty
		// payload is written "0x".
		var raw struct {
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(b, &raw) == nil && string(raw.Data) == `""` {
			return errors.New(`data must be 0x-prefixed hex ("0x" for an empty payload), not ""`)
		}
	}
	return nil
}

// TicketParams are the params of sequencer_close and sequencer_ticket.
type TicketParams struct {
	Lineage    string `json:"lineage"`
	ExternalID string `json:"externalId"`
	Auth
}

func (p *TicketParams) UnmarshalJSON(b []byte) error {
	type plain TicketParams
	return strictDecode(b, (*plain)(p))
}

// ReleaseParams are the params of sequencer_release.
type ReleaseParams struct {
	Lineage    string `json:"lineage"`
	ExternalID string `json:"externalId"`
	Reason     string `json:"reason"`
	Auth
}

func (p *ReleaseParams) UnmarshalJSON(b []byte) error {
	type plain ReleaseParams
	return strictDecode(b, (*plain)(p))
}

// SyncParams are the params of sequencer_syncLineage.
type SyncParams struct {
	Lineage    string  `json:"lineage"`
	ChainNonce *Uint64 `json:"chainNonce"`
	Auth
}

func (p *SyncParams) UnmarshalJSON(b []byte) error {
	type plain SyncParams
	return strictDecode(b, (*plain)(p))
}

// AttemptParams are the params of sequencer_attempt (SPEC §9).
type AttemptParams struct {
	Lineage    string         `json:"lineage"`
	ExternalID string         `json:"externalId"`
	TxHash     *hexutil.Bytes `json:"txHash"`
	Auth
}

func (p *AttemptParams) UnmarshalJSON(b []byte) error {
	type plain AttemptParams
	return strictDecode(b, (*plain)(p))
}

// ReadParams are the params of sequencer_read.
type ReadParams struct {
	From    *Uint64 `json:"from"`
	Limit   *Uint64 `json:"limit"`
	Lineage string  `json:"lineage"`
	// Latest, instead of From: the last Latest entries of the log (1-1000),
	// in seq order.
	Latest *Uint64 `json:"latest"`
}

func (p *ReadParams) UnmarshalJSON(b []byte) error {
	type plain ReadParams
	return strictDecode(b, (*plain)(p))
}

// LineageParams are the params of sequencer_lineage.
type LineageParams struct {
	Lineage string `json:"lineage"`
}

func (p *LineageParams) UnmarshalJSON(b []byte) error {
	type plain LineageParams
	return strictDecode(b, (*plain)(p))
}

// CheckpointParams are the params of sequencer_checkpoint (SPEC §10).
type CheckpointParams struct {
	Size *Uint64 `json:"size"`
}

func (p *CheckpointParams) UnmarshalJSON(b []byte) error {
	type plain CheckpointParams
	return strictDecode(b, (*plain)(p))
}

// CheckpointJSON is a signed checkpoint (SPEC §10).
type CheckpointJSON struct {
	Origin    string        `json:"origin"`
	Size      uint64        `json:"size"`
	Root      common.Hash   `json:"root"`
	Timestamp uint64        `json:"timestamp"`
	Signature hexutil.Bytes `json:"signature"`
	Note      string        `json:"note"`
}

func checkpointJSON(c *sequencer.Checkpoint) *CheckpointJSON {
	return &CheckpointJSON{Origin: c.Origin, Size: c.Size, Root: c.Root, Timestamp: c.Timestamp,
		Signature: c.Signature[:], Note: string(c.Note)}
}

// InclusionProofParams are the params of sequencer_inclusionProof (SPEC §10).
type InclusionProofParams struct {
	Seq  *Uint64 `json:"seq"`
	Size *Uint64 `json:"size"`
}

func (p *InclusionProofParams) UnmarshalJSON(b []byte) error {
	type plain InclusionProofParams
	return strictDecode(b, (*plain)(p))
}

// ConsistencyProofParams are the params of sequencer_consistencyProof.
type ConsistencyProofParams struct {
	From *Uint64 `json:"from"`
	To   *Uint64 `json:"to"`
}

func (p *ConsistencyProofParams) UnmarshalJSON(b []byte) error {
	type plain ConsistencyProofParams
	return strictDecode(b, (*plain)(p))
}

// InclusionProofJSON is the RFC 6962 audit path of entry seq in the tree
// of size entries.
type InclusionProofJSON struct {
	Seq   uint64        `json:"seq"`
	Size  uint64        `json:"size"`
	Proof []common.Hash `json:"proof"`
}

// appendJSON appends p as encoding/json writes it (TestProofJSONForms).
func (p *InclusionProofJSON) appendJSON(b []byte) []byte {
	b = strconv.AppendUint(append(b, `{"seq":`...), p.Seq, 10)
	b = strconv.AppendUint(append(b, `,"size":`...), p.Size, 10)
	return append(appendHashList(append(b, `,"proof":`...), p.Proof), '}')
}

// appendHashList appends hs as encoding/json writes a []common.Hash.
func appendHashList(b []byte, hs []common.Hash) []byte {
	if hs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(hex.AppendEncode(append(b, `"0x`...), hs[i][:]), '"')
	}
	return append(b, ']')
}

// ConsistencyProofJSON proves the tree of size from a prefix of the tree
// of size to.
type ConsistencyProofJSON struct {
	From  uint64        `json:"from"`
	To    uint64        `json:"to"`
	Proof []common.Hash `json:"proof"`
}

func hashesJSON(hs []logtree.Hash) []common.Hash {
	out := make([]common.Hash, len(hs))
	for i, h := range hs {
		out[i] = common.Hash(h)
	}
	return out
}

// SubscribeParams are the params of sequencer_subscribe("entries", ...).
type SubscribeParams struct {
	From *Uint64 `json:"from"`
}

func (p *SubscribeParams) UnmarshalJSON(b []byte) error {
	type plain SubscribeParams
	return strictDecode(b, (*plain)(p))
}

// EmptyParams is the optional {} of sequencer_info and sequencer_equivocations.
type EmptyParams struct{}

func (p *EmptyParams) UnmarshalJSON(b []byte) error {
	type plain EmptyParams
	return strictDecode(b, (*plain)(p))
}

// describeDecodeError names the offending field without Go type names.
func describeDecodeError(err error) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		field := ute.Field
		if i := strings.LastIndexByte(field, '.'); i >= 0 {
			field = field[i+1:]
		}
		if field == "" {
			return fmt.Errorf("cannot use %s here", ute.Value)
		}
		return fmt.Errorf("field %s: cannot use %s", field, ute.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON: %v", se)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: ") {
		return errors.New(strings.TrimPrefix(msg, "json: "))
	}
	return err
}
