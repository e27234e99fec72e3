package download

import (
	"errors"
	"io/fs"
	"syscall"
)

// IsDiskError reports whether err is a failure of the local disk (full,
// read-only, denied, broken) rather than of what is on it.
func IsDiskError(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS, fs.ErrPermission} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
