package segment

import (
	"testing"
	"unsafe"
)

// TestBuffers: a fetch's buffers are as long as asked, capped there (an
// append cannot run into the next one), never overlap, keep coming past
// the count planned for, and hold what is written to them.
func TestBuffers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ size, count int }{
		{256 << 10, 16}, // one slab of 2 MiB pages
		{48 << 10, 3},   // below a huge page: one small mapping
		{100_000, 21},   // not a multiple of a page
	} {
		b := buffers{size: tc.size, count: tc.count}
		type span struct{ from, to uintptr }
		var spans []span
		var bufs [][]byte
		for i := range tc.count + 2 {
			buf := b.take()
			if len(buf) != tc.size || cap(buf) != tc.size {
				t.Fatalf("size %d: buffer %d has len %d, cap %d", tc.size, i, len(buf), cap(buf))
			}
			for j := range buf {
				buf[j] = byte(i)
			}
			from := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
			spans = append(spans, span{from, from + uintptr(len(buf))})
			bufs = append(bufs, buf)
		}
		for i, a := range spans {
			for j, c := range spans[:i] {
				if a.from < c.to && c.from < a.to {
					t.Fatalf("size %d: buffers %d and %d overlap", tc.size, j, i)
				}
			}
		}
		for i, buf := range bufs {
			for j := range buf {
				if buf[j] != byte(i) {
					t.Fatalf("size %d: buffer %d byte %d is %d, want %d", tc.size, i, j, buf[j], byte(i))
				}
			}
		}
		b.release()
	}
}
