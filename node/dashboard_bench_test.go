package node_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tangled-ledger/tangled/node"
)

// frameStats is window.tangledDashboard.frameStats().
type frameStats struct {
	Frames      int     `json:"frames"`
	Events      int     `json:"events"`
	Shown       int     `json:"shown"`
	WorkP50     float64 `json:"workP50"`
	WorkP95     float64 `json:"workP95"`
	WorkMax     float64 `json:"workMax"`
	IntervalP50 float64 `json:"intervalP50"`
	IntervalP95 float64 `json:"intervalP95"`
}

// BenchmarkDashboardFrameTime measures the dashboard's frames in headless
// chromium while a real node ingests 2,000 tx/s: each op starts a node
// (Badger in a temporary directory, its own validator beaconing every
// 100 ms), opens the page, feeds 10 s of pre-signed readings from 128
// devices in 20 batches a second (newFeed), and measures the frames of the
// last 7 s, in which the page receives about 4,000 events a second
// (attached and confirmed).
// frame-ms is this page's work per frame (applying the frame's events and
// drawing); interval-ms is the time between frames (16.7 at 60 Hz when no
// frame is dropped). Run it with -benchtime 1x -count 3 and take medians.
func BenchmarkDashboardFrameTime(b *testing.B) {
	const (
		rate   = 2000
		length = 10 * time.Second
		warmup = 3 * time.Second
	)
	ctx := newBrowser(b, 10*time.Minute)
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		g, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "frames", Difficulty: &testRules})
		if err != nil {
			b.Fatal(err)
		}
		f := newFeed(b, g, rate, length, 11)
		f.warmBatches = int(warmup / f.every)
		r := start(b, node.Config{
			DataDir: dir, GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
			BeaconInterval: node.DefaultBeaconInterval,
			API:            feedAPIConfig,
		})
		if err := chromedp.Do(ctx, chromedp.Navigate("http://"+r.n.HTTPAddr()+"/")); err != nil {
			b.Fatal(err)
		}
		waitJS[any](b, ctx, "the event stream", `window.tangledDashboard && window.tangledDashboard.state().stream === 'live'`)
		b.StartTimer()

		fed := make(chan error, 1)
		go func() { fed <- f.run(b.Context(), r.c) }()
		<-f.warm
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.tangledDashboard.resetFrameStats(), true)`)); err != nil {
			b.Fatal(err)
		}
		before := r.n.Ledger().Stats().Transactions
		from := time.Now()
		if err := <-fed; err != nil {
			b.Fatal(err)
		}
		st, err := chromedp.Run(ctx, chromedp.Evaluate[frameStats](`window.tangledDashboard.frameStats()`))
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(from).Seconds()
		ingested := float64(r.n.Ledger().Stats().Transactions-before) / took
		lagged, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.tangledDashboard.state().received.lagged`))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := r.stop(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(st.WorkP50, "frame-ms")
		b.ReportMetric(st.WorkP95, "frame-p95-ms")
		b.ReportMetric(st.IntervalP50, "interval-ms")
		b.ReportMetric(st.IntervalP95, "interval-p95-ms")
		b.ReportMetric(ingested, "ingest-tx/s")
		b.ReportMetric(float64(st.Events)/took, "page-events/s")
		b.ReportMetric(float64(st.Shown), "drawn")
		b.ReportMetric(float64(lagged), "lagged")
		b.StartTimer()
	}
}
