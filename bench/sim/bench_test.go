package sim

import (
	"testing"
	"time"
)

// The simulator's speed in simulated transactions per wall second, at
// λh = 100. One op is one whole run of runCount transactions, so that
// warm-up and the growth of the ledger are part of what is measured.
const runCount = 100_000

func benchmarkRun(b *testing.B, cfg Config) {
	b.ReportAllocs()
	cfg.Lambda, cfg.Delay, cfg.Count, cfg.Seed = 50, ConstantDelay(2*time.Second), runCount, 1
	for b.Loop() {
		if _, err := Run(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(runCount*b.N)/b.Elapsed().Seconds(), "tx/s")
}

func BenchmarkRunURTS(b *testing.B)  { benchmarkRun(b, Config{}) }
func BenchmarkRunModel(b *testing.B) { benchmarkRun(b, Config{Engine: EngineModel}) }
func BenchmarkRunModelK4(b *testing.B) {
	benchmarkRun(b, Config{Parents: 4})
}
func BenchmarkRunMCMC(b *testing.B)        { benchmarkRun(b, Config{TipSelection: MCMC}) }
func BenchmarkRunMCMCAlpha01(b *testing.B) { benchmarkRun(b, Config{TipSelection: MCMC, Alpha: 0.1}) }

// The walk from the genesis with exact cumulative weights on the model
// engine, issue 15's workload against res-sim-tangle: λ = 10, h = 1,
// 50,000 transactions per op.
func benchmarkGenesis(b *testing.B, alpha float64) {
	b.ReportAllocs()
	const count = 50_000
	cfg := Config{
		Lambda: 10, Delay: ConstantDelay(time.Second), Count: count, Seed: 1,
		TipSelection: MCMC, Start: StartGenesis, Engine: EngineModel, Alpha: alpha,
	}
	for b.Loop() {
		if _, err := Run(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(count*b.N)/b.Elapsed().Seconds(), "tx/s")
}

func BenchmarkGenesisWalk(b *testing.B)        { benchmarkGenesis(b, 0) }
func BenchmarkGenesisWalkAlpha01(b *testing.B) { benchmarkGenesis(b, 0.1) }
