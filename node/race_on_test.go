//go:build race

package node_test

// raceEnabled: the race detector slows every process several times;
// long scenarios shorten their schedules under it.
const raceEnabled = true
