package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Blob errors. A failed Put leaves nothing behind; a failed Open serves
// nothing.
var (
	// ErrBlobNotFound: no blob with that digest is stored.
	ErrBlobNotFound = errors.New("storage: blob not found")
	// ErrBlobSize: the bytes offered are not the size they were said to
	// have (more, or fewer).
	ErrBlobSize = errors.New("storage: blob size mismatch")
	// ErrBlobTooLong is the ErrBlobSize of bytes going on past the size.
	ErrBlobTooLong = fmt.Errorf("%w: more bytes than the size", ErrBlobSize)
	// ErrBlobDigest: the bytes offered do not hash to the digest.
	ErrBlobDigest = errors.New("storage: blob digest mismatch")
	// ErrBlobCorrupt: a stored blob no longer hashes to its digest (the
	// disk changed it); it is removed so a fresh copy can be fetched.
	ErrBlobCorrupt = errors.New("storage: stored blob is corrupt")
)

// Blobs is a content-addressed store of firmware images: one file per
// image, named by the hex SHA-256 digest, in a directory of its own. A
// blob is written to a temporary file, hashed while it is written,
// fsynced and renamed into place only when its digest and size are the
// ones asked for, so a crash or a bad upload never leaves a file under a
// digest it does not have. Every Open hashes the file again before it is
// served: a flipped bit on disk is an error, never an image.
//
// Files rather than Badger values: images are megabytes, read with HTTP
// ranges and streamed to peers; a file serves a range without reading the
// image into memory, and large values would only grow Badger's value log
// for its garbage collector to rewrite.
type Blobs struct {
	dir string
}

// tmpPrefix marks files being written; OpenBlobs removes leftovers.
const tmpPrefix = "tmp-"

// OpenBlobs opens (creating it) the blob directory dir and removes what an
// interrupted Put left.
func OpenBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: blob directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: blob directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Blobs{dir: dir}, nil
}

func (b *Blobs) path(digest [32]byte) string {
	return filepath.Join(b.dir, hex.EncodeToString(digest[:]))
}

// Has reports whether a blob with digest is stored (without checking it).
func (b *Blobs) Has(digest [32]byte) bool {
	_, err := os.Stat(b.path(digest))
	return err == nil
}

// Put stores the size bytes r yields under digest, durably, after checking
// that they are exactly size bytes hashing to digest. Storing a blob that
// is already there succeeds without writing.
func (b *Blobs) Put(digest [32]byte, size int64, r io.Reader) error {
	if size <= 0 {
		return fmt.Errorf("%w: size %d", ErrBlobSize, size)
	}
	if b.Has(digest) {
		// Read what was offered anyway, so a caller streaming a request
		// body sees the same outcome whether or not a copy existed.
		n, err := io.Copy(io.Discard, io.LimitReader(r, size+1))
		if err != nil {
			return err
		}
		if n > size {
			return fmt.Errorf("%w (%d bytes)", ErrBlobTooLong, size)
		}
		if n != size {
			return fmt.Errorf("%w: got %d bytes, want %d", ErrBlobSize, n, size)
		}
		return nil
	}
	f, err := os.CreateTemp(b.dir, tmpPrefix)
	if err != nil {
		return fmt.Errorf("storage: blob: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	// One byte more than the size: an upload that goes on is refused
	// after size+1 bytes, not read to its end.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size+1))
	switch {
	case err != nil:
		return fmt.Errorf("storage: blob: %w", err)
	case n > size:
		return fmt.Errorf("%w (%d bytes)", ErrBlobTooLong, size)
	case n != size:
		return fmt.Errorf("%w: got %d bytes, want %d", ErrBlobSize, n, size)
	case [32]byte(h.Sum(nil)) != digest:
		return fmt.Errorf("%w: the bytes hash to %x, not %x", ErrBlobDigest, h.Sum(nil), digest)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("storage: blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: blob: %w", err)
	}
	if err := os.Rename(f.Name(), b.path(digest)); err != nil {
		return fmt.Errorf("storage: blob: %w", err)
	}
	done = true
	return syncDir(b.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: blob directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: blob directory: %w", err)
	}
	return nil
}

// Open returns the blob with digest, checked against it, positioned at its
// start, and its size; the caller closes it. A blob that fails the check
// is removed and reported as ErrBlobCorrupt.
func (b *Blobs) Open(digest [32]byte) (*os.File, int64, error) {
	f, err := os.Open(b.path(digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %x", ErrBlobNotFound, digest)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("storage: blob: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err == nil && !sameDigest(h, digest) {
		_ = f.Close()
		_ = os.Remove(b.path(digest))
		return nil, 0, fmt.Errorf("%w: %x", ErrBlobCorrupt, digest)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("storage: blob: %w", err)
	}
	return f, n, nil
}

func sameDigest(h hash.Hash, digest [32]byte) bool { return [32]byte(h.Sum(nil)) == digest }
