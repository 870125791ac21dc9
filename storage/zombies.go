package storage

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Badger's value-log GC can bring a deleted key back (seen with v4.9.6,
// which has the fixes for dgraph-io/badger#2286 and #2278). A rewrite
// looks up each entry of the file it collects at the entry's own version,
// so a tombstone written just before, at a newer version, does not stop
// it; it writes the old value back at the old version, and when a
// compaction meanwhile drops the tombstone together with the original
// (Badger pins tombstones only for deletes made during the rewrite), the
// written-back copy is the key's only version: the deleted key is live
// again. TestPruneKeepsDiskUnderBudget met it as pruned transactions that
// came back after the first GC following a pass (177 to 1,407 of about
// 30,000 in the runs where it happened), whose audit-log leaves had
// already been compacted away.
//
// zombieWatch works around it for pruning: the transaction bytes a prune
// deleted are deleted again after each of the next zombieRounds GC runs
// that rewrote value-log files. A new tombstone is newer than anything a
// rewrite writes back, so what came back is gone again, and a record whose
// bytes are gone reads as pruned (dag). Only the bytes: an arrival is never reused while
// the process lives (after a crash it may be, but this list is in memory
// and starts empty), whereas a pruned transaction sent again is archived
// anew under its ID, so deleting its record again could delete a live one.
type zombieWatch struct {
	mu   sync.Mutex
	keys []watchedKey
	// rounds counts the passes that deleted watched keys again
	// (GCStats.Redeletes).
	rounds atomic.Uint64
}

type watchedKey struct {
	key    []byte
	rounds int
}

const (
	// zombieRounds is how many GC runs with rewrites a deleted key is
	// watched for: a written-back copy is in the LSM at most until
	// the next compaction, and is itself rewritten only if that file is
	// collected again before then.
	zombieRounds = 4
	// zombieMax bounds the list (about 20 MiB of keys at most); the
	// oldest go first.
	zombieMax = 1 << 20
)

// watch adds keys just deleted.
func (w *zombieWatch) watch(keys [][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		w.keys = append(w.keys, watchedKey{key: k, rounds: zombieRounds})
	}
	if over := len(w.keys) - zombieMax; over > 0 {
		w.keys = append(w.keys[:0], w.keys[over:]...)
	}
}

// redelete deletes the watched keys again, after a GC run that rewrote
// value-log files, and forgets the keys whose rounds are over. Blindly:
// a written-back copy is not visible yet while the tombstone above it
// lasts, and comes back only when a compaction drops that tombstone, so
// looking first would find nothing to delete. A tombstone for a key that
// is gone costs a few dozen bytes until the next compaction. Called with
// an operation registered (s.ops).
func (s *Badger) redelete() error {
	s.zombies.mu.Lock()
	defer s.zombies.mu.Unlock()
	if len(s.zombies.keys) == 0 {
		return nil
	}
	b := s.newTxnBatch(true)
	defer b.discard()
	for _, k := range s.zombies.keys {
		if err := b.delete(k.key); err != nil {
			return fmt.Errorf("storage: delete pruned bytes again: %w", err)
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: delete pruned bytes again: %w", err)
	}
	s.zombies.rounds.Add(1)
	kept := s.zombies.keys[:0]
	for _, k := range s.zombies.keys {
		if k.rounds--; k.rounds > 0 {
			kept = append(kept, k)
		}
	}
	clear(s.zombies.keys[len(kept):])
	s.zombies.keys = kept
	return nil
}
