package dag_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/storage"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest pushes pre-signed transactions through the whole
// pipeline (decode, work check, batch signature verification, solidify,
// attach, weight propagation, group commit to Badger with fsync) from 16
// submitting goroutines, and reports transactions per second and CPU
// microseconds per transaction. Compare with BenchmarkVerifyBatch, run in
// the same invocation: the goal is at least half its rate.
func BenchmarkIngest(b *testing.B) {
	b.Run("store=badger", func(b *testing.B) {
		benchIngest(b, func(b *testing.B) (dag.Store, func()) {
			s, err := storage.Open(b.TempDir(), storage.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s, func() { s.Close() }
		})
	})
	// The same pipeline on the memory store isolates the cost of Badger.
	b.Run("store=memory", func(b *testing.B) {
		benchIngest(b, func(*testing.B) (dag.Store, func()) { return storage.NewMemory(), func() {} })
	})
}

func benchIngest(b *testing.B, open func(*testing.B) (dag.Store, func())) {
	net, stream := benchStream(1, 60_000, 100)
	raws := make([][]byte, len(stream))
	for i, tx := range stream {
		raws[i] = tx.Bytes()
	}
	const submitters, chunk = 16, 256
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		s, closeStore := open(b)
		l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: func() time.Time { return time.Now() }})
		if err != nil {
			b.Fatal(err)
		}
		p, err := dag.NewPipeline(l, dag.PipelineConfig{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- p.Run(ctx) }()
		cpu0 := cpuTime()
		b.StartTimer()

		var wg sync.WaitGroup
		for w := range submitters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w * chunk; i < len(raws); i += submitters * chunk {
					for _, r := range p.SubmitMany(ctx, raws[i:min(i+chunk, len(raws))]) {
						if r.Err != nil {
							b.Error(r.Err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()

		b.StopTimer()
		cpu += cpuTime() - cpu0
		if st := l.Stats(); st.Transactions != uint64(len(raws)) {
			b.Fatalf("attached %d of %d", st.Transactions, len(raws))
		}
		cancel()
		<-ran
		closeStore()
		b.StartTimer()
	}
	n := float64(b.N * len(raws))
	b.ReportMetric(n/b.Elapsed().Seconds(), "tx/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/tx")
}
