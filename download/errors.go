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

// ErrOutputIsDir reports an Output that names a directory.
var ErrOutputIsDir = errors.New("is a directory")

// StoppedError is a download that failed or was interrupted once its part
// file existed: Saved says whether its journal records the progress, so
// that the next Run with the same Output resumes it.
type StoppedError struct {
	Err    error
	Output string
	Saved  bool
}

func (e *StoppedError) Error() string { return e.Err.Error() }
func (e *StoppedError) Unwrap() error { return e.Err }
