package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/tangled-ledger/tangled/storage"
)

// FuzzVerifySnapshot: VerifySnapshot, the first pass of every restore,
// never panics on any file, refuses with ErrSnapshot, and what it accepts
// has the header it was written with. Seeded with a real snapshot of a
// small store.
func FuzzVerifySnapshot(f *testing.F) {
	s, err := storage.Open(filepath.Join(f.TempDir(), "db"), storage.Options{})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.SaveCheckpoint([]byte("state")); err != nil {
		f.Fatal(err)
	}
	var body bytes.Buffer
	if err := s.Backup(&body); err != nil {
		f.Fatal(err)
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	info := SnapshotInfo{Head: 7}
	info.Genesis[0] = 0xaa
	file := append(encodeSnapshotHeader(info), body.Bytes()...)
	sum := blake3.Sum256(file)
	file = append(file, sum[:]...)
	f.Add(file)
	f.Add(file[:snapshotHeader])
	f.Add([]byte(snapshotMagic))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "fuzz.snapshot")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := VerifySnapshot(path)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("refusal %v does not wrap ErrSnapshot", err)
			}
			return
		}
		if got.Bytes != int64(len(b)) || !bytes.Equal(encodeSnapshotHeader(got), b[:snapshotHeader]) {
			t.Fatalf("accepted %+v, not the header of the %d-byte file", got, len(b))
		}
	})
}
