package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSim drives `tangled bench sim` as a user would: --json with the
// fields the issue names, --out files that repeat byte for byte, a sweep,
// and clear errors for bad flags.
func TestBenchSim(t *testing.T) {
	small := []string{"bench", "sim", "--lambda", "20", "--delay", "1", "--count", "5000", "--seed", "3"}
	out, err := run(t, append(small, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var summary map[string]any
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	for _, key := range []string{"mean_tips", "mean_tips_over_lambda_h", "first_approval_mean_from_issue",
		"first_approval_mean_from_visible", "mean_direct_approvers", "left_behind_fraction", "transactions", "wall_seconds"} {
		if _, ok := summary[key]; !ok {
			t.Errorf("--json lacks %q", key)
		}
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("--json printed more than one line: %q", out)
	}

	dirs := []string{t.TempDir(), t.TempDir()}
	for _, dir := range dirs {
		if out, err := run(t, append(small, "--out", dir)...); err != nil || !strings.Contains(out, "mean tips L") {
			t.Fatalf("--out: %q, %v", out, err)
		}
	}
	for _, name := range []string{"summary.json", "series.csv", "cw_growth.csv", "latency.csv", "approvers.csv", "tips.png", "tips.svg", "latency.svg"} {
		a, errA := os.ReadFile(filepath.Join(dirs[0], name))
		b, errB := os.ReadFile(filepath.Join(dirs[1], name))
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("%s: not identical across runs with one seed (%v, %v)", name, errA, errB)
		}
	}

	// The renamed and the new tip rules reach the summary; --expiry is the
	// old name of --retention.
	for _, tc := range []struct {
		args []string
		key  string
		want any
	}{
		{[]string{"--expiry", "3"}, "retention", 3.0},
		{[]string{"--retention", "2"}, "retention", 2.0},
		{[]string{"--tip-expiry", "4"}, "tip_expiry", 4.0},
		{[]string{"--tip-expiry", "4"}, "engine", "model"},
		{[]string{"--draw", "replacement"}, "draw", "replacement"},
		{[]string{"--tipsel", "mcmc", "--start", "genesis"}, "start", "genesis"},
		{[]string{"--tipsel", "mcmc", "--start", "genesis", "--engine", "model", "--alpha", "0.1"}, "engine", "model"},
	} {
		quick := []string{"bench", "sim", "--lambda", "20", "--delay", "1", "--count", "1500", "--seed", "3", "--json"}
		out, err := run(t, append(quick, tc.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil || got[tc.key] != tc.want {
			t.Errorf("%v: %s = %v (%v), want %v", tc.args, tc.key, got[tc.key], err, tc.want)
		}
	}

	// The network model: its JSON section, a topology file, and a sweep
	// over N with its plot.
	topo := filepath.Join(t.TempDir(), "ring.txt")
	if err := os.WriteFile(topo, []byte("# a ring of four\n0 1\n1 2\n2 3\n3 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	netArgs := []string{"bench", "sim", "--lambda", "20", "--latency", "0.2", "--count", "1500", "--confirm", "aw:0.5", "--json"}
	for _, tc := range []struct {
		args     []string
		nodes    float64
		topology string
		issuers  float64
	}{
		{[]string{"--nodes", "16", "--topology", "regular:4", "--weights", "zipf:1"}, 16, "regular:4", 3}, // H(2) < H(16)/2 < H(3)
		{[]string{"--nodes", "4", "--topology", "file:" + topo}, 4, "file:" + topo, 3},
	} {
		out, err := run(t, append(append([]string{}, netArgs...), tc.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var got struct {
			Network map[string]any `json:"network"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Network == nil {
			t.Fatalf("%v: %q, %v", tc.args, out, err)
		}
		if got.Network["nodes"] != tc.nodes || got.Network["topology"] != tc.topology || got.Network["issuers_to_threshold"] != tc.issuers {
			t.Errorf("%v: network %v", tc.args, got.Network)
		}
	}
	netDir := t.TempDir()
	if _, err := run(t, append(append([]string{}, netArgs...), "--topology", "regular:4", "--sweep", "nodes=8,16", "--out", netDir)...); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sweep.csv", "sweep.png", "sweep.svg", "nodes=8/summary.json"} {
		if _, err := os.Stat(filepath.Join(netDir, name)); err != nil {
			t.Error(err)
		}
	}

	sweepDir := t.TempDir()
	out, err = run(t, append(small, "--sweep", "lambda=10,20", "--out", sweepDir, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var sweep struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sweep); err != nil || len(sweep.Runs) != 2 {
		t.Fatalf("sweep --json: %q, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(sweepDir, "lambda=10", "series.csv")); err != nil {
		t.Error(err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--lambda", "0"}, "lambda"},
		{[]string{"--lambda", "-3"}, "lambda"},
		{[]string{"--delay", "0"}, "--delay"},
		{[]string{"--delay", "soon"}, "--delay"},
		{[]string{"--parents", "1"}, "parents"},
		{[]string{"--parents", "3", "--tipsel", "mcmc"}, "model engine"},
		{[]string{"--tipsel", "mcmc", "--alpha", "0.1", "--engine", "model"}, "model engine"},
		{[]string{"--tipsel", "best"}, "tip selection"},
		{[]string{"--model", "batch"}, "model"},
		{[]string{"--confirm", "cw:0"}, "--confirm"},
		{[]string{"--sweep", "height=1,2"}, "--sweep"},
		{[]string{"--count", "10"}, "too short"},
		{[]string{"--draw", "some"}, "draw"},
		{[]string{"--tipsel", "mcmc", "--start", "middle"}, "start"},
		{[]string{"--tip-expiry", "-1"}, "--tip-expiry"},
		{[]string{"--retention", "soon"}, "--retention"},
		{[]string{"--nodes", "1"}, "nodes"},
		{[]string{"--nodes", "10", "--topology", "star"}, "--topology"},
		{[]string{"--nodes", "9", "--topology", "regular:3"}, "regular"},
		{[]string{"--nodes", "10", "--weights", "zipf:-1"}, "--weights"},
		{[]string{"--nodes", "10", "--loss", "1"}, "loss"},
		{[]string{"--nodes", "10", "--topology", "file:/nonexistent"}, "--topology"},
	} {
		_, err := run(t, append(append([]string{}, small...), tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}
