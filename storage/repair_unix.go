//go:build !windows && !plan9 && !js && !wasip1 && !aix

package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// removeEmptyLogs works around dgraph-io/badger#2207, open in v4.9.6 and
// hit by TestCrash: a kill between creating a memtable WAL (.mem) or a
// value-log file (.vlog) and sizing it leaves a 0-byte file, and
// badger.Open then fails with "Create a new file" (z.NewFile).
//
// A 0-byte log never held data (Badger writes only after sizing the file
// and writing its header), so deleting it loses nothing. But the 0-byte
// file of a live Badger is one it is creating right now, so this deletes
// only while holding Badger's own lock, a flock on the directory; if
// another process holds it, badger.Open will report that.
func removeEmptyLogs(dir string, log badger.Logger) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close() // releases the lock
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil
	}
	entries, err := d.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext != ".mem" && ext != ".vlog" || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Size() != 0 {
			continue
		}
		log.Warningf("storage: removing %s, an empty log file left by a crash", e.Name())
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
