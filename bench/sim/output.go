package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
)

// The files WriteFiles writes into its directory.
const (
	FileSummary   = "summary.json"
	FileSeries    = "series.csv"
	FileApprovers = "approvers.csv"
	FileGrowth    = "cw_growth.csv"
	FileLatency   = "latency.csv"
)

// Deterministic returns the summary without its wall-clock fields, which
// are the only ones a seed does not fix.
func (s Summary) Deterministic() Summary {
	s.WallSeconds, s.TxPerWallSecond = 0, 0
	return s
}

// WriteFiles writes the summary (without wall-clock fields), the CSV
// series and the plots (PNG and SVG) into dir, creating it. The same
// Config gives the same bytes.
func (r *Result) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	writers := []struct {
		name  string
		write func(io.Writer) error
	}{
		{FileSummary, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(r.Summary.Deterministic())
		}},
		{FileSeries, r.writeSeries},
		{FileApprovers, r.writeApprovers},
		{FileGrowth, r.writeGrowth},
		{FileLatency, r.writeLatency},
	}
	for _, f := range writers {
		if err := writeFile(filepath.Join(dir, f.name), f.write); err != nil {
			return err
		}
	}
	return r.writePlots(dir)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	w := bufio.NewWriter(f)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	return nil
}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func (r *Result) writeSeries(w io.Writer) error {
	fmt.Fprintln(w, "time_s,tips,visible_tips,in_flight,issued,visible")
	for _, s := range r.Series {
		fmt.Fprintf(w, "%s,%d,%s,%d,%d,%d\n", ftoa(s.Time), s.Tips, ftoa(s.VisTips), s.InFlight, s.Issued, s.Visible)
	}
	return nil
}

func (r *Result) writeApprovers(w io.Writer) error {
	fmt.Fprintln(w, "approvers,transactions,fraction")
	for n, c := range r.Summary.ApproversHistogram {
		fmt.Fprintf(w, "%d,%d,%s\n", n, c, ftoa(float64(c)/float64(r.Summary.Measured)))
	}
	return nil
}

func (r *Result) writeGrowth(w io.Writer) error {
	fmt.Fprintln(w, "age_s,mean_cw")
	for _, p := range r.Growth {
		fmt.Fprintf(w, "%s,%s\n", ftoa(p.Age), ftoa(p.CW))
	}
	return nil
}

func (r *Result) writeLatency(w io.Writer) error {
	fmt.Fprintln(w, "latency_s")
	for _, l := range r.Latencies {
		fmt.Fprintln(w, ftoa(l))
	}
	return nil
}

// WriteTable prints the summary for a terminal.
func (r *Result) WriteTable(out io.Writer) error {
	s := &r.Summary
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("model", "%s, %s (engine %s), k = %d (%s), alpha = %g, start %s, retention = %gs, tip expiry = %gs", s.Model, s.TipSelection, s.Engine, s.Parents, s.Draw, s.Alpha, s.Start, s.Retention, s.TipExpiry)
	row("lambda, h, lambda*h", "%g/s, %ss (mean %gs), %g", s.Lambda, s.Delay, s.H, s.LambdaH)
	row("transactions", "%d issued, %d warm-up, %d measured, %.1f virtual s", s.Transactions, s.Warmup, s.Measured, s.VirtualSeconds)
	row("mean tips L", "%.2f  (L/(lambda*h) = %.4f; theory k/(k-1)*lambda*h = %g); visible tips %.2f", s.MeanTips, s.MeanTipsOverLambdaH, s.TheoryTips, s.MeanVisibleTips)
	row("first approval", "%.4fs from issue, %.4fs from visible  (Little: L/lambda = %.4fs)", s.FirstApprovalMeanFromIssue, s.FirstApprovalMeanFromVisible, s.TipsOverLambda)
	row("direct approvers", "mean %.4f, distribution %s", s.MeanDirectApprovers, histString(s.ApproversHistogram, s.Measured))
	row("left behind", "%.6f", s.LeftBehindFraction)
	cw := ""
	for _, p := range s.CWGrowth {
		cw += fmt.Sprintf("%gs: %.1f  ", p.Age, p.CW)
	}
	row("cumulative weight", "%s", cw)
	row("confirmation ("+s.Confirm+")", "%d tracked, %.4f confirmed within %gs; latency p50 %.3fs p90 %.3fs p99 %.3fs", s.Tracked, s.ConfirmedFraction, s.MaxTrackedAgeSeconds, s.ConfirmationLatency.P50, s.ConfirmationLatency.P90, s.ConfirmationLatency.P99)
	if n := s.Network; n != nil {
		row("network", "%d nodes, %s (mean degree %.1f), latency %ss, loss %g, weights %s, theta %g: %d heaviest issuers pass it",
			n.Nodes, n.Topology, n.MeanDegree, n.Latency, n.Loss, n.Weights, n.Theta, n.IssuersToThreshold)
		row("confirmation per node", "%d tracked, %.4f confirmed at every node; all nodes p50 %.3fs p90 %.3fs p99 %.3fs; nodes' p50 from %.3fs to %.3fs",
			n.Tracked, n.ConfirmedEverywhere, n.ConfirmationLatency.P50, n.ConfirmationLatency.P90, n.ConfirmationLatency.P99, n.NodeP50.P50, n.NodeP50.P99)
		row("first/last node", "first p50 %.3fs, last p50 %.3fs p99 %.3fs; spread p50 %.3fs p99 %.3fs",
			n.FirstNode.P50, n.LastNode.P50, n.LastNode.P99, n.Spread.P50, n.Spread.P99)
		row("tips per node", "mean %.2f (across nodes p50 %.2f, p99 %.2f); %d orphans; %d messages, %d lost, %d requests",
			n.TipsPerNode.Mean, n.TipsPerNode.P50, n.TipsPerNode.P99, n.Orphans, n.Messages, n.Lost, n.Requests)
	}
	if s.PoolOverflow {
		row("WARNING", "the URTS pool reached its bound: selection was not uniform")
	}
	if s.WallSeconds > 0 {
		row("wall time", "%.3fs (%.0f tx/s)", s.WallSeconds, s.TxPerWallSecond)
	}
	return w.Flush()
}

func histString(h []int, total int) string {
	out := ""
	for n, c := range h {
		if n > 6 {
			rest := 0
			for _, x := range h[n:] {
				rest += x
			}
			return out + fmt.Sprintf("%d+: %.3f", n, float64(rest)/float64(total))
		}
		out += fmt.Sprintf("%d: %.3f  ", n, float64(c)/float64(total))
	}
	return out
}
