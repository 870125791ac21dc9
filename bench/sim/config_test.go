package sim

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInvalidConfig(t *testing.T) {
	ok := Config{Lambda: 10, Count: 100}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"zero lambda", func(c *Config) { c.Lambda = 0 }},
		{"negative lambda", func(c *Config) { c.Lambda = -1 }},
		{"NaN lambda", func(c *Config) { c.Lambda = math.NaN() }},
		{"one parent", func(c *Config) { c.Parents = 1 }},
		{"too many parents", func(c *Config) { c.Parents = MaxParents + 1 }},
		{"k=3 on the dag", func(c *Config) { c.Parents, c.Engine = 3, EngineDAG }},
		{"biased mcmc on the model", func(c *Config) { c.TipSelection, c.Engine, c.Alpha = MCMC, EngineModel, 0.1 }},
		{"age start on the model", func(c *Config) { c.TipSelection, c.Engine, c.Start = MCMC, EngineModel, StartAged }},
		{"unknown tipsel", func(c *Config) { c.TipSelection = "random" }},
		{"negative alpha", func(c *Config) { c.Alpha = -1 }},
		{"infinite alpha", func(c *Config) { c.Alpha = math.Inf(1) }},
		{"negative count", func(c *Config) { c.Count = -1 }},
		{"negative retention", func(c *Config) { c.Retention = -time.Second }},
		{"negative tip expiry", func(c *Config) { c.TipExpiry = -time.Second }},
		{"unknown draw", func(c *Config) { c.Draw = "some" }},
		{"unknown start", func(c *Config) { c.Start = "middle" }},
		{"tip expiry on the dag", func(c *Config) { c.TipExpiry, c.Engine = time.Second, EngineDAG }},
		{"replacement on the dag", func(c *Config) { c.Draw, c.Engine = DrawReplacement, EngineDAG }},
		{"unknown model", func(c *Config) { c.Model = "batch" }},
		{"unknown engine", func(c *Config) { c.Engine = "fast" }},
		{"zero quorum weight", func(c *Config) { c.Confirm = Confirm{Issuers: []float64{1, 0}} }},
		{"quorum 1", func(c *Config) { c.Confirm = Confirm{Issuers: []float64{1}, Quorum: 1} }},
		{"too short", func(c *Config) { c.Count = 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			cfg.Count = 5000
			tc.edit(&cfg)
			if _, err := Run(cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("Run: %v, want an error wrapping ErrConfig", err)
			}
		})
	}
}

func TestParseDelay(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Delay
	}{
		{"2", ConstantDelay(2 * time.Second)},
		{"0.5", ConstantDelay(500 * time.Millisecond)},
		{"250ms", ConstantDelay(250 * time.Millisecond)},
		{"exp:2", ExpDelay(2 * time.Second)},
		{"uniform:1,3", UniformDelay{Min: time.Second, Max: 3 * time.Second}},
		{"0", nil}, {"-1", nil}, {"exp:", nil}, {"uniform:3,1", nil}, {"uniform:1", nil}, {"gamma:2", nil}, {"soon", nil},
	} {
		got, err := ParseDelay(tc.in)
		if tc.want == nil {
			if !errors.Is(err, ErrConfig) {
				t.Errorf("ParseDelay(%q) = %v, %v; want an error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDelay(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, err := ParseDelay(got.String()); err != nil || back != got {
			t.Errorf("ParseDelay(%q.String() = %q) = %v, %v", tc.in, got.String(), back, err)
		}
	}
}

func TestParseConfirm(t *testing.T) {
	for _, tc := range []struct {
		rule, issuers string
		want          Confirm
		ok            bool
	}{
		{"cw:50", "", Confirm{CWThreshold: 50}, true},
		{"aw:0.67", "3", Confirm{Quorum: 0.67, Issuers: []float64{1, 1, 1}}, true},
		{"aw:0.5", "5,3,2", Confirm{Quorum: 0.5, Issuers: []float64{5, 3, 2}}, true},
		{"cw:0", "", Confirm{}, false},
		{"aw:1", "3", Confirm{}, false},
		{"aw:0.5", "100001", Confirm{}, false},
		{"aw:0.5", "1,-1", Confirm{}, false},
		{"weight:3", "", Confirm{}, false},
	} {
		got, err := ParseConfirm(tc.rule, tc.issuers)
		if (err == nil) != tc.ok {
			t.Errorf("ParseConfirm(%q, %q): error %v, want ok=%v", tc.rule, tc.issuers, err, tc.ok)
			continue
		}
		if diff := cmp.Diff(tc.want, got); tc.ok && diff != "" {
			t.Errorf("ParseConfirm(%q, %q) (-want +got):\n%s", tc.rule, tc.issuers, diff)
		}
	}
}

func TestParseSweep(t *testing.T) {
	sw, err := ParseSweep("alpha=0, 0.1,1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Sweep{Param: "alpha", Values: []string{"0", "0.1", "1"}}, sw); diff != "" {
		t.Error(diff)
	}
	cfg, err := sw.Apply(Config{Lambda: 3}, "0.1")
	if err != nil || cfg.Alpha != 0.1 || cfg.Lambda != 3 {
		t.Errorf("Apply = %+v, %v", cfg, err)
	}
	for _, bad := range []string{"lambda", "lambda=", "lambda=1,x", "height=1,2", "delay=2,exp:"} {
		if _, err := ParseSweep(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseSweep(%q): %v, want an error", bad, err)
		}
	}
}
