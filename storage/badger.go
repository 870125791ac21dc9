package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tangled-ledger/tangled/dag"
)

// Key layout (schema version 1). Each keyspace has a one-byte prefix, so a
// prefix scan reads one keyspace in key order.
const (
	// prefixAttached + 8-byte big-endian arrival → raw transaction. Big
	// endian makes key order arrival order.
	prefixAttached = 'n'
	// prefixParked + 32-byte ID → raw transaction.
	prefixParked = 'p'
	// prefixMeta + name → store metadata (keySchema, keyHead).
	prefixMeta = 'm'

	attachedKeyLen = 1 + 8
	parkedKeyLen   = 1 + dag.IDSize
)

var (
	// keySchema holds the 4-byte big-endian schema version.
	keySchema = []byte{prefixMeta, 's', 'c', 'h', 'e', 'm', 'a'}
	// keyHead holds the 8-byte big-endian highest arrival of the last
	// complete write set. Attached keys above it are the beginning of a
	// write set whose commit did not finish; see Badger.Commit.
	keyHead = []byte{prefixMeta, 'h', 'e', 'a', 'd'}
)

func attachedKey(dst []byte, arrival uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixAttached), arrival)
}

func parkedKey(dst []byte, id dag.ID) []byte {
	return append(append(dst, prefixParked), id[:]...)
}

// Badger is the durable Store of a node: an append-only log of attached
// transactions and a parking lot on Badger v4. It is safe for concurrent
// use; Commits are applied one at a time in call order.
type Badger struct {
	db   *badger.DB
	opts Options
	log  badger.Logger

	// commitMu serializes Commit: the order of calls is the order on disk,
	// and head moves only forward.
	commitMu sync.Mutex
	// head is the highest arrival of a durable, complete write set. Readers
	// never look above it.
	head atomic.Uint64

	// mu guards the transition to closed: an operation registers in ops
	// only while closed is false, so Close can wait for all of them before
	// closing the database. closed is atomic as well so that long scans
	// notice a Close without taking mu.
	mu     sync.Mutex
	closed atomic.Bool
	ops    sync.WaitGroup
	// closing is closed when Close begins, to stop Run.
	closing chan struct{}

	gc gcCounters // GCStats

	// dir is the database directory (DiskSize); pruned counts the pruned
	// transactions (keyPruned), so that a missing arrival at or below
	// head reads as dag.ErrPruned.
	dir    string
	pruned atomic.Uint64
	// zombies are the pruned transactions' bytes to delete again after
	// value-log rewrites (zombies.go).
	zombies zombieWatch
}

// Open opens (or creates) the store in dir. It refuses a directory written
// with another key layout, and finishes the cleanup of a commit that a
// crash interrupted.
func Open(dir string, opts Options) (*Badger, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	bopts := opts.badgerOptions(dir)
	if err := removeEmptyLogs(dir, bopts.Logger); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	s := &Badger{db: db, opts: opts, log: bopts.Logger, closing: make(chan struct{}), dir: dir}
	if err := s.load(dir); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// load checks the schema, loads head and deletes attached keys above
// it: the durable part of a split write set whose last transaction never
// committed. They were never acknowledged, and the ledger will assign
// those arrival numbers again.
func (s *Badger) load(dir string) error {
	head, fresh, err := s.readMeta(dir)
	if err != nil {
		return err
	}
	if fresh {
		err := s.db.Update(func(txn *badger.Txn) error {
			if err := txn.Set(keySchema, binary.BigEndian.AppendUint32(nil, schemaVersion)); err != nil {
				return err
			}
			return txn.Set(keyHead, binary.BigEndian.AppendUint64(nil, 0))
		})
		if err != nil {
			return fmt.Errorf("storage: initialize %s: %w", dir, err)
		}
	}
	s.head.Store(head)
	pruned, _, err := s.get(keyPruned)
	if err != nil {
		return fmt.Errorf("storage: read pruned count in %s: %w", dir, err)
	}
	if len(pruned) == 8 {
		s.pruned.Store(binary.BigEndian.Uint64(pruned))
	}

	var stale [][]byte
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixAttached}})
		defer it.Close()
		for it.Seek(attachedKey(nil, head+1)); it.Valid(); it.Next() {
			stale = append(stale, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: scan %s for an interrupted commit: %w", dir, err)
	}
	if len(stale) == 0 {
		return nil
	}
	s.log.Warningf("storage: dropping %d attached transactions above arrival %d from an interrupted commit", len(stale), head)
	b := s.newTxnBatch(true)
	defer b.discard()
	for _, k := range stale {
		if err := b.delete(k); err != nil {
			return fmt.Errorf("storage: drop interrupted commit in %s: %w", dir, err)
		}
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("storage: drop interrupted commit in %s: %w", dir, err)
	}
	return nil
}

// readMeta returns the stored head, or fresh if dir holds an empty
// database.
func (s *Badger) readMeta(dir string) (head uint64, fresh bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			if it.Rewind(); it.Valid() {
				return fmt.Errorf("storage: %s holds data but no schema version: %w", dir, ErrSchema)
			}
			fresh = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("storage: read schema version in %s: %w", dir, err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("storage: read schema version in %s: %w", dir, err)
		}
		if len(v) != 4 {
			return fmt.Errorf("storage: %s has a %d-byte schema version: %w", dir, len(v), ErrSchema)
		}
		if ver := binary.BigEndian.Uint32(v); ver != schemaVersion {
			return fmt.Errorf("storage: %s has schema version %d, this build knows %d: %w", dir, ver, schemaVersion, ErrSchema)
		}

		item, err = txn.Get(keyHead)
		if err != nil {
			return fmt.Errorf("storage: read head in %s: %w", dir, err)
		}
		v, err = item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("storage: read head in %s: %w", dir, err)
		}
		if len(v) != 8 {
			return fmt.Errorf("storage: %s has a %d-byte head: %w", dir, len(v), ErrSchema)
		}
		head = binary.BigEndian.Uint64(v)
		return nil
	})
	return head, fresh, err
}

// Close waits for operations in flight, then closes the database. A Commit
// (or any other call) after Close returns ErrClosed; closing twice is a
// no-op.
func (s *Badger) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	close(s.closing)
	s.mu.Unlock()
	s.ops.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// enter registers an operation, or fails once Close has begun. Every
// successful enter must be paired with s.ops.Done. It never blocks, so a
// callback of Replay or Range may call back into the store.
func (s *Badger) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	s.ops.Add(1)
	return nil
}

// Commit writes w durably and returns only then.
//
// Durability: the database runs with SyncWrites, Badger's documented
// durable mode: each Badger transaction commit msyncs the value log and
// the memtable's WAL before it returns. The alternative, SyncWrites off and
// an explicit DB.Sync after each commit, is no faster: in alternated runs
// of BenchmarkBadgerSyncMode on the 2-core test machine (medians of 5),
// SyncWrites took 718 µs, 1.46 ms and 5.2 ms per commit of 1, 64 and 1024
// transactions, explicit Sync 767 µs, 1.63 ms and 5.6 ms; earlier rounds
// flipped the order, within the noise of the virtual disk. And it is not
// correct under power loss: DB.Sync syncs only the current memtable's
// WAL, so if a concurrent value-log GC rewrite rotates the memtable between
// our write and our Sync, our entries sit in an unsynced WAL while later
// commits are synced, which breaks the prefix guarantee.
//
// Atomicity: a write set is one Badger transaction when it fits, which is
// 15% of MemTableSize (about 26,000 log entries at the default), more
// than a group commit. A larger set is split into transactions committed
// in order: the attached entries first, then Parked, the new head and
// Unparked together in a final transaction. Attached entries above the
// stored head are invisible to readers and deleted by Open, so after a
// crash the store holds whole write sets. Only when Parked and Unparked
// alone overflow a transaction is the final one split as well; a crash can
// then leave some of the set's Parked entries (a prefix of what was
// acknowledged, as dag.Store allows) or, after the head, a parked copy of
// a transaction that attached in the set, which the ledger drops as a
// duplicate on Replay.
//
// Within w, Parked is applied before Unparked, so an ID in both ends up
// not parked. Attached arrivals must be strictly increasing and above
// every stored one, or Commit writes nothing and returns ErrArrivalOrder.
// After any other error the ledger must stop writing: part of w may be
// durable.
func (s *Badger) Commit(w *dag.WriteSet) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	if w == nil || w.Empty() {
		return nil
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()

	if err := checkArrivals(s.head.Load(), w.Attached); err != nil {
		return err
	}
	// A set that does not fit one transaction fails without writing
	// anything, and is then written in several.
	err := s.write(w, false)
	if errors.Is(err, badger.ErrTxnTooBig) {
		err = s.write(w, true)
	}
	if err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

// write applies w in one transaction, or, if split, in as many as it
// needs, in the order that Commit documents.
func (s *Badger) write(w *dag.WriteSet, split bool) error {
	keys := make([]byte, 0, parkedKeyLen*(len(w.Parked)+len(w.Unparked))+attachedKeyLen*len(w.Attached))
	b := s.newTxnBatch(split)
	defer b.discard()
	for _, tx := range w.Attached {
		keys = attachedKey(keys, tx.Arrival)
		if err := b.set(keys[len(keys)-attachedKeyLen:], tx.Raw); err != nil {
			return err
		}
	}
	if split {
		if err := b.flush(); err != nil {
			return err
		}
	}
	for _, tx := range w.Parked {
		keys = parkedKey(keys, tx.ID)
		if err := b.set(keys[len(keys)-parkedKeyLen:], tx.Raw); err != nil {
			return err
		}
	}
	if n := len(w.Attached); n > 0 {
		head := w.Attached[n-1].Arrival
		if err := b.set(keyHead, binary.BigEndian.AppendUint64(nil, head)); err != nil {
			return err
		}
		b.afterCommit = func() { s.head.Store(head) }
	}
	for _, id := range w.Unparked {
		keys = parkedKey(keys, id)
		if err := b.delete(keys[len(keys)-parkedKeyLen:]); err != nil {
			return err
		}
	}
	return b.commit()
}

// txnBatch applies a sequence of writes as Badger transactions. With
// SyncWrites each commit is durable before the next transaction begins, so
// a crash leaves a prefix of the sequence.
type txnBatch struct {
	db  *badger.DB
	txn *badger.Txn
	// split: when the transaction is full, commit it and continue in a new
	// one, instead of failing with badger.ErrTxnTooBig.
	split bool
	// writes counts the writes in txn.
	writes int
	// afterCommit runs once the transaction holding the last write so far
	// has committed.
	afterCommit func()
}

func (s *Badger) newTxnBatch(split bool) *txnBatch {
	return &txnBatch{db: s.db, txn: s.db.NewTransaction(true), split: split}
}

func (b *txnBatch) set(key, value []byte) error { return b.write(key, value, false) }
func (b *txnBatch) delete(key []byte) error     { return b.write(key, nil, true) }

func (b *txnBatch) write(key, value []byte, del bool) error {
	for {
		var err error
		if del {
			err = b.txn.Delete(key)
		} else {
			err = b.txn.Set(key, value)
		}
		if err == nil {
			b.writes++
			return nil
		}
		// A fresh transaction that cannot take one write never will.
		if !errors.Is(err, badger.ErrTxnTooBig) || !b.split || b.writes == 0 {
			return err
		}
		if err := b.flush(); err != nil {
			return err
		}
	}
}

// flush commits the writes so far and starts a new transaction.
func (b *txnBatch) flush() error {
	if b.writes == 0 {
		return nil
	}
	if err := b.commit(); err != nil {
		return err
	}
	b.txn = b.db.NewTransaction(true)
	return nil
}

func (b *txnBatch) commit() error {
	err := b.txn.Commit()
	b.txn = nil
	b.writes = 0
	if err != nil {
		return err
	}
	if b.afterCommit != nil {
		b.afterCommit()
		b.afterCommit = nil
	}
	return nil
}

func (b *txnBatch) discard() {
	if b.txn != nil {
		b.txn.Discard()
	}
}

// Replay calls attached for every attached transaction in arrival order,
// then parked for every parked transaction in ID order, from one snapshot
// of the database. Each raw slice is a fresh copy the callee may keep. It
// stops at the first error and returns it; a callback's error is returned
// unwrapped.
func (s *Badger) Replay(attached func(arrival uint64, raw []byte) error, parked func(raw []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	head := s.head.Load()
	return s.db.View(func(txn *badger.Txn) error {
		if err := s.scanAttached(txn, 1, head, attached); err != nil {
			return err
		}
		return s.scan(txn, []byte{prefixParked}, func(_, raw []byte) error { return parked(raw) })
	})
}

// Range calls fn for every attached transaction with an arrival of at
// least from, in arrival order, from one snapshot of the database taken
// when Range begins. Each raw slice is a fresh copy the callee may keep.
// A Close during Range makes it return ErrClosed at the next transaction.
func (s *Badger) Range(from uint64, fn func(arrival uint64, raw []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	head := s.head.Load()
	return s.db.View(func(txn *badger.Txn) error {
		return s.scanAttached(txn, from, head, fn)
	})
}

// scanAttached reads arrivals from..head. The bound matters: keys above
// head may belong to a split write set that is still being committed.
func (s *Badger) scanAttached(txn *badger.Txn, from, head uint64, fn func(arrival uint64, raw []byte) error) error {
	if from > head {
		return nil
	}
	return s.scan(txn, attachedKey(nil, from), func(key, raw []byte) error {
		arrival := binary.BigEndian.Uint64(key[1:])
		if arrival > head {
			return errStop
		}
		return fn(arrival, raw)
	})
}

// errStop ends a scan early without an error.
var errStop = errors.New("storage: stop scan")

// scan calls fn for every key from start on that shares its first byte.
func (s *Badger) scan(txn *badger.Txn, start []byte, fn func(key, raw []byte) error) error {
	// Values are read one at a time straight from the mmapped value log:
	// Badger's value prefetching starts a goroutine per item and copies
	// each value twice, which made Replay twice as slow
	// (BenchmarkBadgerReplay: 0.91 instead of 0.44 µs per transaction).
	it := txn.NewIterator(badger.IteratorOptions{Prefix: start[:1]})
	defer it.Close()
	for it.Seek(start); it.Valid(); it.Next() {
		if s.closed.Load() {
			return ErrClosed
		}
		item := it.Item()
		raw, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("storage: read %q: %w", item.Key(), err)
		}
		if err := fn(item.Key(), raw); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
	}
	return nil
}

// Transaction returns the raw bytes of the attached transaction with this
// arrival number, or an error wrapping dag.ErrNotFound.
func (s *Badger) Transaction(arrival uint64) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	if arrival == 0 || arrival > s.head.Load() {
		return nil, notFound(arrival)
	}
	var raw []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(attachedKey(make([]byte, 0, attachedKeyLen), arrival))
		if err != nil {
			return err
		}
		raw, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		if s.pruned.Load() > 0 {
			// Arrivals up to head are all written; a missing one was pruned.
			return nil, prunedError(arrival)
		}
		return nil, notFound(arrival)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: read arrival %d: %w", arrival, err)
	}
	return raw, nil
}

// DiskUsage returns the bytes of the LSM tree and of the value log, as
// Badger last measured them: when the store was opened, then about once
// a minute.
func (s *Badger) DiskUsage() (lsm, vlog int64) {
	return s.db.Size()
}

// Run collects value-log garbage every GCInterval until ctx is done, then
// returns nil; if the store is closed first, it returns ErrClosed as soon
// as a collection in progress ends. It starts no goroutines. A failed
// collection is logged and retried at the next tick.
func (s *Badger) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.gcInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return ErrClosed
		case <-t.C:
			s.gc.runs.Add(1)
			if err := s.collectGarbage(ctx); err != nil {
				if errors.Is(err, ErrClosed) {
					return err
				}
				s.gc.errors.Add(1)
				s.log.Errorf("storage: value-log GC: %v", err)
			}
		}
	}
}

// collectGarbage rewrites value-log files while each rewrite succeeds, as
// Badger recommends: one call rewrites at most one file.
func (s *Badger) collectGarbage(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	rewrote := false
	for ctx.Err() == nil && !s.closed.Load() {
		err := s.db.RunValueLogGC(gcDiscardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			return err
		}
		s.gc.rewrites.Add(1)
		rewrote = true
	}
	if !rewrote {
		return nil
	}
	return s.redelete()
}
