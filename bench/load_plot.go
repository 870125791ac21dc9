package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WritePlots writes load.png and load.svg: throughput per second,
// latency percentiles per second, and the latency CDF, one above the
// other on a shared page.
func (rep *LoadReport) WritePlots(dir string) error {
	s := &rep.Summary
	offered := "max rate"
	if s.OfferedRate > 0 {
		offered = fmt.Sprintf("%.0f tx/s offered", s.OfferedRate)
	}
	title := fmt.Sprintf("%d nodes (%s), %d devices, %s", s.Nodes, s.Mode, s.Devices, offered)

	thr := plot.New()
	thr.Title.Text = "Throughput: " + title
	thr.X.Label.Text = "time since the first send (s)"
	thr.Y.Label.Text = "transactions per second"
	thr.Legend.Top = true
	var sent, accepted, confirmed, rejected plotter.XYs
	var p50, p99 plotter.XYs
	for _, x := range rep.Series {
		t := float64(x.Second) + 0.5
		sent = append(sent, plotter.XY{X: t, Y: float64(x.Sent)})
		accepted = append(accepted, plotter.XY{X: t, Y: float64(x.Accepted)})
		confirmed = append(confirmed, plotter.XY{X: t, Y: float64(x.Confirmed)})
		rejected = append(rejected, plotter.XY{X: t, Y: float64(x.Rejected)})
		if !math.IsNaN(x.P50) {
			p50 = append(p50, plotter.XY{X: t, Y: x.P50})
			p99 = append(p99, plotter.XY{X: t, Y: x.P99})
		}
	}
	for i, l := range []struct {
		name string
		pts  plotter.XYs
	}{{"sent", sent}, {"accepted", accepted}, {"confirmed", confirmed}, {"rejected", rejected}} {
		if err := addLoadLine(thr, l.name, l.pts, i); err != nil {
			return err
		}
	}
	if s.WarmupSeconds > 0 {
		if err := addMarker(thr, s.WarmupSeconds, "end of warmup"); err != nil {
			return err
		}
	}

	lat := plot.New()
	lat.Title.Text = "Confirmation latency of the transactions confirmed each second"
	lat.X.Label.Text = "time since the first send (s)"
	lat.Y.Label.Text = "latency (ms)"
	lat.Legend.Top = true
	if err := addLoadLine(lat, "p50", p50, 0); err != nil {
		return err
	}
	if err := addLoadLine(lat, "p99", p99, 1); err != nil {
		return err
	}

	cdf := plot.New()
	cdf.Title.Text = fmt.Sprintf("Latency CDF after warmup (p50 %.0f ms, p99 %.0f ms)", s.Latency.P50, s.Latency.P99)
	cdf.X.Label.Text = "latency from send start to confirmed (ms)"
	cdf.Y.Label.Text = "fraction confirmed"
	var pts plotter.XYs
	n := len(rep.latencies)
	step := max(1, n/2000) // a few thousand points draw the curve exactly
	for i := 0; i < n; i += step {
		pts = append(pts, plotter.XY{X: ms(rep.latencies[i]), Y: float64(i+1) / float64(n)})
	}
	if n > 0 {
		pts = append(pts, plotter.XY{X: ms(rep.latencies[n-1]), Y: 1})
	}
	if err := addLoadLine(cdf, "confirmed transactions", pts, 0); err != nil {
		return err
	}

	plots := [][]*plot.Plot{{thr}, {lat}, {cdf}}
	width, height := 20*vg.Centimeter, 30*vg.Centimeter
	for _, ext := range []string{".png", ".svg"} {
		var dc draw.Canvas
		var save func(io.Writer) error
		if ext == ".png" {
			img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(120))
			dc = draw.New(img)
			save = func(w io.Writer) error { _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); return err }
		} else {
			svg := vgsvg.New(width, height)
			dc = draw.New(svg)
			save = func(w io.Writer) error { _, err := svg.WriteTo(w); return err }
		}
		fill(dc)
		tiles := draw.Tiles{Rows: 3, Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
			PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 6}
		canvases := plot.Align(plots, tiles, dc)
		for i := range plots {
			plots[i][0].Draw(canvases[i][0])
		}
		if err := writeFile(filepath.Join(dir, "load"+ext), save); err != nil {
			return err
		}
	}
	return nil
}

// fill paints the page white; the SVG and PNG canvases start transparent.
func fill(c draw.Canvas) {
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
}

func addLoadLine(p *plot.Plot, name string, pts plotter.XYs, i int) error {
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// addMarker draws a vertical dotted line at x.
func addMarker(p *plot.Plot, x float64, name string) error {
	p.X.Min = math.Min(p.X.Min, x)
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: p.Y.Max}})
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	l.Color = color.Gray{Y: 128}
	l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}
