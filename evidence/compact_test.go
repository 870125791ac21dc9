package evidence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/merkle"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// The compaction tests build logs straight from leaves (the appender's
// own batch and tree, without a ledger), with small blocks (testLevel)
// so that a few hundred leaves span many of them.
const testLevel = 3

var testGenesis = dagtest.NewNetwork(4, pow.Rules{}).Genesis

func openTest(t testing.TB, s Store) *Log {
	t.Helper()
	l, err := Open(testGenesis, s)
	if err != nil {
		t.Fatal(err)
	}
	l.blockLevel = testLevel
	return l
}

// finalAt pretends the log's whole size is final (as a cosigned
// checkpoint would make it), which Compact needs to reach it.
func finalAt(l *Log) *Log {
	l.finalMu.Lock()
	l.final.Size = l.Size()
	l.finalMu.Unlock()
	return l
}

// appendLeaves appends n leaves of random IDs (their hash: the ID's),
// in commits of up to 13 leaves, as anchors would.
func appendLeaves(t testing.TB, l *Log, n int, rng *rand.Rand) []dag.ID {
	t.Helper()
	var ids []dag.ID
	for len(ids) < n {
		run := newAppend(l, l.st)
		for range min(1+rng.IntN(13), n-len(ids)) {
			var id dag.ID
			for i := range id {
				id[i] = byte(rng.Uint32())
			}
			index := run.tree.Size()
			run.b.leafIDs[index] = id
			if err := run.tree.Append(merkle.LeafHash(id[:])); err != nil {
				t.Fatal(err)
			}
			run.b.put(indexKey(id), binary.BigEndian.AppendUint64(nil, index))
			run.fresh = append(run.fresh, id)
			ids = append(ids, id)
		}
		run.st.size = run.tree.Size()
		if err := run.commit(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// checkCompacted compares got (compacted, keeping kept) with ref (the
// same log, never compacted): every answer is ref's or ErrCompacted;
// servable sizes, kept leaves' proofs in them and consistency between
// them always answer.
func checkCompacted(t *testing.T, ref, got *Log, ids []dag.ID, kept map[dag.ID]bool) {
	t.Helper()
	size := ref.Size()
	if got.Size() != size {
		t.Fatalf("size %d, want %d", got.Size(), size)
	}
	ok := func(err error, must bool, what string, args ...any) bool {
		t.Helper()
		switch {
		case err == nil:
			return true
		case !errors.Is(err, ErrCompacted) || must:
			t.Fatalf(what+": %v", append(args, err)...)
		case !errors.Is(err, dag.ErrPruned):
			t.Fatalf(what+": %v does not wrap dag.ErrPruned", append(args, err)...)
		}
		return false
	}
	var servable []uint64
	for n := uint64(1); n <= size; n++ {
		want, err := ref.RootAt(n)
		if err != nil {
			t.Fatal(err)
		}
		h, err := got.RootAt(n)
		if ok(err, got.Servable(n), "RootAt(%d)", n) {
			if h != want {
				t.Fatalf("RootAt(%d) changed", n)
			}
			if got.Servable(n) {
				servable = append(servable, n)
			}
		}
		for i, id := range ids[:n] {
			p, err := got.InclusionProof(uint64(i), n)
			if !ok(err, kept[id] && got.Servable(n), "InclusionProof(%d, %d)", i, n) {
				continue
			}
			if err := merkle.VerifyInclusion(merkle.LeafHash(id[:]), uint64(i), n, p, want); err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, n, err)
			}
		}
	}
	for i, id := range ids {
		index, err := got.IndexOf(id)
		switch {
		case kept[id] && (err != nil || index != uint64(i)):
			t.Fatalf("IndexOf(kept %d) = %d, %v", i, index, err)
		case !kept[id] && err == nil && uint64(i) < got.Compacted():
			// Only a crash between a block's deletions leaves it.
		}
		at, err := got.At(uint64(i))
		if ok(err, kept[id], "At(%d)", i) && at != id {
			t.Fatalf("At(%d) = %s, want %s", i, at.Short(), id.Short())
		}
	}
	for _, m := range servable {
		for _, n := range servable {
			if m > n || (n-m)%3 != 0 && n != size {
				continue // a sample of the pairs
			}
			p, err := got.ConsistencyProof(m, n)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d) between servable sizes: %v", m, n, err)
			}
			rm, _ := ref.RootAt(m)
			rn, _ := ref.RootAt(n)
			if err := merkle.VerifyConsistency(m, n, rm, rn, p); err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", m, n, err)
			}
		}
	}
}

// TestCompactKeepsContent: a log on a real Badger store, compacted for
// a keep-set like a pruning node's (a few kept leaves spread through
// history, the newest all kept), answers as an uncompacted copy does,
// reopens, shrinks, and extends to the same roots.
func TestCompactKeepsContent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	db, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := openTest(t, db.Aux())
	ids := appendLeaves(t, got, 203, rand.New(rand.NewPCG(3, 4)))
	ref := openTest(t, NewMemoryStore())
	appendLeaves(t, ref, 203, rand.New(rand.NewPCG(3, 4)))
	kept := map[dag.ID]bool{}
	for i, id := range ids {
		kept[id] = i >= 180 || rng.IntN(10) == 0
	}
	before := countKeys(t, db.Aux())
	st, err := finalAt(got).Compact(func(id dag.ID) bool { return kept[id] })
	if err != nil {
		t.Fatal(err)
	}
	if st.End != 200 || st.Dropped == 0 {
		t.Fatalf("compacted %+v, want the end at 200", st)
	}
	after := countKeys(t, db.Aux())
	t.Logf("%+v: %d keys before, %d after", st, before, after)
	if after*2 > before {
		t.Errorf("%d keys before compaction, %d after", before, after)
	}
	checkCompacted(t, ref, got, ids, kept)
	again, err := finalAt(got).Compact(func(id dag.ID) bool { return kept[id] })
	if err != nil || again.Dropped != 0 || again.Blocks != 0 {
		t.Fatalf("a second compaction: %+v, %v", again, err)
	}
	reopened := openTest(t, db.Aux())
	if reopened.Compacted() != 200 {
		t.Fatalf("reopened: compacted to %d", reopened.Compacted())
	}
	checkCompacted(t, ref, reopened, ids, kept)
	more := appendLeaves(t, reopened, 37, rand.New(rand.NewPCG(5, 6)))
	appendLeaves(t, ref, 37, rand.New(rand.NewPCG(5, 6)))
	for _, id := range more {
		kept[id] = true
	}
	checkCompacted(t, ref, reopened, append(ids, more...), kept)
}

func countKeys(t *testing.T, s Store) int {
	n := 0
	if err := s.Scan([]byte{0}, []byte{0xff}, func([]byte, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCompactRandomKeepSets: random logs and keep-sets, compacted in
// several passes that each keep a subset of the last (as pruning goes
// on), always answer as the uncompacted log does; a pass that keeps the
// same set changes nothing.
func TestCompactRandomKeepSets(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 99))
		n := 1 + rng.IntN(120)
		s := NewMemoryStore()
		got := openTest(t, s)
		ids := appendLeaves(t, got, n, rand.New(rand.NewPCG(seed, 7)))
		ref := openTest(t, NewMemoryStore())
		appendLeaves(t, ref, n, rand.New(rand.NewPCG(seed, 7)))
		kept := map[dag.ID]bool{}
		density := rng.Float64()
		for _, id := range ids {
			kept[id] = rng.Float64() < density
		}
		for pass := range 3 {
			if _, err := finalAt(got).Compact(func(id dag.ID) bool { return kept[id] }); err != nil {
				t.Fatal(err)
			}
			checkCompacted(t, ref, got, ids, kept)
			snap := maps.Clone(s.m)
			if st, err := finalAt(got).Compact(func(id dag.ID) bool { return kept[id] }); err != nil || st.Blocks != 0 || !maps.EqualFunc(snap, s.m, bytes.Equal) {
				t.Fatalf("seed %d pass %d: compacting again changed the store (%+v, %v)", seed, pass, st, err)
			}
			for id := range kept {
				if rng.IntN(3) == 0 {
					kept[id] = false
				}
			}
			extra := appendLeaves(t, got, rng.IntN(20), rand.New(rand.NewPCG(seed, uint64(pass))))
			appendLeaves(t, ref, len(extra), rand.New(rand.NewPCG(seed, uint64(pass))))
			for _, id := range extra {
				kept[id] = true
			}
			ids = append(ids, extra...)
		}
	}
}

// crashStore records every single write and deletion of a Store, so a
// test can rebuild the store as a crash after any prefix left it.
type crashStore struct {
	*MemoryStore
	ops []crashOp
}

type crashOp struct {
	key, value []byte
	del        bool
}

func (c *crashStore) Write(keys, values [][]byte) error {
	for i, k := range keys {
		c.ops = append(c.ops, crashOp{key: k, value: values[i]})
	}
	return c.MemoryStore.Write(keys, values)
}

func (c *crashStore) Delete(keys [][]byte) error {
	for _, k := range keys {
		c.ops = append(c.ops, crashOp{key: k, del: true})
	}
	return c.MemoryStore.Delete(keys)
}

// TestCompactCrashAtEveryPrefix cuts a compaction's writes after every
// prefix: the log opens, answers as the uncompacted one does (or
// ErrCompacted), and compacting again ends in the store an uncut
// compaction leaves.
func TestCompactCrashAtEveryPrefix(t *testing.T) {
	base := NewMemoryStore()
	ids := appendLeaves(t, openTest(t, base), 70, rand.New(rand.NewPCG(8, 9)))
	ref := openTest(t, NewMemoryStore())
	appendLeaves(t, ref, 70, rand.New(rand.NewPCG(8, 9)))
	rng := rand.New(rand.NewPCG(10, 11))
	kept := map[dag.ID]bool{}
	for _, id := range ids {
		kept[id] = rng.IntN(4) == 0
	}
	keep := func(id dag.ID) bool { return kept[id] }
	clone := func(m map[string][]byte) *MemoryStore { return &MemoryStore{m: maps.Clone(m)} }
	rec := &crashStore{MemoryStore: clone(base.m)}
	if _, err := finalAt(openTest(t, rec)).Compact(keep); err != nil {
		t.Fatal(err)
	}
	want := rec.MemoryStore.m
	if len(rec.ops) < 10 {
		t.Fatalf("only %d writes", len(rec.ops))
	}
	for cut := range len(rec.ops) {
		s := clone(base.m)
		for _, op := range rec.ops[:cut] {
			if op.del {
				delete(s.m, string(op.key))
			} else {
				s.m[string(op.key)] = op.value
			}
		}
		l := openTest(t, s)
		checkCompacted(t, ref, l, ids, kept)
		if _, err := finalAt(l).Compact(keep); err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(s.m, want, bytes.Equal) {
			extra := []string{}
			for k := range s.m {
				if _, ok := want[k]; !ok {
					extra = append(extra, k)
				}
			}
			slices.Sort(extra)
			t.Fatalf("cut after %d of %d writes: compacting again leaves %d keys, want %d (extra %q)", cut, len(rec.ops), len(s.m), len(want), extra)
		}
	}
}

// TestCompactStopsAtTheFinalCheckpoint: nothing at or past the block of
// the final checkpoint is compacted (bundles prove against its size);
// claims below both it and the compacted blocks go, newer claims and
// misbehaviour evidence stay.
func TestCompactStopsAtTheFinalCheckpoint(t *testing.T) {
	s := NewMemoryStore()
	l := openTest(t, s)
	appendLeaves(t, l, 60, rand.New(rand.NewPCG(12, 13)))
	var keys [][]byte
	for _, size := range []uint64{3, 20, 21, 29, 45} {
		keys = append(keys, claimKey(size, 1, dag.ID{byte(size)}), misbehaviourKey(size, 1, dag.ID{byte(size)}))
	}
	vals := make([][]byte, len(keys))
	for i := range vals {
		vals[i] = make([]byte, 96)
	}
	if err := s.Write(keys, vals); err != nil {
		t.Fatal(err)
	}
	none := func(dag.ID) bool { return false }
	if st, err := l.Compact(none); err != nil || st.End != 0 || st.Dropped != 0 {
		t.Fatalf("before any final checkpoint: %+v, %v", st, err)
	}
	l.finalMu.Lock()
	l.final.Size = 29
	l.finalMu.Unlock()
	st, err := l.Compact(none)
	if err != nil || st.End != 24 || st.Dropped != 24 || st.Claims != 3 {
		t.Fatalf("final at 29: %+v, %v; want the end at 24, 24 leaves and 3 claims dropped", st, err)
	}
	var left []uint64
	if err := s.Scan([]byte{keyClaim}, []byte{keyClaim + 1}, func(k, _ []byte) error {
		left = append(left, binary.BigEndian.Uint64(k[1:]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []uint64{29, 45}) {
		t.Errorf("claims left at sizes %v, want [29 45]", left)
	}
	n := 0
	if err := s.Scan([]byte{keyMisbehave}, []byte{keyMisbehave + 1}, func([]byte, []byte) error { n++; return nil }); err != nil || n != 5 {
		t.Errorf("%d misbehaviour entries left (%v), want all 5", n, err)
	}
	for _, size := range []uint64{24, 29, 60} {
		if !l.Servable(size) {
			t.Errorf("size %d not servable after compacting to 24", size)
		}
	}
	if l.Servable(23) || !l.Servable(16) {
		t.Error("sizes 23 (inside a compacted block) and 16 (a block's end) servable wrongly")
	}
}
