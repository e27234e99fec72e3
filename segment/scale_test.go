package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestScalerUnderVirtualTime drives the scaler with modelled links: n
// connections move min(n × perConn, total) (each at most perConn, all
// together at most total), and a server may refuse more than refuseAbove
// connections. With cpuRate set, the machine's CPU is known: busy cpuBase
// (other work) and in proportion to the rate, all of it at cpuRate. Time is virtual: 5 ms
// steps.
func TestScalerUnderVirtualTime(t *testing.T) {
	t.Parallel()
	const mb = 1e6
	for _, tc := range []struct {
		name             string
		perConn, total   float64
		cpuRate, cpuBase float64
		lat              time.Duration
		// slowStart: each connection starts a latency after the count
		// lets it in and moves, a latency later, 14.6 kB (TCP's first
		// window of 10 segments) per latency, doubling each latency
		// up to perConn.
		slowStart        bool
		max, refuseAbove int
		wantMin, wantMax int           // the settled count
		within           time.Duration // settled by then
		reach            time.Duration // if set, at wantMin connections by then
	}{
		{name: "capped per connection, 1 GB/s link", perConn: 25 * mb, total: 1000 * mb, max: 64, wantMin: 32, wantMax: 64, within: time.Second},
		{name: "capped per connection, 400 MB/s link", perConn: 25 * mb, total: 400 * mb, max: 64, wantMin: 16, wantMax: 32, within: time.Second},
		// /paced/ on the 2-core machine: the CPU is busy at 1.2 GB/s.
		{name: "capped per connection, CPU known", perConn: 25 * mb, total: 2000 * mb, cpuRate: 1200 * mb, max: 64, wantMin: 32, wantMax: 64, within: time.Second},
		// Other work keeps the CPU 30% busy: 32 connections read 80%
		// busy, but the doubling that led there brought its full share.
		{name: "capped per connection, CPU shared", perConn: 25 * mb, total: 2000 * mb, cpuRate: 1600 * mb, cpuBase: 0.3, max: 64, wantMin: 64, wantMax: 64, within: time.Second},
		// Loopback, where the CPU is the limit: no search past the start.
		{name: "uncapped loopback, CPU known", perConn: 2000 * mb, total: 1000 * mb, cpuRate: 1100 * mb, max: 64, wantMin: AutoStart, wantMax: AutoStart, within: time.Second},
		{name: "uncapped loopback", perConn: 2000 * mb, total: 1000 * mb, max: 64, wantMin: 4, wantMax: 8, within: time.Second},
		{name: "refuses more than 6", perConn: 25 * mb, total: 1000 * mb, max: 64, refuseAbove: 6, wantMin: 1, wantMax: 6, within: time.Second},
		// Far away the search starts at 16: the refusals bring it down.
		{name: "refuses more than 6, 30 ms away", perConn: 25 * mb, total: 1000 * mb, lat: 30 * time.Millisecond, max: 64, refuseAbove: 6, wantMin: 1, wantMax: 6, within: time.Second},
		{name: "30 ms away", perConn: 10 * mb, total: 1000 * mb, lat: 30 * time.Millisecond, max: 64, wantMin: 64, wantMax: 64, within: 8 * time.Second},
		// The delay proxy's link (1 MiB windows, 30 ms), with TCP's
		// slow start: 16 connections take the 600 MB/s, and the
		// search must reach them within a second.
		{name: "30 ms away, slow start", perConn: 35 * mb, total: 600 * mb, lat: 30 * time.Millisecond, slowStart: true, max: 64, wantMin: 16, wantMax: 64, within: 4 * time.Second, reach: 700 * time.Millisecond},
		{name: "30 ms away, slow start, 1 GB/s", perConn: 35 * mb, total: 1000 * mb, lat: 30 * time.Millisecond, slowStart: true, max: 64, wantMin: 32, wantMax: 64, within: 4 * time.Second, reach: 1500 * time.Millisecond},
		// A long path whose link 8 connections fill: the search starts
		// at 16 there (startCount), and the first step's quadrupling
		// (a long step) is undone.
		{name: "30 ms away, slow start, full at 8", perConn: 35 * mb, total: 250 * mb, lat: 30 * time.Millisecond, slowStart: true, max: 64, wantMin: 16, wantMax: 16, within: 2 * time.Second},
		{name: "100 ms away, slow start", perConn: 10 * mb, total: 1000 * mb, lat: 100 * time.Millisecond, slowStart: true, max: 64, wantMin: 64, wantMax: 64, within: 12 * time.Second, reach: 6 * time.Second},
		{name: "50 KB/s each", perConn: 50e3, total: 1000 * mb, max: 16, wantMin: 16, wantMax: 16, within: time.Second},
		{name: "one connection at most", perConn: 25 * mb, total: 1000 * mb, max: 1, wantMin: 1, wantMax: 1, within: 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(0, 0)
			s := NewScaler(tc.max, tc.lat, now)
			var got float64
			var cpu CPUSample
			var settledAt, reachedAt time.Duration
			peak := s.N()
			var began []time.Time // when each connection was let in
			for step := time.Duration(0); step < 20*time.Second; step += 5 * time.Millisecond {
				n := s.N()
				for len(began) < n {
					began = append(began, now)
				}
				if tc.refuseAbove > 0 && n > tc.refuseAbove {
					// The server refuses the request of a connection
					// past its limit, sent when that connection was
					// let in: those let in together are refused
					// together.
					s.Refused(now.Add(time.Millisecond), began[n-1])
					now = now.Add(time.Millisecond)
					continue
				}
				rate := min(float64(n)*tc.perConn, tc.total)
				if tc.slowStart {
					sum := 0.0
					for _, b := range began[:n] {
						if rtts := now.Sub(b).Seconds()/tc.lat.Seconds() - 2; rtts >= 0 {
							sum += min(tc.perConn, 14600/tc.lat.Seconds()*math.Exp2(rtts))
						}
					}
					rate = min(sum, tc.total)
				}
				got += rate * 0.005
				if tc.cpuRate > 0 {
					cpu.OK = true
					cpu.Total += 0.005
					cpu.Busy += min(tc.cpuBase+rate/tc.cpuRate, 1) * 0.005
				}
				now = now.Add(5 * time.Millisecond)
				s.Observe(now, int64(got), tc.lat, cpu)
				peak = max(peak, s.N())
				if s.N() >= tc.wantMin && reachedAt == 0 {
					reachedAt = step
				}
				if s.Settled() && settledAt == 0 {
					settledAt = step
				}
			}
			if n := s.N(); n < tc.wantMin || n > tc.wantMax || !s.Settled() {
				t.Errorf("settled %v at %d connections (%s), want %d-%d", s.Settled(), n, s.Reason(), tc.wantMin, tc.wantMax)
			}
			if settledAt > tc.within {
				t.Errorf("settled after %v, want within %v", settledAt, tc.within)
			}
			if tc.reach > 0 && reachedAt > tc.reach {
				t.Errorf("reached %d connections after %v, want within %v", tc.wantMin, reachedAt, tc.reach)
			}
			if peak > tc.max {
				t.Errorf("allowed %d connections, more than the maximum %d", peak, tc.max)
			}
			t.Logf("%d connections after %v (%d after %v): %s", s.N(), settledAt, tc.wantMin, reachedAt, s.Reason())
		})
	}
}

// A reset takes a connection away, never below half the most allowed.
func TestScalerFailed(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	s := NewScaler(64, 0, now)
	for range 20 {
		s.Failed(now)
	}
	if n := s.N(); n != AutoStart/2 {
		t.Errorf("after 20 failures at %d connections: %d, want %d (half)", AutoStart, n, AutoStart/2)
	}
}

// TestScalerRefusedBurst: refusals of requests sent together at one count,
// arriving together, each take a connection away (a server that admits 6
// of 8 refuses two at once); one arriving after the grace does not, nor
// does one of a request sent after the first refusal came back.
func TestScalerRefusedBurst(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := NewScaler(64, 0, t0)
	s.n, s.peak = 8, 8 // as if the search had reached 8
	sent := t0.Add(10 * time.Millisecond)
	s.Refused(sent.Add(time.Millisecond), sent)
	s.Refused(sent.Add(2*time.Millisecond), sent)
	if n := s.N(); n != 6 {
		t.Fatalf("after two refusals of requests sent at 8: %d connections, want 6 (%s)", n, s.Reason())
	}
	s.Refused(sent.Add(100*time.Millisecond), sent) // too late to tell of the same burst
	s.Refused(sent.Add(3*time.Millisecond), sent.Add(2*time.Millisecond))
	if n := s.N(); n != 6 {
		t.Fatalf("after a late refusal and one of a request sent after the burst: %d, want 6 (%s)", n, s.Reason())
	}
	// The count never grows past the refused one again.
	now := sent.Add(10 * time.Second)
	for i := 0; i < 10; i++ {
		now = now.Add(2 * regrowAfter)
		s.Observe(now, 0, time.Millisecond, CPUSample{})
	}
	if n := s.N(); n > 6 {
		t.Fatalf("regrew to %d past the refused count", n)
	}
}

// TestScalerNoisyLoopback: on an uncapped link whose windows are noisy
// (each 5 ms step of virtual time delivers nothing with probability 1/8:
// the hiccups of a busy 2-core machine, where a 30 ms window moved 0.9-1.6
// GB/s), the search must stay at 16 connections or below. The machine's
// CPU reads 0.65-1.0 busy at each step (0.67-0.89 over the scaler's
// windows there). Rarely, a run's noise looks like a full-share gain where
// the CPU reads under cpuBound, and the search reaches 32: at most 1 run in
// 100 may (19 of 2000 do, since the first window, which holds the start's
// TLS handshakes over HTTPS, stops the search only at cpuFull; 8 before);
// none may go further. With only the old rule (no more at 95%
// busy), 52 of 2000 runs went past 16, 29 of them past 32.
func TestScalerNoisyLoopback(t *testing.T) {
	t.Parallel()
	const total = 1000e6
	const runs = 2000
	over, far, grew := 0, 0, 0
	for seed := range runs {
		rng := rand.New(rand.NewPCG(uint64(seed), 16))
		now := time.Unix(0, 0)
		s := NewScaler(64, 0, now)
		var got float64
		cpu := CPUSample{OK: true}
		peak := s.N()
		for range 400 {
			if rng.IntN(8) != 0 {
				got += total * 0.005
			}
			cpu.Total += 0.005
			cpu.Busy += (0.65 + 0.35*rng.Float64()) * 0.005
			now = now.Add(5 * time.Millisecond)
			s.Observe(now, int64(got), 100*time.Microsecond, cpu)
			peak = max(peak, s.N())
		}
		if peak > 16 {
			over++
		}
		if peak > 32 {
			far++
		}
		if peak > AutoStart {
			grew++
		}
	}
	if over > runs/100 || far > 0 {
		t.Errorf("%d of %d runs went past 16 connections, %d past 32", over, runs, far)
	}
	t.Logf("%d of %d runs tried more than %d connections, %d past 16", grew, runs, AutoStart, over)
}

// TestScalerWaitsForNewConnections: connections added by a doubling that
// take a while to start (TLS handshakes on a busy CPU: here 45 ms, more
// than the settle) must not be measured before their first responses,
// else their handshakes read as a plateau. The link caps each connection
// at 25 MB/s; the search must reach 64.
func TestScalerWaitsForNewConnections(t *testing.T) {
	t.Parallel()
	const perConn, handshake = 25e6, 45 * time.Millisecond
	for _, tell := range []bool{true, false} {
		now := time.Unix(0, 0)
		s := NewScaler(64, 0, now)
		var began []time.Time
		for range s.N() {
			began = append(began, now.Add(-handshake)) // the first ones are under way
		}
		var got float64
		for range 400 {
			n := s.N()
			for len(began) < n {
				began = append(began, now)
			}
			ready := true
			rate := 0.0
			for _, b := range began[:n] {
				if now.Sub(b) >= handshake {
					rate += perConn
				} else {
					ready = false
				}
			}
			got += rate * 0.005
			now = now.Add(5 * time.Millisecond)
			s.ObserveReady(now, int64(got), 100*time.Microsecond, CPUSample{}, ready || !tell)
		}
		if tell && s.N() != 64 {
			t.Errorf("told when the connections started: settled at %d (%s), want 64", s.N(), s.Reason())
		}
		if !tell && s.N() == 64 {
			t.Errorf("not told, the search reached 64 anyway: the case does not test the wait")
		}
		t.Logf("told %v: %d connections (%s)", tell, s.N(), s.Reason())
	}
}

// TestGateReportsSettling: the search's end is told (a scale event, the
// verdict's reason) even when the count stays: here the machine's CPU is
// saturated at the first measurement, and 8 connections stay 8.
func TestGateReportsSettling(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	s := NewScaler(64, 0, t0)
	led := NewLedger(1<<30, Split(1<<30, 4<<20), Policy{})
	var told []string
	g := newGate(s, led, func(n int, reason string) { told = append(told, fmt.Sprintf("%d: %s", n, reason)) })
	cpu := CPUSample{OK: true}
	var got int64
	for now := t0; now.Before(t0.Add(time.Second)); now = now.Add(5 * time.Millisecond) {
		got += 5e6
		cpu.Total += 0.005
		cpu.Busy += 0.005 // every core busy
		g.apply(s.ObserveReady(now, got, 100*time.Microsecond, cpu, true))
	}
	if len(told) != 1 || !strings.HasPrefix(told[0], "8: ") || !strings.Contains(told[0], "CPU") {
		t.Fatalf("told %q, want one report: 8 connections, the CPU", told)
	}
}

// TestScalerTotalNeverFalls: a server that sends each response's first
// second at once (nginx's limit_rate) and then nothing within a window, so
// that windows read nothing; and, in the window of the largest count,
// bursts that were queued leave the count as splits cancel their requests:
// that window reads less than nothing, which is no reason to go back. The
// total is taken as the most seen; the search reaches 64.
func TestScalerTotalNeverFalls(t *testing.T) {
	t.Parallel()
	const burst = 400 << 10 // each new connection's first second
	now := time.Unix(0, 0)
	s := NewScaler(64, 0, now)
	seen := 0 // connections whose burst has arrived
	var total int64
	var at64 time.Time
	for range 400 {
		if n := s.N(); n > seen {
			total += int64(n-seen) * burst
			seen = n
			if n == 64 {
				at64 = now
			}
		}
		if !at64.IsZero() && now.Sub(at64) == 25*time.Millisecond {
			total -= 12 * burst // queued bursts cancelled with their requests
		}
		now = now.Add(5 * time.Millisecond)
		s.Observe(now, total, time.Millisecond, CPUSample{})
	}
	if at64.IsZero() {
		t.Fatalf("the search never tried 64 (%s): the case does not test the fall", s.Reason())
	}
	if !s.Settled() || s.N() != 64 {
		t.Fatalf("settled %v at %d connections (%s), want 64", s.Settled(), s.N(), s.Reason())
	}
}

// TestScalerStartCount: -c auto starts at AutoStart, at twice that on a
// long path (the probe's latency), never above the limit.
func TestScalerStartCount(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	for _, tc := range []struct {
		limit int
		lat   time.Duration
		want  int
	}{
		{64, 0, AutoStart},
		{64, 200 * time.Microsecond, AutoStart},
		{64, 4 * time.Millisecond, AutoStart},
		{64, 5 * time.Millisecond, 2 * AutoStart},
		{64, 30 * time.Millisecond, 2 * AutoStart},
		{12, 30 * time.Millisecond, 12},
		{1, 30 * time.Millisecond, 1},
	} {
		if n := NewScaler(tc.limit, tc.lat, now).N(); n != tc.want {
			t.Errorf("NewScaler(%d, %v): %d connections, want %d", tc.limit, tc.lat, n, tc.want)
		}
	}
}
