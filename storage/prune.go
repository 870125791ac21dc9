package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/tangled-ledger/tangled/dag"
)

// keyPruned holds the 8-byte big-endian count of pruned transactions.
var keyPruned = []byte{prefixMeta, 'p', 'r', 'u', 'n', 'e', 'd'}

var _ dag.Pruner = (*Badger)(nil)
var _ dag.Pruner = (*Memory)(nil)

func prunedError(arrival uint64) error {
	return fmt.Errorf("storage: arrival %d: %w", arrival, dag.ErrPruned)
}

// Prune implements dag.Pruner. The new count is written first, so a crash
// part-way leaves a count at least as large as what is gone (the count
// only tells a pruned arrival from one that never existed).
func (s *Badger) Prune(entries []dag.PrunedEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	n := s.pruned.Load() + uint64(len(entries))
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(keyPruned, binary.BigEndian.AppendUint64(nil, n))
	}); err != nil {
		return fmt.Errorf("storage: prune: %w", err)
	}
	s.pruned.Store(n)
	b := s.newTxnBatch(true)
	defer b.discard()
	bytesKeys := make([][]byte, 0, len(entries))
	for _, e := range entries {
		bytesKey := attachedKey(nil, e.Arrival)
		bytesKeys = append(bytesKeys, bytesKey)
		for _, k := range [][]byte{bytesKey, archivedKey(e.ID), archivedAtKey(e.ConfirmedIndex)} {
			if err := b.delete(k); err != nil {
				return fmt.Errorf("storage: prune: %w", err)
			}
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: prune: %w", err)
	}
	s.zombies.watch(bytesKeys)
	return nil
}

// Pruned implements dag.Pruner.
func (s *Badger) Pruned() uint64 { return s.pruned.Load() }

// DiskSize is the disk space the files in the store's directory take
// (allocated blocks, as du counts them), measured now (DiskUsage is
// Badger's estimate, refreshed about once a minute): what a disk budget is
// checked against.
func (s *Badger) DiskSize() (int64, error) {
	var total int64
	err := filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // Badger deleted the file meanwhile
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += allocated(info)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: disk size of %s: %w", s.dir, err)
	}
	return total, nil
}

// Reclaim gives the space of deleted values back to the file system now,
// instead of at the next GCInterval. It rewrites value-log files while
// that succeeds; if none qualifies, it compacts the whole LSM tree first
// (Badger learns which value-log entries deletions made garbage only from
// compactions, which a quiet store may not run for a long time) and tries
// again. A pruning node calls it when the store is over its budget.
func (s *Badger) Reclaim(ctx context.Context) error {
	before := s.gc.rewrites.Load()
	s.gc.runs.Add(1)
	if err := s.collectGarbage(ctx); err != nil {
		s.gc.errors.Add(1)
		return fmt.Errorf("storage: reclaim: %w", err)
	}
	if s.gc.rewrites.Load() > before {
		return nil
	}
	if err := s.flatten(); err != nil {
		return fmt.Errorf("storage: reclaim: %w", err)
	}
	if err := s.collectGarbage(ctx); err != nil {
		s.gc.errors.Add(1)
		return fmt.Errorf("storage: reclaim: %w", err)
	}
	return nil
}

func (s *Badger) flatten() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	return s.db.Flatten(s.opts.numCompactors())
}

// Prune implements dag.Pruner.
func (m *Memory) Prune(entries []dag.PrunedEntry) error {
	if len(entries) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	gone := make(map[uint64]bool, len(entries))
	for _, e := range entries {
		gone[e.Arrival] = true
		delete(m.archived, e.ID)
		delete(m.archivedAt, e.ConfirmedIndex)
	}
	// attached is shared with readers that copied the slice: build a new
	// one rather than modify it.
	kept := make([]memoryEntry, 0, len(m.attached))
	for _, e := range m.attached {
		if !gone[e.arrival] {
			kept = append(kept, e)
		}
	}
	m.attached = kept
	m.pruned += uint64(len(entries))
	return nil
}

// Pruned implements dag.Pruner.
func (m *Memory) Pruned() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.pruned
}
