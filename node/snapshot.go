package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/zeebo/blake3"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/storage"
)

// A snapshot lets a new node start from what a stopped one holds instead
// of replaying a history that pruning may have dropped everywhere
// (docs/design/2026-12-04-snapshots.md). The file is
//
//	magic "TGLSNAP" | version (1 byte) | genesis ID (32) | head arrival (8, big-endian)
//	| the store's backup stream (storage.Badger.Backup) | BLAKE3-256 of all before it (32)
//
// The store must hold a checkpoint for its head (a clean shutdown saves
// one), so that the new node's first start is a restart from it.

// ErrSnapshot is wrapped by every refusal of CreateSnapshot and
// RestoreSnapshot; a refused restore leaves the data directory as it was.
var ErrSnapshot = errors.New("node: snapshot")

const (
	snapshotMagic   = "TGLSNAP"
	snapshotVersion = 1
	snapshotHeader  = len(snapshotMagic) + 1 + dag.IDSize + 8
	snapshotSum     = 32
)

// SnapshotInfo is what a snapshot's header says.
type SnapshotInfo struct {
	// Genesis is the ID of the network's genesis.
	Genesis dag.ID
	// Head is the arrival of the newest transaction in the snapshot.
	Head uint64
	// Bytes is the file's size.
	Bytes int64
}

// snapshotGenesis is the genesis a snapshot command works with: the
// configured file, else the data directory's development network, which
// must exist (a snapshot command never creates a network).
func snapshotGenesis(cfg Config) (*dag.Genesis, error) {
	path := cfg.GenesisFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, GenesisFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: no genesis: give the network's genesis file (--genesis), or a data directory that has %s", ErrSnapshot, GenesisFile)
		}
	}
	return dag.LoadGenesis(path)
}

// CreateSnapshot writes a snapshot of the stopped node's store in
// cfg.DataDir to path (through a temporary file, renamed when complete).
func CreateSnapshot(cfg Config, path string) (SnapshotInfo, error) {
	cfg = cfg.withDefaults()
	g, err := snapshotGenesis(cfg)
	if err != nil {
		return SnapshotInfo{}, err
	}
	dbDir := filepath.Join(cfg.DataDir, "db")
	if _, err := os.Stat(dbDir); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: no store in %s: %v", ErrSnapshot, cfg.DataDir, err)
	}
	s, err := storage.Open(dbDir, cfg.Storage)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: open the store (a running node holds it: stop it first): %v", ErrSnapshot, err)
	}
	defer s.Close()
	if _, ok, err := s.LoadCheckpoint(); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	} else if !ok {
		return SnapshotInfo{}, fmt.Errorf("%w: the store holds no checkpoint of its log: start the node and stop it cleanly (its shutdown saves one), then snapshot", ErrSnapshot)
	}
	info := SnapshotInfo{Genesis: g.ID(), Head: s.Head()}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := blake3.New()
	w := io.MultiWriter(f, h)
	if _, err := w.Write(encodeSnapshotHeader(info)); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	if err := s.Backup(w); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	if _, err := f.Write(h.Sum(nil)); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	info.Bytes = st.Size()
	if err := f.Close(); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	ok = true
	return info, nil
}

func encodeSnapshotHeader(info SnapshotInfo) []byte {
	b := make([]byte, 0, snapshotHeader)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = append(b, info.Genesis[:]...)
	return binary.BigEndian.AppendUint64(b, info.Head)
}

// VerifySnapshot reads the snapshot at path without loading it: header,
// the backup stream's framing and the checksum. It is RestoreSnapshot's
// first pass.
func VerifySnapshot(path string) (SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	defer f.Close()
	return verifySnapshot(f)
}

func verifySnapshot(f *os.File) (SnapshotInfo, error) {
	st, err := f.Stat()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	size := st.Size()
	if size < int64(snapshotHeader+snapshotSum) {
		return SnapshotInfo{}, fmt.Errorf("%w: %d bytes, shorter than a header and a checksum", ErrSnapshot, size)
	}
	h := blake3.New()
	r := io.TeeReader(f, h)
	header := make([]byte, snapshotHeader)
	if _, err := io.ReadFull(r, header); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: header: %v", ErrSnapshot, err)
	}
	if string(header[:len(snapshotMagic)]) != snapshotMagic {
		return SnapshotInfo{}, fmt.Errorf("%w: not a tangled snapshot", ErrSnapshot)
	}
	if v := header[len(snapshotMagic)]; v != snapshotVersion {
		return SnapshotInfo{}, fmt.Errorf("%w: format version %d, this build reads %d", ErrSnapshot, v, snapshotVersion)
	}
	info := SnapshotInfo{Bytes: size}
	copy(info.Genesis[:], header[len(snapshotMagic)+1:])
	info.Head = binary.BigEndian.Uint64(header[snapshotHeader-8:])
	body := size - int64(snapshotHeader+snapshotSum)
	if err := storage.CheckBackup(r, body); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	sum := make([]byte, snapshotSum)
	if _, err := io.ReadFull(f, sum); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: checksum: %v", ErrSnapshot, err)
	}
	if !bytes.Equal(sum, h.Sum(nil)) {
		return SnapshotInfo{}, fmt.Errorf("%w: checksum mismatch: the file is damaged", ErrSnapshot)
	}
	return info, nil
}

// RestoreSnapshot fills cfg.DataDir, which must not hold a store yet,
// with the snapshot at path, for a node of cfg's network. The node then
// starts from the snapshot's checkpoint.
func RestoreSnapshot(cfg Config, path string) (SnapshotInfo, error) {
	cfg = cfg.withDefaults()
	g, err := snapshotGenesis(cfg)
	if err != nil {
		return SnapshotInfo{}, err
	}
	dbDir := filepath.Join(cfg.DataDir, "db")
	if entries, err := os.ReadDir(dbDir); err == nil && len(entries) > 0 {
		return SnapshotInfo{}, fmt.Errorf("%w: %s already holds a store: restore into a new data directory", ErrSnapshot, cfg.DataDir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	defer f.Close()
	info, err := verifySnapshot(f)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if info.Genesis != g.ID() {
		return SnapshotInfo{}, fmt.Errorf("%w: the snapshot is of network %s, this node's genesis is %s", ErrSnapshot, info.Genesis.Short(), g.ID().Short())
	}
	if _, err := f.Seek(int64(snapshotHeader), io.SeekStart); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	staging := dbDir + ".restoring"
	if err := os.RemoveAll(staging); err != nil { // a restore that stopped half-way
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(staging)
		}
	}()
	body := io.LimitReader(f, info.Bytes-int64(snapshotHeader+snapshotSum))
	if err := storage.LoadBackup(staging, body, cfg.Storage); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	if err := checkRestored(staging, cfg.Storage, info); err != nil {
		return SnapshotInfo{}, err
	}
	if err := os.Remove(dbDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err) // an empty db directory
	}
	if err := os.Rename(staging, dbDir); err != nil {
		return SnapshotInfo{}, fmt.Errorf("node: snapshot: %w", err)
	}
	ok = true
	return info, nil
}

// checkRestored opens the loaded store: it must hold the head the header
// names and a checkpoint of it.
func checkRestored(dir string, opts storage.Options, info SnapshotInfo) error {
	s, err := storage.Open(dir, opts)
	if err != nil {
		return fmt.Errorf("%w: the loaded store does not open: %v", ErrSnapshot, err)
	}
	defer s.Close()
	if s.Head() != info.Head {
		return fmt.Errorf("%w: the loaded store's head is arrival %d, the header says %d", ErrSnapshot, s.Head(), info.Head)
	}
	if _, ok, err := s.LoadCheckpoint(); err != nil || !ok {
		return fmt.Errorf("%w: the loaded store holds no checkpoint of its log (%v)", ErrSnapshot, err)
	}
	return nil
}
