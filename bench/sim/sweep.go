package sim

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Sweep varies one parameter over a list of values, one run per value.
type Sweep struct {
	Param  string
	Values []string
}

// SweepParams are the parameters a sweep may vary, by flag name.
// ("expiry" is the old name of "retention" and still accepted.)
var SweepParams = []string{"lambda", "delay", "alpha", "parents", "retention", "tip-expiry", "seed", "count",
	"nodes", "latency", "theta", "weights", "loss"}

// ParseSweep reads "PARAM=V1,V2,...", for example "lambda=10,20,50".
func ParseSweep(s string) (Sweep, error) {
	param, list, ok := strings.Cut(s, "=")
	if !ok || list == "" {
		return Sweep{}, fmt.Errorf("%w: sweep %q: want PARAM=V1,V2,... with PARAM one of %s", ErrConfig, s, strings.Join(SweepParams, ", "))
	}
	sw := Sweep{Param: strings.TrimSpace(param)}
	for _, v := range strings.Split(list, ",") {
		sw.Values = append(sw.Values, strings.TrimSpace(v))
	}
	// Check every value now, so a typo fails before hours of simulation.
	for _, v := range sw.Values {
		if _, err := sw.Apply(Config{}, v); err != nil {
			return Sweep{}, err
		}
	}
	return sw, nil
}

// Apply returns cfg with the swept parameter set to v.
func (sw Sweep) Apply(cfg Config, v string) (Config, error) {
	bad := func(err error) error {
		return fmt.Errorf("%w: sweep %s=%q: %v", ErrConfig, sw.Param, v, err)
	}
	var err error
	switch sw.Param {
	case "lambda":
		cfg.Lambda, err = strconv.ParseFloat(v, 64)
	case "alpha":
		cfg.Alpha, err = strconv.ParseFloat(v, 64)
	case "delay":
		cfg.Delay, err = ParseDelay(v)
	case "parents":
		cfg.Parents, err = strconv.Atoi(v)
	case "count":
		cfg.Count, err = strconv.Atoi(v)
	case "seed":
		cfg.Seed, err = strconv.ParseUint(v, 10, 64)
	case "retention", "expiry":
		cfg.Retention, err = ParseSeconds(v)
	case "tip-expiry":
		cfg.TipExpiry, err = ParseSeconds(v)
	case "nodes", "latency", "weights", "loss":
		n := Network{}
		if cfg.Network != nil {
			n = *cfg.Network
		}
		switch sw.Param {
		case "nodes":
			n.Nodes, err = strconv.Atoi(v)
		case "latency":
			n.Latency, err = ParseDelay(v)
		case "weights":
			n.Weights, err = ParseWeights(v)
		case "loss":
			n.Loss, err = strconv.ParseFloat(v, 64)
		}
		cfg.Network = &n
		// The issuers are the nodes: their weights follow from the sweep.
		cfg.Confirm.Issuers = nil
	case "theta":
		cfg.Confirm.Quorum, err = strconv.ParseFloat(v, 64)
	default:
		return cfg, fmt.Errorf("%w: cannot sweep %q; one of %s", ErrConfig, sw.Param, strings.Join(SweepParams, ", "))
	}
	if err != nil {
		return cfg, bad(err)
	}
	return cfg, nil
}

// WriteSweepTable prints one row per run of a sweep.
func WriteSweepTable(out io.Writer, sw Sweep, results []*Result) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(results) > 0 && results[0].Summary.Network != nil {
		fmt.Fprintf(w, "%s\tnodes\tlambda*h\tL/(lambda*h)\ttips/node\tissuers to theta\tconf p50\tconf p90\tconf p99\tlast node p50\tspread p50\tspread p99\tconfirmed everywhere\tleft behind\t\n", sw.Param)
		for i, r := range results {
			s, n := &r.Summary, r.Summary.Network
			fmt.Fprintf(w, "%s\t%d\t%g\t%.4f\t%.2f\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.4f\t%.6f\t\n", sw.Values[i], n.Nodes, s.LambdaH,
				s.MeanTipsOverLambdaH, n.TipsPerNode.Mean, n.IssuersToThreshold, n.ConfirmationLatency.P50, n.ConfirmationLatency.P90,
				n.ConfirmationLatency.P99, n.LastNode.P50, n.Spread.P50, n.Spread.P99, n.ConfirmedEverywhere, s.LeftBehindFraction)
		}
		return w.Flush()
	}
	fmt.Fprintf(w, "%s\tlambda*h\tL\tL/(lambda*h)\ttheory\tfirst appr (issue)\tfirst appr (visible)\tapprovers\tleft behind\tconf p50\tconf p99\t\n", sw.Param)
	for i, r := range results {
		s := &r.Summary
		fmt.Fprintf(w, "%s\t%g\t%.2f\t%.4f\t%.2f\t%.4f\t%.4f\t%.4f\t%.6f\t%.3f\t%.3f\t\n", sw.Values[i], s.LambdaH, s.MeanTips,
			s.MeanTipsOverLambdaH, s.TheoryTips, s.FirstApprovalMeanFromIssue, s.FirstApprovalMeanFromVisible,
			s.MeanDirectApprovers, s.LeftBehindFraction, s.ConfirmationLatency.P50, s.ConfirmationLatency.P99)
	}
	return w.Flush()
}

// WriteSweepCSV writes the same rows as CSV, without wall-clock columns.
func WriteSweepCSV(out io.Writer, sw Sweep, results []*Result) error {
	if len(results) > 0 && results[0].Summary.Network != nil {
		fmt.Fprintf(out, "%s,nodes,lambda_h,mean_tips_over_lambda_h,tips_per_node,issuers_to_threshold,confirmation_p50,confirmation_p90,confirmation_p99,last_node_p50,spread_p50,spread_p99,confirmed_everywhere,left_behind_fraction\n", sw.Param)
		for i, r := range results {
			s, n := &r.Summary, r.Summary.Network
			fmt.Fprintf(out, "%s,%d,%s,%s,%s,%d,%s,%s,%s,%s,%s,%s,%s,%s\n", sw.Values[i], n.Nodes, ftoa(s.LambdaH), ftoa(s.MeanTipsOverLambdaH),
				ftoa(n.TipsPerNode.Mean), n.IssuersToThreshold, ftoa(n.ConfirmationLatency.P50), ftoa(n.ConfirmationLatency.P90),
				ftoa(n.ConfirmationLatency.P99), ftoa(n.LastNode.P50), ftoa(n.Spread.P50), ftoa(n.Spread.P99), ftoa(n.ConfirmedEverywhere), ftoa(s.LeftBehindFraction))
		}
		return nil
	}
	fmt.Fprintf(out, "%s,lambda_h,mean_tips,mean_tips_over_lambda_h,theory_tips,first_approval_mean_from_issue,first_approval_mean_from_visible,mean_direct_approvers,left_behind_fraction,confirmation_p50,confirmation_p99\n", sw.Param)
	for i, r := range results {
		s := &r.Summary
		fmt.Fprintf(out, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", sw.Values[i], ftoa(s.LambdaH), ftoa(s.MeanTips),
			ftoa(s.MeanTipsOverLambdaH), ftoa(s.TheoryTips), ftoa(s.FirstApprovalMeanFromIssue), ftoa(s.FirstApprovalMeanFromVisible),
			ftoa(s.MeanDirectApprovers), ftoa(s.LeftBehindFraction), ftoa(s.ConfirmationLatency.P50), ftoa(s.ConfirmationLatency.P99))
	}
	return nil
}
