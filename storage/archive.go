package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/tangled-ledger/tangled/dag"
)

// The archive's keyspaces (dag.Archive): the records of the transactions
// the ledger evicted from memory (confirmed ones, and unconfirmed ones out
// of tip selection's reach), and the confirmed order of
// those transactions. Both are derived from the log (see dag.Archive), so
// they are outside the commit protocol and schema version 1 ignores them.
const (
	// prefixArchived + 32-byte ID → the ledger's record.
	prefixArchived = 'a'
	// prefixArchivedAt + 8-byte big-endian confirmed index → 32-byte ID.
	prefixArchivedAt = 'o'
)

func archivedKey(id dag.ID) []byte { return append([]byte{prefixArchived}, id[:]...) }

func archivedAtKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixArchivedAt}, index)
}

// Archive implements dag.Archive: the records are written in as many
// Badger transactions as they need.
func (s *Badger) Archive(records []dag.ArchivedRecord) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	b := s.newTxnBatch(true)
	defer b.discard()
	for _, r := range records {
		if err := b.set(archivedKey(r.ID), r.Data); err != nil {
			return fmt.Errorf("storage: archive: %w", err)
		}
		if r.ConfirmedIndex == 0 {
			continue // unconfirmed: no place in the confirmed order
		}
		if err := b.set(archivedAtKey(r.ConfirmedIndex), r.ID[:]); err != nil {
			return fmt.Errorf("storage: archive: %w", err)
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: archive: %w", err)
	}
	return nil
}

// Archived implements dag.Archive.
func (s *Badger) Archived(id dag.ID) ([]byte, bool, error) {
	v, ok, err := s.get(archivedKey(id))
	if err != nil {
		return nil, false, fmt.Errorf("storage: archived %s: %w", id.Short(), err)
	}
	return v, ok, nil
}

// ArchivedAt implements dag.Archive.
func (s *Badger) ArchivedAt(confirmedIndex uint64) (dag.ID, bool, error) {
	v, ok, err := s.get(archivedAtKey(confirmedIndex))
	if err != nil || !ok {
		return dag.ID{}, false, err
	}
	if len(v) != dag.IDSize {
		return dag.ID{}, false, fmt.Errorf("storage: archived position %d holds %d bytes: %w", confirmedIndex, len(v), ErrSchema)
	}
	return dag.ID(v), true, nil
}

func (s *Badger) get(key []byte) ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.ops.Done()
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}
