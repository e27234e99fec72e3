package download

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate reserves size bytes for f with fallocate(2), falling back to
// setting the size when the filesystem cannot reserve space.
func preallocate(f *os.File, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) { err = unix.Fallocate(int(fd), 0, 0, size) }); cerr != nil {
		return cerr
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) {
		return err
	}
	return f.Truncate(size)
}

// datasync flushes f's data (not its metadata) to the disk.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) { err = unix.Fdatasync(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// errBusy reports a file locked by another process.
var errBusy = errors.New("in use by another rget process")

// lockFile takes an exclusive lock on f, failing at once if another process
// holds it. Closing f releases it.
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) { err = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) }); cerr != nil {
		return cerr
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		return errBusy
	}
	return err
}

// writeback returns a func that starts the writeback of a range of f to the
// disk without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE), so
// that the final fsync finds little left. Errors are ignored: it is a hint,
// and the fsync that follows reports any failure.
func writeback(f *os.File) func(off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	return func(off, n int64) {
		_ = rc.Control(func(fd uintptr) { _ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE) })
	}
}
