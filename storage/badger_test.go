package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

func TestBadgerClosed(t *testing.T) {
	s, err := Open(t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 2)})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	nop := func(uint64, []byte) error { return nil }
	for name, err := range map[string]error{
		"Commit":       s.Commit(&dag.WriteSet{Attached: attach(3, 3)}),
		"empty Commit": s.Commit(&dag.WriteSet{}),
		"Replay":       s.Replay(nop, func([]byte) error { return nil }),
		"Range":        s.Range(1, nop),
		"Run":          s.Run(context.Background()),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: error = %v, want ErrClosed", name, err)
		}
	}
	if _, err := s.Transaction(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Transaction after Close: error = %v, want ErrClosed", err)
	}
}

// A Close during a long Range must not wait for the range to finish, and a
// callback may call back into the store meanwhile without deadlocking.
func TestBadgerCloseDuringRange(t *testing.T) {
	s, err := Open(t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 100)})
	closed := make(chan error)
	var rangeErr error
	rangeErr = s.Range(1, func(arrival uint64, _ []byte) error {
		if arrival == 10 {
			go func() { closed <- s.Close() }()
			// Close has begun once new operations are refused.
			for !s.closed.Load() {
				time.Sleep(time.Millisecond)
			}
			if _, err := s.Transaction(1); !errors.Is(err, ErrClosed) {
				t.Errorf("Transaction during Close: %v, want ErrClosed", err)
			}
		}
		return nil
	})
	if !errors.Is(rangeErr, ErrClosed) {
		t.Errorf("Range interrupted by Close: error = %v, want ErrClosed", rangeErr)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

// writeRaw writes keys into dir with Badger directly, as another program
// or a crash in the middle of a split commit would leave them.
func writeRaw(t *testing.T, dir string, kv map[string][]byte) {
	t.Helper()
	db, err := badger.Open(testOptions.badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		for k, v := range kv {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadgerSchema(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   map[string][]byte
		want string // substring of the error
	}{
		{"future version", map[string][]byte{string(keySchema): binary.BigEndian.AppendUint32(nil, schemaVersion+1)}, "schema version 2"},
		{"garbled version", map[string][]byte{string(keySchema): {1}}, "1-byte schema version"},
		{"foreign data", map[string][]byte{"hello": []byte("world")}, "no schema version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRaw(t, dir, tc.kv)
			s, err := Open(dir, testOptions)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want ErrSchema")
			}
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error = %q, want ErrSchema mentioning %q", err, tc.want)
			}
		})
	}
}

// Attached keys above the head are what a crash leaves of a split write set
// whose final transaction never committed: Open must drop them so the
// arrivals can be assigned again.
func TestBadgerInterruptedCommit(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, dir, testOptions)
	mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 3), Parked: park(100)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stale := map[string][]byte{}
	for k := uint64(4); k <= 6; k++ {
		stale[string(attachedKey(nil, k))] = []byte("stale")
	}
	writeRaw(t, dir, stale)

	s = openBadger(t, dir, testOptions)
	want := contents{Attached: entries(1, 2, 3), Parked: raws(100)}
	if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
	mustCommit(t, s, &dag.WriteSet{Attached: attach(4, 5)})
	s = reopenBadger(t, s, dir, testOptions)
	want.Attached = entries(1, 2, 3, 4, 5)
	if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
		t.Errorf("Replay after recommitting (-want +got):\n%s", diff)
	}
}

func TestBadgerRun(t *testing.T) {
	opts := testOptions
	opts.GCInterval = time.Millisecond
	s := openBadger(t, t.TempDir(), opts)
	// Garbage for the collector: parked bodies in the value log, deleted.
	for i := range uint64(20) {
		ks := seq(i*500+1, (i+1)*500)
		mustCommit(t, s, &dag.WriteSet{Parked: park(ks...)})
		mustCommit(t, s, &dag.WriteSet{Unparked: ids(ks...)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run: %v, want nil after the context ends", err)
	}
	if diff := cmp.Diff(contents{}, dump(t, s), equalBytes); diff != "" {
		t.Errorf("Replay after GC (-want +got):\n%s", diff)
	}
}

func TestBadgerDiskUsage(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, dir, testOptions)
	mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 1000)})
	s = reopenBadger(t, s, dir, testOptions)
	lsm, vlog := s.DiskUsage()
	if lsm <= 0 || vlog < 1000*rawSize {
		t.Errorf("DiskUsage() = %d, %d; want a positive LSM size and at least %d bytes of value log", lsm, vlog, 1000*rawSize)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error, "" for valid
	}{
		{"zero value", Options{}, ""},
		{"test options", testOptions, ""},
		{"explicit defaults", Options{
			MemTableSize: DefaultMemTableSize, BlockCacheSize: DefaultBlockCacheSize,
			IndexCacheSize: DefaultIndexCacheSize, ValueThreshold: DefaultValueThreshold,
			NumCompactors: DefaultNumCompactors, ValueLogFileSize: DefaultValueLogFileSize,
			GCInterval: DefaultGCInterval,
		}, ""},
		{"negative memtable", Options{MemTableSize: -1}, "negative MemTableSize"},
		{"tiny memtable", Options{MemTableSize: 1000}, "MemTableSize 1000 is below"},
		{"negative block cache", Options{BlockCacheSize: -1}, "negative BlockCacheSize"},
		{"negative index cache", Options{IndexCacheSize: -1}, "negative IndexCacheSize"},
		{"negative threshold", Options{ValueThreshold: -1}, "negative ValueThreshold"},
		{"huge threshold", Options{ValueThreshold: 2 << 20}, "above Badger's maximum"},
		{"threshold over batch", Options{MemTableSize: 1 << 20, ValueThreshold: 200 << 10}, "does not fit in a transaction"},
		{"one compactor", Options{NumCompactors: 1}, "at least 2"},
		{"negative compactors", Options{NumCompactors: -2}, "negative NumCompactors"},
		{"four compactors", Options{NumCompactors: 4}, ""},
		{"negative vlog file", Options{ValueLogFileSize: -1}, "negative ValueLogFileSize"},
		{"small vlog file", Options{ValueLogFileSize: 1 << 10}, "outside"},
		{"2 GiB vlog file", Options{ValueLogFileSize: 2 << 30}, "outside"},
		{"negative GC interval", Options{GCInterval: -time.Second}, "negative GCInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "storage: ")):
				t.Errorf("validate() = %v, want a storage error mentioning %q", err, tc.want)
			}
		})
	}
}

// Open must report invalid options before touching the directory.
func TestOpenInvalidOptions(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{NumCompactors: 1}); err == nil {
		t.Error("Open with one compactor succeeded")
	}
}

// A kill between Badger creating a log file and sizing it leaves it empty
// (dgraph-io/badger#2207); Open must still succeed, and keep everything.
func TestBadgerEmptyLogFiles(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, dir, testOptions)
	mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 50), Parked: park(100)})
	want := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"00077.mem", "000077.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = openBadger(t, dir, testOptions)
	if diff := cmp.Diff(want, dump(t, s), equalBytes); diff != "" {
		t.Errorf("Replay (-want +got):\n%s", diff)
	}
	mustCommit(t, s, &dag.WriteSet{Attached: attach(51, 51)})
}
