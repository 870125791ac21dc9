package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

// TestBackupRoundTrip: a store with attached, parked and pruned
// transactions, a checkpoint and auxiliary keys, backed up and loaded into
// a new directory, opens as the same store: the same log, head, pruned
// count, checkpoint and auxiliary values. Loading into a directory that
// already holds a store is refused.
func TestBackupRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, filepath.Join(dir, "src"), testOptions)
	mustCommit(t, s, &dag.WriteSet{Attached: attach(1, 3000), Parked: park(9001, 9002)})
	if err := s.Prune([]dag.PrunedEntry{{Arrival: 5, ID: txID(5)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint(bytes.Repeat([]byte("checkpoint"), 300_000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Aux().Write([][]byte{[]byte("k")}, [][]byte{[]byte("v")}); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := s.Backup(&backup); err != nil {
		t.Fatal(err)
	}
	if err := CheckBackup(bytes.NewReader(backup.Bytes()), int64(backup.Len())); err != nil {
		t.Fatal(err)
	}
	loaded := filepath.Join(dir, "loaded")
	if err := LoadBackup(loaded, bytes.NewReader(backup.Bytes()), testOptions); err != nil {
		t.Fatal(err)
	}
	if err := LoadBackup(loaded, bytes.NewReader(backup.Bytes()), testOptions); err == nil {
		t.Fatal("a backup loaded into a directory that holds a store")
	}
	got := openBadger(t, loaded, testOptions)
	if diff := cmp.Diff(dump(t, s), dump(t, got)); diff != "" {
		t.Fatalf("loaded log (-source +loaded):\n%s", diff)
	}
	if got.Head() != s.Head() || got.Pruned() != s.Pruned() {
		t.Fatalf("head %d, pruned %d; the source's %d, %d", got.Head(), got.Pruned(), s.Head(), s.Pruned())
	}
	want, _, _ := s.LoadCheckpoint()
	if cp, ok, err := got.LoadCheckpoint(); err != nil || !ok || !bytes.Equal(cp, want) {
		t.Fatalf("checkpoint: %d bytes, %v, %v", len(cp), ok, err)
	}
	if v, ok, err := got.Aux().Get([]byte("k")); err != nil || !ok || string(v) != "v" {
		t.Fatalf("aux value %q, %v, %v", v, ok, err)
	}
}

// TestCheckBackupRefuses: framing that runs past the end, a length beyond
// MaxBackupRecord, and a partial length are refused with ErrBackup.
func TestCheckBackupRefuses(t *testing.T) {
	record := func(size uint64, body int) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, size), make([]byte, body)...)
	}
	for name, b := range map[string][]byte{
		"past the end":                    record(10, 4),
		"too large":                       record(MaxBackupRecord+1, 0),
		"partial length":                  {1, 2, 3},
		"one good, then a partial length": append(record(2, 2), 7),
	} {
		if err := CheckBackup(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrBackup) {
			t.Errorf("%s: %v, want ErrBackup", name, err)
		}
	}
	if err := CheckBackup(bytes.NewReader(nil), 0); err != nil {
		t.Errorf("an empty stream: %v", err)
	}
}

// FuzzCheckBackup: no input panics, and every refusal wraps ErrBackup.
func FuzzCheckBackup(f *testing.F) {
	f.Add(binary.LittleEndian.AppendUint64(nil, 3))
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 1), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := CheckBackup(bytes.NewReader(b), int64(len(b))); err != nil && !errors.Is(err, ErrBackup) {
			t.Fatalf("refusal %v does not wrap ErrBackup", err)
		}
	})
}
