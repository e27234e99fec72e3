//go:build unix

package segment

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// newBuffer returns a connection's copy buffer of n bytes and the func that
// frees it. It is mapped outside Go's heap: hundreds of connections' buffers
// would otherwise count as live heap, and the collector lets the heap grow
// to twice that before it runs, doubling the process's memory.
func newBuffer(n int) ([]byte, func()) { return NewBuffer(n) }

// NewBuffer returns n bytes mapped outside Go's heap (where the system
// allows; else an ordinary slice), and the func that frees them: for large
// long-lived buffers, which as live heap would let the collector grow the
// heap to twice their size.
func NewBuffer(n int) ([]byte, func()) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { _ = unix.Munmap(b) }
}

// hugePage is the size of the large pages newSlab asks for.
const hugePage = 2 << 20

// newSlab is NewBuffer for n bytes that are to be used whole: from
// hugePage up, the bytes start on a hugePage boundary and the system is
// asked to back them with pages of that size (see buffers), the last
// rounded up.
func newSlab(n int) ([]byte, func()) {
	if n < hugePage {
		return NewBuffer(n)
	}
	whole := (n + hugePage - 1) / hugePage * hugePage
	raw, err := unix.Mmap(-1, 0, whole+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), func() {}
	}
	skip := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % hugePage); r != 0 {
		skip = hugePage - r
	}
	mem := raw[skip : skip+whole]
	adviseHuge(mem)
	return mem[:n:n], func() { _ = unix.Munmap(raw) }
}
