package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEnginesAgree is the metamorphic test of the model engine: on the same
// seeded stream, uniform selection with k = 2 over the simulator's own
// index-based tangle makes exactly the choices that the real dag.Ledger and
// tipselect.URTS make, so every output (summary, series, cumulative
// weights, latencies) is identical. The model engine's results for k ≠ 2
// rest on this.
func TestEnginesAgree(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"constant delay", Config{Lambda: 50, Delay: ConstantDelay(2 * time.Second)}},
		{"exponential delay", Config{Lambda: 30, Delay: ExpDelay(time.Second)}},
		{"low load", Config{Lambda: 2, Delay: ConstantDelay(time.Second)}},
		{"discrete", Config{Lambda: 50, Delay: ConstantDelay(time.Second), Model: Discrete}},
		{"approval weight", Config{Lambda: 50, Delay: ConstantDelay(time.Second), Confirm: Confirm{Issuers: []float64{5, 3, 1, 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results := map[Engine]*Result{}
			for _, e := range []Engine{EngineDAG, EngineModel} {
				cfg := tc.cfg
				cfg.Count, cfg.Seed, cfg.Engine = scaled(40_000), 21, e
				res, err := Run(cfg)
				if err != nil {
					t.Fatal(err)
				}
				res.Summary = res.Summary.Deterministic()
				res.Summary.Engine = ""
				results[e] = res
			}
			if diff := cmp.Diff(results[EngineDAG], results[EngineModel]); diff != "" {
				t.Errorf("dag and model engines differ (-dag +model):\n%s", diff)
			}
		})
	}
}

// TestSameSeedSameBytes: two runs of one configuration write identical
// files, plots included; another seed changes them.
func TestSameSeedSameBytes(t *testing.T) {
	cfg := Config{Lambda: 40, Delay: ExpDelay(time.Second), Count: scaled(20_000), Seed: 9}
	write := func(cfg Config) string {
		res, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := res.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	a, b := write(cfg), write(cfg)
	other := cfg
	other.Seed++
	c := write(other)
	files, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 11 {
		t.Errorf("wrote %d files, want 5 data files and 3 plots in 2 formats", len(files))
	}
	for _, f := range files {
		x := read(t, filepath.Join(a, f.Name()))
		if !bytes.Equal(x, read(t, filepath.Join(b, f.Name()))) {
			t.Errorf("%s differs between two runs with the same seed", f.Name())
		}
		if f.Name() == FileSeries && bytes.Equal(x, read(t, filepath.Join(c, f.Name()))) {
			t.Errorf("%s is the same for another seed", f.Name())
		}
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
