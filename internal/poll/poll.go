package poll

import (
	"testing"
	"time"
)

// DefaultWithin is the deadline of the tests' ordinary waits: far above
// what a condition takes on a loaded two-core machine, short enough that
// a hang fails quickly.
const DefaultWithin = 5 * time.Second

// The pause between checks starts at minPause, so a condition that holds
// almost at once costs almost nothing, and doubles up to maxPause, so a
// long wait does not spin.
const (
	minPause = 500 * time.Microsecond
	maxPause = 20 * time.Millisecond
)

// Until checks cond until it holds and fails tb with what if it does not
// within the deadline.
func Until(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	pause := minPause
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPause)
	}
}
