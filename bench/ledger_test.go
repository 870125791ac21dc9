package bench_test

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
	"github.com/tangled-ledger/tangled/tipselect"
)

// ledgerSize is the DAG size of BenchmarkLedger1M; TANGLED_BENCH_TXS
// overrides it for a quicker look.
func ledgerSize() int {
	if v := os.Getenv("TANGLED_BENCH_TXS"); v != "" {
		var n int
		for _, c := range v {
			n = n*10 + int(c-'0')
		}
		return n
	}
	return 1_000_000
}

// ingestRate is the paced ingest (transactions per second) during the tip
// selection measurement.
const ingestRate = 20_000

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLedger1M builds a DAG of a million transactions on Badger and
// reports, from that one expensive setup:
//
//   - prefill-tx/s: attach + propagation + group commit of pre-built
//     transactions in batches of 4096 (signatures are not checked on this
//     path; BenchmarkIngest in package dag measures the full pipeline);
//   - heap-B/tx and disk-B/tx: ledger memory and Badger bytes (LSM + value
//     log) per stored transaction;
//   - restart-s: closing the store and reopening store and ledger, which
//     replays the whole log and rebuilds every derived state;
//   - urts-p50-ns / urts-p99-ns: URTS selection latency from 2 selecting
//     goroutines while the full pipeline ingests signed transactions on
//     top of the million at ingestRate.
func BenchmarkLedger1M(b *testing.B) {
	n := ledgerSize()
	for b.Loop() {
		runLedger1M(b, n)
	}
}

func runLedger1M(b *testing.B, n int) {
	rules := pow.Rules{BaseBits: 1}
	net := dagtest.NewNetwork(1, rules)
	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 1, Devices: 1000, BeaconEvery: 100, Window: 64})
	dir := b.TempDir()
	now := func() time.Time { return dagtest.GenesisTime.Add(30 * 24 * time.Hour) }
	open := func() (*storage.Badger, *dag.Ledger) {
		s, err := storage.Open(dir, storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: now})
		if err != nil {
			b.Fatal(err)
		}
		return s, l
	}

	heap0 := heapInUse()
	s, l := open()
	gen.SetUnsigned(true)
	const batch = 4096
	var attachTime time.Duration
	for done := 0; done < n; {
		txs := gen.Take(min(batch, n-done))
		t1 := time.Now()
		if _, err := l.AttachVerified(txs).Wait(); err != nil {
			b.Fatal(err)
		}
		attachTime += time.Since(t1)
		done += len(txs)
	}
	stored := l.Stats().Transactions
	b.ReportMetric(float64(stored)/attachTime.Seconds(), "prefill-tx/s")
	b.ReportMetric(float64(heapInUse()-heap0)/float64(stored), "heap-B/tx")
	runtime.KeepAlive(l)

	// Restart: everything derived is rebuilt from the log.
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	l = nil
	t0 := time.Now()
	s, l = open()
	restart := time.Since(t0)
	b.ReportMetric(restart.Seconds(), "restart-s")
	if got := l.Stats().Transactions; got != stored {
		b.Fatalf("restart restored %d of %d transactions", got, stored)
	}
	lsm, vlog := s.DiskUsage()
	b.ReportMetric(float64(lsm+vlog)/float64(stored), "disk-B/tx")

	// Tip selection while the pipeline ingests signed transactions.
	gen.SetUnsigned(false)
	signed := dagtest.Encode(gen.Take(5 * ingestRate))
	urts, err := tipselect.NewURTS(tipselect.URTSConfig{}, l)
	if err != nil {
		b.Fatal(err)
	}
	wall := time.Now
	l.Subscribe(func(e dag.Event) {
		switch e.Kind {
		case dag.EventAttached:
			urts.Add(e.Info, wall())
		case dag.EventConflicting:
			urts.Remove(e.Info.ID)
		}
	})
	for _, id := range l.Tips(nil) {
		if in, ok := l.Info(id); ok {
			urts.Add(in, wall())
		}
	}
	p, err := dag.NewPipeline(l, dag.PipelineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()

	var ingesting atomic.Bool
	ingesting.Store(true)
	var selectors sync.WaitGroup
	latencies := make([][]time.Duration, 2)
	for g := range latencies {
		selectors.Add(1)
		go func() {
			defer selectors.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for ingesting.Load() {
				t := time.Now()
				if _, _, err := urts.Select(rng, t); err != nil {
					b.Error(err)
					return
				}
				latencies[g] = append(latencies[g], time.Since(t))
				// A node selects per API request, not in a hot loop.
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	// Ingest is paced at ingestRate: selection latency on a saturated
	// 2-core machine would measure the Go scheduler's run queue rather
	// than tip selection. The pace is far above what one node of a
	// device network sees, and half of what the pipeline sustains.
	t0 = time.Now()
	var submitters sync.WaitGroup
	const tick = 10 * time.Millisecond
	perTick := max(ingestRate*int(tick)/int(time.Second), 1)
	ticker := time.NewTicker(tick)
	for i := 0; i < len(signed); i += perTick {
		<-ticker.C
		chunk := signed[i:min(i+perTick, len(signed))]
		submitters.Add(1)
		go func() {
			defer submitters.Done()
			for _, r := range p.SubmitMany(ctx, chunk) {
				if r.Err != nil {
					b.Error(r.Err)
					return
				}
			}
		}()
	}
	ticker.Stop()
	submitters.Wait()
	achieved := float64(len(signed)) / time.Since(t0).Seconds()
	ingesting.Store(false)
	selectors.Wait()
	cancel()
	<-ran
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no selections measured")
	}
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "urts-p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "urts-p99-ns")
	b.ReportMetric(achieved, "ingest-tx/s")
	b.ReportMetric(float64(len(all)), "selections")
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}
