package sequencer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/seqnode/sequencer/logtree"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement of the Merkle tree's root at a size
// (SPEC §10): an EIP-712 signature by the log key, and the same statement
// as a C2SP tlog-checkpoint signed note.
type Checkpoint struct {
	Origin    string
	Size      uint64
	Root      [32]byte
	Timestamp uint64 // Unix ms: the timestamp of entry Size (the log's clock)
	Signature [65]byte
	Note      []byte
}

// CheckpointOrigin is the origin line of a log's checkpoints:
// sequencer/<primary>/<chainId>/<verifyingContract>, addresses in lower case.
func CheckpointOrigin(primary common.Address, d Domain) string {
	return fmt.Sprintf("sequencer/%s/%s/%s", strings.ToLower(primary.Hex()), d.ChainID, strings.ToLower(d.VerifyingContract.Hex()))
}

// checkpointSeedPrefix starts the seed of a log's note key (SPEC §10).
const checkpointSeedPrefix = "sequencer checkpoint key v1"

// CheckpointSigner signs checkpoints with the log key and the note key
// derived from it, so that every holder of the log key (a restarted
// primary, every cluster voter) signs the same notes. A checkpoint's
// timestamp is its last entry's, so the same size always gives the same
// checkpoint and the same signatures (RFC 6979, Ed25519).
type CheckpointSigner struct {
	key         *ecdsa.PrivateKey
	domain      Domain
	origin      string
	note        note.Signer
	verifierKey string

	mu   sync.Mutex  // guards last
	last *Checkpoint // the last head SignHead signed
}

// NewCheckpointSigner returns the checkpoint signer of the log of key under
// d. Safe for concurrent use.
func NewCheckpointSigner(key *ecdsa.PrivateKey, d Domain) (*CheckpointSigner, error) {
	origin := CheckpointOrigin(crypto.PubkeyToAddress(key.PublicKey), d)
	seed := crypto.Keccak256(append([]byte(checkpointSeedPrefix), crypto.FromECDSA(key)...))
	priv := ed25519.NewKeyFromSeed(seed)
	vkey, err := note.NewEd25519VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	// vkey is name+hash+key: the signer key repeats the name and hash.
	parts := strings.SplitN(vkey, "+", 3) // base64 may hold "+"
	if len(parts) != 3 {
		return nil, fmt.Errorf("checkpoint key: unexpected verifier key %q", vkey)
	}
	skey := "PRIVATE+KEY+" + origin + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed...))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return &CheckpointSigner{key: key, domain: d, origin: origin, note: signer, verifierKey: vkey}, nil
}

// VerifierKey is the note verifier key (golang.org/x/mod/sumdb/note form):
// sequencer_info.checkpointKey.
func (c *CheckpointSigner) VerifierKey() string { return c.verifierKey }

// Sign signs the checkpoint of the tree of size with root, timestamp
// being the timestamp of entry size.
func (c *CheckpointSigner) Sign(size uint64, root [32]byte, timestamp uint64) (*Checkpoint, error) {
	cp := &Checkpoint{Origin: c.origin, Size: size, Root: root, Timestamp: timestamp}
	sig, err := Sign(NewHasher(c.domain).CheckpointHash(size, root, timestamp), c.key) // a Hasher per call: Sign may run concurrently
	if err != nil {
		return nil, err
	}
	cp.Signature = sig
	text := fmt.Sprintf("%s\n%d\n%s\n", c.origin, size, base64.StdEncoding.EncodeToString(root[:]))
	if cp.Note, err = note.Sign(&note.Note{Text: text}, c.note); err != nil {
		return nil, fmt.Errorf("sign checkpoint note: %w", err)
	}
	return cp, nil
}

// HeadReader is what SignHead reads of a log.
type HeadReader interface {
	Head() Head
	Root(size uint64) (logtree.Hash, error)
}

// SignHead returns the checkpoint of r's head, signing it only when the
// head moved since the last call (amortised: one signature per head,
// however many readers and peers ask for it).
func (c *CheckpointSigner) SignHead(r HeadReader) (*Checkpoint, error) {
	h := r.Head()
	if h.Seq == 0 {
		return nil, fmt.Errorf("%w: the log is empty", ErrNotFound)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.last.Size == h.Seq {
		return c.last, nil
	}
	root, err := r.Root(h.Seq)
	if err != nil {
		return nil, err
	}
	cp, err := c.Sign(h.Seq, root, h.Timestamp)
	if err != nil {
		return nil, err
	}
	if c.last == nil || cp.Size > c.last.Size {
		c.last = cp
	}
	return cp, nil
}
