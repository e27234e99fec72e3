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
		{1 << 30, 16, 16 << 20},
		{1 << 30, 1, 64 << 20},
		{1 << 40, 256, 64 << 20},
		{37 << 20, 64, MinSplit},
	} {
		if got := SegmentSize(tc.size, tc.conns); got != tc.want {
			t.Errorf("SegmentSize(%d, %d) = %d, want %d", tc.size, tc.conns, got, tc.want)
		}
	}
}

// TestPlanTakeAndSteal drives the queue by hand: file order first, then
// splitting the in-flight range with most left, never below minSplit.
func TestPlanTakeAndSteal(t *testing.T) {
	t.Parallel()
	const size = 100
	p := NewPlan(size, Split(size, 40), 10)
	a, b, c := p.take(), p.take(), p.take()
	if a.start != 0 || b.start != 40 || c.start != 80 {
		t.Fatalf("take order = %d, %d, %d, want 0, 40, 80", a.start, b.start, c.start)
	}
	// a has written 10 of 40; b 35 of 40; c nothing of 20.
	writeBytes(p, a, 10)
	writeBytes(p, b, 35)
	if got := p.Prefix(); got != 10 {
		t.Fatalf("Prefix() = %d, want 10", got)
	}
	d := p.take() // steals the back half of a's remaining 30
	if d == nil || d.start != 25 || d.end != 40 {
		t.Fatalf("steal = %+v, want [25,40)", d)
	}
	// a's writes are now clamped at 25.
	if k := p.claim(a, 10, 100); k != 15 {
		t.Fatalf("claim after split = %d, want 15", k)
	}
	p.wrote(a, 15)
	p.release(a)
	if got := p.Prefix(); got != 25 {
		t.Fatalf("Prefix() after a = %d, want 25", got)
	}
	// c has 20 left: split to 10+10 is allowed, then nothing more.
	e := p.take()
	if e == nil || e.start != 90 {
		t.Fatalf("second steal = %+v, want start 90", e)
	}
	// Remaining in flight: b 5, c 10, d 15, e 10: none can give 2*minSplit.
	if f := p.take(); f != nil {
		t.Fatalf("third steal = %+v, want nil (below minSplit)", f)
	}
	for _, pt := range []*part{b, c, d, e} {
		writeBytes(p, pt, pt.end-pt.start-pt.done.Load())
		p.release(pt)
	}
	if got := p.Prefix(); got != size {
		t.Fatalf("Prefix() at end = %d, want %d", got, size)
	}
	checkTiles(t, p.Snapshot(), size)
	if p.BytesDone() != size || p.Splits() != 2 {
		t.Fatalf("BytesDone, Splits = %d, %d, want %d, 2", p.BytesDone(), p.Splits(), size)
	}
}

func writeBytes(p *Plan, pt *part, n int64) {
	pos := pt.start + pt.done.Load()
	k := p.claim(pt, pos, int(n))
	p.wrote(pt, k)
}

// TestPlanResume: ranges with Done set resume where they stopped, complete
// ones are never handed out, and the prefix starts past the completed head.
func TestPlanResume(t *testing.T) {
	t.Parallel()
	p := NewPlan(30, []Range{{0, 10, 10}, {10, 20, 4}, {20, 30, 10}}, 1)
	if got := p.Prefix(); got != 14 {
		t.Fatalf("Prefix() = %d, want 14", got)
	}
	pt := p.take()
	if pt == nil || pt.start != 10 || pt.done.Load() != 4 {
		t.Fatalf("take() = %+v, want the partial range [10,20) at 4", pt)
	}
}
