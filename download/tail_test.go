package download

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"rget/segment"
)

// TestTailSpans: the written spans from an offset on, joined when
// adjacent; a range being written gives all but its last tailGuard bytes,
// rounded down.
func TestTailSpans(t *testing.T) {
	t.Parallel()
	const k = 1 << 10
	rs := []segment.Range{
		{Start: 0, End: 256 * k, Done: 256 * k},             // complete, behind from
		{Start: 256 * k, End: 512 * k, Done: 256 * k},       // complete, from is inside
		{Start: 512 * k, End: 768 * k, Done: 200 * k},       // being written: to 128 KiB
		{Start: 768 * k, End: 1024 * k, Done: 0},            // not begun
		{Start: 1024 * k, End: 1280 * k, Done: 256 * k},     // complete
		{Start: 1280 * k, End: 1536 * k, Done: 256 * k},     // complete, joined
		{Start: 1536 * k, End: 1792 * k, Done: 100 * k},     // being written: nothing whole yet
		{Start: 1792 * k, End: 1800*k + 17, Done: 8*k + 17}, // complete, the file's short last
	}
	got := tailSpans(rs, 300*k)
	want := [][2]int64{{300 * k, 640 * k}, {1024 * k, 1536 * k}, {1792 * k, 1800*k + 17}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tailSpans = %v, want %v", got, want)
	}
	if got := tailSpans(rs, 2000*k); len(got) != 0 {
		t.Fatalf("tailSpans past the end = %v, want none", got)
	}
}

// TestSpansLess: what is left of spans once the spans already started are
// taken out.
func TestSpansLess(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		spans, minus, want [][2]int64
	}{
		{spans: [][2]int64{{0, 10}}, minus: nil, want: [][2]int64{{0, 10}}},
		{spans: [][2]int64{{0, 10}}, minus: [][2]int64{{0, 10}}, want: nil},
		{spans: [][2]int64{{0, 10}}, minus: [][2]int64{{2, 4}, {6, 8}}, want: [][2]int64{{0, 2}, {4, 6}, {8, 10}}},
		{spans: [][2]int64{{5, 20}, {30, 40}}, minus: [][2]int64{{0, 8}, {15, 35}}, want: [][2]int64{{8, 15}, {35, 40}}},
		{spans: [][2]int64{{0, 4}, {10, 14}}, minus: [][2]int64{{4, 10}, {20, 30}}, want: [][2]int64{{0, 4}, {10, 14}}},
	} {
		if got := spansLess(c.spans, c.minus); !reflect.DeepEqual(got, c.want) {
			t.Errorf("spansLess(%v, %v) = %v, want %v", c.spans, c.minus, got, c.want)
		}
	}
}

// TestHashBehind: writing back ahead stops while the hash trails the
// completed prefix by more than tailSpan.
func TestHashBehind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		prefix, hashed int64
		want           bool
	}{
		{prefix: 0, hashed: 0, want: false},
		{prefix: tailSpan, hashed: 0, want: false},
		{prefix: tailSpan + 1, hashed: 0, want: true},
		{prefix: 4 * tailSpan, hashed: 3 * tailSpan, want: false},
		{prefix: 4 * tailSpan, hashed: 2 * tailSpan, want: true},
	} {
		if got := hashBehind(c.prefix, c.hashed); got != c.want {
			t.Errorf("hashBehind(%d, %d) = %v, want %v", c.prefix, c.hashed, got, c.want)
		}
	}
}

// TestWriteTail: near the end of a fetch, the writeback of what is written
// ahead of the hash starts as ranges complete, before the hash gets there;
// it stops with its context.
func TestWriteTail(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	const size = 32 * mib // all of it within tailSpan of the end
	f := partFile(t, size)
	jb := &job{f: f, plan: segment.NewLedger(size, segment.Split(size, 4*mib), segment.Policy{})}
	jb.flushed = mib // the writeback behind the hash got this far

	var mu sync.Mutex
	var calls [][2]int64
	wb := func(off, n int64) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, [2]int64{off, off + n})
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		jb.writeTail(ctx, wb)
	}()

	now := time.Unix(1000, 0)
	front := jb.plan.Acquire(ctx, 0, now).Lease // held open: the hash waits on it
	if front == nil || front.From() != 0 {
		t.Fatalf("first lease %+v, want one from 0", front)
	}
	if _, _, err := front.Write(f, make([]byte, 2*mib+100<<10)); err != nil {
		t.Fatal(err)
	}
	var written []int64
	for conn := 1; conn <= 2; conn++ {
		g := jb.plan.Acquire(ctx, conn, now)
		if g.Lease == nil {
			t.Fatalf("conn %d got no lease: %+v", conn, g)
		}
		if _, _, err := g.Lease.Write(f, make([]byte, g.Lease.End()-g.Lease.From())); err != nil {
			t.Fatal(err)
		}
		written = append(written, g.Lease.From(), g.Lease.End())
	}
	if written[1] != written[2] {
		t.Fatalf("leases %v are not adjacent", written)
	}
	want := [][2]int64{{mib, 2 * mib}, {written[0], written[3]}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := append([][2]int64(nil), calls...)
		mu.Unlock()
		if covers(got, want) {
			for _, c := range got {
				if c[0] < mib || c[1] > written[3] || (c[0] < written[0] && c[1] > 2*mib) {
					t.Fatalf("writeback of %v: outside what was written past the hash's writeback (%v)", c, want)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writeback started for %v, want %v covered", got, want)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
		for i, a := range calls {
			for _, b := range calls[i+1:] {
				if a[0] < b[1] && b[0] < a[1] {
					t.Fatalf("writeback of %v and %v: started twice for the same bytes", a, b)
				}
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writeTail did not return after its context was cancelled")
	}
}

// covers reports whether every span of want lies within the spans of got
// joined.
func covers(got, want [][2]int64) bool {
	got = slices.Clone(got)
	slices.SortFunc(got, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	var joined [][2]int64
	for _, g := range got {
		if n := len(joined); n > 0 && g[0] <= joined[n-1][1] {
			joined[n-1][1] = max(joined[n-1][1], g[1])
			continue
		}
		joined = append(joined, g)
	}
	got = joined
	for _, w := range want {
		ok := false
		for _, g := range got {
			if g[0] <= w[0] && w[1] <= g[1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// partFile creates a part file of size bytes in a temporary directory,
// closed when the test ends.
func partFile(t *testing.T, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "part"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}
