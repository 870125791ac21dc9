package dag_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

var streams sync.Map // key string -> []*dag.Transaction

// benchStream returns a cached generated stream: signing dominates
// generation, so each shape is built once per process.
func benchStream(validators, n, beaconEvery int) (*dagtest.Network, []*dag.Transaction) {
	return laggedStream(validators, n, beaconEvery, 0, 256)
}

func laggedStream(validators, n, beaconEvery, lag, devices int) (*dagtest.Network, []*dag.Transaction) {
	net := dagtest.NewNetwork(validators, dagtestRules())
	key := fmt.Sprintf("%d/%d/%d/%d/%d", validators, n, beaconEvery, lag, devices)
	if s, ok := streams.Load(key); ok {
		return net, s.([]*dag.Transaction)
	}
	s := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 1, BeaconEvery: beaconEvery, Devices: devices, Lag: lag}).Take(n)
	streams.Store(key, s)
	return net, s
}

func openMem(tb testing.TB, net *dagtest.Network) *dag.Ledger {
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, Now: func() time.Time { return dagtest.GenesisTime.Add(24 * time.Hour) }})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// BenchmarkPropagation measures the whole in-memory attach cost (solidify,
// chain checks, work check, tips, approval-weight propagation and
// confirmation) per transaction, with 1, 4 and 16 validators each issuing a
// beacon every 50 data transactions. The difference between the rows is the
// cost of propagating more validators' bits.
func BenchmarkPropagation(b *testing.B) {
	for _, v := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("validators=%d", v), func(b *testing.B) {
			net, stream := benchStream(v, 20_000, 50)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				l := openMem(b, net)
				b.StartTimer()
				for i := 0; i < len(stream); i += 512 {
					if _, err := l.AttachVerified(stream[i:min(i+512, len(stream))]).Wait(); err != nil {
						b.Fatal(err)
					}
				}
				if s := l.Stats(); s.Confirmed < len(stream)/2 {
					b.Fatalf("only %d of %d confirmed", s.Confirmed, len(stream))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(stream)), "ns/tx")
		})
	}
}

// BenchmarkLedgerMemory reports the heap the ledger keeps per attached
// transaction (its in-memory metadata; bodies live in the store).
func BenchmarkLedgerMemory(b *testing.B) {
	net, stream := benchStream(4, 100_000, 50)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		l := openMem(b, net)
		for i := 0; i < len(stream); i += 1024 {
			if _, err := l.AttachVerified(stream[i:min(i+1024, len(stream))]).Wait(); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(stream)), "heap-B/tx")
		runtime.KeepAlive(l)
	}
}
