package policy

import (
	"os"
	"strings"
	"testing"
	"time"
)

// celVersion is the cel-go release the network's verdicts are defined
// by. Upgrading it is a consensus change: every node must move at once,
// at a genesis or protocol version boundary, after the costs below are
// checked.
const celVersion = "v0.33.3"

func TestCELPinned(t *testing.T) {
	// Test binaries carry no dependency list (debug.ReadBuildInfo), so the
	// pin is read where it lives: the module's go.mod.
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "cel.dev/cel-go" {
			if f[1] != celVersion {
				t.Fatalf("go.mod requires cel-go %s; the network's verdicts are defined by %s: a different release may price and judge policies differently", f[1], celVersion)
			}
			return
		}
	}
	t.Fatal("go.mod does not require cel.dev/cel-go")
}

// TestCostsGolden fixes the estimated and actual costs of the benchmark
// policies: costs are part of consensus (a verdict at the cost limit
// depends on them), and they move between cel-go releases.
func TestCostsGolden(t *testing.T) {
	base := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	in := &Input{
		Tx:      Tx{Kind: "command", Seq: 9, Time: base, Payload: make([]byte, 64), Issuer: "ab12", Target: "d1"},
		Device:  Device{ID: "d1", Class: "lock", Owner: "ab12", State: "active", Attributes: map[string]string{"site": "north"}, Firmware: 5},
		History: History{Count: 9, LastTime: base - int64(time.Minute), InWindow: 3},
	}
	want := map[string][3]uint64{ // estimate min, max; actual
		"thermostat":     {2, 9, 8},
		"lock":           {2, 26, 14},
		"firmware-floor": {2, 2, 2},
		"six-clause":     {2, 14, 14},
	}
	for _, bp := range benchPolicies {
		p, err := Compile(src(readAll, bp.expr), Limits{MaxPayload: 4096})
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := p.EstimatedCost()
		got := [3]uint64{lo, hi, p.Eval(in).Cost}
		if got != want[bp.name] {
			t.Errorf("%s: costs %v, want %v", bp.name, got, want[bp.name])
		}
	}
}
