// Package durable holds what the packages that write files share to make
// their changes survive a crash.
package durable

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// SyncDir fsyncs directory dir, so that a create, rename or removal in it
// is durable. File systems that cannot sync a directory (EINVAL) are taken
// at their word: there is nothing more to do on them.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
