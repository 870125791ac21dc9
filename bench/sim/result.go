package sim

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Summary is the outcome of one run: what `tangled bench sim` prints as a
// table or, with --json, as one JSON object. Times are in virtual seconds.
// Everything but WallSeconds and TxPerWallSecond depends only on the
// Config, so that a seed fixes the output.
type Summary struct {
	Model        Model        `json:"model"`
	TipSelection TipSelection `json:"tipsel"`
	Engine       Engine       `json:"engine"`
	Lambda       float64      `json:"lambda"`
	Delay        string       `json:"delay"`
	H            float64      `json:"h"`
	LambdaH      float64      `json:"lambda_h"`
	Parents      int          `json:"parents"`
	Alpha        float64      `json:"alpha"`
	Draw         Draw         `json:"draw"`
	Start        StartRule    `json:"start,omitempty"`
	// Retention is Hornet's rule (seconds an approved tip stays
	// selectable); TipExpiry the analytical papers' (seconds after its
	// issue an unapproved tip leaves the pool).
	Retention float64 `json:"retention"`
	TipExpiry float64 `json:"tip_expiry"`
	Seed      uint64  `json:"seed"`
	Confirm   string  `json:"confirm"`

	Transactions   int     `json:"transactions"`
	Warmup         int     `json:"warmup"`
	Measured       int     `json:"measured"`
	VirtualSeconds float64 `json:"virtual_seconds"`

	// MeanTips is the whitepaper's L: the mean, over the measured arrivals
	// (hence over time), of the number of transactions that no transaction
	// issued so far approves, the not yet visible ones included.
	MeanTips            float64 `json:"mean_tips"`
	MeanTipsOverLambdaH float64 `json:"mean_tips_over_lambda_h"`
	// MeanVisibleTips is the mean number of tips an arrival can see (the
	// ledger's tips). With a constant h it equals L in the mean: the
	// visible tangle at t is the whole tangle at t−h.
	MeanVisibleTips float64 `json:"mean_visible_tips"`
	// TheoryTips is k/(k−1)·λh, the high-load limit for uniform selection.
	TheoryTips float64 `json:"theory_tips"`

	// FirstApprovalMeanFromIssue is the mean time from a transaction's
	// issue to the issue of its first approver (its time as a tip);
	// FromVisible subtracts its own delay. Little's law: L/λ equals the
	// former.
	FirstApprovalMeanFromIssue   float64 `json:"first_approval_mean_from_issue"`
	FirstApprovalMeanFromVisible float64 `json:"first_approval_mean_from_visible"`
	TipsOverLambda               float64 `json:"tips_over_lambda"`

	MeanDirectApprovers float64 `json:"mean_direct_approvers"`
	// MeanParents is the mean number of distinct parents of the measured
	// transactions: k, or less with --draw replacement (a tip drawn twice
	// is approved once) or when fewer than k tips were visible.
	MeanParents float64 `json:"mean_parents"`
	// ApproversHistogram[n] counts measured transactions with n distinct
	// direct approvers.
	ApproversHistogram []int `json:"approvers_histogram"`
	// LeftBehindFraction is the fraction of measured transactions that no
	// transaction approved by the end of the run.
	LeftBehindFraction float64 `json:"left_behind_fraction"`

	// CWGrowth is the mean cumulative weight of tracked transactions at a
	// few ages (multiples of h).
	CWGrowth []AgePoint `json:"cw_growth"`

	Tracked              int     `json:"tracked"`
	ConfirmedFraction    float64 `json:"confirmed_fraction"`
	ConfirmationLatency  Pcts    `json:"confirmation_latency"`
	MaxTrackedAgeSeconds float64 `json:"max_tracked_age"`
	PoolOverflow         bool    `json:"pool_overflow,omitempty"`
	// WalkStartUncovered counts the selections (MCMC, cover start rule)
	// whose walks started where some visible tip was out of reach, because
	// no candidate start at least StartAge old held every tip (α > 0 leaves
	// tips behind that no cone will ever hold).
	WalkStartUncovered int `json:"walk_start_uncovered,omitempty"`

	// Network is the network model's report (Config.Network); the fields
	// above then describe the global tangle, and confirmation_latency is
	// judged by the issuers' views.
	Network *NetSummary `json:"network,omitempty"`

	WallSeconds     float64 `json:"wall_seconds,omitempty"`
	TxPerWallSecond float64 `json:"tx_per_wall_second,omitempty"`
}

// AgePoint is the mean cumulative weight at an age.
type AgePoint struct {
	Age float64 `json:"age"`
	CW  float64 `json:"cw"`
}

// Pcts are latency percentiles in virtual seconds.
type Pcts struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
}

// Result is a Summary with the series behind it.
type Result struct {
	Summary Summary
	// Series samples the state every Config.SampleEvery.
	Series []Sample
	// Growth is the mean cumulative weight by age, over completed tracked
	// transactions.
	Growth []AgePoint
	// Latencies are the confirmation latencies of the tracked transactions
	// that confirmed, ascending, in virtual seconds.
	Latencies []float64
}

// Sample is one row of the time series.
type Sample struct {
	Time     float64 // virtual seconds since genesis
	Tips     int     // L(t), hidden tips included
	VisTips  float64 // visible tips (network: the mean over the nodes)
	InFlight int     // issued, not yet visible
	Issued   int
	Visible  int
}

func (s *sim) result() (*Result, error) {
	cfg := s.cfg
	h := cfg.Delay.Mean().Seconds()
	k := float64(cfg.Parents)
	sum := Summary{
		Model: cfg.Model, TipSelection: cfg.TipSelection, Engine: cfg.Engine,
		Lambda: cfg.Lambda, Delay: cfg.Delay.String(), H: h, LambdaH: cfg.Lambda * h,
		Parents: cfg.Parents, Alpha: cfg.Alpha, Draw: cfg.Draw, Retention: cfg.Retention.Seconds(), TipExpiry: cfg.TipExpiry.Seconds(), Seed: cfg.Seed,
		Confirm: cfg.Confirm.String(), Transactions: s.issued, Warmup: s.warmupCount(),
		VirtualSeconds: float64(s.lastIss-s.start) / 1e9,
		TheoryTips:     k / (k - 1) * cfg.Lambda * h,
		PoolOverflow:   s.eng.overflowed(),
	}
	if cfg.TipSelection == MCMC {
		sum.Start = cfg.Start
		if e, ok := s.eng.(*dagEngine); ok && e.cover != nil {
			sum.WalkStartUncovered = e.cover.uncovered
		}
	}
	end := s.lastIss - int64(cfg.Tail)
	if s.warmupAt > end {
		return nil, errTooShort(cfg)
	}
	// Issues are numbered in time order, so the arrivals of the window are
	// the issues from the warm-up count up to the number issued by end.
	inWindow := 0
	var fromIssue, fromVisible float64
	var approved, approvals, parents int
	hist := []int{}
	for _, r := range s.records {
		if r.issued < s.warmupAt || r.issued > end {
			continue
		}
		inWindow++
		for int(r.approvers) >= len(hist) {
			hist = append(hist, 0)
		}
		hist[r.approvers]++
		approvals += int(r.approvers)
		parents += int(r.parents)
		if r.first >= 0 {
			approved++
			fromIssue += float64(r.first-r.issued) / 1e9
			fromVisible += float64(r.first-r.visible) / 1e9
		}
	}
	issuedByEnd := 0
	for _, r := range s.records {
		if r.issued <= end {
			issuedByEnd++
		}
	}
	var tipSum, visSum float64
	tips := s.tipSample[sum.Warmup:issuedByEnd]
	for i, n := range tips {
		tipSum += float64(n)
		visSum += float64(s.visSample[sum.Warmup+i])
	}
	if inWindow == 0 || len(tips) == 0 {
		return nil, errTooShort(cfg)
	}
	sum.Measured = inWindow
	sum.MeanTips = tipSum / float64(len(tips))
	sum.MeanTipsOverLambdaH = sum.MeanTips / sum.LambdaH
	sum.MeanVisibleTips = visSum / float64(len(tips))
	sum.TipsOverLambda = sum.MeanTips / cfg.Lambda
	if approved > 0 {
		sum.FirstApprovalMeanFromIssue = fromIssue / float64(approved)
		sum.FirstApprovalMeanFromVisible = fromVisible / float64(approved)
	}
	sum.MeanDirectApprovers = float64(approvals) / float64(inWindow)
	sum.MeanParents = float64(parents) / float64(inWindow)
	sum.ApproversHistogram = hist
	sum.LeftBehindFraction = float64(hist[0]) / float64(inWindow)

	res := &Result{}
	t := s.track
	sum.Tracked = t.completed
	sum.MaxTrackedAgeSeconds = float64(t.maxAge) / 1e9
	if t.completed > 0 {
		acc := 1.0
		for i, g := range t.growth {
			acc += g / float64(t.completed)
			res.Growth = append(res.Growth, AgePoint{Age: float64(int64(i+1)*t.binW) / 1e9, CW: acc})
		}
		for _, m := range []float64{1, 2, 5, 10, 20} {
			age := m * h
			i := sort.Search(len(res.Growth), func(i int) bool { return res.Growth[i].Age >= age })
			if i < len(res.Growth) {
				sum.CWGrowth = append(sum.CWGrowth, AgePoint{Age: age, CW: res.Growth[i].CW})
			}
		}
		sum.ConfirmedFraction = float64(len(t.latencies)) / float64(t.completed)
	}
	for _, l := range t.latencies {
		res.Latencies = append(res.Latencies, float64(l)/1e9)
	}
	slices.Sort(res.Latencies)
	sum.ConfirmationLatency = percentiles(res.Latencies)
	for _, x := range s.series {
		res.Series = append(res.Series, Sample{Time: x.t, Tips: x.tips, VisTips: x.visTips, InFlight: x.inFlight, Issued: x.issued, Visible: x.visible})
	}
	if s.net != nil {
		sum.Network = s.net.summary(cfg, hist[0])
	}
	res.Summary = sum
	return res, nil
}

// percentiles of ascending xs, by the nearest-rank method.
func percentiles(xs []float64) Pcts {
	if len(xs) == 0 {
		return Pcts{}
	}
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return xs[min(max(i, 0), len(xs)-1)]
	}
	var mean float64
	for _, x := range xs {
		mean += x
	}
	return Pcts{P50: rank(0.5), P90: rank(0.9), P99: rank(0.99), Mean: mean / float64(len(xs))}
}

// String is the rule in --confirm syntax.
func (c Confirm) String() string {
	if len(c.Issuers) == 0 {
		return fmt.Sprintf("cw:%d", c.CWThreshold)
	}
	if len(c.Issuers) > 8 {
		return fmt.Sprintf("aw:%g:%d issuers", c.Quorum, len(c.Issuers))
	}
	ws := make([]string, len(c.Issuers))
	for i, w := range c.Issuers {
		ws[i] = fmt.Sprint(w)
	}
	return fmt.Sprintf("aw:%g:%s", c.Quorum, strings.Join(ws, ","))
}
