package dag_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
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
// submitting goroutines and reports transactions per second and CPU
// microseconds per transaction, next to the raw batch-verification rate of
// the same transactions in the same run (the verify-only rows): the goal is
// at least half of it.
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
	// The ceiling: the same transactions' signatures, batch-verified on
	// every core and nothing else. "plain" expands every key every time;
	// "cached" starts each pass with an empty key cache, as each pipeline
	// above does.
	b.Run("verify-only=plain", func(b *testing.B) { benchVerifyOnly(b, false) })
	b.Run("verify-only=cached", func(b *testing.B) { benchVerifyOnly(b, true) })
}

func benchVerifyOnly(b *testing.B, cached bool) {
	_, stream := ingestStream()
	workers := runtime.GOMAXPROCS(0)
	b.ResetTimer()
	for b.Loop() {
		var v *dag.Verifier
		if cached {
			v = dag.NewVerifier(dag.DefaultKeyCacheBytes)
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok := make([]bool, dag.DefaultBatchSize)
				for i := w * dag.DefaultBatchSize; i < len(stream); i += workers * dag.DefaultBatchSize {
					batch := stream[i:min(i+dag.DefaultBatchSize, len(stream))]
					v.VerifyBatch(batch, ok[:len(batch)])
					for _, good := range ok[:len(batch)] {
						if !good {
							b.Error("bad signature in the stream")
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*len(stream))/b.Elapsed().Seconds(), "sig/s")
}

// ingestStream is the stream every BenchmarkIngest variant uses.
func ingestStream() (*dagtest.Network, []*dag.Transaction) {
	return laggedStream(1, 60_000, 100, ingestSubmitters*ingestChunk, 8192)
}

const ingestSubmitters, ingestChunk = 16, 256

func benchIngest(b *testing.B, open func(*testing.B) (dag.Store, func())) {
	// Submitters take the stream's chunks in order, so at most
	// submitters×chunk transactions are in flight; parents lag that far
	// behind and each of the 8192 devices issues about once per 8192
	// transactions, so parents and predecessors are attached before their
	// children arrive, as for devices that fetch tips from the node.
	// Parking and release are measured by the ledger tests, not here.
	const submitters, chunk = ingestSubmitters, ingestChunk
	net, stream := ingestStream()
	raws := make([][]byte, len(stream))
	for i, tx := range stream {
		raws[i] = tx.Bytes()
	}
	parked := 0
	var parkedMu sync.Mutex
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	var commits int64
	for b.Loop() {
		b.StopTimer()
		inner, closeStore := open(b)
		s := &countingStore{Store: inner}
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
		var nextChunk atomic.Int64
		for range submitters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(nextChunk.Add(1)-1) * chunk
					if i >= len(raws) {
						return
					}
					for _, r := range p.SubmitMany(ctx, raws[i:min(i+chunk, len(raws))]) {
						if r.Err != nil {
							b.Error(r.Err)
							return
						}
						if r.Status == dag.StatusParked {
							parkedMu.Lock()
							parked++
							parkedMu.Unlock()
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
		commits += s.commits.Load()
		closeStore()
		b.StartTimer()
	}
	n := float64(b.N * len(raws))
	b.ReportMetric(n/b.Elapsed().Seconds(), "tx/s")
	b.ReportMetric(n/float64(commits), "tx/commit")
	b.ReportMetric(float64(parked)/n, "parked/tx")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/tx")
}

// countingStore counts group commits, to report how many transactions
// share one fsync.
type countingStore struct {
	dag.Store
	commits atomic.Int64
}

func (s *countingStore) Commit(w *dag.WriteSet) error {
	s.commits.Add(1)
	return s.Store.Commit(w)
}
