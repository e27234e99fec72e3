//go:build !linux

package download

import "os"

// preallocate sets f's size; other systems get no reservation.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

// datasync flushes f to the disk.
func datasync(f *os.File) error { return f.Sync() }

// lockFile does nothing here: no advisory locks.
func lockFile(*os.File) error { return nil }

// writeback has no early writeback hint to give here.
func writeback(*os.File) func(off, n int64) { return nil }
