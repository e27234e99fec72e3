package segment_test

import (
	"testing"

	"rget/origin"
	"rget/segment"
)

// TestFetchSlowConnection: one connection twenty times slower than the
// others (the first after the probe's) neither corrupts the file nor keeps its range: the range is taken
// over by an idle connection or asked again on a fresh one.
func TestFetchSlowConnection(t *testing.T) {
	t.Parallel()
	const size = 12 << 20
	o, url := serve(t, size, origin.WithRatePerConn(8e6), origin.WithSlowConnAt(2, 4e5))
	res, err := fetch(t, url, 4, 1<<20, segment.Options{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
	}
	if moved := res.plan.Splits() + int(res.prog.Recycled.Load()); moved == 0 {
		t.Fatalf("the slow connection kept its range to the end: no split, no recycle (pipelined %d)", res.prog.Pipelined.Load())
	}
	t.Logf("splits %d, recycled %d, pipelined %d", res.plan.Splits(), res.prog.Recycled.Load(), res.prog.Pipelined.Load())
}
