package tipselect

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// steadyURTS returns a URTS over a quiet frontier holding the default 100
// non-lazy tips.
func steadyURTS(b *testing.B) *URTS {
	d, root := frontierDAG(b, t0)
	u := newTestURTS(b, URTSConfig{}, d)
	for i := range DefaultMaxTips {
		u.Add(tipInfo(uint64(i+1), root, root, t0, t0, t0), t0)
	}
	if n, _ := u.Len(); n != DefaultMaxTips {
		b.Fatalf("pool holds %d tips", n)
	}
	return u
}

func BenchmarkURTSSelect(b *testing.B) {
	u := steadyURTS(b)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := u.Select(rng, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkURTSAdd(b *testing.B) {
	u := steadyURTS(b)
	rng := rand.New(rand.NewPCG(1, 2))
	n := uint64(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		tr, br, _ := u.Select(rng, t0)
		n++
		u.Add(tipInfo(n, tr, br, t0, t0, t0), t0)
	}
}

// addContinuously runs the attach side of a busy node until stop is closed:
// select parents, add the new transaction. rate is in adds per second; 0
// adds without pause, which keeps the lock busy about half the time (far
// beyond the ~100k tx/s a 2-core node ingests). Approvals keep removing tips
// (30 children) and new ones replace them, so the pool churns around its
// limit.
func addContinuously(u *URTS, rate int, stop <-chan struct{}, added *atomic.Int64) {
	rng := rand.New(rand.NewPCG(99, 99))
	n := uint64(1 << 30)
	start := time.Now()
	for {
		select {
		case <-stop:
			return
		default:
		}
		due := 1
		if rate > 0 {
			// Paced in bursts every millisecond, as an ingest pipeline
			// attaches batches.
			time.Sleep(time.Millisecond)
			due = int(time.Since(start).Seconds()*float64(rate)) - int(added.Load())
		}
		for range due {
			tr, br, _ := u.Select(rng, t0)
			n++
			u.Add(tipInfo(n, tr, br, t0, t0, t0), t0)
			added.Add(1)
		}
	}
}

func BenchmarkURTSSelectParallel(b *testing.B) {
	u := steadyURTS(b)
	stop := make(chan struct{})
	var added atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { addContinuously(u, 0, stop, &added) })
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 3))
		for pb.Next() {
			if _, _, err := u.Select(rng, t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(added.Load())/float64(b.N), "adds/select")
}

// BenchmarkURTSSelectLatency reports latency percentiles of Select while a
// goroutine adds: selectors is the number of selecting goroutines (the
// adder makes one more), addsPerSec the adder's pace (0: no pause).
func BenchmarkURTSSelectLatency(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, bc := range []struct {
		name       string
		selectors  int
		addsPerSec int
	}{
		{"adds=unpaced/selectors=procs", procs, 0},
		{"adds=unpaced/selectors=procs-1", max(procs-1, 1), 0},
		{"adds=100k/s/selectors=procs", procs, 100_000},
		{"adds=100k/s/selectors=4procs", 4 * procs, 100_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			selectLatency(b, bc.selectors, bc.addsPerSec)
		})
	}
}

func selectLatency(b *testing.B, selectors, addsPerSec int) {
	u := steadyURTS(b)
	stop := make(chan struct{})
	var added atomic.Int64
	var adder sync.WaitGroup
	adder.Go(func() { addContinuously(u, addsPerSec, stop, &added) })

	lat := make([][]time.Duration, selectors)
	per := b.N/selectors + 1
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range selectors {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 4))
			l := make([]time.Duration, 0, per)
			for range per {
				start := time.Now()
				if _, _, err := u.Select(rng, t0); err != nil {
					b.Error(err)
					return
				}
				l = append(l, time.Since(start))
			}
			lat[g] = l
		})
	}
	wg.Wait()
	b.StopTimer()
	close(stop)
	adder.Wait()

	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
	b.ReportMetric(q(0.999), "p999-ns")
	b.ReportMetric(float64(added.Load())/float64(len(all)), "adds/select")
}

var (
	walkDAGOnce sync.Once
	walkDAG     *testDAG
)

// syntheticDAG grows 10,000 transactions at 100 per virtual second, parents
// chosen by a URTS, each confirmed 2 s (200 transactions) after it arrives,
// with cumulative weights over a 200-transaction window.
func syntheticDAG(b *testing.B) *testDAG {
	walkDAGOnce.Do(func() {
		d, _ := newTestDAG(t0)
		d.cwWindow = 200
		u := newTestURTS(b, URTSConfig{}, d)
		rng := rand.New(rand.NewPCG(5, 5))
		var ids []dag.ID
		for i := range 10_000 {
			now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
			tr, br, err := u.Select(rng, now)
			if err != nil {
				b.Fatal(err)
			}
			info := d.attach(tr, br, now)
			u.Add(info, now)
			ids = append(ids, info.ID)
			if i >= 200 {
				d.confirm(ids[i-200])
			}
		}
		walkDAG = d
	})
	return walkDAG
}

// countingView counts Approvers calls: one per step, plus the last.
type countingView struct {
	View
	calls atomic.Int64
}

func (c *countingView) Approvers(id dag.ID, dst []dag.ID) []dag.ID {
	c.calls.Add(1)
	return c.View.Approvers(id, dst)
}

func BenchmarkMCMCWalk(b *testing.B) {
	d := syntheticDAG(b)
	for _, bc := range []struct {
		name string
		cfg  MCMCConfig
	}{
		{"alpha=0", MCMCConfig{}},
		{"alpha=0.001", MCMCConfig{Alpha: 0.001}},
		{"alpha=0.1", MCMCConfig{Alpha: 0.1}},
		{"alpha=0.001/depth=2000", MCMCConfig{Alpha: 0.001, StartDepth: 2000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cv := &countingView{View: d}
			counted := newTestMCMC(b, bc.cfg, cv)
			rng := rand.New(rand.NewPCG(7, 7))
			const probe = 1000
			for range probe {
				if _, err := counted.Walk(rng); err != nil {
					b.Fatal(err)
				}
			}
			m := newTestMCMC(b, bc.cfg, d)
			rng = rand.New(rand.NewPCG(6, 6))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Walk(rng); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cv.calls.Load()-probe)/probe, "steps/walk")
		})
	}
}
