package storage

import "sync/atomic"

// GCStats counts value-log garbage collection since the store opened.
type GCStats struct {
	// Runs counts collections (one per GCInterval tick), Rewrites the
	// value-log files rewritten, Errors the collections that failed.
	Runs, Rewrites, Errors uint64
	// Redeletes counts the GC runs after which pruned transactions' bytes
	// were deleted again (zombies.go).
	Redeletes uint64
}

type gcCounters struct {
	runs, rewrites, errors atomic.Uint64
}

// GCStats returns the value-log GC counters.
func (s *Badger) GCStats() GCStats {
	return GCStats{Runs: s.gc.runs.Load(), Rewrites: s.gc.rewrites.Load(), Errors: s.gc.errors.Load(), Redeletes: s.zombies.rounds.Load()}
}
