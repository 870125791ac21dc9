package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/tangled-ledger/tangled/dag"
)

type prunerStore interface {
	store
	dag.Archive
	dag.Pruner
}

func archiveRecords(from, to uint64) []dag.ArchivedRecord {
	var rs []dag.ArchivedRecord
	for k := from; k <= to; k++ {
		rs = append(rs, dag.ArchivedRecord{ID: txID(k), ConfirmedIndex: k, Data: txBytes(k^0xff, 100)})
	}
	return rs
}

func pruneEntries(from, to uint64) []dag.PrunedEntry {
	var es []dag.PrunedEntry
	for k := from; k <= to; k++ {
		es = append(es, dag.PrunedEntry{Arrival: k, ID: txID(k), ConfirmedIndex: k})
	}
	return es
}

// TestPrune: pruned arrivals read as dag.ErrPruned (and so as
// dag.ErrNotFound), never-written ones as ErrNotFound only; records and
// positions go with the bytes; Range skips the gap; the count survives a
// reopen.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		open   func(t *testing.T) prunerStore
		reopen func(t *testing.T, s prunerStore) prunerStore
	}{
		{"memory", func(*testing.T) prunerStore { return NewMemory() }, nil},
		{"badger", func(t *testing.T) prunerStore { return openTestBadger(t, dir) },
			func(t *testing.T, s prunerStore) prunerStore {
				if err := s.(*Badger).Close(); err != nil {
					t.Fatal(err)
				}
				return openTestBadger(t, dir)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			if err := s.Commit(&dag.WriteSet{Attached: attach(1, 100)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Archive(archiveRecords(1, 100)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Transaction(30); !errors.Is(err, dag.ErrNotFound) || errors.Is(err, dag.ErrPruned) {
				if err != nil {
					t.Fatalf("before pruning: Transaction(30) = %v", err)
				}
			}
			if err := s.Prune(pruneEntries(1, 60)); err != nil {
				t.Fatal(err)
			}
			check := func(s prunerStore) {
				t.Helper()
				if got := s.Pruned(); got != 60 {
					t.Errorf("Pruned() = %d, want 60", got)
				}
				if _, err := s.Transaction(30); !errors.Is(err, dag.ErrPruned) || !errors.Is(err, dag.ErrNotFound) {
					t.Errorf("Transaction(30) = %v, want ErrPruned wrapping ErrNotFound", err)
				}
				if _, err := s.Transaction(101); !errors.Is(err, dag.ErrNotFound) || errors.Is(err, dag.ErrPruned) {
					t.Errorf("Transaction(101) = %v, want ErrNotFound only", err)
				}
				if raw, err := s.Transaction(70); err != nil || string(raw) != string(txBytes(70, rawSize)) {
					t.Errorf("Transaction(70) = %v", err)
				}
				if _, ok, err := s.Archived(txID(30)); ok || err != nil {
					t.Errorf("Archived(30) = %v, %v after pruning", ok, err)
				}
				if _, ok, err := s.ArchivedAt(30); ok || err != nil {
					t.Errorf("ArchivedAt(30) = %v, %v after pruning", ok, err)
				}
				if _, ok, _ := s.Archived(txID(61)); !ok {
					t.Error("Archived(61) gone")
				}
				var seen []uint64
				if err := s.Range(1, func(a uint64, _ []byte) error { seen = append(seen, a); return nil }); err != nil {
					t.Fatal(err)
				}
				if len(seen) != 40 || seen[0] != 61 {
					t.Errorf("Range from 1 saw %d arrivals from %v", len(seen), seen[:min(1, len(seen))])
				}
			}
			check(s)
			// Arrivals keep growing above what was pruned.
			if err := s.Commit(&dag.WriteSet{Attached: attach(60, 60)}); !errors.Is(err, ErrArrivalOrder) {
				t.Errorf("commit of a pruned arrival: %v, want ErrArrivalOrder", err)
			}
			if tc.reopen != nil {
				s = tc.reopen(t, s)
				check(s)
			}
		})
	}
}

func openTestBadger(t *testing.T, dir string) *Badger {
	t.Helper()
	s, err := Open(dir, Options{MemTableSize: 1 << 20, ValueLogFileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPruneReclaimsDisk writes 40 MB of transactions and their records
// into a real Badger directory, pruning all but the newest 4 MB after every
// round, and checks that the directory stays under a 16 MiB budget (the
// live data is about 4 MiB, Badger's memtable logs, active value-log file
// and discard statistics a few more): deleting keys alone would leave the
// value log growing, Reclaim must give the space back; and what was
// pruned stays pruned through the value-log rewrites.
func TestPruneReclaimsDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 30 MB")
	}
	s := openTestBadger(t, t.TempDir())
	const perRound, keep, rounds, budget = 2000, 10_000, 50, 16 << 20
	var next, oldest uint64 = 1, 1
	var peak int64
	for round := range rounds {
		txs := attach(next, next+perRound-1)
		if err := s.Commit(&dag.WriteSet{Attached: txs}); err != nil {
			t.Fatal(err)
		}
		if err := s.Archive(archiveRecords(next, next+perRound-1)); err != nil {
			t.Fatal(err)
		}
		next += perRound
		if next-oldest > keep {
			to := next - keep - 1
			if err := s.Prune(pruneEntries(oldest, to)); err != nil {
				t.Fatal(err)
			}
			oldest = to + 1
			if err := s.Reclaim(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Badger's value-log GC can bring deleted keys back
			// (zombies.go): what the last passes pruned stays pruned.
			for k := oldest - min(oldest-1, 3*perRound); k < oldest; k++ {
				if _, err := s.Transaction(k); !errors.Is(err, dag.ErrPruned) {
					t.Fatalf("round %d: arrival %d, pruned, reads %v", round, k, err)
				}
			}
		}
		size, err := s.DiskSize()
		if err != nil {
			t.Fatal(err)
		}
		if round >= 10 {
			peak = max(peak, size)
		}
		if testing.Verbose() && round%10 == 9 {
			ents, _ := os.ReadDir(s.dir)
			var list []string
			for _, e := range ents {
				info, _ := e.Info()
				list = append(list, fmt.Sprintf("%s:%dK", e.Name(), info.Size()>>10))
			}
			t.Logf("round %d: %d KiB: %v", round, size>>10, list)
		}
	}
	written := int64(next-1) * (rawSize + 100)
	t.Logf("wrote %.1f MB, peak directory size after warm-up %.1f MiB (budget %d MiB)", float64(written)/1e6, float64(peak)/(1<<20), budget>>20)
	if peak > budget {
		t.Errorf("directory reached %d bytes, budget %d", peak, budget)
	}
	got := s.GCStats()
	if got.Rewrites == 0 {
		t.Errorf("value-log GC rewrote nothing: %+v", got)
	}
	t.Logf("GC: %+v", got)
}

// TestPrunedBytesDeletedAgain: bytes that come back after a prune (as
// Badger's value-log GC can bring them back, see zombies.go; here written
// back directly, since the race cannot be forced) are deleted again at
// the next value-log rewrites, zombieRounds of them; a pruned
// transaction's record archived anew (the transaction sent again) is left
// alone.
func TestPrunedBytesDeletedAgain(t *testing.T) {
	s := openTestBadger(t, t.TempDir())
	if err := s.Commit(&dag.WriteSet{Attached: attach(1, 100)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Archive(archiveRecords(1, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(pruneEntries(1, 50)); err != nil {
		t.Fatal(err)
	}
	back := func() {
		t.Helper()
		err := s.db.Update(func(txn *badger.Txn) error {
			for k := uint64(1); k <= 50; k++ {
				if err := txn.Set(attachedKey(nil, k), txBytes(k, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Sent again after it was pruned: archived anew under its ID.
	again := dag.ArchivedRecord{ID: txID(7), ConfirmedIndex: 200, Data: []byte("archived anew")}
	if err := s.Archive([]dag.ArchivedRecord{again}); err != nil {
		t.Fatal(err)
	}
	for round := range zombieRounds {
		back()
		if _, err := s.Transaction(3); err != nil {
			t.Fatalf("round %d: the written-back bytes do not read: %v", round, err)
		}
		if err := s.redelete(); err != nil {
			t.Fatal(err)
		}
		for k := uint64(1); k <= 50; k++ {
			if _, err := s.Transaction(k); !errors.Is(err, dag.ErrPruned) {
				t.Fatalf("round %d: arrival %d after the rewrite: %v, want pruned", round, k, err)
			}
		}
		if _, err := s.Transaction(51); err != nil {
			t.Fatalf("round %d: a kept arrival: %v", round, err)
		}
		if data, ok, err := s.Archived(again.ID); err != nil || !ok || string(data) != string(again.Data) {
			t.Fatalf("round %d: the record archived anew: %q %v %v", round, data, ok, err)
		}
	}
	// The rounds are over: nothing is watched any more.
	back()
	if err := s.redelete(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transaction(3); err != nil {
		t.Fatalf("after the watched rounds, written bytes are left alone: %v", err)
	}
	if n := len(s.zombies.keys); n != 0 {
		t.Fatalf("%d keys still watched", n)
	}
	if got := s.GCStats().Redeletes; got != zombieRounds {
		t.Fatalf("counted %d passes of deleting again, want %d", got, zombieRounds)
	}
}
