package storage

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

var testSeed = flag.Uint64("storage.seed", 1, "seed of TestMetamorphic's operation stream and TestCrash's kills")

// opStream generates a seeded random stream of write sets in the shapes the
// ledger produces (and a few it should not): attached runs with occasional
// gaps, parked transactions that later attach or are dropped, sets too
// large for one Badger transaction, unknown IDs to unpark, bodies of every
// size around the value threshold, and out-of-order arrivals.
type opStream struct {
	rng    *rand.Rand
	last   uint64            // highest arrival committed
	parked map[uint64][]byte // parked key → body, as the ledger would track it
	next   uint64            // next fresh key for a parked transaction
}

func newOpStream(seed uint64) *opStream {
	return &opStream{rng: rand.New(rand.NewPCG(seed, 0)), parked: map[uint64][]byte{}, next: 1 << 40}
}

func (o *opStream) body() []byte {
	var n int
	switch o.rng.IntN(10) {
	case 0:
		n = o.rng.IntN(2 * DefaultValueThreshold) // around the threshold, and empty
	case 1:
		n = 1000 + o.rng.IntN(4000)
	default:
		n = 200 + o.rng.IntN(200)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(o.rng.Uint32())
	}
	return b
}

// writeSet returns the next write set, and whether it is invalid.
func (o *opStream) writeSet() (w *dag.WriteSet, invalid bool) {
	w = &dag.WriteSet{}
	n := o.rng.IntN(20)
	if o.rng.IntN(25) == 0 {
		n = 1000 + o.rng.IntN(3000) // split under testOptions
	}
	arrival := o.last
	for range n {
		arrival++
		if o.rng.IntN(50) == 0 {
			arrival += uint64(o.rng.IntN(5))
		}
		w.Attached = append(w.Attached, dag.StoredTransaction{Arrival: arrival, Raw: o.body()})
	}
	// Some parked transactions attach now, others are dropped.
	saved := maps.Clone(o.parked)
	for _, k := range slices.Sorted(maps.Keys(o.parked)) {
		raw := o.parked[k]
		switch o.rng.IntN(6) {
		case 0:
			arrival++
			w.Attached = append(w.Attached, dag.StoredTransaction{Arrival: arrival, ID: txID(k), Raw: raw})
			w.Unparked = append(w.Unparked, txID(k))
			delete(o.parked, k)
		case 1:
			w.Unparked = append(w.Unparked, txID(k))
			delete(o.parked, k)
		}
	}
	for range o.rng.IntN(8) {
		o.next++
		raw := o.body()
		w.Parked = append(w.Parked, dag.StoredTransaction{ID: txID(o.next), Raw: raw})
		o.parked[o.next] = raw
		if o.rng.IntN(10) == 0 { // parked and gone within one group commit
			w.Unparked = append(w.Unparked, txID(o.next))
			delete(o.parked, o.next)
		}
	}
	if o.rng.IntN(10) == 0 {
		w.Unparked = append(w.Unparked, txID(o.rng.Uint64())) // unknown
	}
	if len(w.Attached) > 0 && o.rng.IntN(30) == 0 {
		i := o.rng.IntN(len(w.Attached))
		prev := o.last
		if i > 0 {
			prev = w.Attached[i-1].Arrival
		}
		w.Attached[i].Arrival = prev - min(prev, o.rng.Uint64N(2))
		o.parked = saved // the store will refuse the whole set
		return w, true
	}
	if len(w.Attached) > 0 {
		o.last = w.Attached[len(w.Attached)-1].Arrival
	}
	return w, false
}

// TestMetamorphic feeds the same seeded stream of write sets to Memory and
// Badger, reopening Badger now and then, and compares everything they
// report. Change the stream with -storage.seed.
func TestMetamorphic(t *testing.T) {
	ops := 300
	if testing.Short() {
		ops = 60
	}
	seed := *testSeed
	t.Logf("seed %d", seed)
	ops0 := newOpStream(seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	mem := NewMemory()
	dir := t.TempDir()
	bdg := openBadger(t, dir, testOptions)

	compare := func(when string) {
		t.Helper()
		want, got := dump(t, mem), dump(t, bdg)
		if !want.equal(got) {
			t.Fatalf("%s: Replay differs (-memory +badger):\n%s", when, cmp.Diff(want, got, equalBytes))
		}
		last := uint64(0)
		if n := len(want.Attached); n > 0 {
			last = want.Attached[n-1].Arrival
		}
		for range 2 {
			from := rng.Uint64N(last + 3)
			if m, b := rangeFrom(t, mem, from), rangeFrom(t, bdg, from); !equalEntries(m, b) {
				t.Fatalf("%s: Range(%d) differs (-memory +badger):\n%s", when, from, cmp.Diff(m, b, equalBytes))
			}
			m, merr := mem.Transaction(from)
			b, berr := bdg.Transaction(from)
			if !bytes.Equal(m, b) || errors.Is(merr, dag.ErrNotFound) != errors.Is(berr, dag.ErrNotFound) {
				t.Fatalf("%s: Transaction(%d) = (%v, %v) on memory, (%v, %v) on badger", when, from, len(m), merr, len(b), berr)
			}
		}
	}

	for i := range ops {
		w, invalid := ops0.writeSet()
		merr, berr := mem.Commit(w), bdg.Commit(w)
		if invalid {
			if !errors.Is(merr, ErrArrivalOrder) || !errors.Is(berr, ErrArrivalOrder) {
				t.Fatalf("op %d: invalid set: memory error %v, badger error %v; want ErrArrivalOrder from both", i, merr, berr)
			}
			continue
		}
		if merr != nil || berr != nil {
			t.Fatalf("op %d: memory error %v, badger error %v", i, merr, berr)
		}
		if rng.IntN(25) == 0 {
			compare(fmt.Sprintf("op %d", i))
		}
		if rng.IntN(40) == 0 {
			bdg = reopenBadger(t, bdg, dir, testOptions)
		}
	}
	compare("end")
	bdg = reopenBadger(t, bdg, dir, testOptions)
	compare("after reopen")
}
