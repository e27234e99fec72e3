package segment

import "golang.org/x/sys/unix"

// adviseHuge asks for b to be backed by transparent huge pages (a hint:
// with them off, or none free, b keeps small pages).
func adviseHuge(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
