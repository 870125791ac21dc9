package dag_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/storage"
)

// TestCheckpointMatchesReplay: a ledger that archives, shut down with a
// checkpoint, opens without replaying its log (Restored), and then agrees
// with a ledger that keeps everything in memory on everything observable
// and on every result and event of later traffic, including the rescue of
// stale transactions its restore left in the archive. The checkpoint is
// gone once loaded, so a restart without a new one replays the log and
// agrees too. Run on Badger and on the in-memory store.
func TestCheckpointMatchesReplay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) (dag.Store, func() dag.Store)
	}{
		{"memory", func(*testing.T) (dag.Store, func() dag.Store) {
			s := storage.NewMemory()
			return s, func() dag.Store { return s }
		}},
		{"badger", func(t *testing.T) (dag.Store, func() dag.Store) {
			dir := t.TempDir()
			s := openBadger(t, dir)
			return s, func() dag.Store {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openBadger(t, dir)
				t.Cleanup(func() { s.Close() })
				return s
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net, chunks := archiveStream(t)
			now := func() time.Time { return dagtest.GenesisTime.Add(1000 * time.Hour) }
			open := func(s dag.Store, budget int64) *dag.Ledger {
				l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: now, MemoryBudget: budget, StaleAfter: testStaleAfter})
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			var all []*dag.Transaction
			for _, c := range chunks {
				all = append(all, c...)
			}
			ref := open(storage.NewMemory(), -1)
			store, reopen := tc.store(t)
			l := open(store, archiveBudget)
			if l.Restored() {
				t.Fatal("a new ledger restored a checkpoint")
			}
			events := map[*dag.Ledger][]string{}
			listen := func(x *dag.Ledger) {
				x.Subscribe(func(e dag.Event) {
					events[x] = append(events[x], fmt.Sprintf("%s %s %+v", e.Kind, e.Info.ID.Short(), e.Info))
				})
			}
			listen(ref)
			feed := func(l *dag.Ledger, txs []*dag.Transaction) {
				t.Helper()
				want, err := ref.AttachVerified(txs).Wait()
				if err != nil {
					t.Fatal(err)
				}
				got, err := l.AttachVerified(txs).Wait()
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, cmp.Comparer(sameErr)); diff != "" {
					t.Fatalf("results differ (-resident +restored):\n%s", diff)
				}
			}
			for _, c := range chunks {
				feed(l, c)
			}
			if err := l.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			restored := open(reopen(), archiveBudget)
			if !restored.Restored() {
				t.Fatal("the checkpoint was not loaded")
			}
			if got, limit := dag.ResidentNodes(restored), dag.ResidentNodes(l); got > limit {
				t.Errorf("%d transactions in memory after the restore, %d before the shutdown", got, limit)
			}
			ids := idsOf(all)
			want := takeFullView(t, ref, ids)
			if diff := cmp.Diff(want, tipsInReach(t, restored, want, takeFullView(t, restored, ids))); diff != "" {
				t.Errorf("view after the restore differs (-resident +restored):\n%s", diff)
			}

			listen(restored)
			events[ref] = nil
			tail, _ := rescueTail(t, net, ref, restored, all)
			feed(restored, tail)
			feed(restored, chunks[3]) // duplicates now, archived or in memory
			if diff := cmp.Diff(events[ref], events[restored]); diff != "" {
				t.Errorf("events differ (-resident +restored):\n%s", diff)
			}
			ids = append(ids, idsOf(tail)...)
			want = takeFullView(t, ref, ids)
			if diff := cmp.Diff(want, tipsInReach(t, restored, want, takeFullView(t, restored, ids))); diff != "" {
				t.Errorf("view after more traffic differs (-resident +restored):\n%s", diff)
			}

			// No new checkpoint: the next open replays.
			replayed := open(reopen(), archiveBudget)
			if replayed.Restored() {
				t.Fatal("a checkpoint was loaded twice")
			}
			if diff := cmp.Diff(want, tipsInReach(t, replayed, want, takeFullView(t, replayed, ids))); diff != "" {
				t.Errorf("view after the replay differs (-resident +replayed):\n%s", diff)
			}
		})
	}
}

// TestCheckpointOutOfDate: a checkpoint followed by more transactions
// describes another log; Open ignores it and replays.
func TestCheckpointOutOfDate(t *testing.T) {
	net, chunks := archiveStream(t)
	now := func() time.Time { return dagtest.GenesisTime.Add(1000 * time.Hour) }
	s := storage.NewMemory()
	open := func(budget int64) *dag.Ledger {
		l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: now, MemoryBudget: budget, StaleAfter: testStaleAfter})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open(archiveBudget)
	for _, c := range chunks[:10] {
		if _, err := l.AttachVerified(c).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks[10:] {
		if _, err := l.AttachVerified(c).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	again := open(archiveBudget)
	if again.Restored() {
		t.Fatal("an out-of-date checkpoint was loaded")
	}
	if w, g := l.Stats(), again.Stats(); w.Transactions != g.Transactions || w.Confirmed != g.Confirmed {
		t.Fatalf("after the replay %+v, before %+v", g, w)
	}
}

// TestCheckpointRefused: a ledger that keeps everything in memory has no
// archive for what a checkpoint leaves out, and one whose writes are not
// durable yet has nothing consistent to save.
func TestCheckpointRefused(t *testing.T) {
	net, chunks := archiveStream(t)
	now := func() time.Time { return dagtest.GenesisTime.Add(1000 * time.Hour) }
	resident, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: storage.NewMemory(), Now: now, MemoryBudget: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := resident.Checkpoint(); !errors.Is(err, dag.ErrCheckpoint) {
		t.Errorf("resident ledger: %v, want ErrCheckpoint", err)
	}
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: storage.NewMemory(), Now: now, MemoryBudget: archiveBudget, StaleAfter: testStaleAfter})
	if err != nil {
		t.Fatal(err)
	}
	pending := l.AttachVerified(chunks[0])
	if err := l.Checkpoint(); !errors.Is(err, dag.ErrCheckpoint) {
		t.Errorf("with a batch not waited for: %v, want ErrCheckpoint", err)
	}
	if _, err := pending.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(); err != nil {
		t.Errorf("once durable: %v", err)
	}
}
