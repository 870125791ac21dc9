//go:build windows || plan9 || js || wasip1 || aix

package storage

import "github.com/dgraph-io/badger/v4"

// removeEmptyLogs does nothing here: without Badger's directory lock it
// cannot tell a crash's leftovers from a live process's new file. See
// repair_unix.go.
func removeEmptyLogs(dir string, log badger.Logger) error { return nil }
