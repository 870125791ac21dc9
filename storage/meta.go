package storage

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// prefixAux is the keyspace of the layers above the ledger (the audit
// log, package evidence): kept beside the transactions in one database,
// but never read by Replay and never dropped with transactions.
const prefixAux = 'e'

// Aux is the auxiliary keyspace of a Badger store: a small key-value
// store for the audit log (it implements evidence.Store). Keys are the
// caller's, stored under their own prefix.
type Aux struct{ s *Badger }

// Aux returns the store's auxiliary keyspace.
func (s *Badger) Aux() *Aux { return &Aux{s: s} }

func auxKey(key []byte) []byte { return append([]byte{prefixAux}, key...) }

// Get returns the value of key; false if there is none.
func (a *Aux) Get(key []byte) ([]byte, bool, error) {
	if err := a.s.enter(); err != nil {
		return nil, false, err
	}
	defer a.s.ops.Done()
	var val []byte
	err := a.s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(auxKey(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: aux get: %w", err)
	}
	return val, true, nil
}

// Write sets keys[i] to values[i] durably. The writes are one Badger
// transaction when they fit, else several committed in order, so a crash
// keeps a prefix of them.
func (a *Aux) Write(keys, values [][]byte) error {
	if len(keys) != len(values) {
		return fmt.Errorf("storage: aux write of %d keys and %d values", len(keys), len(values))
	}
	if err := a.s.enter(); err != nil {
		return err
	}
	defer a.s.ops.Done()
	b := a.s.newTxnBatch(true)
	defer b.discard()
	for i, k := range keys {
		if err := b.set(auxKey(k), values[i]); err != nil {
			return fmt.Errorf("storage: aux write: %w", err)
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: aux write: %w", err)
	}
	return nil
}

// Delete removes keys durably, with Write's guarantee: one Badger
// transaction when they fit, else several committed in order, so a crash
// keeps a prefix of the deletions. Absent keys are no error. (The audit
// log's compaction uses it: evidence.Deleter.)
func (a *Aux) Delete(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	if err := a.s.enter(); err != nil {
		return err
	}
	defer a.s.ops.Done()
	b := a.s.newTxnBatch(true)
	defer b.discard()
	for _, k := range keys {
		if err := b.delete(auxKey(k)); err != nil {
			return fmt.Errorf("storage: aux delete: %w", err)
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: aux delete: %w", err)
	}
	return nil
}

// Scan calls fn for every key in [from, to) in key order, from one
// snapshot.
func (a *Aux) Scan(from, to []byte, fn func(key, value []byte) error) error {
	if err := a.s.enter(); err != nil {
		return err
	}
	defer a.s.ops.Done()
	start, end := auxKey(from), auxKey(to)
	return a.s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixAux}})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			item := it.Item()
			if bytes.Compare(item.Key(), end) >= 0 {
				return nil
			}
			val, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("storage: aux scan: %w", err)
			}
			if err := fn(item.KeyCopy(nil)[1:], val); err != nil {
				return err
			}
		}
		return nil
	})
}
