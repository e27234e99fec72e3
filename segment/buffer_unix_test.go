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
