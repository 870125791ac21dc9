package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dgraph-io/badger/v4"
)

// A store's backup is every live key at its latest version, in Badger's
// own stream format (DB.Backup): a sequence of records, each an 8-byte
// little-endian length and that many bytes of a protobuf key-value list.
// The node's snapshot file (node/snapshot.go) wraps one with a header and a
// checksum; see docs/design/2026-12-04-snapshots.md.

// MaxBackupRecord bounds one record of a backup stream. Badger's stream
// writes lists of at most a few MiB; CheckBackup refuses a larger length
// before anything allocates it.
const MaxBackupRecord = 256 << 20

// ErrBackup is returned for a backup stream that is not well formed.
var ErrBackup = errors.New("storage: malformed backup")

// Backup writes every live key of the store to w.
func (s *Badger) Backup(w io.Writer) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	if _, err := s.db.Backup(w, 0); err != nil {
		return fmt.Errorf("storage: backup: %w", err)
	}
	return nil
}

// CheckBackup reads a backup stream of exactly n bytes from r and checks
// its framing: every record's length is within MaxBackupRecord and the
// last record ends at n. It decodes nothing, so a stream that passes may
// still fail to load; it is what keeps a damaged or hostile file from
// making LoadBackup allocate what its lengths claim.
func CheckBackup(r io.Reader, n int64) error {
	var head [8]byte
	for at := int64(0); at < n; {
		if n-at < 8 {
			return fmt.Errorf("%w: %d bytes left at offset %d, less than a record's length", ErrBackup, n-at, at)
		}
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return fmt.Errorf("%w: at offset %d: %v", ErrBackup, at, err)
		}
		size := binary.LittleEndian.Uint64(head[:])
		at += 8
		if size > MaxBackupRecord || int64(size) > n-at {
			return fmt.Errorf("%w: a record of %d bytes at offset %d of %d", ErrBackup, size, at-8, n)
		}
		if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
			return fmt.Errorf("%w: at offset %d: %v", ErrBackup, at, err)
		}
		at += int64(size)
	}
	return nil
}

// LoadBackup fills dir, which must not hold a store yet, with the backup
// r holds (check it with CheckBackup first). It leaves the store closed;
// Open it to use it. On failure dir may hold part of the backup: the
// caller loads into a directory of its own and removes it.
func LoadBackup(dir string, r io.Reader, opts Options) error {
	if err := opts.validate(); err != nil {
		return err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("storage: load a backup into %s: the directory is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("storage: load a backup into %s: %w", dir, err)
	}
	db, err := badger.Open(opts.badgerOptions(dir))
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", dir, err)
	}
	err = db.Load(r, 256)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: load a backup into %s: %w", dir, err)
	}
	return nil
}

// Head is the arrival of the newest transaction the store holds.
func (s *Badger) Head() uint64 { return s.head.Load() }
