package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/seqnode/sequencer/client"
	"github.com/seqnode/sequencer/rpc"
)

// Proof is one element of sequencer_equivocations (SPEC §10), in one of
// three forms, each answered by one slash of the contract:
//
//	{"a": Entry, "b": Entry}                              slashEquivocation
//	{"checkpointA": Checkpoint, "checkpointB": Checkpoint} slashCheckpointEquivocation
//	{"checkpoint": Checkpoint, "entry": Entry,
//	 "leafEntryHash": "0x…", "proof": ["0x…", …]}          slashInclusion
//
// A checkpoint that only contradicts a replica's tree ({"checkpoint",
// "root"} without the entry and path) proves the lie to the replica's
// operator, but no contract function takes it.
type Proof struct {
	A             *client.Entry       `json:"a,omitempty"`
	B             *client.Entry       `json:"b,omitempty"`
	CheckpointA   *rpc.CheckpointJSON `json:"checkpointA,omitempty"`
	CheckpointB   *rpc.CheckpointJSON `json:"checkpointB,omitempty"`
	Checkpoint    *rpc.CheckpointJSON `json:"checkpoint,omitempty"`
	Root          *common.Hash        `json:"root,omitempty"`
	Entry         *client.Entry       `json:"entry,omitempty"`
	LeafEntryHash *common.Hash        `json:"leafEntryHash,omitempty"`
	Path          []common.Hash       `json:"proof,omitempty"`
}

// ParseProofs reads a proof file: one proof, or a list of them (the
// output of `sequencer equivocations --json` or sequencer_equivocations).
func ParseProofs(b []byte) ([]Proof, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var ps []Proof
		if err := json.Unmarshal(b, &ps); err != nil {
			return nil, fmt.Errorf("proof list: %w", err)
		}
		return ps, nil
	}
	var p Proof
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return []Proof{p}, nil
}

// Form names the contract function that takes p, or says why none does.
func (p *Proof) Form() (string, error) {
	switch {
	case p.A != nil && p.B != nil:
		return "slashEquivocation", nil
	case p.CheckpointA != nil && p.CheckpointB != nil:
		return "slashCheckpointEquivocation", nil
	case p.Checkpoint != nil && p.Entry != nil && p.LeafEntryHash != nil:
		return "slashInclusion", nil
	case p.Checkpoint != nil:
		return "", errors.New("a checkpoint that contradicts the replica's tree, without the entry and inclusion path that show where: no contract function takes it")
	}
	return "", errors.New("not a proof: want {a, b}, {checkpointA, checkpointB} or {checkpoint, entry, leafEntryHash, proof}")
}

// Slash sends the slash that p proves. The contract checks the proof; a
// binding estimates the gas first, so a proof it refuses comes back as an
// error with the contract's reason and costs nothing.
func Slash(opts *bind.TransactOpts, c *SequencerAccountability, p *Proof) (*types.Transaction, error) {
	form, err := p.Form()
	if err != nil {
		return nil, err
	}
	switch form {
	case "slashEquivocation":
		a, err := client.ToEntry(p.A)
		if err != nil {
			return nil, err
		}
		b, err := client.ToEntry(p.B)
		if err != nil {
			return nil, err
		}
		return c.SlashEquivocation(opts, EntryArg(a), a.Signature[:], EntryArg(b), b.Signature[:])
	case "slashCheckpointEquivocation":
		return c.SlashCheckpointEquivocation(opts, checkpointArg(p.CheckpointA), p.CheckpointA.Signature,
			checkpointArg(p.CheckpointB), p.CheckpointB.Signature)
	default:
		e, err := client.ToEntry(p.Entry)
		if err != nil {
			return nil, err
		}
		path := make([][32]byte, len(p.Path))
		for i, h := range p.Path {
			path[i] = h
		}
		return c.SlashInclusion(opts, checkpointArg(p.Checkpoint), p.Checkpoint.Signature, EntryArg(e), e.Signature[:],
			*p.LeafEntryHash, path)
	}
}

func checkpointArg(c *rpc.CheckpointJSON) SequencerAccountabilityCheckpoint {
	return SequencerAccountabilityCheckpoint{Size: c.Size, Root: c.Root, Timestamp: c.Timestamp}
}
