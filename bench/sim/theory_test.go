package sim

import (
	"math"
	"testing"
	"time"
)

// scaled shrinks a run under the race detector or -short. The tolerances
// below are set for the shrunk runs, so they hold for the full ones a
// fortiori.
func scaled(n int) int {
	if raceEnabled || testing.Short() {
		return n / 4
	}
	return n
}

// statistical skips a test under the race detector. The statistical tests
// need runs of tens of thousands of transactions to hold their
// tolerances, the race detector slows the simulator about tenfold, and
// the simulator's event loop is one goroutine: CI runs them at full size
// in its plain `go test ./...` pass, and the race pass keeps the exact
// tests (TestEnginesAgree, TestNetworkReducesToSingleView, ...) that drive
// the concurrent dag.Ledger.
func statistical(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("statistical test: run without -race")
	}
}

func run(t *testing.T, cfg Config) Summary {
	t.Helper()
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res.Summary
}

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Abs(want) {
		t.Errorf("%s = %.4f, want %.4f within %.1f%%", what, got, want, 100*tol)
	} else {
		t.Logf("%s = %.4f (want %.4f ± %.1f%%)", what, got, want, 100*tol)
	}
}

// Statistical error of L. L fluctuates around its mean with a standard
// deviation of about √L (14 at L = 200, measured from series.csv) and
// forgets its state within about two tip lifetimes, 2·L/λ = 4h. A run of
// n transactions at rate λ measures for about 0.8·n/λ virtual seconds,
// so it averages 0.8·n/(4·λh) independent values: at λh = 100 and
// n = 50,000 (the shrunk size) that is 100, and the standard error of
// L/(λh) is 0.14/10 ≈ 0.7 %; at n = 200,000 about 0.35 %. The whitepaper's
// formulas are high-load limits, and at λh = 100 the finite-load
// correction is below 1 % (NOTES.md: only at λh of a few is L/(λh)
// noticeably above 2). A 3 % tolerance is four standard errors beyond that
// correction on the shrunk run: a failure is a bug, not bad luck.
const tipsTolerance = 0.03

// TestTipsTheory: under uniform random tip selection L ≈ k/(k−1)·λh (2λh
// for k = 2), on the real dag and tipselect (k = 2) and the model engine.
func TestTipsTheory(t *testing.T) {
	statistical(t)
	h := 2 * time.Second
	for _, tc := range []struct {
		name    string
		parents int
		engine  Engine
		count   int
	}{
		{"k=2 dag", 2, EngineDAG, 200_000},
		{"k=2 model", 2, EngineModel, 400_000},
		{"k=3 model", 3, EngineModel, 400_000},
		{"k=4 model", 4, EngineModel, 400_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := run(t, Config{Lambda: 50, Delay: ConstantDelay(h), Parents: tc.parents, Engine: tc.engine, Count: scaled(tc.count), Seed: 7})
			k := float64(tc.parents)
			want := k / (k - 1) * 100
			within(t, "L", s.MeanTips, want, tipsTolerance)
			// Constant h: the visible tangle is the whole tangle h ago.
			within(t, "visible tips", s.MeanVisibleTips, want, tipsTolerance)
			// Every transaction approves k distinct tips, so the mean
			// number of direct approvers is k up to the few approvals
			// of the root and of transactions outside the window; 0.5 %
			// is far above that edge effect (≈ k·L/n).
			within(t, "mean direct approvers", s.MeanDirectApprovers, k, 0.005)
			if s.LeftBehindFraction > 1e-3 {
				t.Errorf("left behind %v under uniform selection, want ≈ 0", s.LeftBehindFraction)
			}
		})
	}
}

// TestTipsScaleWithDelay: doubling h doubles L. The two runs' errors are
// independent, so the ratio's relative error is about √2 times that of
// one L.
func TestTipsScaleWithDelay(t *testing.T) {
	statistical(t)
	n := scaled(400_000)
	one := run(t, Config{Lambda: 50, Delay: ConstantDelay(time.Second), Engine: EngineModel, Count: n, Seed: 3})
	two := run(t, Config{Lambda: 50, Delay: ConstantDelay(2 * time.Second), Engine: EngineModel, Count: n, Seed: 3})
	within(t, "L(2h)/L(h)", two.MeanTips/one.MeanTips, 2, 1.5*tipsTolerance)
}

// TestLittlesLaw: L = λ·W, with W the mean time a transaction is a tip:
// from its issue until its first approver is issued. So L/λ = h + the
// mean wait from visibility to first approval. Both sides are measured on
// the same transactions, so only the window's edges separate them: the
// tips present at the window's start and end, about L out of the λ·T
// measured, which is below 0.5 % here; 1 % allows for it. It holds for a
// random delay too.
func TestLittlesLaw(t *testing.T) {
	statistical(t)
	for _, tc := range []struct {
		name  string
		delay Delay
	}{
		{"constant", ConstantDelay(2 * time.Second)},
		{"exponential", ExpDelay(2 * time.Second)},
		{"uniform", UniformDelay{Min: time.Second, Max: 3 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := run(t, Config{Lambda: 50, Delay: tc.delay, Count: scaled(200_000), Seed: 11})
			within(t, "L/λ", s.MeanTips/s.Lambda, s.FirstApprovalMeanFromIssue, 0.01)
			if _, ok := tc.delay.(ConstantDelay); ok {
				within(t, "h + wait from visible", s.H+s.FirstApprovalMeanFromVisible, s.FirstApprovalMeanFromIssue, 1e-9)
			}
		})
	}
}

// TestDiscreteModel: in the batch model each tick's N = λh transactions
// choose among the L tips of the tangle up to the previous tick; the tips
// they hit, about L·(1−e^(−2N/L)) of them, must equal N in steady state,
// so N/L = x solves 1 − e^(−2x) = x: x = 0.7968, L = 1.2550·λh. Sampling
// error as in TestTipsTheory.
func TestDiscreteModel(t *testing.T) {
	statistical(t)
	s := run(t, Config{Lambda: 50, Delay: ConstantDelay(2 * time.Second), Model: Discrete, Count: scaled(200_000), Seed: 5})
	within(t, "visible tips", s.MeanVisibleTips, 1.2550*100, tipsTolerance)
}

// TestMCMCAlpha: the unbiased walk (α = 0) approves almost every
// transaction and leaves slightly more tips than uniform selection
// (NOTES.md); a large α follows the heaviest branch and leaves many
// transactions behind. The bounds are far from the measured values
// (α = 0: L/(λh) ≈ 2.09, left behind < 10⁻⁴; α = 0.5: left behind ≈ 0.3
// at λh = 100), so they test the direction, not the decimals.
func TestMCMCAlpha(t *testing.T) {
	statistical(t)
	n := scaled(60_000)
	base := Config{Lambda: 50, Delay: ConstantDelay(2 * time.Second), TipSelection: MCMC, Count: n, Seed: 13}
	unbiased := run(t, base)
	if r := unbiased.MeanTipsOverLambdaH; r < 1.98 || r > 2.4 {
		t.Errorf("α = 0: L/(λh) = %.3f, want slightly above uniform selection's 2", r)
	}
	if unbiased.LeftBehindFraction > 1e-3 {
		t.Errorf("α = 0: left behind %v, want ≈ 0", unbiased.LeftBehindFraction)
	}
	biased := base
	biased.Alpha = 0.5
	heavy := run(t, biased)
	if heavy.LeftBehindFraction < 0.05 || heavy.LeftBehindFraction < 10*unbiased.LeftBehindFraction {
		t.Errorf("α = 0.5: left behind %v, want far more than α = 0's %v", heavy.LeftBehindFraction, unbiased.LeftBehindFraction)
	}
	t.Logf("α = 0: L/(λh) %.3f, left behind %.5f; α = 0.5: L/(λh) %.3f, left behind %.4f",
		unbiased.MeanTipsOverLambdaH, unbiased.LeftBehindFraction, heavy.MeanTipsOverLambdaH, heavy.LeftBehindFraction)
}
