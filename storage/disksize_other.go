//go:build !unix

package storage

import "io/fs"

// allocated is the file's size where the allocated blocks are not known.
func allocated(info fs.FileInfo) int64 { return info.Size() }
