package segment

import (
	"testing"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size, seg int64
		want      []Range
	}{
		{0, 10, nil},
		{1, 10, []Range{{0, 1, 0}}},
		{10, 10, []Range{{0, 10, 0}}},
		{11, 10, []Range{{0, 10, 0}, {10, 11, 0}}},
		{9, 10, []Range{{0, 9, 0}}},
		{25, 10, []Range{{0, 10, 0}, {10, 20, 0}, {20, 25, 0}}},
	} {
		got := Split(tc.size, tc.seg)
		if len(got) != len(tc.want) {
			t.Errorf("Split(%d, %d) = %v, want %v", tc.size, tc.seg, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("Split(%d, %d) = %v, want %v", tc.size, tc.seg, got, tc.want)
				break
			}
		}
	}
}

// checkTiles fails unless rs tiles [0, size) in order with sane Done.
func checkTiles(t *testing.T, rs []Range, size int64) {
	t.Helper()
	var at int64
	for _, r := range rs {
		if r.Start != at || r.End <= r.Start || r.Done < 0 || r.Done > r.End-r.Start {
			t.Fatalf("ranges %v do not tile [0,%d): bad %+v at %d", rs, size, r, at)
		}
		at = r.End
	}
	if at != max(size, 0) {
		t.Fatalf("ranges %v end at %d, want %d", rs, at, size)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add(int64(37<<20+3), int64(1<<20))
	f.Add(int64(1), int64(1))
	f.Add(int64(100), int64(0))
	f.Fuzz(func(t *testing.T, size, seg int64) {
		if size > 1<<40 || (seg > 0 && size/seg > 1<<16) || (seg <= 0 && size > 1<<20) {
			return // keep the slice small
		}
		rs := Split(size, seg)
		checkTiles(t, rs, size)
		for i, r := range rs {
			if seg > 0 && r.End-r.Start > seg || (i < len(rs)-1 && seg > 0 && r.End-r.Start != seg) {
				t.Fatalf("Split(%d, %d)[%d] = %+v: wrong length", size, seg, i, r)
			}
		}
	})
}

func TestSegmentSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size  int64
		conns int
		want  int64
	}{
		{0, 8, MinSplit},
		{1 << 30, 16, 4 << 20},
		{1 << 30, 4, 16 << 20},
		{1 << 30, 64, 4 << 20},
		{1 << 30, 256, 1 << 20},
		{100 << 30, 16, 64 << 20},
		{1 << 30, 1, 64 << 20},
		{1 << 40, 256, 64 << 20},
		{37 << 20, 64, MinSplit},
	} {
		if got := SegmentSize(tc.size, tc.conns); got != tc.want {
			t.Errorf("SegmentSize(%d, %d) = %d, want %d", tc.size, tc.conns, got, tc.want)
		}
	}
}
