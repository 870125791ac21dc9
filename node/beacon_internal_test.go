package node

import (
	"fmt"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
)

// TestBeaconRoundTurns: in round k the validators from index k mod n on
// issue, just enough of them to pass the threshold, so every validator
// takes its turns and a round costs as few beacons as confirmation needs.
func TestBeaconRoundTurns(t *testing.T) {
	tests := []struct {
		weights   []uint64
		threshold dag.Threshold
		round     int64
		want      []int // the issuing validators' indices
	}{
		{[]uint64{1}, dag.DefaultThreshold, 7, []int{0}},
		{[]uint64{1, 1}, dag.DefaultThreshold, 0, []int{0, 1}},
		{[]uint64{1, 1, 1}, dag.DefaultThreshold, 5, []int{0, 1, 2}},
		{[]uint64{1, 1, 1, 1}, dag.DefaultThreshold, 0, []int{0, 1, 2}},
		{[]uint64{1, 1, 1, 1}, dag.DefaultThreshold, 1, []int{1, 2, 3}},
		{[]uint64{1, 1, 1, 1}, dag.DefaultThreshold, 3, []int{0, 1, 3}},
		{[]uint64{1, 1, 1, 1}, dag.Threshold{Numerator: 1, Denominator: 2}, 2, []int{2, 3, 0}},
		// A heavy validator passes two thirds with one other.
		{[]uint64{5, 1, 1, 1}, dag.DefaultThreshold, 0, []int{0, 1}},
		{[]uint64{5, 1, 1, 1}, dag.DefaultThreshold, 1, []int{0, 1, 2, 3}},
		{[]uint64{5, 1, 1, 1}, dag.DefaultThreshold, 3, []int{0, 3}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.weights, tc.threshold, tc.round), func(t *testing.T) {
			var total uint64
			for _, w := range tc.weights {
				total += w
			}
			var got []int
			for me := range tc.weights {
				b := &beaconer{me: me, weights: tc.weights, total: total, threshold: tc.threshold}
				if b.issuesIn(tc.round) {
					got = append(got, me)
				}
			}
			want := map[int]bool{}
			for _, v := range tc.want {
				want[v] = true
			}
			if len(got) != len(want) {
				t.Fatalf("issuing %v, want %v", got, tc.want)
			}
			for _, v := range got {
				if !want[v] {
					t.Fatalf("issuing %v, want %v", got, tc.want)
				}
			}
			var weight uint64
			for _, v := range got {
				weight += tc.weights[v]
			}
			b := &beaconer{weights: tc.weights, total: total, threshold: tc.threshold}
			if !b.passes(weight) {
				t.Fatalf("the issuing validators' weight %d of %d does not pass %v", weight, total, tc.threshold)
			}
		})
	}
}
