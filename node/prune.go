package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/storage"
)

// Pruning keeps the store within Config.DiskBudget and drops confirmed
// history older than Config.PruneAfter (docs/design/2026-12-03-pruning.md):
// every PruneInterval the prune loop measures the database directory and
// asks the ledger to prune (dag.Ledger.Prune), oldest confirmed first:
// past the retention when there is one, everything the ledger may prune
// while the store is over budget. What the ledger may prune is confirmed,
// archived (beyond LedgerMemory) data, beacons and checkpoint
// cosignatures that no kept transaction references; device state, the
// registry, firmware state and the audit log's keyspace are never pruned.

// DefaultPruneInterval is how often a pruning node checks its disk.
const DefaultPruneInterval = 30 * time.Second

const (
	// pruneBatch bounds the confirmed positions one Ledger.Prune call
	// examines: the writer's lock is taken once per call, for the deletion.
	pruneBatch = 20_000
	// pruneTarget: over budget means above this share of it, so that the
	// traffic of the next interval fits in the rest.
	pruneTarget = 0.8
	// valueLogFilesPerBudget sizes value-log files when a budget is set:
	// GC reclaims a file at a time and Badger preallocates the active one,
	// so a file is a small share of the budget.
	valueLogFilesPerBudget = 32
)

// pruneStats are the prune loop's counters (PruneStats).
type pruneStats struct {
	runs, pruned, reclaims, errors atomic.Uint64
	diskSize, frontier             atomic.Int64
	// The audit log's compaction (compactAudit).
	compactedLeaves, compactedClaims atomic.Uint64
	compactedKept                    atomic.Int64
	// compactedOnce: compactAudit ran since the node started (a restart
	// compacts what the last run pruned but had not compacted). The
	// prune loop's goroutine's own, unlike the counters above.
	compactedOnce bool
}

// PruneStats is what the prune loop has done since the node started.
type PruneStats struct {
	// Runs counts prune loop iterations that pruned (past the retention or
	// over budget); Pruned the transactions they removed.
	Runs, Pruned uint64
	// Reclaims counts forced value-log collections (over budget).
	Reclaims uint64
	Errors   uint64
	// DiskSize is the database directory's size at the last check, in
	// bytes; Frontier the transactions kept only because a kept one still
	// references them.
	DiskSize, Frontier int64
	// CompactedLeaves counts the audit log's leaves whose index and
	// proof-only nodes compaction dropped (their transactions pruned),
	// CompactedClaims the old cosignature claims it dropped;
	// CompactedKept is how many leaves of its compacted blocks stay
	// indexed (the ledger keeps their transactions), at the last pass.
	CompactedLeaves, CompactedClaims uint64
	CompactedKept                    int64
}

// PruneStats reports the prune loop's counters.
func (n *Node) PruneStats() PruneStats {
	s := &n.prune
	return PruneStats{Runs: s.runs.Load(), Pruned: s.pruned.Load(), Reclaims: s.reclaims.Load(),
		Errors: s.errors.Load(), DiskSize: s.diskSize.Load(), Frontier: s.frontier.Load(),
		CompactedLeaves: s.compactedLeaves.Load(), CompactedClaims: s.compactedClaims.Load(), CompactedKept: s.compactedKept.Load()}
}

func (c Config) pruning() bool { return c.DiskBudget > 0 || c.PruneAfter > 0 }

func (c Config) pruneInterval() time.Duration {
	if c.PruneInterval > 0 {
		return c.PruneInterval
	}
	return DefaultPruneInterval
}

// minDiskBudget is the smallest budget accepted: Badger preallocates its
// memtable logs (twice MemTableSize each, two of them at times), the
// active value-log file and the discard statistics before the first
// transaction, and pruning needs room above that.
func (c Config) minDiskBudget() int64 {
	mem := c.Storage.MemTableSize
	if mem == 0 {
		mem = storage.DefaultMemTableSize
	}
	return 4*mem + 16<<20
}

func (c Config) validatePruning() error {
	switch {
	case c.DiskBudget < 0:
		return fmt.Errorf("node: negative disk budget %d", c.DiskBudget)
	case c.DiskBudget > 0 && c.DiskBudget < c.minDiskBudget():
		return fmt.Errorf("node: disk budget of %d bytes is below the minimum of %d MiB for this memtable size (4 memtables + 16 MiB)", c.DiskBudget, c.minDiskBudget()>>20)
	case c.PruneAfter < 0 || c.PruneInterval < 0:
		return errors.New("node: negative prune interval or retention")
	case c.pruning() && c.LedgerMemory < 0:
		return errors.New("node: pruning needs archiving: a disk budget or prune-after with ledger-memory -1 (everything in memory) prunes nothing")
	}
	return nil
}

// withPruningStorage sizes value-log files to the budget, unless set.
func (c Config) withPruningStorage() storage.Options {
	opts := c.Storage
	if c.DiskBudget > 0 && opts.ValueLogFileSize == 0 {
		size := c.DiskBudget / valueLogFilesPerBudget
		opts.ValueLogFileSize = min(max(size, 1<<20), storage.DefaultValueLogFileSize)
	}
	return opts
}

// pruneLoop prunes every PruneInterval until ctx is done.
func (n *Node) pruneLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.pruneInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.pruneOnce(ctx); err != nil && ctx.Err() == nil {
				n.prune.errors.Add(1)
				n.log.Warn("prune", "err", err)
			}
		}
	}
}

// pruneOnce is one check of the disk and, if due, one pruning.
func (n *Node) pruneOnce(ctx context.Context) error {
	size, err := n.store.DiskSize()
	if err != nil {
		return err
	}
	n.prune.diskSize.Store(size)
	over := n.cfg.DiskBudget > 0 && float64(size) > pruneTarget*float64(n.cfg.DiskBudget)
	var before int64
	switch {
	case over:
		before = math.MaxInt64
	case n.cfg.PruneAfter > 0:
		before = n.cfg.Now().Add(-n.cfg.PruneAfter).UnixNano()
	default:
		return nil
	}
	n.prune.runs.Add(1)
	// What the audit log has not logged yet stays: its next anchors read
	// their pasts from the ledger.
	var wait func(dag.ID) bool
	if n.audit != nil {
		wait = func(id dag.ID) bool { _, err := n.audit.log.IndexOf(id); return err != nil }
	}
	pruned := 0
	for ctx.Err() == nil {
		st, err := n.ledger.Prune(before, pruneBatch, wait)
		if err != nil {
			return err
		}
		pruned += st.Pruned
		n.prune.pruned.Add(uint64(st.Pruned))
		n.prune.frontier.Store(int64(st.Frontier))
		if st.New < pruneBatch {
			break
		}
	}
	if pruned > 0 || !n.prune.compactedOnce {
		if err := n.compactAudit(); err != nil {
			return err
		}
	}
	if !over || pruned == 0 {
		// Nothing new to reclaim: the value-log GC on its own interval
		// (storage.Badger.Run) collects what is left.
		if pruned > 0 {
			n.log.Debug("pruned", "transactions", pruned, "disk", size)
		} else if over {
			n.log.Warn("store over its disk budget with nothing left to prune: the rest is in memory (ledger-memory), unconfirmed, device state or the audit log's kept part",
				"disk", size, "budget", n.cfg.DiskBudget)
		}
		return nil
	}
	n.prune.reclaims.Add(1)
	if err := n.store.Reclaim(ctx); err != nil {
		return err
	}
	after, err := n.store.DiskSize()
	if err != nil {
		return err
	}
	n.prune.diskSize.Store(after)
	if after > n.cfg.DiskBudget {
		n.log.Warn("store over its disk budget after pruning: what is left is in memory (ledger-memory), unconfirmed, or device state",
			"disk", after, "budget", n.cfg.DiskBudget, "pruned", pruned)
	} else {
		n.log.Info("pruned to the disk budget", "transactions", pruned, "before", size, "after", after, "budget", n.cfg.DiskBudget)
	}
	return nil
}

// compactAudit compacts the audit log after a pass that pruned: the
// leaves of transactions the ledger no longer knows lose their index and
// the Merkle nodes only their proofs read (evidence.Log.Compact). An ID
// the log compacted is then unknown here (404), no longer 410 pruned.
func (n *Node) compactAudit() error {
	if n.audit == nil {
		return nil
	}
	// A leaf goes only when the ledger says it no longer has the
	// transaction; a store error keeps it (and fails the pass after it).
	var holdErr error
	st, err := n.audit.log.Compact(func(id dag.ID) bool {
		held, err := n.ledger.Holds(id)
		if err != nil && holdErr == nil {
			holdErr = err
		}
		return held || err != nil
	})
	if err != nil {
		return fmt.Errorf("node: compact the audit log: %w", err)
	}
	n.prune.compactedOnce = true
	n.prune.compactedLeaves.Add(st.Dropped)
	n.prune.compactedClaims.Add(st.Claims)
	n.prune.compactedKept.Store(int64(st.Kept))
	if st.Dropped > 0 || st.Claims > 0 {
		n.log.Debug("audit log compacted", "leaves", st.Dropped, "claims", st.Claims, "blocks", st.Blocks, "kept", st.Kept, "end", st.End)
	}
	if holdErr != nil {
		return fmt.Errorf("node: compact the audit log: kept what the ledger could not answer for: %w", holdErr)
	}
	return nil
}
