package sim

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// expiryTheory is the mean-field law of URTS with a tip expiry D under a
// constant delay h (k = 2, distinct). A tip is selectable from its
// visibility (h after issue) until τ = D − h later, or until its first
// approval becomes visible. With n selectable tips each arrival picks it
// with probability 2/n, a hazard r = 2λ/n per second, so its first pick
// comes after T ~ Exp(r). Its time in the pool is min(T + h, τ), and
// Little's law on the pool gives n = λ·E[min(T + h, τ)], which is
//
//	m = min(τ, h) + [τ > h]·(m/2)·(1 − e^(−2(τ−h)/m)),   m = n/λ,
//
// and the share never picked, P(T > τ) = e^(−2τ/m). For τ ≤ h, m = τ and
// the orphan share is e^(−2) whatever D is. It returns n and that share.
func expiryTheory(lambda, h, d float64) (pool, orphans float64) {
	tau := d - h
	m := 2 * h
	for range 200 {
		next := math.Min(tau, h)
		if tau > h {
			next += m / 2 * (1 - math.Exp(-2*(tau-h)/m))
		}
		m = next
	}
	return lambda * m, math.Exp(-2 * tau / m)
}

// TestTipExpiry: the pool size and the share of transactions left behind
// against expiryTheory, at λh = 100. The approximation is the mean field
// (a fixed pool size n in the hazard 2/n); n fluctuates by about √n, which
// moves E[1/n] by about 1/n, 1 % at n = 100. Sampling error as in
// TestTipsTheory; 4 % on both.
func TestTipExpiry(t *testing.T) {
	statistical(t)
	const lambda, h = 50.0, 2.0
	for _, d := range []float64{3, 4, 6, 10} {
		t.Run(time.Duration(d*float64(time.Second)).String(), func(t *testing.T) {
			s := run(t, Config{Lambda: lambda, Delay: ConstantDelay(time.Duration(h * float64(time.Second))),
				TipExpiry: time.Duration(d * float64(time.Second)), Count: scaled(200_000), Seed: 17})
			if s.Engine != EngineModel {
				t.Errorf("engine %s, want the model engine for a tip expiry", s.Engine)
			}
			pool, orphans := expiryTheory(lambda, h, d)
			within(t, "selectable tips", s.MeanVisibleTips, pool, 0.04)
			within(t, "left behind", s.LeftBehindFraction, orphans, 0.04)
		})
	}
	// A tip expiry far beyond every tip's life changes nothing.
	base := Config{Lambda: 20, Delay: ConstantDelay(time.Second), Engine: EngineModel, Count: scaled(20_000), Seed: 4}
	long := base
	long.TipExpiry = time.Hour
	a, b := run(t, base), run(t, long)
	a.TipExpiry = b.TipExpiry
	if diff := cmp.Diff(a.Deterministic(), b.Deterministic()); diff != "" {
		t.Errorf("a one-hour tip expiry changed the run (-none +hour):\n%s", diff)
	}
}

// TestDrawReplacement: with k = 2 independent draws from n tips the two
// coincide with probability 1/n, so the mean number of distinct parents is
// exactly 2 − E[1/n] over the arrivals (closed form given the pool sizes);
// with distinct draws it is 2. At low load (λh = 2, n of a few) the
// difference is large; at high load both give L ≈ 2λh.
func TestDrawReplacement(t *testing.T) {
	statistical(t)
	cfg := Config{Lambda: 2, Delay: ConstantDelay(time.Second), Draw: DrawReplacement, Count: scaled(80_000), Seed: 19}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s, err := newSim(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(); err != nil {
		t.Fatal(err)
	}
	res, err := s.result()
	if err != nil {
		t.Fatal(err)
	}
	// With a constant delay the visibility order is the issue order, so
	// record i is the arrival that saw visSample[i] tips.
	var inv float64
	var n int
	end := s.lastIss - int64(cfg.Tail)
	for i, r := range s.records {
		if r.issued < s.warmupAt || r.issued > end {
			continue
		}
		inv += 1 / float64(s.visSample[i])
		n++
	}
	// The binomial error of the mean is about √(0.2/n) ≈ 0.5 % of 2 − E[1/n]
	// on the shrunk run; 1.5 % is three of them.
	within(t, "mean parents", res.Summary.MeanParents, 2-inv/float64(n), 0.015)
	distinct := run(t, Config{Lambda: 2, Delay: ConstantDelay(time.Second), Engine: EngineModel, Count: scaled(80_000), Seed: 19})
	if distinct.MeanParents < 1.99 {
		t.Errorf("distinct draws: mean parents %.4f, want 2 but for the rare pool of one", distinct.MeanParents)
	}
	high := run(t, Config{Lambda: 50, Delay: ConstantDelay(2 * time.Second), Draw: DrawReplacement, Count: scaled(200_000), Seed: 7})
	within(t, "L at λh = 100 with replacement", high.MeanTips, 200, tipsTolerance)
}

// TestStartsCover follows the cover start rule on a hand-built tangle in
// which every transaction is a candidate start.
func TestStartsCover(t *testing.T) {
	c := newStarts(0, 0, 1)
	c.every = 1
	for i, step := range []struct {
		parents  []int32
		startAge int64
		want     int32 // the start after this transaction
	}{
		{[]int32{root, root}, 0, 0}, // tx 0, the only tip, covers itself
		{[]int32{root}, 10, root},   // tx 1 also approves the root: tips 0 and 1, no cone holds both, no candidate is old: the root
		{[]int32{0, 1}, 0, 0},       // tx 2 joins them: every candidate covers, the oldest wins
		{[]int32{0}, 0, 0},          // tx 3 approves 0 only (it was in flight): only 0's cone holds 2 and 3
		{[]int32{2, 3}, 0, 0},       // tx 4 joins them again: 0 covers and is the oldest
	} {
		c.attach(int32(i), int64(i+1), step.parents)
		c.startAge = step.startAge
		if got := c.start(int64(i + 1)); got != step.want {
			t.Errorf("after tx %d: start %d, want %d", i, got, step.want)
		}
	}
	// A new tip 5 approving only the root leaves every cone short of a
	// tip. With a start age of 10 no candidate is old enough at time 6:
	// the walk starts at the root, which covers. With a start age of 3
	// (candidates 0 to 2 qualify) it takes the age rule's start, the
	// newest with an approver, 2, and counts the selection as uncovered.
	c.attach(5, 6, []int32{root})
	c.startAge = 10
	if got := c.start(6); got != root {
		t.Errorf("no cover, young tangle: start %d, want the root", got)
	}
	c.startAge = 3
	if got := c.start(6); got != 2 {
		t.Errorf("no cover: start %d, want 2", got)
	}
	if c.uncovered != 1 {
		t.Errorf("%d uncovered selections, want 1", c.uncovered)
	}
}

// TestWalkLeavesNothingBehind: at α = 0 the cover start rule leaves no
// transaction behind and the tip count stays flat, where the age rule
// orphans about 1 in 10⁴ and every orphan stays a tip (issue 15; the
// before/after numbers are in docs/bench/sim.md).
func TestWalkLeavesNothingBehind(t *testing.T) {
	statistical(t)
	cfg := Config{Lambda: 10, Delay: ConstantDelay(time.Second), TipSelection: MCMC, Count: scaled(40_000), Seed: 2, SampleEvery: 10 * time.Second}
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.LeftBehindFraction != 0 {
		t.Errorf("cover start: left behind %v, want 0", s.LeftBehindFraction)
	}
	// L over the second and the last quarter of the run: each is a mean of
	// about 100 independent values of a count of ≈ 22 (sd ≈ √22), so
	// each is within 2 % of the mean; an orphan adds 1/22 ≈ 4.5 % for good.
	q := len(res.Series) / 4
	mean := func(xs []Sample) float64 {
		var sum float64
		for _, x := range xs {
			sum += float64(x.Tips)
		}
		return sum / float64(len(xs))
	}
	early, late := mean(res.Series[q:2*q]), mean(res.Series[3*q:])
	within(t, "L late / L early", late/early, 1, 0.08)
	if s.WalkStartUncovered != 0 {
		t.Errorf("%d selections started where some tip was out of reach, want 0", s.WalkStartUncovered)
	}
}

// TestMCMCSameSeed drives the dag engine's walk under each start rule
// (with the race detector too, where the statistical tests are skipped):
// one seed gives one result, and the rules differ.
func TestMCMCSameSeed(t *testing.T) {
	got := map[StartRule]Summary{}
	for _, start := range []StartRule{StartCover, StartAged, StartGenesis} {
		// Weights (α > 0) from the genesis are exact over all history,
		// a cone walk per attach: too slow under the race detector.
		alpha := 0.05
		if start == StartGenesis {
			alpha = 0
		}
		cfg := Config{Lambda: 10, Delay: ConstantDelay(time.Second), TipSelection: MCMC, Alpha: alpha, Start: start, Count: 2000, Seed: 8}
		a, b := run(t, cfg), run(t, cfg)
		if diff := cmp.Diff(a.Deterministic(), b.Deterministic()); diff != "" {
			t.Errorf("start %s: two runs with one seed differ:\n%s", start, diff)
		}
		got[start] = a
	}
	if got[StartCover].MeanTips == got[StartGenesis].MeanTips && got[StartCover].MeanTips == got[StartAged].MeanTips {
		t.Errorf("the three start rules gave the same L = %v", got[StartCover].MeanTips)
	}
}

// TestIndexWalk: the model engine's unbiased walks over integer adjacency
// (indexWalk from the cover start, genesisWalk from the genesis) are the
// dag engine's walk in distribution (their draws differ: the dag engine
// orders approvers by ID, and genesisWalk jumps over the frozen interior).
// At λh = 10, α = 0, they give the same L within the sampling error (3 %,
// as TestTipsTheory's at a similar number of independent values) and leave
// nothing behind.
func TestIndexWalk(t *testing.T) {
	statistical(t)
	base := Config{Lambda: 10, Delay: ConstantDelay(time.Second), TipSelection: MCMC, Count: 30_000, Seed: 12}
	dag := run(t, withEngine(base, EngineDAG))
	for _, start := range []StartRule{StartCover, StartGenesis} {
		cfg := withEngine(base, EngineModel)
		cfg.Start = start
		s := run(t, cfg)
		within(t, "L, model walk from "+string(start)+" / dag walk from cover", s.MeanTips/dag.MeanTips, 1, tipsTolerance)
		if s.LeftBehindFraction != 0 || dag.LeftBehindFraction != 0 {
			t.Errorf("start %s: left behind %v (dag %v), want 0", start, s.LeftBehindFraction, dag.LeftBehindFraction)
		}
	}
}
