package node_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/internal/poll"
)

// BenchmarkCheckpointLatency: four validators in this process (real QUIC
// on loopback); each iteration posts a batch of 20 readings to one node
// and measures, on that node, from the moment all are confirmed to the
// moment a final checkpoint (cosigned by three or four validators) covers
// them: how long evidence lags confirmation. Batches start at a random
// phase of the one-second checkpoint interval. Reports the median
// (lag_p50_ms) and the largest (lag_max_ms) over the iterations, and the
// median confirmation time (confirm_p50_ms) for scale.
func BenchmarkCheckpointLatency(b *testing.B) {
	c := newCluster(b, 4)
	c.startAll()
	gen := c.generator()
	m := c.members[0]
	l, audit := m.r.n.Ledger(), m.r.n.AuditLog()
	var lags, confirms []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for range b.N {
		// Start at a random phase of the checkpoint interval: right after
		// the previous checkpoint every batch would wait the longest.
		b.StopTimer()
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
		b.StartTimer()
		txs := gen.Take(20)
		sent := time.Now()
		c.post(txs, len(txs), func(int) *member { return m })
		var confirmed time.Time
		poll.Until(b, 30*time.Second, "the batch confirmed", func() bool {
			for _, tx := range txs {
				if info, ok := l.Info(tx.ID()); !ok || !info.Confirmed {
					return false
				}
			}
			confirmed = time.Now()
			return true
		})
		poll.Until(b, 30*time.Second, "a final checkpoint over the batch", func() bool {
			f, _, ok := audit.Latest()
			if !ok {
				return false
			}
			for _, tx := range txs {
				if i, err := audit.IndexOf(tx.ID()); err != nil || i >= f.Size {
					return false
				}
			}
			return true
		})
		lags = append(lags, time.Since(confirmed))
		confirms = append(confirms, confirmed.Sub(sent))
	}
	b.StopTimer()
	slices.Sort(lags)
	slices.Sort(confirms)
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag_p50_ms")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "lag_max_ms")
	b.ReportMetric(float64(confirms[len(confirms)/2].Milliseconds()), "confirm_p50_ms")
	_ = dag.KindData
}
