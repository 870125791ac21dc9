//go:build unix

package storage

import (
	"io/fs"
	"syscall"
)

// allocated is the space a file takes on disk: Badger preallocates its
// memtable logs and value-log files by extending them, so their apparent
// size can be far above the blocks they use until they fill.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
