//go:build unix

package segment

import "golang.org/x/sys/unix"

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
