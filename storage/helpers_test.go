package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

// store is what both implementations offer.
type store interface {
	dag.Store
	Range(from uint64, fn func(arrival uint64, raw []byte) error) error
}

// rawSize is the typical size of an encoded transaction.
const rawSize = 300

// txBytes returns the deterministic body of transaction k: k in the first
// 8 bytes, so a reader can tell which transaction it holds, then bytes
// derived from k, so a torn or misplaced value does not pass for another.
func txBytes(k uint64, n int) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, max(n, 8)), k)
	r := rand.New(rand.NewPCG(k, 0x7a6e676c6564))
	for len(b) < n {
		b = binary.LittleEndian.AppendUint64(b, r.Uint64())
	}
	return b[:max(n, 8)]
}

// txID returns the deterministic ID of transaction k.
func txID(k uint64) dag.ID { return sha256.Sum256(binary.BigEndian.AppendUint64(nil, k)) }

// attach returns stored transactions for arrivals from..to.
func attach(from, to uint64) []dag.StoredTransaction {
	var txs []dag.StoredTransaction
	for k := from; k <= to; k++ {
		txs = append(txs, dag.StoredTransaction{Arrival: k, ID: txID(k), Raw: txBytes(k, rawSize)})
	}
	return txs
}

// park returns parked transactions for keys ks (no arrival yet).
func park(ks ...uint64) []dag.StoredTransaction {
	var txs []dag.StoredTransaction
	for _, k := range ks {
		txs = append(txs, dag.StoredTransaction{ID: txID(k), Raw: txBytes(k, rawSize)})
	}
	return txs
}

func ids(ks ...uint64) []dag.ID {
	var out []dag.ID
	for _, k := range ks {
		out = append(out, txID(k))
	}
	return out
}

// logEntry and contents make the whole of a store comparable with go-cmp.
type logEntry struct {
	Arrival uint64
	Raw     []byte
}

type contents struct {
	Attached []logEntry
	Parked   [][]byte
}

func dump(t testing.TB, s dag.Store) contents {
	t.Helper()
	var c contents
	err := s.Replay(
		func(arrival uint64, raw []byte) error {
			c.Attached = append(c.Attached, logEntry{arrival, raw})
			return nil
		},
		func(raw []byte) error {
			c.Parked = append(c.Parked, raw)
			return nil
		})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return c
}

func rangeFrom(t testing.TB, s store, from uint64) []logEntry {
	t.Helper()
	var out []logEntry
	if err := s.Range(from, func(arrival uint64, raw []byte) error {
		out = append(out, logEntry{arrival, raw})
		return nil
	}); err != nil {
		t.Fatalf("Range(%d): %v", from, err)
	}
	return out
}

func mustCommit(t testing.TB, s dag.Store, w *dag.WriteSet) {
	t.Helper()
	if err := s.Commit(w); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// testOptions keep the tests fast and make write sets of a few thousand
// transactions split into several Badger transactions.
var testOptions = Options{
	MemTableSize:     minMemTableSize,
	BlockCacheSize:   1 << 20,
	IndexCacheSize:   1 << 20,
	ValueLogFileSize: 4 << 20,
}

func openBadger(t testing.TB, dir string, opts Options) *Badger {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func reopenBadger(t testing.TB, s *Badger, dir string, opts Options) *Badger {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openBadger(t, dir, opts)
}

// equalBytes compares byte slices as values: go-cmp would otherwise walk
// them element by element (slow for thousands of bodies) and tell nil from
// empty, which no store promises to keep apart.
var equalBytes = cmp.Comparer(bytes.Equal)

// equal and equalEntries are fast paths for large logs: go-cmp spends
// seconds on what these do in milliseconds, so it only explains failures.
func (c contents) equal(d contents) bool {
	return equalEntries(c.Attached, d.Attached) && slices.EqualFunc(c.Parked, d.Parked, bytes.Equal)
}

func equalEntries(a, b []logEntry) bool {
	return slices.EqualFunc(a, b, func(x, y logEntry) bool { return x.Arrival == y.Arrival && bytes.Equal(x.Raw, y.Raw) })
}
