//go:build race

package sim

// raceEnabled shrinks the remaining runs and skips the statistical tests
// (see statistical): the race detector slows the simulator about tenfold.
const raceEnabled = true
