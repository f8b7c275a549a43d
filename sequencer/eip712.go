package sequencer

import (
	"encoding/binary"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// The EIP-712 types of SPEC §2 and §4, exactly as signed.
const (
	DomainType  = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
	EntryType   = "Entry(uint64 seq,bytes32 prevHash,uint8 kind,address sender,string lineage,uint64 nonce,string externalId,bytes32 dataHash,uint64 timestamp)"
	RequestType = "Request(uint8 kind,string lineage,string externalId,bytes32 dataHash,uint64 nonce,uint64 deadline)"
	// CheckpointType is SPEC §10's signed statement of the tree's root.
	CheckpointType = "Checkpoint(uint64 size,bytes32 root,uint64 timestamp)"
	DomainName     = "Sequencer"
	DomainVer      = "1"
)

var (
	domainTypeHash  = crypto.Keccak256Hash([]byte(DomainType))
	entryTypeHash   = crypto.Keccak256Hash([]byte(EntryType))
	requestTypeHash = crypto.Keccak256Hash([]byte(RequestType))
	checkpointHash  = crypto.Keccak256Hash([]byte(CheckpointType))
	emptyStringHash = crypto.Keccak256Hash(nil)
)

// Domain is the EIP-712 domain of a log: name "Sequencer", version "1".
type Domain struct {
	ChainID           *big.Int
	VerifyingContract common.Address
}

// Separator returns the EIP-712 domain separator.
func (d Domain) Separator() common.Hash {
	var buf [5 * 32]byte
	copy(buf[0:], domainTypeHash[:])
	copy(buf[32:], crypto.Keccak256([]byte(DomainName)))
	copy(buf[64:], crypto.Keccak256([]byte(DomainVer)))
	chain := d.ChainID
	if chain == nil {
		chain = new(big.Int)
	}
	chain.FillBytes(buf[96:128])
	copy(buf[128+12:], d.VerifyingContract[:])
	return crypto.Keccak256Hash(buf[:])
}

// Hasher computes entry and request hashes under one domain with no
// reflection and no allocation per call beyond the keccak state it keeps.
// A Hasher is not safe for concurrent use; make one per goroutine.
type Hasher struct {
	sep     common.Hash
	kec     crypto.KeccakState
	buf     [10 * 32]byte
	scratch []byte      // strings are copied here to hash them without allocating
	out     common.Hash // keccak output, kept here so it does not escape per call
}

// NewHasher returns a Hasher for domain d.
func NewHasher(d Domain) *Hasher {
	return &Hasher{sep: d.Separator(), kec: crypto.NewKeccakState()}
}

// DomainSeparator returns the separator the Hasher signs under.
func (h *Hasher) DomainSeparator() common.Hash { return h.sep }

func (h *Hasher) keccak(b []byte) common.Hash {
	h.kec.Reset()
	h.kec.Write(b)
	h.kec.Read(h.out[:])
	return h.out
}

func (h *Hasher) stringHash(s string) common.Hash {
	if s == "" {
		return emptyStringHash
	}
	h.scratch = append(h.scratch[:0], s...)
	return h.keccak(h.scratch)
}

func putUint(word []byte, v uint64) {
	clear(word[:24])
	binary.BigEndian.PutUint64(word[24:32], v)
}

// typedHash is keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash).
// It reuses buf, which the struct hash no longer needs.
func (h *Hasher) typedHash(structHash common.Hash) common.Hash {
	b := h.buf[:66]
	b[0], b[1] = 0x19, 0x01
	copy(b[2:], h.sep[:])
	copy(b[34:], structHash[:])
	return h.keccak(b)
}

// EntryHash returns the EIP-712 hash of e's signed fields (SPEC §2).
func (h *Hasher) EntryHash(e *Entry) common.Hash {
	b := h.buf[:]
	copy(b[0:32], entryTypeHash[:])
	putUint(b[32:64], e.Seq)
	copy(b[64:96], e.PrevHash[:])
	putUint(b[96:128], uint64(e.Kind))
	clear(b[128:140])
	copy(b[140:160], e.Sender[:])
	lh := h.stringHash(e.Lineage)
	copy(b[160:192], lh[:])
	putUint(b[192:224], e.Nonce)
	xh := h.stringHash(e.ExternalID)
	copy(b[224:256], xh[:])
	copy(b[256:288], e.DataHash[:])
	putUint(b[288:320], e.Timestamp)
	return h.typedHash(h.keccak(b[:320]))
}

// Request is what a client signs to be allowed a write (SPEC §4).
type Request struct {
	Kind       Kind
	Lineage    string
	ExternalID string
	DataHash   common.Hash
	Nonce      uint64
	Deadline   uint64
}

// RequestHash returns the EIP-712 hash of r.
// CheckpointHash is the EIP-712 hash of Checkpoint(size, root, timestamp)
// in the log's domain (SPEC §10).
func (h *Hasher) CheckpointHash(size uint64, root [32]byte, timestamp uint64) common.Hash {
	b := h.buf[:]
	copy(b[0:32], checkpointHash[:])
	putUint(b[32:64], size)
	copy(b[64:96], root[:])
	putUint(b[96:128], timestamp)
	return h.typedHash(h.keccak(b[:128]))
}

func (h *Hasher) RequestHash(r *Request) common.Hash {
	b := h.buf[:]
	copy(b[0:32], requestTypeHash[:])
	putUint(b[32:64], uint64(r.Kind))
	lh := h.stringHash(r.Lineage)
	copy(b[64:96], lh[:])
	xh := h.stringHash(r.ExternalID)
	copy(b[96:128], xh[:])
	copy(b[128:160], r.DataHash[:])
	putUint(b[160:192], r.Nonce)
	putUint(b[192:224], r.Deadline)
	return h.typedHash(h.keccak(b[:224]))
}
