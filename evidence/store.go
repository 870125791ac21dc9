package evidence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/merkle"
)

// Store is where the log keeps what it must not lose: Merkle nodes, the
// index of every logged transaction, checkpoints with their cosignatures
// and the evidence against validators. It is separate from the ledger's
// transactions on purpose: a node that prunes old transactions keeps all
// of it, and proofs stay servable. storage.Badger's Aux implements it.
type Store interface {
	// Get returns the value of key; false if there is none.
	Get(key []byte) ([]byte, bool, error)
	// Write sets keys[i] to values[i], in order: a crash may keep a prefix
	// of the writes but never a later write without an earlier one.
	Write(keys, values [][]byte) error
	// Scan calls fn for every key in [from, to), in key order.
	Scan(from, to []byte, fn func(key, value []byte) error) error
}

// Deleter is a Store that can delete keys, which compaction needs
// (MemoryStore and storage.Aux are).
type Deleter interface {
	// Delete removes keys, in order, with Write's crash guarantee: a
	// prefix of the deletions, never a later one without an earlier.
	// Absent keys are no error.
	Delete(keys [][]byte) error
}

// Key layout (one-byte prefix each).
const (
	keyNode      = 'n' // level u8 | index u64 → hash
	keyIndex     = 'i' // ID → log index u64
	keyLeaf      = 'l' // log index u64 → ID
	keyState     = 's' // → state
	keyClaim     = 'v' // size u64 | validator u16 | tx ID → root | signature
	keyMisbehave = 'x' // size u64 | validator u16 | tx ID → a Misbehaviour
	keyFinal     = 'f' // → the newest final checkpoint's signed note
	// keyCompacted ('c', compact.go) → the end of the compacted blocks
)

func nodeKey(level uint8, index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{keyNode, level}, index)
}
func indexKey(id dag.ID) []byte   { return append([]byte{keyIndex}, id[:]...) }
func leafKey(index uint64) []byte { return binary.BigEndian.AppendUint64([]byte{keyLeaf}, index) }
func claimKey(size uint64, validator int, id dag.ID) []byte {
	b := binary.BigEndian.AppendUint64([]byte{keyClaim}, size)
	b = binary.BigEndian.AppendUint16(b, uint16(validator))
	return append(b, id[:]...)
}

// MemoryStore is a Store in memory, for tests and tools.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string][]byte{}} }

// Get implements Store.
func (s *MemoryStore) Get(key []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[string(key)]
	return bytes.Clone(v), ok, nil
}

// Write implements Store.
func (s *MemoryStore) Write(keys, values [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		s.m[string(k)] = bytes.Clone(values[i])
	}
	return nil
}

// Delete implements Deleter.
func (s *MemoryStore) Delete(keys [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.m, string(k))
	}
	return nil
}

// Scan implements Store.
func (s *MemoryStore) Scan(from, to []byte, fn func(key, value []byte) error) error {
	s.mu.Lock()
	var keys []string
	for k := range s.m {
		if k >= string(from) && k < string(to) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = bytes.Clone(s.m[k])
	}
	s.mu.Unlock()
	for i, k := range keys {
		if err := fn([]byte(k), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// batch buffers one anchor's writes; it is the tree's NodeStore while the
// anchor is appended, reading its own writes first.
type batch struct {
	store  Store
	keys   [][]byte
	values [][]byte
	nodes  map[[9]byte]merkle.Hash
	// leafIDs are the IDs of the leaves being appended, stored with their
	// level-0 hashes (one key a leaf instead of two).
	leafIDs map[uint64]dag.ID
	err     error
}

func newBatch(s Store) *batch {
	return &batch{store: s, nodes: map[[9]byte]merkle.Hash{}, leafIDs: map[uint64]dag.ID{}}
}

func (b *batch) put(k, v []byte) {
	b.keys = append(b.keys, k)
	b.values = append(b.values, v)
}

func (b *batch) Node(level uint8, index uint64) (merkle.Hash, bool) {
	var k [9]byte
	k[0] = level
	binary.BigEndian.PutUint64(k[1:], index)
	if h, ok := b.nodes[k]; ok {
		return h, true
	}
	return storeNode(b.store, level, index, &b.err)
}

func (b *batch) SetNode(level uint8, index uint64, h merkle.Hash) error {
	var k [9]byte
	k[0] = level
	binary.BigEndian.PutUint64(k[1:], index)
	b.nodes[k] = h
	v := bytes.Clone(h[:])
	if level == 0 {
		id, ok := b.leafIDs[index]
		if !ok {
			return fmt.Errorf("evidence: leaf %d appended without its ID", index)
		}
		v = append(v, id[:]...)
	}
	b.put(nodeKey(level, index), v)
	return nil
}

func storeNode(s Store, level uint8, index uint64, errp *error) (merkle.Hash, bool) {
	v, ok, err := s.Get(nodeKey(level, index))
	if err != nil {
		if *errp == nil {
			*errp = err
		}
		return merkle.Hash{}, false
	}
	if want := len(merkle.Hash{}); !ok || len(v) != want && (level != 0 || len(v) != want+dag.IDSize) {
		return merkle.Hash{}, false
	}
	var h merkle.Hash
	copy(h[:], v)
	return h, true
}

// readNodes is the NodeStore of proofs over the committed log.
type readNodes struct {
	log *Log
	err error
	// compacted: a node the answer needs was dropped by compaction.
	compacted bool
}

func (r *readNodes) Node(level uint8, index uint64) (merkle.Hash, bool) {
	h, ok := storeNode(r.log.store, level, index, &r.err)
	if !ok && r.err == nil && r.log.inCompacted(level, index) {
		r.compacted = true
	}
	return h, ok
}

// done is the error of an answer read through r: ErrCompacted when a node
// it needed was compacted away.
func (r *readNodes) done(err error) error {
	if r.err != nil {
		return errors.Join(err, r.err)
	}
	if err != nil && r.compacted {
		return fmt.Errorf("%w (%v)", ErrCompacted, err)
	}
	return err
}
func (r *readNodes) SetNode(uint8, uint64, merkle.Hash) error {
	return errors.New("evidence: the read side of the log does not append")
}
