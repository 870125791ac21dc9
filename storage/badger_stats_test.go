package storage

import (
	"context"
	"testing"
	"time"
)

// TestBadgerGCStats: each tick of Run counts one collection, and a
// store with nothing to collect counts no error.
func TestBadgerGCStats(t *testing.T) {
	opts := testOptions
	opts.GCInterval = time.Millisecond
	s := openBadger(t, t.TempDir(), opts)
	if got := s.GCStats(); got != (GCStats{}) {
		t.Fatalf("a fresh store counts %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.GCStats(); got.Runs == 0 || got.Errors != 0 {
		t.Errorf("GCStats() = %+v; want runs and no errors", got)
	}
}
