package storage_test

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// BenchmarkLedgerHistory measures what a ledger on a real Badger store
// costs as its history grows: it ingests N transactions (4 validators, a
// beacon round every 50 data transactions, so nearly all are confirmed),
// then reports the Go heap and the process's anonymous RSS per
// transaction, saves a checkpoint (Ledger.Checkpoint, as a node does at
// shutdown), closes the store, reopens it and reports the restart time and
// the memory after the restart; then the same for a restart without a
// checkpoint, which replays the log (as after a crash). N is TANGLED_HISTORY_TXS (default
// 200,000); one iteration is a whole run, so use -benchtime=1x:
//
//	TANGLED_HISTORY_TXS=1000000 go test -run '^$' -bench LedgerHistory -benchtime=1x -count=3 ./storage/
//
// The ledger runs with its default Config, so the same file measures any
// version of the ledger. Transactions are unsigned (AttachVerified trusts
// its caller), which keeps the generator's cost out of the numbers.
func BenchmarkLedgerHistory(b *testing.B) {
	n := 200_000
	if s := os.Getenv("TANGLED_HISTORY_TXS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("TANGLED_HISTORY_TXS=%q: want a positive count", s)
		}
		n = v
	}
	rules := pow.Rules{BaseBits: 2, RateWindow: 10 * time.Second, FreePerWindow: 1000, BitsPerExcess: 1}
	net := dagtest.NewNetwork(4, rules)
	for b.Loop() {
		dir := b.TempDir()
		open := func() (*storage.Badger, *dag.Ledger, time.Duration) {
			start := time.Now()
			s, err := storage.Open(dir, storage.Options{})
			if err != nil {
				b.Fatal(err)
			}
			l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s,
				Now: func() time.Time { return dagtest.GenesisTime.Add(1000 * time.Hour) }})
			if err != nil {
				b.Fatal(err)
			}
			return s, l, time.Since(start)
		}
		s, l, _ := open()
		gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 1})
		gen.SetUnsigned(true)
		base := memory()
		ingestStart := time.Now()
		chunk := make([]*dag.Transaction, 0, 1100)
		for done := 0; done < n; {
			chunk = chunk[:0]
			for len(chunk) < 1024 && done+len(chunk) < n {
				chunk = append(chunk, gen.Next()...)
			}
			results, err := l.AttachVerified(chunk).Wait()
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range results {
				if r.Status != dag.StatusAttached {
					b.Fatalf("%s: %s %v", r.ID.Short(), r.Status, r.Err)
				}
			}
			done += len(chunk)
		}
		ingest := time.Since(ingestStart)
		st := l.Stats()
		if st.Confirmed < int(st.Transactions)/2 {
			b.Fatalf("only %d of %d confirmed", st.Confirmed, st.Transactions)
		}
		total := int(st.Transactions)
		after := memory()
		runtime.KeepAlive(l)
		b.ReportMetric(float64(after.heap-base.heap)/float64(total), "heap-B/tx")
		b.ReportMetric(float64(after.rssAnon)/(1<<20), "rss-anon-MiB")
		b.ReportMetric(float64(total)/ingest.Seconds(), "ingest-tx/s")

		// A clean shutdown saves a checkpoint; the restart loads it.
		checkpointStart := time.Now()
		if err := l.Checkpoint(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(checkpointStart).Seconds(), "checkpoint-s")
		restart := func(unit string, wantRestored bool) {
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			l, s = nil, nil
			runtime.GC()
			debug.FreeOSMemory()
			var took time.Duration
			s, l, took = open()
			if got := l.Stats(); got.Transactions != st.Transactions || got.Confirmed != st.Confirmed {
				b.Fatalf("after restart %d transactions, %d confirmed; want %d, %d", got.Transactions, got.Confirmed, st.Transactions, st.Confirmed)
			}
			if l.Restored() != wantRestored {
				b.Fatalf("restored from a checkpoint: %v, want %v", l.Restored(), wantRestored)
			}
			reopened := memory()
			runtime.KeepAlive(l)
			b.ReportMetric(took.Seconds(), unit+"-s")
			b.ReportMetric(float64(reopened.heap)/(1<<20), unit+"-heap-MiB")
			b.ReportMetric(float64(reopened.rssAnon)/(1<<20), unit+"-rss-anon-MiB")
		}
		restart("restart", true)
		// Then a restart without one (as after a crash): the log replays.
		restart("replay", false)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

type memSample struct {
	heap    uint64 // live Go heap after a collection
	rssAnon uint64 // anonymous resident memory (Badger's mmapped files excluded)
}

// memory collects garbage, returns freed pages to the system and samples.
func memory() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, rssAnon: rssAnon()}
}

// rssAnon reads RssAnon from /proc/self/status (0 where there is none).
func rssAnon() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("RssAnon:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
