package main

import (
	"testing"

	"github.com/tangled-ledger/tangled/dag"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "256MiB", want: 256 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "500MB", want: 500e6},
		{in: "4096", want: 4096},
		{in: "12 KiB", want: 12 << 10},
		{in: "7B", want: 7},
		{in: "-1", want: -1},
		{in: "0", want: 0},
		{in: "", bad: true},
		{in: "lots", bad: true},
		{in: "1.5GiB", bad: true},
		{in: "MiB", bad: true},
		{in: "9999999999TiB", bad: true},
	} {
		got, err := parseByteSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseByteSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// The ledger-memory setting's default text is the ledger's default.
func TestLedgerMemoryDefault(t *testing.T) {
	s, ok := settingByName("ledger-memory")
	if !ok {
		t.Fatal("no ledger-memory setting")
	}
	if got, err := parseByteSize(s.def); err != nil || got != dag.DefaultMemoryBudget {
		t.Errorf("default %q = %d, %v; dag.DefaultMemoryBudget is %d", s.def, got, err, dag.DefaultMemoryBudget)
	}
}
