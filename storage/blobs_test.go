package storage_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tangled-ledger/tangled/storage"
)

// TestBlobsPut: only exactly the signed bytes are stored; every refusal
// leaves nothing behind (no file under the digest, no temporary file).
func TestBlobsPut(t *testing.T) {
	image := bytes.Repeat([]byte("firmware "), 1000)
	digest := sha256.Sum256(image)
	cases := []struct {
		name   string
		digest [32]byte
		size   int64
		body   []byte
		want   error
	}{
		{"exact", digest, int64(len(image)), image, nil},
		{"short", digest, int64(len(image)), image[:len(image)-1], storage.ErrBlobSize},
		{"endless", digest, int64(len(image)), append(append([]byte{}, image...), 'x'), storage.ErrBlobTooLong},
		{"other bytes", digest, int64(len(image)), bytes.ToUpper(image), storage.ErrBlobDigest},
		{"other digest", sha256.Sum256([]byte("x")), int64(len(image)), image, storage.ErrBlobDigest},
		{"zero size", digest, 0, nil, storage.ErrBlobSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := storage.OpenBlobs(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Put(tc.digest, tc.size, bytes.NewReader(tc.body))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Put: %v, want %v", err, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			if tc.want != nil {
				if len(entries) != 0 || b.Has(tc.digest) {
					t.Fatalf("a refused Put left %d files", len(entries))
				}
				return
			}
			f, n, err := b.Open(tc.digest)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, _ := io.ReadAll(f)
			if n != tc.size || !bytes.Equal(got, image) || len(entries) != 1 {
				t.Fatalf("Open: %d bytes (size %d), %d files", len(got), n, len(entries))
			}
		})
	}
}

// TestBlobsCheckedOnRead: a stored image whose bytes changed on disk is
// refused on the next Open and removed; a leftover temporary file of an
// interrupted Put is removed by OpenBlobs; an absent digest is
// ErrBlobNotFound.
func TestBlobsCheckedOnRead(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	image := []byte("image bytes")
	digest := sha256.Sum256(image)
	if err := b.Put(digest, int64(len(image)), bytes.NewReader(image)); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(digest, int64(len(image)), bytes.NewReader(image)); err != nil {
		t.Fatalf("a second Put of the same image: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d files", len(entries))
	}
	path := filepath.Join(dir, entries[0].Name())
	if err := os.WriteFile(path, []byte("image bytez"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(digest); !errors.Is(err, storage.ErrBlobCorrupt) {
		t.Fatalf("Open of a changed file: %v", err)
	}
	if _, _, err := b.Open(digest); !errors.Is(err, storage.ErrBlobNotFound) {
		t.Fatalf("Open after the corrupt copy was dropped: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp-123"), image, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.OpenBlobs(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("OpenBlobs left %v", entries)
	}
}
