package merge

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// mapChunk is how much of the file the cursor maps at a time.
const mapChunk = 2 << 20

// viewer hashes a file's bytes where they lie in the page cache, through a
// read-only shared mapping, instead of copying them out with pread: the
// copy was a tenth of the cursor's cost. The mapping is not populated up
// front (MAP_POPULATE walks it page by page: 5% of a download's CPU); the
// kernel maps 16 pages per fault as the hash touches them (2-3%).
type viewer struct {
	fd   int
	page int64
}

func newViewer(r any) Viewer {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	return &viewer{fd: int(f.Fd()), page: int64(os.Getpagesize())}
}

// View calls fn with the file's bytes [off, off+n), at most mapChunk of
// them, and returns how many it passed. Bytes the file does not have are an
// error, like pread's short read, and so is a fault in the mapping (the file
// truncated while fn reads): not a crash.
func (v *viewer) View(off, n int64, fn func([]byte) error) (k int64, err error) {
	base := off &^ (v.page - 1)
	if n > mapChunk {
		n = mapChunk
	}
	var st unix.Stat_t
	if err := unix.Fstat(v.fd, &st); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	if st.Size < off+n {
		return 0, fmt.Errorf("the file has %d bytes, not %d: %w", st.Size, off+n, io.ErrUnexpectedEOF)
	}
	length := int(off - base + n)
	m, err := unix.Mmap(v.fd, base, length, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("map %d bytes at %d: %w", length, base, err)
	}
	defer func() {
		if uerr := unix.Munmap(m); uerr != nil && err == nil {
			err = fmt.Errorf("unmap at %d: %w", base, uerr)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p) // not the mapping's fault: a bug, not to be hidden
			}
			err = fmt.Errorf("the file changed while its bytes at %d were read (%v)", off, p)
		}
	}()
	if err := fn(m[off-base:]); err != nil {
		return 0, err
	}
	return n, nil
}
