package contracts

import (
	"github.com/seqnode/sequencer/sequencer"
)

// EntryArg is e as the contract's Entry argument (the signed fields only).
func EntryArg(e *sequencer.Entry) SequencerAccountabilityEntry {
	return SequencerAccountabilityEntry{
		Seq: e.Seq, PrevHash: e.PrevHash, Kind: uint8(e.Kind), Sender: e.Sender, Lineage: e.Lineage,
		Nonce: e.Nonce, ExternalId: e.ExternalID, DataHash: e.DataHash, Timestamp: e.Timestamp,
	}
}

// CheckpointArg is c as the contract's Checkpoint argument.
func CheckpointArg(c *sequencer.Checkpoint) SequencerAccountabilityCheckpoint {
	return SequencerAccountabilityCheckpoint{Size: c.Size, Root: c.Root, Timestamp: c.Timestamp}
}
