package storage

import (
	"bytes"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/tangled-ledger/tangled/dag"
)

// Memory is a Store that keeps the log in memory, for tests and the
// simulator. It behaves like Badger (same ordering, same errors) except
// that nothing survives the process. It is safe for concurrent use, and it
// copies bytes on the way in and out, so callers may keep or modify what
// they pass and receive.
type Memory struct {
	mu sync.RWMutex
	// Guarded by mu.
	//
	// attached is sorted by arrival and only ever appended to, and its
	// elements are never modified, so a reader may keep a slice of it after
	// unlocking and iterate without holding the lock.
	attached []memoryEntry
	parked   map[dag.ID][]byte
	// archived and archivedAt are dag.Archive's records and order.
	archived   map[dag.ID][]byte
	archivedAt map[uint64]dag.ID
	// high is the highest arrival ever attached (pruning may remove the
	// entry); pruned counts the pruned transactions (dag.Pruner).
	high   uint64
	pruned uint64
	// checkpoint is dag.CheckpointStore's, saved when the log's highest
	// arrival was checkpointHead.
	checkpoint     []byte
	checkpointHead uint64
}

type memoryEntry struct {
	arrival uint64
	raw     []byte
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{parked: make(map[dag.ID][]byte), archived: make(map[dag.ID][]byte), archivedAt: make(map[uint64]dag.ID)}
}

// Archive implements dag.Archive.
func (m *Memory) Archive(records []dag.ArchivedRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range records {
		m.archived[r.ID] = bytes.Clone(r.Data)
		if r.ConfirmedIndex > 0 {
			m.archivedAt[r.ConfirmedIndex] = r.ID
		}
	}
	return nil
}

// Archived implements dag.Archive.
func (m *Memory) Archived(id dag.ID) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	data, ok := m.archived[id]
	return bytes.Clone(data), ok, nil
}

// ArchivedAt implements dag.Archive.
func (m *Memory) ArchivedAt(confirmedIndex uint64) (dag.ID, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.archivedAt[confirmedIndex]
	return id, ok, nil
}

// Commit applies w atomically. Within w, Parked is applied before
// Unparked, so an ID in both ends up not parked.
func (m *Memory) Commit(w *dag.WriteSet) error {
	if w == nil || w.Empty() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := checkArrivals(m.lastLocked(), w.Attached); err != nil {
		return err
	}
	for _, tx := range w.Parked {
		m.parked[tx.ID] = bytes.Clone(tx.Raw)
	}
	for _, id := range w.Unparked {
		delete(m.parked, id)
	}
	for _, tx := range w.Attached {
		m.attached = append(m.attached, memoryEntry{tx.Arrival, bytes.Clone(tx.Raw)})
		m.high = tx.Arrival
	}
	return nil
}

func (m *Memory) lastLocked() uint64 { return m.high }

// Replay calls attached for every attached transaction in arrival order,
// then parked for every parked transaction in ID order. Callbacks run
// without the lock held, so they may call back into m; they see the log as
// it was when Replay began.
func (m *Memory) Replay(attached func(arrival uint64, raw []byte) error, parked func(raw []byte) error) error {
	m.mu.RLock()
	log := m.attached
	ids := slices.SortedFunc(maps.Keys(m.parked), dag.ID.Compare)
	raws := make([][]byte, len(ids))
	for i, id := range ids {
		raws[i] = m.parked[id]
	}
	m.mu.RUnlock()

	for _, e := range log {
		if err := attached(e.arrival, bytes.Clone(e.raw)); err != nil {
			return err
		}
	}
	for _, raw := range raws {
		if err := parked(bytes.Clone(raw)); err != nil {
			return err
		}
	}
	return nil
}

// Range calls fn for every attached transaction with an arrival of at
// least from, in arrival order, as the log was when Range began.
func (m *Memory) Range(from uint64, fn func(arrival uint64, raw []byte) error) error {
	m.mu.RLock()
	log := m.attached[m.searchLocked(from):]
	m.mu.RUnlock()
	for _, e := range log {
		if err := fn(e.arrival, bytes.Clone(e.raw)); err != nil {
			return err
		}
	}
	return nil
}

// Transaction returns the raw bytes stored under arrival, or an error
// wrapping dag.ErrNotFound.
func (m *Memory) Transaction(arrival uint64) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i := m.searchLocked(arrival)
	if i == len(m.attached) || m.attached[i].arrival != arrival {
		if m.pruned > 0 && arrival >= 1 && arrival <= m.high {
			return nil, prunedError(arrival)
		}
		return nil, notFound(arrival)
	}
	return bytes.Clone(m.attached[i].raw), nil
}

// searchLocked returns the index of the first entry with an arrival of at
// least arrival.
func (m *Memory) searchLocked(arrival uint64) int {
	return sort.Search(len(m.attached), func(i int) bool { return m.attached[i].arrival >= arrival })
}
