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

// TestHistoryGivesWay: a connection's history, however wrong, gives way
// to what its request shows within a few observation periods, while it
// runs and in the history it leaves. The case is the one -c auto met on
// nginx's limit_rate at 400 KB/s: a range cut short as connections were
// added had arrived in the server's first burst, in 0.3 ms, and measured
// 1 GB/s; the connection's next range, 4 MiB at 400 KB/s, still read 100
// MB/s after 4 s, so nobody split it and the download took 9-14 s, not 2.
func TestHistoryGivesWay(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	const real = 400e3
	for _, k := range []struct {
		hist    float64
		histFor time.Duration // what the history was observed over
		lat     time.Duration // tau = 4 lat
	}{
		{1e9, 300 * time.Microsecond, 10 * time.Millisecond}, // a burst: a thousandfold too high
		{1e9, 300 * time.Microsecond, 100 * time.Millisecond},
		{1e9, time.Second, 10 * time.Millisecond}, // long observed, yet wrong now
		{1e3, time.Second, 10 * time.Millisecond}, // a thousandfold too low
		{1e3, time.Second, 100 * time.Millisecond},
	} {
		hist, lat := k.hist, k.lat
		c := connState{hist: hist, histFor: k.histFor}
		ls := &Lease{}
		c.start(ls, t0)
		c.hdr = t0.Add(lat)
		var at time.Duration
		for _, el := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, 1200 * time.Millisecond, 4 * time.Second} {
			ls.arrived.Store(int64(real * el.Seconds()))
			at = lat + el
			r := c.rate(t0.Add(at), lat)
			// A long-observed history fades within a dozen latencies;
			// a burst's weighs next to nothing from the start.
			settled := el >= 12*lat || k.histFor < time.Millisecond && el >= time.Second
			if el >= 500*time.Millisecond && settled && (r > 1.2*real || r < real/1.2) {
				t.Fatalf("%+v: after %v at %.0f B/s the rate reads %.0f", k, el, real, r)
			}
		}
		c.finish(ls, t0.Add(at), lat)
		if c.histFor <= 0 {
			t.Fatalf("%+v: no observation time kept with the history", k)
		}
		if c.hist > 1.2*real || c.hist < real/1.2 {
			t.Fatalf("history %.0f B/s: after a 4 s request at %.0f B/s the history is %.0f", hist, real, c.hist)
		}
	}
	// A short request leaves a known history near where it was (at most
	// twofold up), and a long one replaces it.
	c := connState{hist: real, histFor: time.Second}
	ls := &Lease{}
	ls.arrived.Store(300e3)
	c.start(ls, t0)
	c.hdr = t0
	c.finish(ls, t0.Add(300*time.Microsecond), 10*time.Millisecond)
	if c.hist > 2*real {
		t.Fatalf("a 300 kB burst in 0.3 ms raised a %.0f B/s history to %.0f", real, c.hist)
	}
}
