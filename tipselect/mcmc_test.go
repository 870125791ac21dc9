package tipselect

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

func newTestMCMC(t testing.TB, cfg MCMCConfig, v View) *MCMC {
	t.Helper()
	m, err := NewMCMC(cfg, v)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// chain attaches n transactions, each approving the one before.
func chain(d *testDAG, from dag.ID, n int) dag.ID {
	for range n {
		from = d.attach(from, from, t0).ID
	}
	return from
}

func TestMCMCConfig(t *testing.T) {
	d, _ := newTestDAG(t0)
	tests := []struct {
		name string
		cfg  MCMCConfig
		ok   bool
	}{
		{"zero value", MCMCConfig{}, true},
		{"IRI", MCMCConfig{Alpha: 0.001, StartDepth: 15}, true},
		{"negative alpha", MCMCConfig{Alpha: -0.5}, true},
		{"NaN alpha", MCMCConfig{Alpha: math.NaN()}, false},
		{"infinite alpha", MCMCConfig{Alpha: math.Inf(1)}, false},
		{"negative steps", MCMCConfig{MaxSteps: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMCMC(tt.cfg, d)
			if tt.ok && err != nil {
				t.Fatalf("NewMCMC: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrConfig) {
				t.Fatalf("NewMCMC = %v, want an error wrapping ErrConfig", err)
			}
		})
	}
	got := []MCMCConfig{MCMCConfig{}.withDefaults(), MCMCConfig{StartDepth: -1}.withDefaults()}
	want := []MCMCConfig{{StartDepth: 50, MaxSteps: 10_000}, {StartDepth: 0, MaxSteps: 10_000}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

// fan builds a start with four approvers; the first has a heavy future (a
// chain of heavy transactions), so that its cumulative weight differs. It
// returns the tip each branch leads to.
func fan(t testing.TB, heavy int) (*testDAG, []dag.ID) {
	t.Helper()
	d, root := newTestDAG(t0)
	start := d.attach(root, root, t0)
	d.confirm(start.ID)
	var ends []dag.ID
	for i := range 4 {
		a := d.attach(start.ID, start.ID, t0).ID
		if i == 0 {
			a = chain(d, a, heavy)
		}
		ends = append(ends, a)
	}
	return d, ends
}

// With α = 0 the first step is uniform over the approvers whatever their
// weights. 8,000 walks over 4 branches: chi-square with 3 degrees of
// freedom, whose 0.999 quantile is 16.27 (one seed in a thousand fails a
// correct walk, and the seed is fixed).
func TestMCMCUniformAtAlphaZero(t *testing.T) {
	d, ends := fan(t, 10)
	m := newTestMCMC(t, MCMCConfig{StartDepth: -1}, d)
	counts := make([]float64, len(ends))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8000 {
		tip, err := m.Walk(rng)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range ends {
			if tip == e {
				counts[i]++
			}
		}
	}
	if chi := chiSquare(counts); chi > 16.27 {
		t.Fatalf("chi-square %.2f > 16.27: counts %v", chi, counts)
	}
}

func TestMCMCLargeAlphaFollowsHeaviest(t *testing.T) {
	d, ends := fan(t, 10)
	m := newTestMCMC(t, MCMCConfig{Alpha: 1, StartDepth: -1}, d)
	rng := rand.New(rand.NewPCG(3, 4))
	// The heavy branch has weight 11 against 1: each light branch is taken
	// with probability e^-10 / (1 + 3e^-10) ≈ 4.5e-5.
	heavy := 0
	for range 1000 {
		tip, err := m.Walk(rng)
		if err != nil {
			t.Fatal(err)
		}
		if tip == ends[0] {
			heavy++
		}
	}
	if heavy < 998 {
		t.Fatalf("heavy branch taken %d times of 1000", heavy)
	}
}

// The transition probabilities are exactly exp(α·H) normalised: with
// α = ln 2, weights 2 and 1 give 4:2, so 2/3. With 30,000 walks the
// standard error is 0.0027; the tolerance is five of them.
func TestMCMCTransitionProbability(t *testing.T) {
	d, root := newTestDAG(t0)
	start := d.attach(root, root, t0)
	d.confirm(start.ID)
	heavy := d.attach(start.ID, start.ID, t0).ID
	heavyTip := chain(d, heavy, 1)
	light := d.attach(start.ID, start.ID, t0).ID
	if w := d.info(heavy).CumulativeWeight; w != 2 {
		t.Fatalf("heavy weight %d, want 2", w)
	}
	m := newTestMCMC(t, MCMCConfig{Alpha: math.Ln2, StartDepth: -1}, d)
	rng := rand.New(rand.NewPCG(5, 6))
	const walks = 30_000
	got := 0
	for range walks {
		tip, err := m.Walk(rng)
		if err != nil {
			t.Fatal(err)
		}
		switch tip {
		case heavyTip:
			got++
		case light:
		default:
			t.Fatalf("walk ended at %s, not a tip", tip.Short())
		}
	}
	if p := float64(got) / walks; math.Abs(p-2.0/3) > 5*0.0027 {
		t.Fatalf("P(heavy) = %.4f, want 2/3", p)
	}
}

// randomDAG grows a DAG by walks and marks some transactions conflicting.
func randomDAG(t testing.TB, n int, seed uint64) *testDAG {
	t.Helper()
	d, _ := newTestDAG(t0)
	d.cwWindow = 200
	m := newTestMCMC(t, MCMCConfig{Alpha: 0.01, StartDepth: 5}, d)
	rng := rand.New(rand.NewPCG(seed, 7))
	var honest []dag.ID
	for i := range n {
		tr, br, err := m.Select(rng)
		if err != nil {
			t.Fatal(err)
		}
		info := d.attach(tr, br, t0.Add(time.Duration(i)*time.Millisecond))
		if rng.IntN(10) == 0 {
			d.setConflicting(info.ID) // and never confirmed
		} else {
			honest = append(honest, info.ID)
		}
		if k := len(honest) - 30; k > 0 && i%5 == 0 {
			d.confirm(honest[:k]...)
		}
	}
	return d
}

func TestMCMCNeverReturnsConflicting(t *testing.T) {
	d := randomDAG(t, 1000, 1)
	for _, alpha := range []float64{0, 0.1, 5} {
		m := newTestMCMC(t, MCMCConfig{Alpha: alpha, StartDepth: 20}, d)
		rng := rand.New(rand.NewPCG(8, 9))
		for range 500 {
			tip, err := m.Walk(rng)
			if err != nil {
				t.Fatal(err)
			}
			if d.info(tip).Conflicting {
				t.Fatalf("α=%v: walk returned conflicting %s", alpha, tip.Short())
			}
		}
	}
}

func TestMCMCConflictingStart(t *testing.T) {
	d, root := newTestDAG(t0)
	start := d.attach(root, root, t0)
	d.confirm(start.ID)
	d.setConflicting(start.ID)
	m := newTestMCMC(t, MCMCConfig{StartDepth: -1}, d)
	if _, err := m.Walk(rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrNoTips) {
		t.Fatalf("Walk from a conflicting start: %v, want ErrNoTips", err)
	}
	if _, _, err := m.Select(rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrNoTips) {
		t.Fatalf("Select from a conflicting start: %v, want ErrNoTips", err)
	}
	empty := newTestMCMC(t, MCMCConfig{}, &testDAG{txs: map[dag.ID]*testTx{}})
	if _, err := empty.Walk(rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrNoTips) {
		t.Fatalf("Walk over an empty view: %v, want ErrNoTips", err)
	}
}

func TestMCMCStart(t *testing.T) {
	d, root := newTestDAG(t0)
	// A confirmed spine, each with a tip hanging off it.
	spine := []dag.ID{root}
	tips := map[dag.ID]dag.ID{}
	for range 5 {
		prev := spine[len(spine)-1]
		next := d.attach(prev, prev, t0).ID
		d.confirm(next)
		spine = append(spine, next)
	}
	for _, s := range spine {
		tips[s] = d.attach(s, s, t0).ID
	}
	// Only the spine's own tips end walks that start on it, and a walk from
	// depth k can reach the tips of spine[len-1-k] and later, never earlier.
	tests := []struct {
		depth   int
		reached int // index into spine of the deepest start
	}{
		{-1, 5}, {2, 3}, {5, 0}, {50, 5}, // 50: fewer confirmed, start at the newest
	}
	for _, tt := range tests {
		m := newTestMCMC(t, MCMCConfig{StartDepth: tt.depth}, d)
		rng := rand.New(rand.NewPCG(1, uint64(tt.depth+10)))
		for range 200 {
			tip, err := m.Walk(rng)
			if err != nil {
				t.Fatal(err)
			}
			found := -1
			for i, s := range spine {
				if tips[s] == tip {
					found = i
				}
			}
			if found < tt.reached {
				t.Fatalf("StartDepth %d: walk ended at spine tip %d, want >= %d", tt.depth, found, tt.reached)
			}
		}
	}
}

func TestMCMCMaxSteps(t *testing.T) {
	d, root := newTestDAG(t0)
	start := d.attach(root, root, t0).ID
	d.confirm(start)
	want := chain(d, start, 10)
	chain(d, want, 90)
	m := newTestMCMC(t, MCMCConfig{StartDepth: -1, MaxSteps: 10}, d)
	got, err := m.Walk(rand.New(rand.NewPCG(1, 1)))
	if err != nil || got != want {
		t.Fatalf("Walk = %s, %v; want the 10th transaction %s", got.Short(), err, want.Short())
	}
}

// A walk is a function of the DAG and the seed: the same seed gives the same
// tips, and so does a view that lists approvers in another order.
func TestMCMCDeterministic(t *testing.T) {
	d := randomDAG(t, 500, 2)
	walks := func(reverse bool) []dag.ID {
		d.reverse = reverse
		m := newTestMCMC(t, MCMCConfig{Alpha: 0.05, StartDepth: 30}, d)
		rng := rand.New(rand.NewPCG(77, 78))
		var out []dag.ID
		for range 200 {
			tr, br, err := m.Select(rng)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tr, br)
		}
		return out
	}
	first := walks(false)
	if diff := cmp.Diff(first, walks(false)); diff != "" {
		t.Fatalf("same seed, different walks (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(first, walks(true)); diff != "" {
		t.Fatalf("approver order changed the walks (-forward +reversed):\n%s", diff)
	}
}

// Walks while the DAG grows; run with -race.
func TestMCMCConcurrent(t *testing.T) {
	d := randomDAG(t, 200, 3)
	m := newTestMCMC(t, MCMCConfig{Alpha: 0.01, StartDepth: 10}, d)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			for range 300 {
				tr, br, err := m.Select(rng)
				if err != nil {
					t.Error(err)
					return
				}
				if g == 0 {
					d.attach(tr, br, t0)
				}
			}
		})
	}
	wg.Wait()
}
