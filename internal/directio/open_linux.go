package directio

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// open opens path with O_DIRECT and returns the alignment the file system
// asks of direct I/O on it (statx, Linux 6.1 and later; nothing is assumed
// where it does not say).
func open(path string) (d *os.File, align int64, mem uintptr, err error) {
	d, err = os.OpenFile(path, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("open %s direct: %w (%w)", path, ErrUnsupported, err)
	}
	var st unix.Statx_t
	rc, err := d.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			err = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st)
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil || st.Mask&unix.STATX_DIOALIGN == 0 || st.Dio_offset_align == 0 {
		d.Close()
		return nil, 0, 0, fmt.Errorf("%s: %w (statx: no alignment given, %v)", path, ErrUnsupported, err)
	}
	return d, int64(st.Dio_offset_align), uintptr(st.Dio_mem_align), nil
}

// alloc returns n bytes aligned to a page, outside Go's heap, and the func
// that frees them.
func alloc(n int) ([]byte, func(), error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("direct I/O buffers: %w", err)
	}
	return b, func() { _ = unix.Munmap(b) }, nil
}
