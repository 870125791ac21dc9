package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestBenchLoad runs a tiny `tangled bench load --in-process` (the test
// binary cannot serve as the node binary) and checks the flag errors.
func TestBenchLoad(t *testing.T) {
	out := t.TempDir()
	small := []string{"bench", "load", "--in-process", "--nodes", "2", "--devices", "2", "--rate", "20",
		"--duration", "1s", "--warmup", "0s", "--grace", "5s"}
	stdout, err := run(t, append(small, "--json", "--out", out)...)
	if err != nil {
		t.Fatal(err)
	}
	var summary map[string]any
	if err := json.Unmarshal([]byte(stdout), &summary); err != nil {
		t.Fatalf("--json printed %q: %v", stdout, err)
	}
	for _, key := range []string{"sent_tx_per_s", "accepted_tx_per_s", "confirmed_tx_per_s", "latency_ms",
		"rejected_by_code", "per_node", "processes", "unconfirmed"} {
		if _, ok := summary[key]; !ok {
			t.Errorf("--json lacks %q", key)
		}
	}
	if summary["unconfirmed"] != 0.0 || summary["accepted"] == 0.0 {
		t.Errorf("accepted %v, unconfirmed %v", summary["accepted"], summary["unconfirmed"])
	}
	for _, name := range []string{"summary.json", "load.csv", "load.png", "load.svg"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "must be positive"},
		{[]string{"--devices", "-1"}, "must be positive"},
		{[]string{"--duration", "0s"}, "must be positive"},
		{[]string{"--rate", "-10"}, "rate"},
		{[]string{"--warmup", "2s"}, "warmup"},
		{[]string{"--nodes", "300"}, "nodes"},
		{[]string{"--binary", "/bin/true"}, "--in-process or --binary"},
		{[]string{"--rate", "fast"}, "invalid value"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := run(t, append(append([]string{}, small...), tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
			continue
		}
		var exit cli.ExitCoder
		if tc.want != "invalid value" && (!asExit(err, &exit) || exit.ExitCode() != 2) {
			t.Errorf("%v: %v is not a usage error (exit code 2)", tc.args, err)
		}
	}
}

func asExit(err error, target *cli.ExitCoder) bool {
	e, ok := err.(cli.ExitCoder)
	if ok {
		*target = e
	}
	return ok
}
