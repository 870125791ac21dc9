package node_test

import (
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/internal/poll"
)

// TestMetricsPruning: the pruning series of a real validator that prunes
// everything past a nanosecond, under a disk budget it never reaches,
// report what Node.PruneStats counts: counters between the stats read
// before and after the scrape, the budget as configured, and a directory
// size that the loop measured.
func TestMetricsPruning(t *testing.T) {
	c := newCluster(t, 1)
	m := c.members[0]
	cfg := pruneConfig(m, c.genesis, 64<<20)
	cfg.PruneAfter = time.Nanosecond
	m.r = start(t, cfg)
	txs := c.generator().Take(1500)
	c.post(txs, 500, func(int) *member { return m })
	c.waitConfirmed([]*member{m}, txs[len(txs)-20:], 30*time.Second)
	poll.Until(t, 30*time.Second, "the validator to prune", func() bool { return m.r.n.PruneStats().Pruned > 0 })

	before := m.r.n.PruneStats()
	families := scrape(t, "http://"+m.r.n.HTTPAddr())
	after := m.r.n.PruneStats()
	value := func(name string) float64 {
		t.Helper()
		f, ok := families[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: not served as one series", name)
		}
		if g := f.GetMetric()[0].GetGauge(); g != nil {
			return g.GetValue()
		}
		return f.GetMetric()[0].GetCounter().GetValue()
	}
	for _, tc := range []struct {
		name    string
		lo, hi  uint64
		atLeast uint64
	}{
		{"tangled_prune_runs_total", before.Runs, after.Runs, 1},
		{"tangled_prune_transactions_total", before.Pruned, after.Pruned, 1},
		// Under the budget: nothing forces a reclaim, nothing fails.
		{"tangled_prune_reclaims_total", before.Reclaims, after.Reclaims, 0},
		{"tangled_prune_errors_total", before.Errors, after.Errors, 0},
		{"tangled_prune_audit_compacted_leaves_total", before.CompactedLeaves, after.CompactedLeaves, 0},
		{"tangled_prune_audit_compacted_claims_total", before.CompactedClaims, after.CompactedClaims, 0},
	} {
		got := value(tc.name)
		if got < float64(tc.lo) || got > float64(tc.hi) || got < float64(tc.atLeast) {
			t.Errorf("%s = %v, want between %d and %d (PruneStats before and after the scrape), at least %d", tc.name, got, tc.lo, tc.hi, tc.atLeast)
		}
	}
	if after.Reclaims != 0 || after.Errors != 0 {
		t.Errorf("under the budget: %+v, want no reclaims and no errors", after)
	}
	if got := value("tangled_prune_disk_budget_bytes"); got != float64(cfg.DiskBudget) {
		t.Errorf("tangled_prune_disk_budget_bytes = %v, want %d", got, cfg.DiskBudget)
	}
	if got := value("tangled_prune_disk_bytes"); got <= 0 || got > float64(cfg.DiskBudget) {
		t.Errorf("tangled_prune_disk_bytes = %v, want a measured size under the budget of %d", got, cfg.DiskBudget)
	}
	if got := value("tangled_prune_audit_compacted_kept"); got < 0 || got > float64(m.r.n.AuditLog().Compacted()) {
		t.Errorf("tangled_prune_audit_compacted_kept = %v, want between 0 and the %d leaves of the compacted blocks", got, m.r.n.AuditLog().Compacted())
	}
	if got := value("tangled_prune_frontier"); got < 0 || got > float64(len(txs)) {
		t.Errorf("tangled_prune_frontier = %v, want between 0 and the %d transactions posted", got, len(txs))
	}
}
