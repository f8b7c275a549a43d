package sequencer

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// What a replica keeps of the primary's checkpoints (SPEC §10):
//
//	"p"                          the latest checkpoint the primary signed for a size we hold (Checkpoint record)
//	"x" size(8) sha256(16)       a checkpoint equivocation proof (CheckpointProof record), keyed by
//	                             the hash of its checkpoint records, so a completed proof replaces its first form
const (
	pfxPrimaryCheckpoint = 'p'
	pfxCheckpointProof   = 'x'
)

// PutPrimaryCheckpoint stores the latest checkpoint the primary signed
// for a size this store holds (synced).
func (s *LevelStore) PutPrimaryCheckpoint(cp *Checkpoint) error {
	b, err := cp.MarshalBinary()
	if err != nil {
		return err
	}
	return s.db.Put([]byte{pfxPrimaryCheckpoint}, b, &opt.WriteOptions{Sync: true})
}

// PrimaryCheckpoint is the stored checkpoint of PutPrimaryCheckpoint; nil
// if there is none.
func (s derivedRecords) PrimaryCheckpoint() (*Checkpoint, error) {
	b, err := s.db.Get([]byte{pfxPrimaryCheckpoint}, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	cp := new(Checkpoint)
	if err := cp.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: primary checkpoint record: %v", ErrCorrupt, err)
	}
	return cp, nil
}

// PutCheckpointProof stores a checkpoint equivocation proof durably.
func (s *LevelStore) PutCheckpointProof(p CheckpointProof) error {
	v, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	id, err := p.Checkpoint.MarshalBinary()
	if err != nil {
		return err
	}
	if p.Other != nil {
		o, err := p.Other.MarshalBinary()
		if err != nil {
			return err
		}
		id = append(id, o...)
	}
	sum := sha256.Sum256(id)
	k := binary.BigEndian.AppendUint64([]byte{pfxCheckpointProof}, p.Checkpoint.Size)
	return s.db.Put(append(k, sum[:16]...), v, &opt.WriteOptions{Sync: true})
}

// CheckpointProofs returns every stored checkpoint proof, by size.
func (s derivedRecords) CheckpointProofs() ([]CheckpointProof, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{pfxCheckpointProof}), nil)
	defer it.Release()
	var out []CheckpointProof
	for it.Next() {
		var p CheckpointProof
		if err := p.UnmarshalBinary(it.Value()); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, it.Error()
}
