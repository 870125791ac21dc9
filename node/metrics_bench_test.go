package node_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
)

// BenchmarkMetricsScrape measures one GET /metrics, over loopback HTTP
// with the text exposition, on a node that holds txs transactions: the
// cost Prometheus puts on a node every scrape interval. The collectors
// read counters and take a few short locks, so the cost should not grow
// with the ledger.
func BenchmarkMetricsScrape(b *testing.B) {
	for _, txs := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("txs=%d", txs), func(b *testing.B) {
			dir := b.TempDir()
			g, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "scrape", Difficulty: &clusterRules})
			if err != nil {
				b.Fatal(err)
			}
			r := start(b, node.Config{
				DataDir: filepath.Join(dir, "data"), GenesisFile: filepath.Join(dir, node.GenesisFile),
				KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)), BeaconInterval: 100 * time.Millisecond,
			})
			gen := dagtest.NewGenerator(&dagtest.Network{Genesis: g}, dagtest.GeneratorConfig{Seed: 1, Devices: 64, BeaconEvery: -1, Step: time.Microsecond})
			ctx := context.Background()
			for left := txs; left > 0; {
				batch := gen.Take(min(left, 2000))
				left -= len(batch)
				for _, res := range r.n.Submit(ctx, batch, nil) {
					if res.Status != dag.StatusAttached {
						b.Fatalf("setup: %v %v", res.Status, res.Err)
					}
				}
			}
			if got := r.n.Ledger().Stats().Transactions; got < uint64(txs) {
				b.Fatalf("ledger holds %d transactions, want %d", got, txs)
			}
			// Timed once the beacons have confirmed everything, so the
			// node's own work does not share the CPU with the scrapes.
			poll.Until(b, 5*time.Minute, "everything confirmed", func() bool {
				return r.n.Ledger().Stats().UnconfirmedData == 0
			})
			url := "http://" + r.n.HTTPAddr() + node.MetricsPath
			var size int64
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := http.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				size, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("scrape: %v %v", resp.Status, err)
				}
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
