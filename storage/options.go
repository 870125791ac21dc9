package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configures a Badger store. The zero value is the default for a
// small node (2 cores, a few hundred MiB of memory for the whole process);
// each zero field takes the named default next to it.
type Options struct {
	// MemTableSize is the size of one Badger memtable. It bounds write
	// memory (at most memTables of them, each with its arena) and also the
	// largest Badger transaction, 15% of it: a write set bigger than that is
	// committed as several transactions (see Badger.Commit).
	// Zero means DefaultMemTableSize.
	MemTableSize int64
	// BlockCacheSize is the LSM block cache. Replay and Range read keys in
	// order, so the cache mostly serves random Transaction lookups.
	// Zero means DefaultBlockCacheSize.
	BlockCacheSize int64
	// IndexCacheSize bounds the memory of SST indexes and Bloom filters.
	// Badger keeps every index in memory when it is 0, which grows with the
	// log; a cache keeps memory bounded by configuration.
	// Zero means DefaultIndexCacheSize.
	IndexCacheSize int64
	// ValueThreshold is the value size from which values live in the value
	// log instead of the LSM tree. Keeping transaction bodies out of the
	// tree makes compaction move only keys and value pointers
	// (NOTES.md: ≈5 µs instead of 15–21 µs of compaction CPU per write).
	// Zero means DefaultValueThreshold.
	ValueThreshold int64
	// NumCompactors is the number of compaction goroutines; Badger needs 0
	// (no compaction, never what a node wants) or at least 2.
	// Zero means DefaultNumCompactors.
	NumCompactors int
	// ValueLogFileSize is the size at which a value-log file is rotated.
	// Value-log GC works a file at a time, so smaller files let it reclaim
	// the space of deleted parked transactions sooner.
	// Zero means DefaultValueLogFileSize.
	ValueLogFileSize int64
	// GCInterval is how often Run collects value-log garbage.
	// Zero means DefaultGCInterval.
	GCInterval time.Duration
	// Logger receives Badger's and the store's messages. Nil means
	// warnings and errors go to standard error through Badger's own logger
	// (its informational messages are noise for a node operator); to see
	// everything, pass a logger whose handler enables slog.LevelDebug.
	Logger *slog.Logger
}

const (
	// DefaultMemTableSize is 16 MiB. With memTables = 3, the memtable
	// arenas take at most about 62 MiB (Badger's default: 5 × 83 MiB).
	// Writing 600,000 transactions in sets of 2048, the peak heap was 94 MiB
	// against 158 MiB at 32 MiB, at the same throughput. A Badger
	// transaction still holds about 26,000 log entries, several times the
	// largest group commit of the ledger.
	DefaultMemTableSize = 16 << 20
	// DefaultBlockCacheSize is 16 MiB instead of Badger's 256 MiB: the hot
	// reads of a node are served from the ledger's memory, not from here.
	DefaultBlockCacheSize = 16 << 20
	// DefaultIndexCacheSize is 16 MiB: at about 1.5 bytes of block index
	// and Bloom filter per transaction (an estimate from 4 KiB blocks and a
	// 1% false-positive rate), the indexes of some ten million transactions
	// stay in memory; older ones are read back on demand.
	DefaultIndexCacheSize = 16 << 20
	// DefaultValueThreshold is 64 bytes: every transaction body (a few
	// hundred bytes) goes to the value log, small metadata stays inline.
	DefaultValueThreshold = 64
	// DefaultNumCompactors is 2, the minimum Badger accepts, on a 2-core
	// machine where signature checks already want every core.
	DefaultNumCompactors = 2
	// DefaultValueLogFileSize is 256 MiB (Badger's default is 1 GiB), so
	// value-log GC reclaims space in smaller steps.
	DefaultValueLogFileSize = 256 << 20
	// DefaultGCInterval is 5 minutes: the log is append-only except for the
	// parking lot, so garbage accumulates slowly.
	DefaultGCInterval = 5 * time.Minute
)

// Tuning that is not worth an option.
const (
	// memTables: one active memtable and up to two being flushed before
	// writes stall; Badger's 5 mostly buys memory use.
	memTables = 3
	// gcDiscardRatio: rewrite a value-log file when at least half of it is
	// garbage, the ratio Badger's documentation recommends.
	gcDiscardRatio = 0.5
	// schemaVersion is the key layout this code writes and reads.
	schemaVersion = 1
)

// Limits that validate enforces, from Badger's own checks.
const (
	minMemTableSize     = 1 << 20
	maxValueThreshold   = 1 << 20 // Badger's maximum
	minValueLogFileSize = 1 << 20
	maxValueLogFileSize = 2<<30 - 1 // Badger wants strictly less than 2 GiB
)

func (o *Options) memTableSize() int64 {
	return orDefault(o.MemTableSize, DefaultMemTableSize)
}

func (o *Options) blockCacheSize() int64 {
	return orDefault(o.BlockCacheSize, DefaultBlockCacheSize)
}

func (o *Options) indexCacheSize() int64 {
	return orDefault(o.IndexCacheSize, DefaultIndexCacheSize)
}

func (o *Options) valueThreshold() int64 {
	return orDefault(o.ValueThreshold, DefaultValueThreshold)
}

func (o *Options) numCompactors() int {
	return orDefault(o.NumCompactors, DefaultNumCompactors)
}

func (o *Options) valueLogFileSize() int64 {
	return orDefault(o.ValueLogFileSize, DefaultValueLogFileSize)
}

func (o *Options) gcInterval() time.Duration {
	return orDefault(o.GCInterval, DefaultGCInterval)
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// validate reports the first option that Open cannot use. It checks what
// Badger would otherwise reject with a less helpful message or a panic.
func (o *Options) validate() error {
	switch {
	case o.MemTableSize < 0:
		return fmt.Errorf("storage: negative MemTableSize %d", o.MemTableSize)
	case o.MemTableSize != 0 && o.MemTableSize < minMemTableSize:
		return fmt.Errorf("storage: MemTableSize %d is below the minimum of %d", o.MemTableSize, minMemTableSize)
	case o.BlockCacheSize < 0:
		return fmt.Errorf("storage: negative BlockCacheSize %d", o.BlockCacheSize)
	case o.IndexCacheSize < 0:
		return fmt.Errorf("storage: negative IndexCacheSize %d", o.IndexCacheSize)
	case o.ValueThreshold < 0:
		return fmt.Errorf("storage: negative ValueThreshold %d", o.ValueThreshold)
	case o.ValueThreshold > maxValueThreshold:
		return fmt.Errorf("storage: ValueThreshold %d is above Badger's maximum of %d", o.ValueThreshold, maxValueThreshold)
	case o.valueThreshold() >= maxBatchSize(o.memTableSize()):
		return fmt.Errorf("storage: ValueThreshold %d does not fit in a transaction of MemTableSize %d (limit 15%%)",
			o.valueThreshold(), o.memTableSize())
	case o.NumCompactors < 0:
		return fmt.Errorf("storage: negative NumCompactors %d", o.NumCompactors)
	case o.NumCompactors == 1:
		return errors.New("storage: NumCompactors must be at least 2 (Badger cannot compact with 1)")
	case o.ValueLogFileSize < 0:
		return fmt.Errorf("storage: negative ValueLogFileSize %d", o.ValueLogFileSize)
	case o.ValueLogFileSize != 0 && (o.ValueLogFileSize < minValueLogFileSize || o.ValueLogFileSize > maxValueLogFileSize):
		return fmt.Errorf("storage: ValueLogFileSize %d is outside [%d, %d]", o.ValueLogFileSize, minValueLogFileSize, maxValueLogFileSize)
	case o.GCInterval < 0:
		return fmt.Errorf("storage: negative GCInterval %v", o.GCInterval)
	}
	return nil
}

// maxBatchSize is Badger's limit on the estimated bytes of one transaction.
func maxBatchSize(memTableSize int64) int64 { return 15 * memTableSize / 100 }

// badgerOptions translates o, which must be valid, for Badger.
func (o *Options) badgerOptions(dir string) badger.Options {
	opts := badger.DefaultOptions(dir).
		WithMemTableSize(o.memTableSize()).
		WithNumMemtables(memTables).
		WithBlockCacheSize(o.blockCacheSize()).
		WithIndexCacheSize(o.indexCacheSize()).
		WithValueThreshold(o.valueThreshold()).
		WithNumCompactors(o.numCompactors()).
		WithValueLogFileSize(o.valueLogFileSize()).
		// Every Commit is a durable transaction: see Badger.Commit for the
		// measurement that chose SyncWrites over an explicit DB.Sync.
		WithSyncWrites(true).
		// The log never rewrites a key (arrivals only grow; a parked ID is
		// set once and deleted once), so old versions are pure garbage.
		WithNumVersionsToKeep(1).
		// One goroutine commits at a time (Badger.commitMu), so there is
		// nothing to conflict with, and detection would keep a fingerprint
		// of every written key per transaction.
		WithDetectConflicts(false).
		// The SSTs hold 9- or 33-byte keys and value pointers: Snappy finds
		// little to compress and would cost CPU on every compaction.
		WithCompression(options.None).
		// NumGoroutines only sizes Badger's Stream framework (backups),
		// which should not take more than the machine's cores.
		WithNumGoroutines(2)
	if o.Logger != nil {
		opts = opts.WithLogger(slogLogger{o.Logger})
	} else {
		opts = opts.WithLoggingLevel(badger.WARNING)
	}
	return opts
}

// slogLogger adapts a *slog.Logger to Badger's printf-style Logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) logf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	// Badger ends many messages with a newline; slog adds its own.
	s.l.Log(ctx, level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "component", "badger")
}

func (s slogLogger) Errorf(format string, args ...any)   { s.logf(slog.LevelError, format, args...) }
func (s slogLogger) Warningf(format string, args ...any) { s.logf(slog.LevelWarn, format, args...) }
func (s slogLogger) Infof(format string, args ...any)    { s.logf(slog.LevelInfo, format, args...) }
func (s slogLogger) Debugf(format string, args ...any)   { s.logf(slog.LevelDebug, format, args...) }
