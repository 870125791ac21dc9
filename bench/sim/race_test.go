//go:build race

package sim

// raceEnabled shrinks the theory tests' runs: the race detector slows the
// simulator about tenfold.
const raceEnabled = true
