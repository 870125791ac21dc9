package storage

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/tangled-ledger/tangled/dag"
)

// BenchmarkBadgerCommit measures durable group commits of 300-byte
// transactions with the default options: the fsync dominates small sets.
func BenchmarkBadgerCommit(b *testing.B) {
	for _, size := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("txs=%d", size), func(b *testing.B) {
			s := openBadger(b, b.TempDir(), Options{})
			raws := make([][]byte, size)
			for i := range raws {
				raws[i] = txBytes(uint64(i), rawSize)
			}
			w := &dag.WriteSet{Attached: make([]dag.StoredTransaction, size)}
			next := uint64(1)
			b.ReportAllocs()
			b.SetBytes(int64(size * rawSize))
			for b.Loop() {
				for i := range w.Attached {
					w.Attached[i] = dag.StoredTransaction{Arrival: next, Raw: raws[i]}
					next++
				}
				if err := s.Commit(w); err != nil {
					b.Fatal(err)
				}
			}
			reportPerTx(b, next-1)
		})
	}
}

func reportPerTx(b *testing.B, txs uint64) {
	b.ReportMetric(float64(txs)/b.Elapsed().Seconds(), "tx/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(txs), "µs/tx")
}

// BenchmarkBadgerReplay measures a node's restart: replaying a log of
// 100,000 transactions. It also reports the bytes on disk per transaction.
func BenchmarkBadgerReplay(b *testing.B) { benchmarkReplay(b, 100_000) }

// BenchmarkBadgerReplay1M is BenchmarkBadgerReplay with 1,000,000
// transactions (about 300 MB on disk). It runs only when -bench names it:
//
//	go test -run '^$' -bench 'BenchmarkBadgerReplay1M' ./storage/
func BenchmarkBadgerReplay1M(b *testing.B) {
	if !strings.Contains(flag.Lookup("test.bench").Value.String(), "Replay1M") {
		b.Skip("writes 300 MB; run with -bench BenchmarkBadgerReplay1M")
	}
	benchmarkReplay(b, 1_000_000)
}

func benchmarkReplay(b *testing.B, n uint64) {
	dir := b.TempDir()
	fillBadger(b, dir, n)
	// Badger measures its files when it opens them (and then once a
	// minute), and Close has flushed the memtable into the LSM tree.
	s := openBadger(b, dir, Options{})
	lsm, vlog := s.DiskUsage()

	b.ReportAllocs()
	for b.Loop() {
		var got uint64
		err := s.Replay(
			func(uint64, []byte) error { got++; return nil },
			func([]byte) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("replayed %d transactions, want %d", got, n)
		}
	}
	reportPerTx(b, n*uint64(b.N))
	// After the loop: b.Loop's first call deletes metrics reported before.
	b.ReportMetric(float64(lsm)/float64(n), "lsm-B/tx")
	b.ReportMetric(float64(vlog)/float64(n), "vlog-B/tx")
}

// fillBadger writes n transactions of rawSize bytes into a new store in
// dir, in write sets of 4096, and closes it.
func fillBadger(b *testing.B, dir string, n uint64) {
	b.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	const setSize = 4096
	w := &dag.WriteSet{}
	for k := uint64(1); k <= n; k++ {
		w.Attached = append(w.Attached, dag.StoredTransaction{Arrival: k, ID: txID(k), Raw: txBytes(k, rawSize)})
		if len(w.Attached) == setSize || k == n {
			if err := s.Commit(w); err != nil {
				b.Fatal(err)
			}
			w.Attached = w.Attached[:0]
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBadgerSyncMode compares the two ways to make a commit durable
// (see Badger.Commit): Badger's SyncWrites, which Open uses, and
// SyncWrites off with an explicit DB.Sync after each commit. It drives
// Badger directly with the write pattern of Commit.
func BenchmarkBadgerSyncMode(b *testing.B) {
	for _, mode := range []string{"SyncWrites", "ExplicitSync"} {
		for _, size := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("%s/txs=%d", mode, size), func(b *testing.B) {
				o := Options{}
				opts := o.badgerOptions(b.TempDir()).WithSyncWrites(mode == "SyncWrites")
				db, err := badger.Open(opts)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				raws := make([][]byte, size)
				for i := range raws {
					raws[i] = txBytes(uint64(i), rawSize)
				}
				next := uint64(1)
				b.ReportAllocs()
				for b.Loop() {
					txn := db.NewTransaction(true)
					for i := range size {
						if err := txn.Set(attachedKey(nil, next), raws[i]); err != nil {
							b.Fatal(err)
						}
						next++
					}
					if err := txn.Set(keyHead, attachedKey(nil, next)[1:]); err != nil {
						b.Fatal(err)
					}
					if err := txn.Commit(); err != nil {
						b.Fatal(err)
					}
					if mode == "ExplicitSync" {
						if err := db.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
				reportPerTx(b, next-1)
			})
		}
	}
}
