package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag/dagtest"
)

// benchStream is one generated stream shared by every benchmark run:
// signing dominates generation, and the framework calls a benchmark again
// with a larger b.N. A fresh harness has the same genesis (dagtest is
// deterministic), so every prefix of the stream is valid on it.
var benchStream struct {
	sync.Mutex
	gen   *dagtest.Generator
	raws  [][]byte
	jsons [][]byte
}

func benchTransactions(b testing.TB, n int) (raws, jsons [][]byte) {
	b.Helper()
	benchStream.Lock()
	defer benchStream.Unlock()
	if benchStream.gen == nil {
		// Many devices and a lag of a few hundred: under concurrent
		// posting, parents and predecessors are almost always attached
		// before their children arrive, as on a real network.
		benchStream.gen = dagtest.NewGenerator(dagtest.NewNetwork(1, testRules),
			dagtest.GeneratorConfig{Seed: 42, Devices: 4096, Lag: 256, Window: 64, PayloadSize: 64, BeaconEvery: 1000})
	}
	if missing := n - len(benchStream.raws); missing > 0 {
		txs := benchStream.gen.Take(missing)
		for _, tx := range txs {
			data, err := json.Marshal(tx)
			if err != nil {
				b.Fatal(err)
			}
			benchStream.raws = append(benchStream.raws, tx.Bytes())
			benchStream.jsons = append(benchStream.jsons, data)
		}
	}
	return benchStream.raws[:n], benchStream.jsons[:n]
}

// benchHarness is a harness with the API's default limits (but the
// per-client rate) on a real clock, and a client that keeps enough
// connections alive for the benchmark's parallelism.
func benchHarness(b *testing.B) *harness {
	// One client posts everything, faster than the per-client limit
	// (50,000/s) lets one address: that limit is off, the others on.
	h := newHarness(b, harnessConfig{api: Config{Clock: time.Now, ClientRate: -1}})
	tr := h.client.Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	h.client = &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	return h
}

// postParallel sends bodies[i] from parallel clients over keep-alive
// connections and fails on any answer other than 200 or 202.
func postParallel(b *testing.B, h *harness, path, contentType string, bodies [][]byte, parallelism int) {
	b.Helper()
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)-1]
			resp, err := h.client.Post(h.srv.URL+path, contentType, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
				b.Errorf("%d %s", resp.StatusCode, data)
				return
			}
		}
	})
}

func reportTxPerSecond(b *testing.B, txs int) {
	b.ReportMetric(float64(txs)/b.Elapsed().Seconds(), "tx/s")
}

// The single-transaction benchmarks run 32 clients per core, each waiting
// for its transaction to be durable before sending the next: that is how
// devices behave, and it is what fills the pipeline's batches.
const singleParallelism = 32

func BenchmarkSubmitBinary(b *testing.B) { benchSubmitSingle(b, mediaBinary) }

func BenchmarkSubmitJSON(b *testing.B) { benchSubmitSingle(b, mediaJSON) }

func benchSubmitSingle(b *testing.B, media string) {
	raws, jsons := benchTransactions(b, b.N)
	bodies := raws
	if media == mediaJSON {
		bodies = jsons
	}
	h := benchHarness(b)
	b.ReportAllocs()
	b.ResetTimer()
	postParallel(b, h, "/v1/transactions", media, bodies, singleParallelism)
	b.StopTimer()
	reportTxPerSecond(b, b.N)
	if got := h.ledger.Stats(); got.Transactions+uint64(got.Parked) != uint64(b.N) {
		b.Fatalf("stats %+v after %d posts", got, b.N)
	}
}

// BenchmarkSubmitBatch posts binary batches of 256; one op is one batch.
func BenchmarkSubmitBatch(b *testing.B) {
	const size = 256
	raws, _ := benchTransactions(b, b.N*size)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = binaryBatch(raws[i*size : (i+1)*size]...)
	}
	h := benchHarness(b)
	b.ReportAllocs()
	b.ResetTimer()
	postParallel(b, h, "/v1/transactions/batch", mediaBinary, bodies, 2)
	b.StopTimer()
	reportTxPerSecond(b, b.N*size)
	if got := h.ledger.Stats(); got.Transactions+uint64(got.Parked) != uint64(b.N*size) {
		b.Fatalf("stats %+v after %d transactions", got, b.N*size)
	}
}
