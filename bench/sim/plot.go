package sim

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// The plots WriteFiles writes, each as .png and .svg.
const (
	PlotTips    = "tips"
	PlotGrowth  = "cw_growth"
	PlotLatency = "latency"
)

func (r *Result) writePlots(dir string) error {
	s := &r.Summary
	title := fmt.Sprintf("%s %s, λ=%g/s, h=%ss, k=%d", s.Model, s.TipSelection, s.Lambda, s.Delay, s.Parents)
	if s.TipSelection == MCMC {
		title += fmt.Sprintf(", α=%g", s.Alpha)
	}

	tips := plot.New()
	tips.Title.Text = "Tips L(t): " + title
	tips.X.Label.Text = "virtual time (s)"
	tips.Y.Label.Text = "tips"
	tips.Legend.Top, tips.Legend.Left = true, true
	pts := make(plotter.XYs, len(r.Series))
	for i, x := range r.Series {
		pts[i] = plotter.XY{X: x.Time, Y: float64(x.Tips)}
	}
	if err := addLine(tips, "tips (hidden included)", pts, 0); err != nil {
		return err
	}
	if len(r.Series) > 0 {
		first, last := r.Series[0].Time, r.Series[len(r.Series)-1].Time
		theory := plotter.XYs{{X: first, Y: s.TheoryTips}, {X: last, Y: s.TheoryTips}}
		if err := addLine(tips, fmt.Sprintf("k/(k-1)·λh = %g", s.TheoryTips), theory, 1); err != nil {
			return err
		}
	}

	growth := plot.New()
	growth.Title.Text = "Mean cumulative weight by age: " + title
	growth.X.Label.Text = "age (s)"
	growth.Y.Label.Text = "cumulative weight"
	gpts := make(plotter.XYs, len(r.Growth))
	for i, p := range r.Growth {
		gpts[i] = plotter.XY{X: p.Age, Y: p.CW}
	}
	if err := addLine(growth, fmt.Sprintf("%d tracked transactions", s.Tracked), gpts, 0); err != nil {
		return err
	}

	lat := plot.New()
	lat.Title.Text = "Confirmation latency (" + s.Confirm + "): " + title
	lat.X.Label.Text = "latency from issue (s)"
	lat.Y.Label.Text = "transactions"
	if len(r.Latencies) > 0 {
		hist, err := plotter.NewHist(plotter.Values(r.Latencies), 50)
		if err != nil {
			return fmt.Errorf("sim: plot: %w", err)
		}
		lat.Add(hist)
	}

	for _, p := range []struct {
		name string
		plot *plot.Plot
	}{{PlotTips, tips}, {PlotGrowth, growth}, {PlotLatency, lat}} {
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(dir, p.name+ext)
			if err := p.plot.Save(20*vg.Centimeter, 12*vg.Centimeter, path); err != nil {
				return fmt.Errorf("sim: plot %s: %w", path, err)
			}
		}
	}
	return nil
}

func addLine(p *plot.Plot, name string, pts plotter.XYs, color int) error {
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("sim: plot: %w", err)
	}
	l.Color = plotutil.Color(color)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// PlotSweep is the file name (.png and .svg) of a sweep's plot.
const PlotSweep = "sweep"

// WriteSweepPlot plots confirmation latency against the swept value: the
// network model's p50 and p90 over all nodes and the last node's p50, or
// the single view's p50 and p99. A value that is not a number is placed
// by its number after the last colon (zipf:1.2 at 1.2; uniform at 0) or
// else by its position.
func WriteSweepPlot(dir string, sw Sweep, results []*Result) error {
	p := plot.New()
	p.Title.Text = "Confirmation latency against " + sw.Param
	p.X.Label.Text = sw.Param
	p.Y.Label.Text = "latency from issue (s)"
	p.Legend.Top, p.Legend.Left = true, true
	var a, b, c plotter.XYs
	for i, r := range results {
		x := sweepX(sw.Values[i], i)
		if n := r.Summary.Network; n != nil {
			a = append(a, plotter.XY{X: x, Y: n.ConfirmationLatency.P50})
			b = append(b, plotter.XY{X: x, Y: n.ConfirmationLatency.P90})
			c = append(c, plotter.XY{X: x, Y: n.LastNode.P50})
			continue
		}
		a = append(a, plotter.XY{X: x, Y: r.Summary.ConfirmationLatency.P50})
		b = append(b, plotter.XY{X: x, Y: r.Summary.ConfirmationLatency.P99})
	}
	names := []string{"p50", "p99"}
	if len(c) > 0 {
		names = []string{"p50 (all nodes)", "p90 (all nodes)", "last node to confirm, p50"}
	}
	for i, pts := range []plotter.XYs{a, b, c} {
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("sim: plot: %w", err)
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		p.Add(l, s)
		p.Legend.Add(names[i], l, s)
	}
	if sw.Param == "nodes" {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, PlotSweep+ext)
		if err := p.Save(20*vg.Centimeter, 12*vg.Centimeter, path); err != nil {
			return fmt.Errorf("sim: plot %s: %w", path, err)
		}
	}
	return nil
}

func sweepX(v string, i int) float64 {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	if d, err := ParseDelay(v); err == nil {
		return d.Mean().Seconds()
	}
	if _, arg, ok := strings.Cut(v, ":"); ok {
		if f, err := strconv.ParseFloat(arg, 64); err == nil {
			return f
		}
	}
	if v == "uniform" {
		return 0
	}
	return float64(i)
}
