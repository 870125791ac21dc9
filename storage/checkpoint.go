package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/zeebo/blake3"

	"github.com/tangled-ledger/tangled/dag"
)

// The ledger's checkpoint (dag.CheckpointStore) lives under its own
// prefix, outside the commit protocol: chunks of at most checkpointChunk
// bytes, then a header naming the log head it describes, the length and
// the BLAKE3 hash of the whole. The header is written last, so a crash
// while saving leaves either no header or one whose hash the chunks do not
// match; both read as no checkpoint.
const (
	prefixCheckpoint = 'k'
	checkpointHeader = 0 // prefixCheckpoint, 0 → head u64 | length u64 | chunks u32 | hash
	checkpointPart   = 1 // prefixCheckpoint, 1, index u32 → chunk
	checkpointChunk  = 1 << 20
	headerSize       = 8 + 8 + 4 + 32
)

func checkpointHeaderKey() []byte { return []byte{prefixCheckpoint, checkpointHeader} }
func checkpointPartKey(i uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{prefixCheckpoint, checkpointPart}, i)
}

func checkpointHeaderOf(head uint64, data []byte) []byte {
	h := blake3.Sum256(data)
	b := binary.BigEndian.AppendUint64(nil, head)
	b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
	b = binary.BigEndian.AppendUint32(b, uint32((len(data)+checkpointChunk-1)/checkpointChunk))
	return append(b, h[:]...)
}

// SaveCheckpoint implements dag.CheckpointStore.
func (s *Badger) SaveCheckpoint(data []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	if err := s.dropCheckpoint(); err != nil {
		return err
	}
	b := s.newTxnBatch(true)
	defer b.discard()
	for i := 0; i*checkpointChunk < len(data); i++ {
		part := data[i*checkpointChunk : min((i+1)*checkpointChunk, len(data))]
		if err := b.set(checkpointPartKey(uint32(i)), part); err != nil {
			return fmt.Errorf("storage: checkpoint: %w", err)
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: checkpoint: %w", err)
	}
	// The header in a transaction of its own, after the chunks are durable.
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(checkpointHeaderKey(), checkpointHeaderOf(s.head.Load(), data))
	})
	if err != nil {
		return fmt.Errorf("storage: checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint implements dag.CheckpointStore.
func (s *Badger) LoadCheckpoint() ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.ops.Done()
	var data []byte
	ok := false
	err := s.db.View(func(txn *badger.Txn) error {
		hdr, found, err := txnValue(txn, checkpointHeaderKey())
		if err != nil || !found {
			return err
		}
		if len(hdr) != headerSize || binary.BigEndian.Uint64(hdr) != s.head.Load() {
			return nil // damaged, or the log moved on
		}
		length, chunks := binary.BigEndian.Uint64(hdr[8:]), binary.BigEndian.Uint32(hdr[16:])
		if length > uint64(chunks)*checkpointChunk {
			return nil
		}
		data = make([]byte, 0, length)
		for i := range chunks {
			part, found, err := txnValue(txn, checkpointPartKey(i))
			if err != nil || !found {
				return err
			}
			data = append(data, part...)
		}
		ok = uint64(len(data)) == length && bytes.Equal(checkpointHeaderOf(s.head.Load(), data), hdr)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("storage: checkpoint: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	return data, true, nil
}

// txnValue reads key in txn; false if it is absent.
func txnValue(txn *badger.Txn, key []byte) ([]byte, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, err == nil, err
}

// DropCheckpoint implements dag.CheckpointStore.
func (s *Badger) DropCheckpoint() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	return s.dropCheckpoint()
}

// dropCheckpoint deletes the header first (durably: the database runs
// with SyncWrites), then the chunks.
func (s *Badger) dropCheckpoint() error {
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(checkpointHeaderKey()) })
	if err != nil {
		return fmt.Errorf("storage: drop checkpoint: %w", err)
	}
	var keys [][]byte
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixCheckpoint, checkpointPart}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: drop checkpoint: %w", err)
	}
	b := s.newTxnBatch(true)
	defer b.discard()
	for _, k := range keys {
		if err := b.delete(k); err != nil {
			return fmt.Errorf("storage: drop checkpoint: %w", err)
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: drop checkpoint: %w", err)
	}
	return nil
}

// ReplayParked implements dag.CheckpointStore.
func (s *Badger) ReplayParked(parked func(raw []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	return s.db.View(func(txn *badger.Txn) error {
		return s.scan(txn, []byte{prefixParked}, func(_, raw []byte) error { return parked(raw) })
	})
}

// SaveCheckpoint implements dag.CheckpointStore.
func (m *Memory) SaveCheckpoint(data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoint, m.checkpointHead = bytes.Clone(data), m.high
	return nil
}

// LoadCheckpoint implements dag.CheckpointStore.
func (m *Memory) LoadCheckpoint() ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.checkpoint == nil || m.checkpointHead != m.high {
		return nil, false, nil
	}
	return bytes.Clone(m.checkpoint), true, nil
}

// DropCheckpoint implements dag.CheckpointStore.
func (m *Memory) DropCheckpoint() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoint = nil
	return nil
}

// ReplayParked implements dag.CheckpointStore.
func (m *Memory) ReplayParked(parked func(raw []byte) error) error {
	m.mu.RLock()
	ids := slices.SortedFunc(maps.Keys(m.parked), dag.ID.Compare)
	raws := make([][]byte, len(ids))
	for i, id := range ids {
		raws[i] = bytes.Clone(m.parked[id])
	}
	m.mu.RUnlock()
	for _, raw := range raws {
		if err := parked(raw); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ dag.CheckpointStore = (*Badger)(nil)
	_ dag.CheckpointStore = (*Memory)(nil)
)
