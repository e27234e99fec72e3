//go:build !linux

package main

import "os"

// preallocate sets f's size; other systems get no reservation.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }
