package segment

import (
	"testing"
	"time"
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

// TestPlanStealByRate: the victim is the range expected to finish last, and
// a slow owner keeps only what it can fetch while the thief fetches the rest.
func TestPlanStealByRate(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	t0 := time.Unix(1000, 0)
	p := NewPlan(200*mib, Split(200*mib, 100*mib), mib)
	fast, slow := p.takeAt(t0), p.takeAt(t0)
	writeBytes(p, fast, 50*mib) // 50 MiB/s
	writeBytes(p, slow, 5*mib)  // 5 MiB/s
	stolen := p.takeAt(t0.Add(time.Second))
	if stolen == nil || stolen.end != 200*mib {
		t.Fatalf("steal = %+v, want the tail of the slow range", stolen)
	}
	// The slow owner (5 MiB/s) keeps left*5/(5+27.5) of its 95 MiB left.
	kept := stolen.start - (slow.start + 5*mib)
	if want := int64(95 * mib * 5 * 2 / 65); kept < want-mib/8 || kept > want+mib/8 {
		t.Fatalf("slow owner keeps %d bytes, want about %d", kept, want)
	}
	checkTiles(t, p.Snapshot(), 200*mib)
}

// TestPlanHedge: a range too small to split whose owner is far slower than
// the others is taken over whole; the owner's next claim gets nothing.
func TestPlanHedge(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	t0 := time.Unix(1000, 0)
	size := int64(100*mib + mib)
	p := NewPlan(size, []Range{{0, 100 * mib, 0}, {100 * mib, size, 0}}, mib)
	fast, slow := p.takeAt(t0), p.takeAt(t0)
	writeBytes(p, fast, 100*mib)
	p.releaseAt(fast, t0.Add(time.Second)) // 100 MiB/s
	writeBytes(p, slow, mib/10)            // 0.1 MiB/s, 0.9 MiB left: 9 s
	stolen := p.takeAt(t0.Add(time.Second))
	if stolen == nil || stolen.start != 100*mib+mib/10 || stolen.end != size {
		t.Fatalf("hedge = %+v, want the whole rest of the slow range", stolen)
	}
	if k := p.claim(slow, 100*mib+mib/10, 4096); k != 0 {
		t.Fatalf("slow owner may still write %d bytes", k)
	}
	p.release(slow)
	checkTiles(t, p.Snapshot(), size)
	// A fast owner with as little left is not taken over.
	q := NewPlan(size, []Range{{0, 100 * mib, 0}, {100 * mib, size, 0}}, mib)
	a, b := q.takeAt(t0), q.takeAt(t0)
	writeBytes(q, a, 50*mib)
	writeBytes(q, b, mib/2)
	if s := q.takeAt(t0.Add(time.Second)); s != nil && s.start >= 100*mib {
		t.Fatalf("took over a healthy range: %+v", s)
	}
}

// taken drains p with one worker at a time, each range written at once,
// and returns the lengths handed out, in order.
func taken(t *testing.T, p *Plan) []int64 {
	t.Helper()
	var lens []int64
	for pt := p.take(); pt != nil; pt = p.take() {
		lens = append(lens, pt.end-pt.start)
		writeBytes(p, pt, pt.end-pt.start)
		p.release(pt)
	}
	checkTiles(t, p.Snapshot(), p.Size())
	if got := p.Prefix(); got != p.Size() {
		t.Fatalf("Prefix() = %d after every range, want %d", got, p.Size())
	}
	return lens
}

// TestPlanTaper: near the end, pending ranges are handed out cut to a
// share of what is pending, shrinking down to the floor, so the last ranges
// are short; never with one worker, and never when a request's latency at
// the connections' rate makes short ranges cost more than they save.
func TestPlanTaper(t *testing.T) {
	t.Parallel()
	const size, seg, workers = 64 << 20, 4 << 20, 4

	p := NewPlan(size, Split(size, seg), 0)
	p.workers = workers
	lens := taken(t, p)
	if lens[0] != seg {
		t.Fatalf("first range %d bytes, want a whole %d", lens[0], seg)
	}
	cut := false
	left := int64(size)
	for i, n := range lens {
		if n < taperFloor {
			t.Fatalf("range %d of %v is %d bytes, below the floor %d", i, lens, n, taperFloor)
		}
		// Guided self-scheduling: no range is longer than its share of
		// what was pending, give or take the floor.
		if share := max(left/(2*workers), taperFloor); n >= share+taperFloor {
			t.Fatalf("range %d of %v is %d bytes with %d pending, want below %d", i, lens, n, left, share+taperFloor)
		}
		cut = cut || n < seg
		left -= n
	}
	if !cut {
		t.Fatalf("lengths %v: no taper", lens)
	}
	if last := lens[len(lens)-1]; last >= 2*taperFloor {
		t.Errorf("last range %d bytes, want below %d: lengths %v", last, 2*taperFloor, lens)
	}
	// About 2 × workers × ln(seg/floor) more requests: each worker's
	// ranges halve a few times.
	if extra := len(lens) - size/seg; extra > 8*workers {
		t.Errorf("%d ranges for %d segments: the taper cut too much (%v)", len(lens), size/seg, lens)
	}

	one := NewPlan(size, Split(size, seg), 0)
	one.workers = 1
	if lens := taken(t, one); len(lens) != size/seg {
		t.Errorf("one worker: %d ranges, want the %d segments uncut", len(lens), size/seg)
	}

	// 100 MB/s at 10 ms a request: a range shorter than 8 MB would spend
	// a tenth of its time waiting for its answer.
	far := NewPlan(size, Split(size, seg), 0)
	far.workers = workers
	far.finishedRate = 100e6
	far.observeLatency(10 * time.Millisecond)
	if lens := taken(t, far); len(lens) != size/seg {
		t.Errorf("long latency: %d ranges %v, want the %d segments uncut", len(lens), lens, size/seg)
	}
}
