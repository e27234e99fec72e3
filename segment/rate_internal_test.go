package segment

import (
	"testing"
	"time"
)

// TestThroughput: what the connections deliver together is measured over
// periods long against the round trip (nothing before the first one ends),
// smoothed, and restarted when the count goes back (a resumed download).
func TestThroughput(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	var tp throughput
	steps := []struct {
		at   time.Duration
		done int64
		lat  time.Duration
		want float64
	}{
		{0, 0, time.Millisecond, 0},
		{10 * time.Millisecond, 10e6, time.Millisecond, 0},     // under 50 ms: no estimate yet
		{100 * time.Millisecond, 100e6, time.Millisecond, 1e9}, // 100 MB in 100 ms
		{150 * time.Millisecond, 110e6, time.Millisecond, 0.6e9},
		{160 * time.Millisecond, 200e6, 30 * time.Millisecond, 0.6e9}, // a long path: 120 ms periods
		{270 * time.Millisecond, 206e6, 30 * time.Millisecond, 0.7e9}, // 96 MB in 120 ms
		{280 * time.Millisecond, 5e6, time.Millisecond, 0.7e9},        // went back: restarts from here
	}
	for _, s := range steps {
		if got := tp.rate(t0.Add(s.at), s.done, s.lat); got < s.want*0.999 || got > s.want*1.001 {
			t.Fatalf("at %v with %d bytes: rate %.0f, want %.0f", s.at, s.done, got, s.want)
		}
	}
}
