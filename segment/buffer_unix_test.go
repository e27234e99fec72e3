//go:build unix

package segment

import (
	"testing"
	"unsafe"
)

// TestSlabAligned: a slab of at least a huge page starts on a huge page's
// boundary, where the system can back it with huge pages.
func TestSlabAligned(t *testing.T) {
	t.Parallel()
	mem, free := newSlab(3*hugePage + 12345)
	defer free()
	if len(mem) != 3*hugePage+12345 {
		t.Fatalf("len %d", len(mem))
	}
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(mem))); p%hugePage != 0 {
		t.Fatalf("slab at %#x: not on a %d-byte boundary", p, hugePage)
	}
	mem[len(mem)-1] = 1
}

// TestBuffersOnPages: every buffer of a fetch starts on a page, whatever
// its size, so that direct I/O can take the bytes a block holds (skew).
func TestBuffersOnPages(t *testing.T) {
	t.Parallel()
	for _, size := range []int{256 << 10, 125_829, 48 << 10, 4097} {
		b := buffers{size: size, count: 100}
		for i := range 102 {
			buf := b.take()
			if p := uintptr(unsafe.Pointer(unsafe.SliceData(buf))); p%Block != 0 {
				t.Fatalf("size %d: buffer %d at %#x, not on a page", size, i, p)
			}
		}
		b.release()
	}
}
