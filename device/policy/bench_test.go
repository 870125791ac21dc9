package policy

import (
	"slices"
	"testing"
	"time"
)

// benchPolicies are the shipped examples' rules (examples/policies) and a
// six-clause policy reading every group.
var benchPolicies = []struct{ name, expr string }{
	{"thermostat", `tx.size <= 256 && (history.count == 0 || tx.time - history.last_time >= duration("10s"))`},
	{"lock", `tx.kind != "command" || tx.target != device.id || (tx.issuer == device.owner && tx.time.getHours() >= 8 && tx.time.getHours() < 18)`},
	{"firmware-floor", `device.firmware >= 4`},
	{"six-clause", `device.state == "active" && tx.size <= 256 && "site" in device.attributes && device.attributes["site"] == "north" && history.in_window < 10 && tx.time.getHours() < 23`},
}

// BenchmarkEval measures one evaluation with the cost limit on, as the
// registry runs it (inputs already built): evaluations per second per
// core and the 99th percentile. The goals: ≥ 50,000/s per core,
// p99 ≤ 50 µs.
func BenchmarkEval(b *testing.B) {
	base := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	in := &Input{
		Tx:      Tx{Kind: "command", Seq: 9, Time: base, Payload: make([]byte, 64), Issuer: "ab12", Target: "d1"},
		Device:  Device{ID: "d1", Class: "lock", Owner: "ab12", State: "active", Key: "cd34", Attributes: map[string]string{"site": "north", "firmware": "5"}, Firmware: 5},
		History: History{Count: 9, LastTime: base - int64(time.Minute), InWindow: 3},
	}
	for _, bp := range benchPolicies {
		b.Run(bp.name, func(b *testing.B) {
			p, err := Compile(src(readAll, bp.expr), Limits{MaxPayload: 4096})
			if err != nil {
				b.Fatal(err)
			}
			if v := p.Eval(in); !v.Allow || v.Err != nil {
				b.Fatalf("verdict %+v", v)
			}
			samples := make([]time.Duration, 0, 1<<20)
			for b.Loop() {
				start := time.Now()
				p.Eval(in)
				if len(samples) < cap(samples) {
					samples = append(samples, time.Since(start))
				}
			}
			slices.Sort(samples)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
			b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
