package dag_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// archiveBudget keeps about 50 confirmed transactions in memory.
const archiveBudget = 50 * 400

// testStaleAfter lets the test streams (a millisecond between
// transactions) have stale transactions: the first few hundred.
const testStaleAfter = 300 * time.Millisecond

// fullView is everything observable about a set of transactions through
// the ledger's public methods, archived ones included.
type fullView struct {
	Snapshot   snapshot
	Approvers  map[dag.ID][]dag.ID
	Successors map[dag.ID]dag.ID
	Horizons   map[dag.ID][]uint64
	Bytes      map[dag.ID]int
	Known      int
	Recent     []dag.ID
}

func takeFullView(t *testing.T, l *dag.Ledger, ids []dag.ID) fullView {
	t.Helper()
	v := fullView{Snapshot: takeSnapshot(l, ids), Approvers: map[dag.ID][]dag.ID{},
		Successors: map[dag.ID]dag.ID{}, Horizons: map[dag.ID][]uint64{}, Bytes: map[dag.ID]int{}}
	for _, id := range ids {
		v.Approvers[id] = l.Approvers(id, nil)
		if s, ok := l.Successor(id); ok {
			v.Successors[id] = s
		}
		if h, ok := l.HorizonOf(id); ok {
			v.Horizons[id] = h
		}
		if tx, err := l.Transaction(id); err == nil {
			v.Bytes[id] = len(tx.Bytes())
		}
		if l.Known(id) {
			v.Known++
		}
	}
	for _, depth := range []int{0, 1, 10, 1000, 1 << 30} {
		id, _ := l.RecentConfirmed(depth)
		v.Recent = append(v.Recent, id)
	}
	return v
}

// archiveStream is a stream whose tail references the far past: a lazy
// transaction approving two of the first transactions, a fork of an old
// issuer-chain position (an equivocation through archived transactions),
// and a re-sent old transaction (a duplicate that only the archive knows).
func archiveStream(t *testing.T) (*dagtest.Network, [][]*dag.Transaction) {
	t.Helper()
	rules := pow.Rules{BaseBits: 2, RateWindow: time.Hour, FreePerWindow: 1 << 20, BitsPerExcess: 1}
	net := dagtest.NewNetwork(4, rules)
	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 7, Devices: 16})
	gen.SetUnsigned(true)
	stream := gen.Take(3000)
	var chunks [][]*dag.Transaction
	for i := 0; i < len(stream); i += 128 {
		chunks = append(chunks, stream[i:min(i+128, len(stream))])
	}
	solve := func(tx *dag.Transaction) *dag.Transaction {
		nonce, err := pow.Solve(context.Background(), tx.ID(), 8, 1)
		if err != nil {
			t.Fatal(err)
		}
		tx.Nonce = nonce
		return tx
	}
	var old *dag.Transaction // a data transaction early in the stream, not its chain's first
	for _, tx := range stream[200:] {
		if tx.Kind == dag.KindData && tx.Seq > 0 {
			old = tx
			break
		}
	}
	last := stream[len(stream)-1]
	at := last.Time + int64(time.Millisecond)
	lazy := solve(&dag.Transaction{Kind: dag.KindData, Trunk: stream[3].ID(), Branch: stream[5].ID(),
		Issuer: dagtest.PublicKey(dagtest.Key("lazy")), Time: at, Payload: []byte("lazy")})
	fork := solve(&dag.Transaction{Kind: dag.KindData, Trunk: last.ID(), Branch: stream[10].ID(),
		Issuer: old.Issuer, Seq: old.Seq, Prev: old.Prev, Time: at, Payload: []byte("fork")})
	// A child of the lazy one and of the fork, then more ordinary traffic
	// so the tail confirms and the resurrected transactions are archived
	// again.
	child := solve(&dag.Transaction{Kind: dag.KindData, Trunk: lazy.ID(), Branch: fork.ID(),
		Issuer: dagtest.PublicKey(dagtest.Key("lazy")), Seq: 1, Prev: lazy.ID(), Time: at + 1, Payload: []byte("child")})
	chunks = append(chunks, []*dag.Transaction{lazy, fork, stream[50], stream[120], stream[333], child})
	return net, chunks
}

// TestArchiveMatchesResident feeds one stream to a ledger that keeps
// everything in memory and to ledgers that archive all but about 50
// confirmed transactions (in-memory and Badger stores): every result and
// everything the public methods report must be the same, also after a
// restart, while the archiving ledger's memory stays bounded.
func TestArchiveMatchesResident(t *testing.T) {
	net, chunks := archiveStream(t)
	now := func() time.Time { return dagtest.GenesisTime.Add(1000 * time.Hour) }
	open := func(s dag.Store, budget int64) *dag.Ledger {
		l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: now, MemoryBudget: budget, StaleAfter: testStaleAfter})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	var ids []dag.ID
	for _, c := range chunks {
		ids = append(ids, idsOf(c)...)
	}
	// archivedDuplicates counts the re-sent transactions of the tail that
	// only the archive knows when they arrive.
	archivedDuplicates := 0
	type event struct {
		Kind dag.EventKind
		Info dag.Info
	}
	events := map[*dag.Ledger][]event{}
	feed := func(l *dag.Ledger) [][]dag.Result {
		l.Subscribe(func(e dag.Event) { events[l] = append(events[l], event{e.Kind, e.Info}) })
		var out [][]dag.Result
		for i, c := range chunks {
			if i == len(chunks)-1 {
				for _, tx := range c {
					if !dag.IsResident(l, tx.ID()) && l.Known(tx.ID()) {
						archivedDuplicates++
					}
				}
			}
			res, err := l.AttachVerified(c).Wait()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res)
		}
		return out
	}
	want := open(storage.NewMemory(), -1)
	wantResults := feed(want)
	wantView := takeFullView(t, want, ids)
	if wantView.Snapshot.Stats.Conflicting == 0 {
		t.Fatal("the fork was not found conflicting: the stream does not test what it should")
	}

	for _, tc := range []struct {
		name  string
		store func(t *testing.T) dag.Store
	}{
		{"memory", func(*testing.T) dag.Store { return storage.NewMemory() }},
		{"badger", func(t *testing.T) dag.Store {
			s := openBadger(t, t.TempDir())
			t.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.store(t)
			l := open(s, archiveBudget)
			archivedDuplicates = 0
			if diff := cmp.Diff(wantResults, feed(l), cmp.Comparer(sameErr)); diff != "" {
				t.Errorf("results differ (-resident +archiving):\n%s", diff)
			}
			if diff := cmp.Diff(events[want], events[l]); diff != "" {
				t.Errorf("events differ (-resident +archiving):\n%s", diff)
			}
			if archivedDuplicates == 0 {
				t.Error("no re-sent transaction was archived: the stream does not test the archive's duplicate check")
			}
			// In memory: the unconfirmed ones, about 50 confirmed, a chunk
			// waiting for the next pass, and each issuer's head and first.
			st := l.Stats()
			if got, limit := dag.ResidentNodes(l), int(st.Transactions)-st.Confirmed+50+2*st.Issuers+150; got > limit || st.Confirmed < 2000 {
				t.Errorf("%d transactions in memory (%d confirmed of %d), want at most %d", got, st.Confirmed, st.Transactions, limit)
			}
			if diff := cmp.Diff(wantView, tipsInReach(t, l, wantView, takeFullView(t, l, ids))); diff != "" {
				t.Errorf("view differs (-resident +archiving):\n%s", diff)
			}
			restarted := open(s, archiveBudget)
			if diff := cmp.Diff(wantView, tipsInReach(t, restarted, wantView, takeFullView(t, restarted, ids))); diff != "" {
				t.Errorf("view after restart differs (-resident +archiving):\n%s", diff)
			}
		})
	}
}

func sameErr(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// tipsInReach checks the one way an archiving ledger's view may differ
// from a resident one's: its tips are the unapproved transactions within
// reach, so a stale tip (unconfirmed, archived) is missing from them. It
// returns got with the resident ledger's tips, once every missing tip is
// such a one and every tip it lists is a resident ledger's tip.
func tipsInReach(t *testing.T, l *dag.Ledger, want, got fullView) fullView {
	t.Helper()
	listed := map[dag.ID]bool{}
	for _, id := range want.Snapshot.Tips {
		listed[id] = true
	}
	have := map[dag.ID]bool{}
	for _, id := range got.Snapshot.Tips {
		if !listed[id] {
			li, _ := l.Info(id)
			t.Errorf("tip %s is no tip of the resident ledger (here %+v)", id.Short(), li)
		}
		have[id] = true
	}
	stale := 0
	for _, id := range want.Snapshot.Tips {
		if have[id] {
			continue
		}
		stale++
		if info, ok := l.Info(id); !ok || info.Confirmed || dag.IsResident(l, id) {
			t.Errorf("tip %s is missing but not stale (known %v, confirmed %v, in memory %v)", id.Short(), ok, info.Confirmed, dag.IsResident(l, id))
		}
	}
	if got.Snapshot.Stats.Tips+stale != want.Snapshot.Stats.Tips {
		t.Errorf("%d tips, %d stale; the resident ledger has %d", got.Snapshot.Stats.Tips, stale, want.Snapshot.Stats.Tips)
	}
	got.Snapshot.Tips, got.Snapshot.Stats.Tips = want.Snapshot.Tips, want.Snapshot.Stats.Tips
	return got
}

// TestStaleTransactionsComeBack: unconfirmed transactions that nothing
// approved leave an archiving ledger's memory (stale tips and the
// unconfirmed transactions only they approved); a late transaction that
// approves some of them, and beacons on it, bring them back, confirm them
// with their unconfirmed ancestors and rule out what the rule layer says:
// every result, event and observable must be what a ledger that keeps
// everything in memory reports, before and after a restart.
func TestStaleTransactionsComeBack(t *testing.T) {
	net, chunks := archiveStream(t)
	now := func() time.Time { return dagtest.GenesisTime.Add(1000 * time.Hour) }
	open := func(s dag.Store, budget int64) *dag.Ledger {
		l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: now, MemoryBudget: budget, StaleAfter: testStaleAfter})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	chunks = chunks[:len(chunks)-1] // the archive test's tail is not needed here
	var all []*dag.Transaction
	for _, c := range chunks {
		all = append(all, c...)
	}
	ref := open(storage.NewMemory(), -1)
	store := openBadger(t, t.TempDir())
	t.Cleanup(func() { store.Close() })
	l := open(store, archiveBudget)
	events := map[*dag.Ledger][]string{}
	for _, x := range []*dag.Ledger{ref, l} {
		x.Subscribe(func(e dag.Event) {
			events[x] = append(events[x], fmt.Sprintf("%s %s %+v", e.Kind, e.Info.ID.Short(), e.Info))
		})
	}
	feed := func(txs []*dag.Transaction) {
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
			t.Fatalf("results differ (-resident +archiving):\n%s", diff)
		}
	}
	for _, c := range chunks {
		feed(c)
	}

	tail, stale := rescueTail(t, net, ref, l, all)
	feed(tail)
	for _, id := range stale[:2] {
		if info, _ := ref.Info(id); !info.Confirmed {
			t.Fatalf("stale tip %s was not confirmed by the rescue", id.Short())
		}
	}
	if diff := cmp.Diff(events[ref], events[l]); diff != "" {
		t.Errorf("events differ (-resident +archiving):\n%s", diff)
	}
	ids := append(idsOf(all), idsOf(tail)...)
	want := takeFullView(t, ref, ids)
	if diff := cmp.Diff(want, tipsInReach(t, l, want, takeFullView(t, l, ids))); diff != "" {
		t.Errorf("view differs (-resident +archiving):\n%s", diff)
	}
	restarted := open(store, archiveBudget)
	if diff := cmp.Diff(want, tipsInReach(t, restarted, want, takeFullView(t, restarted, ids))); diff != "" {
		t.Errorf("view after restart differs (-resident +archiving):\n%s", diff)
	}
	// Replay of an unpruned log evicts stale transactions as live traffic
	// does (seen: 197 in memory before and after; 709 when replay kept
	// them all, of 3,006).
	if live, replayed := dag.ResidentNodes(l), dag.ResidentNodes(restarted); replayed > live+live/4 {
		t.Errorf("%d transactions in memory after the replay, %d before it", replayed, live)
	}
}

// rescueTail picks stale tips of the first third of all (unconfirmed tips
// of the resident ledger ref that the archiving ledger l no longer holds,
// preferring ones with an unconfirmed trunk: a deeper stale region) and
// returns a late transaction approving two of them followed by a beacon of
// every validator on it, which confirms them.
func rescueTail(t *testing.T, net *dagtest.Network, ref, l *dag.Ledger, all []*dag.Transaction) (tail []*dag.Transaction, stale []dag.ID) {
	t.Helper()
	for _, pass := range []bool{true, false} {
		for _, tx := range all[:len(all)/3] {
			id := tx.ID()
			info, _ := ref.Info(id)
			if info.Confirmed || !ref.IsTip(id) || dag.IsResident(l, id) || slices.Contains(stale, id) {
				continue
			}
			trunk, _ := ref.Info(info.Trunk)
			if pass && trunk.Confirmed {
				continue
			}
			stale = append(stale, id)
		}
	}
	if len(stale) < 2 {
		t.Fatalf("%d stale tips: the stream does not test what it should", len(stale))
	}
	last := all[len(all)-1]
	at := last.Time + int64(time.Millisecond)
	rescuer := dagtest.NewIssuer("rescuer", net.Genesis.Difficulty)
	rescuer.Unsigned = true
	rescue := rescuer.Issue(dag.KindData, stale[0], stale[1], at, []byte("late"))
	tail = []*dag.Transaction{rescue}
	for i, key := range net.Validators {
		st, _ := ref.IssuerState(dagtest.PublicKey(key), at)
		v := &dagtest.Issuer{Key: key, Seq: st.NextSeq, Prev: st.Prev, Rules: net.Genesis.Difficulty, Unsigned: true}
		tail = append(tail, v.Issue(dag.KindBeacon, rescue.ID(), last.ID(), at+int64(i+1), nil))
	}
	return tail, stale
}
