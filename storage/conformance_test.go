package storage

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

// implementation opens an empty store; reopen closes it and opens it again
// from what it persisted (Memory has nothing to reopen and returns itself).
type implementation struct {
	name string
	open func(t *testing.T) (s store, reopen func() store)
}

var implementations = []implementation{
	{"memory", func(t *testing.T) (store, func() store) {
		m := NewMemory()
		return m, func() store { return m }
	}},
	{"badger", func(t *testing.T) (store, func() store) {
		dir := t.TempDir()
		s := openBadger(t, dir, testOptions)
		return s, func() store {
			s = reopenBadger(t, s, dir, testOptions)
			return s
		}
	}},
}

// entries returns the log entries of arrivals ks as txBytes makes them.
func entries(ks ...uint64) []logEntry {
	var out []logEntry
	for _, k := range ks {
		out = append(out, logEntry{k, txBytes(k, rawSize)})
	}
	return out
}

func raws(ks ...uint64) [][]byte {
	var out [][]byte
	for _, k := range ks {
		out = append(out, txBytes(k, rawSize))
	}
	return out
}

// byID sorts parked keys the way Replay reports them.
func byID(ks ...uint64) []uint64 {
	return slices.SortedFunc(slices.Values(ks), func(a, b uint64) int { return txID(a).Compare(txID(b)) })
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for k := from; k <= to; k++ {
		out = append(out, k)
	}
	return out
}

var conformance = []struct {
	name string
	run  func(t *testing.T, s store, reopen func() store)
}{
	{"empty store", func(t *testing.T, s store, _ func() store) {
		if diff := cmp.Diff(contents{}, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
		if got := rangeFrom(t, s, 0); len(got) != 0 {
			t.Errorf("Range(0) = %v, want nothing", got)
		}
	}},
	{"replay in arrival order", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 3)})
		mustCommit(t, s, &dag.WriteSet{Attached: attach(4, 4)})
		mustCommit(t, s, &dag.WriteSet{Attached: attach(5, 9)})
		want := contents{Attached: entries(seq(1, 9)...)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
	}},
	{"gaps in arrivals", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: append(attach(1, 2), attach(7, 7)...)})
		mustCommit(t, s, &dag.WriteSet{Attached: attach(10, 10)})
		want := contents{Attached: entries(1, 2, 7, 10)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
		if _, err := s.Transaction(5); !errors.Is(err, dag.ErrNotFound) {
			t.Errorf("Transaction(5) error = %v, want dag.ErrNotFound", err)
		}
	}},
	{"parked then unparked", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Parked: park(101, 102, 103)})
		want := contents{Parked: raws(byID(101, 102, 103)...)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("after parking, Replay (-want +got):\n%s", diff)
		}
		// 102 attaches; 103 is dropped as invalid.
		mustCommit(t, s, &dag.WriteSet{
			Attached: []dag.StoredTransaction{{Arrival: 1, ID: txID(102), Raw: txBytes(102, rawSize)}},
			Unparked: ids(102, 103),
		})
		want = contents{Attached: []logEntry{{1, txBytes(102, rawSize)}}, Parked: raws(101)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("after unparking, Replay (-want +got):\n%s", diff)
		}
	}},
	{"park and unpark in one set", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Parked: park(101, 102), Unparked: ids(101)})
		want := contents{Parked: raws(102)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
	}},
	{"unpark an unknown ID", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Parked: park(101)})
		mustCommit(t, s, &dag.WriteSet{Unparked: ids(999)})
		want := contents{Parked: raws(101)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
	}},
	{"large set with unparked and attached", func(t *testing.T, s store, _ func() store) {
		// Bigger than one Badger transaction under testOptions.
		const n = 5000
		mustCommit(t, s, &dag.WriteSet{Parked: park(seq(1, n)...)})
		mustCommit(t, s, &dag.WriteSet{
			Attached: attach(1, n),
			Parked:   park(seq(n+1, 2*n)...),
			Unparked: ids(seq(1, n)...),
		})
		want := contents{Attached: entries(seq(1, n)...), Parked: raws(byID(seq(n+1, 2*n)...)...)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
	}},
	{"transaction lookup", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 5)})
		got, err := s.Transaction(3)
		if err != nil {
			t.Fatalf("Transaction(3): %v", err)
		}
		if !bytes.Equal(got, txBytes(3, rawSize)) {
			t.Errorf("Transaction(3) = %x, want %x", got, txBytes(3, rawSize))
		}
		for _, arrival := range []uint64{0, 6, 1 << 63} {
			if _, err := s.Transaction(arrival); !errors.Is(err, dag.ErrNotFound) {
				t.Errorf("Transaction(%d) error = %v, want dag.ErrNotFound", arrival, err)
			}
		}
	}},
	{"range", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 4)})
		mustCommit(t, s, &dag.WriteSet{Attached: attach(5, 8), Parked: park(100)})
		for _, tc := range []struct {
			from uint64
			want []logEntry
		}{
			{0, entries(seq(1, 8)...)},
			{1, entries(seq(1, 8)...)},
			{5, entries(seq(5, 8)...)},
			{8, entries(8)},
			{9, nil},
		} {
			if diff := cmp.Diff(tc.want, rangeFrom(t, s, tc.from), equalBytes); diff != "" {
				t.Errorf("Range(%d) (-want +got):\n%s", tc.from, diff)
			}
		}
	}},
	{"callback errors stop", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 5), Parked: park(100, 101)})
		stop := errors.New("stop")
		calls := 0
		count := func(uint64, []byte) error {
			if calls++; calls == 2 {
				return stop
			}
			return nil
		}
		if err := s.Range(1, count); !errors.Is(err, stop) || calls != 2 {
			t.Errorf("Range returned %v after %d calls, want stop after 2", err, calls)
		}
		calls = 0
		if err := s.Replay(count, func([]byte) error { t.Error("parked called after an error"); return nil }); !errors.Is(err, stop) || calls != 2 {
			t.Errorf("Replay returned %v after %d calls, want stop after 2", err, calls)
		}
		err := s.Replay(func(uint64, []byte) error { return nil }, func([]byte) error { return stop })
		if !errors.Is(err, stop) {
			t.Errorf("Replay with a failing parked callback returned %v, want stop", err)
		}
	}},
	{"empty write set", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 1)})
		mustCommit(t, s, &dag.WriteSet{})
		mustCommit(t, s, nil)
		if diff := cmp.Diff(contents{Attached: entries(1)}, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
	}},
	{"arrivals out of order write nothing", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 3)})
		for _, tc := range []struct {
			name     string
			arrivals []uint64
		}{
			{"zero", []uint64{0}},
			{"repeated", []uint64{4, 4}},
			{"decreasing", []uint64{5, 4}},
			{"already stored", []uint64{3}},
			{"below stored", []uint64{2, 4}},
			{"late decrease", []uint64{4, 5, 6, 7, 8, 6}},
		} {
			var attached []dag.StoredTransaction
			for _, a := range tc.arrivals {
				attached = append(attached, dag.StoredTransaction{Arrival: a, ID: txID(a), Raw: txBytes(a, rawSize)})
			}
			err := s.Commit(&dag.WriteSet{Attached: attached, Parked: park(100), Unparked: ids(1)})
			if !errors.Is(err, ErrArrivalOrder) {
				t.Errorf("%s: Commit error = %v, want ErrArrivalOrder", tc.name, err)
			}
		}
		if diff := cmp.Diff(contents{Attached: entries(1, 2, 3)}, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay after rejected sets (-want +got):\n%s", diff)
		}
		mustCommit(t, s, &dag.WriteSet{Attached: attach(4, 4)})
	}},
	{"bytes are copied", func(t *testing.T, s store, _ func() store) {
		w := &dag.WriteSet{Attached: attach(1, 1), Parked: park(100)}
		mustCommit(t, s, w)
		w.Attached[0].Raw[10] ^= 0xff
		w.Parked[0].Raw[10] ^= 0xff
		got, err := s.Transaction(1)
		if err != nil {
			t.Fatal(err)
		}
		got[11] ^= 0xff
		want := contents{Attached: entries(1), Parked: raws(100)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay after modifying bytes outside (-want +got):\n%s", diff)
		}
	}},
	{"empty and small bodies", func(t *testing.T, s store, _ func() store) {
		mustCommit(t, s, &dag.WriteSet{
			Attached: []dag.StoredTransaction{{Arrival: 1, Raw: nil}, {Arrival: 2, Raw: []byte{7}}},
			Parked:   []dag.StoredTransaction{{ID: txID(100), Raw: []byte{}}},
		})
		want := contents{Attached: []logEntry{{1, nil}, {2, []byte{7}}}, Parked: [][]byte{nil}}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay (-want +got):\n%s", diff)
		}
	}},
	{"reopen keeps everything", func(t *testing.T, s store, reopen func() store) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 3), Parked: park(100, 101, 102)})
		mustCommit(t, s, &dag.WriteSet{Attached: attach(4, 6), Unparked: ids(101)})
		want := dump(t, s)
		s = reopen()
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay after reopen (-want +got):\n%s", diff)
		}
		if err := s.Commit(&dag.WriteSet{Attached: attach(6, 6)}); !errors.Is(err, ErrArrivalOrder) {
			t.Errorf("Commit of a stored arrival after reopen: error = %v, want ErrArrivalOrder", err)
		}
		mustCommit(t, s, &dag.WriteSet{Attached: attach(7, 7), Unparked: ids(100)})
		s = reopen()
		want = contents{Attached: entries(seq(1, 7)...), Parked: raws(102)}
		if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
			t.Errorf("Replay after second reopen (-want +got):\n%s", diff)
		}
	}},
}

func TestConformance(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) {
					s, reopen := impl.open(t)
					tc.run(t, s, reopen)
				})
			}
		})
	}
}

// Readers must see whole write sets only, while a writer commits sets big
// enough to be split in Badger. Run it with -race.
func TestConcurrentReaders(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			s, _ := impl.open(t)
			testConcurrentReaders(t, s)
		})
	}
}

func testConcurrentReaders(t *testing.T, s store) {
	const sets, size = 20, 2000 // 2000 does not fit one transaction under testOptions
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				var n uint64
				err := s.Range(1, func(arrival uint64, raw []byte) error {
					if n++; arrival != n {
						t.Errorf("Range: arrival %d at position %d", arrival, n)
						return errors.New("stop")
					}
					return nil
				})
				if err != nil {
					t.Errorf("Range: %v", err)
					return
				}
				if n%size != 0 {
					t.Errorf("Range saw %d transactions, not a whole number of write sets of %d", n, size)
					return
				}
				if n > 0 {
					if _, err := s.Transaction(n); err != nil {
						t.Errorf("Transaction(%d): %v", n, err)
					}
				}
			}
		})
	}
	for i := range uint64(sets) {
		mustCommit(t, s, &dag.WriteSet{Attached: attach(i*size+1, (i+1)*size)})
	}
	close(done)
	wg.Wait()
}
