package segment

// This file is the connection count controller of -c auto: how many
// connections fetch at once, found by measuring what each addition brings.
// It is a pure state machine fed with times and byte counts (no clock of
// its own), so that tests drive it under virtual time.

import (
	"fmt"
	"time"
)

// Scaler decides how many connections fetch at once. It starts with a few,
// doubles the count while each doubling raises the total rate by a clear
// margin (measured over a window long against the latency, once the new
// connections are under way), and stops at the plateau: where a doubling
// brought little it keeps the larger count, where it brought nothing it
// goes back. A 429 or 503 answer caps the count below the connections that
// were open (and the count never grows past that again); resets and
// stalls take one connection away. Its methods are not safe for concurrent
// use: Fetch calls them from one goroutine.
type Scaler struct {
	max     int
	n       int // allowed now
	ceiling int // never more (the server refused more)
	peak    int // the most allowed so far

	lastRefusal time.Time // when a refusal last lowered the count
	// burst is the last refusal that lowered the count: at, of a request
	// sent since from, when n were allowed; k refusals counted with it.
	burst struct {
		from, at time.Time
		n, k     int
	}
	done bool

	// The measurement in progress: from start, when the count last
	// changed, settle passes before the window opens at t0 with b0 bytes.
	changed time.Time
	t0      time.Time
	b0      int64
	cpu0    CPUSample
	// The last finished measurement: prevN connections moved prevRate,
	// with the machine's CPU prevBusy busy (-1 unknown).
	prevN    int
	prevRate float64
	prevBusy float64
	// most is the largest total received fed so far: the total counted
	// never goes down (see ObserveReady).
	most int64

	reason string // why the count is what it is, for events and the verdict
}

// AutoStart is the first count of -c auto: few, for a server that refuses
// many (a burst of refusals at the start brings the count down at once);
// on loopback 8 came within 2-9% of the best fixed count in two sets of
// rounds where 4 was 10-22% off; a capped server shows its per-connection
// cap at once and the count then quadruples. On a long path (longPath) it
// starts at twice that: see startCount.
const AutoStart = 8

// startCount is the first count of -c auto for a server lat away (the
// probe's request latency; 0 when unknown): AutoStart, or twice that on a
// long path. There a search step takes 20 latencies, and a download that
// ends within a step or two is fetched at the first count: 256 MiB 30 ms
// away, where each connection moves 35 MB/s, took 1.06-1.13 s at 8 (the
// count went to 16 at 0.46 s, when the 8 held all but 44 MiB), against
// 0.69-0.74 s with -c 16. A link that 8 connections fill is not slower
// with 16; a server that refuses them brings the count down at once.
func startCount(lat time.Duration) int {
	if lat > 0 && longPath(lat) {
		return 2 * AutoStart
	}
	return AutoStart
}

// Gains: a doubling that brings at least growGain of what the connections
// already there moved, each, is worth continuing; one that brings less than
// keepGain of the total is undone.
const (
	growGain   = 0.5
	keepGain   = 0.05
	linearGain = 0.8
)

// NewScaler returns a scaler that never allows more than limit
// connections (at least 1), starting at now with a server lat away (see
// startCount; 0 when unknown).
func NewScaler(limit int, lat time.Duration, now time.Time) *Scaler {
	limit = max(limit, 1)
	n := min(startCount(lat), limit)
	s := &Scaler{max: limit, n: n, peak: n, ceiling: limit, changed: now, reason: "start"}
	if limit == 1 {
		s.done, s.reason = true, "at most one connection"
	}
	return s
}

// N is how many connections may fetch now.
func (s *Scaler) N() int { return s.n }

// Reach is the count the search may still reach: 0 once settled.
func (s *Scaler) Reach() int {
	if s.done {
		return 0
	}
	return s.ceiling
}

// Reason says why the count is what it is.
func (s *Scaler) Reason() string { return s.reason }

// Settled reports whether the search ended (a plateau, the maximum, or a
// refusal).
func (s *Scaler) Settled() bool { return s.done }

// window is how long a measurement runs: long against the request
// latency, at least 30 ms; settle is how long new connections get to
// start before it opens.
func window(lat time.Duration) time.Duration { return max(minWindow, 12*lat) }

const minWindow = 30 * time.Millisecond

func settle(lat time.Duration) time.Duration { return max(10*time.Millisecond, 8*lat) }

// settleMax is how long the window waits at most for the new connections'
// first responses (some may have nothing to fetch).
func settleMax(lat time.Duration) time.Duration { return max(100*time.Millisecond, 4*settle(lat)) }

// Observe feeds the total bytes received so far at now, with the request
// latency and the machine's CPU time (a zero CPUSample when unknown), and
// returns the count allowed from now on; changed reports a change.
func (s *Scaler) Observe(now time.Time, received int64, lat time.Duration, cpu CPUSample) (n int, changed bool) {
	return s.ObserveReady(now, received, lat, cpu, true)
}

// ObserveReady is Observe, told whether every connection allowed has had a
// response under way (headers received): the measurement's window opens
// only then, or at the latest after settleMax. Over HTTPS on the 2-core
// machine, 16 connections added at 16 took their TLS handshakes into the
// window on a saturated CPU: 32 read 374 MB/s against 401 for 16, and the
// search went back to 16 (2.5 s, where 32 took 1.55).
//
// received may count bytes waiting in receive queues (gate.observe), which
// leave the count when their request is cancelled (its range split): the
// total is taken as the most fed so far. At 400 KB/s per connection, where
// nginx sends each response's first second at once, a window of 64 new
// connections read -5 to -64 MB/s as splits cancelled requests with bursts
// queued, and the search went back to 16 (3.5-4.5 s, where 64 take 1.9).
func (s *Scaler) ObserveReady(now time.Time, received int64, lat time.Duration, cpu CPUSample, ready bool) (n int, changed bool) {
	s.most = max(s.most, received)
	received = s.most
	if s.done {
		return s.regrow(now)
	}
	if s.t0.IsZero() {
		if d := now.Sub(s.changed); d >= settle(lat) && (ready || d >= settleMax(lat)) {
			s.t0, s.b0, s.cpu0 = now, received, cpu
		}
		return s.n, false
	}
	el := now.Sub(s.t0)
	w := window(lat)
	if s.prevN == 0 && longPath(lat) {
		// The first measurement on a long path decides little: the
		// count grows unless the CPU is saturated, and what it reads
		// is only the next one's baseline (one read low makes the next
		// step look linear: a step too many, undone by the one after).
		// A third of the window brings the second count 0.24 s sooner
		// at 30 ms.
		w = max(minWindow, w/3)
	}
	if el < w {
		return s.n, false
	}
	rate := float64(received-s.b0) / el.Seconds()
	return s.decide(now, rate, BusyShare(s.cpu0, cpu), lat)
}

// The machine's CPU, when known, bounds the search: more connections bring
// more bytes only if the machine has the CPU to take them (a download on
// one host costs CPU in proportion to its rate: copies, the hash, TLS, and
// on loopback the server's share too).
//   - At cpuBound busy or more, no more connections are tried: a doubling
//     could then bring at most 1/cpuBound - 1 = 25% more, half of what
//     growGain asks of it. (1/(1+growGain), two thirds, would be exact if
//     all of the CPU grew with the rate; the hash and other processes do
//     not all, and a window of 30-40 ms reads /proc/stat's 10 ms ticks
//     coarsely: on this 2-core machine loopback at 8 connections read
//     0.67-0.89.) But only at cpuFull after a doubling that brought its
//     full share from under cpuBound (the server caps each connection:
//     on /paced/, 32 connections read 0.67-0.85, and 64 were 10%
//     faster), and at the first measurement: over HTTPS the start costs
//     CPU the rate does not show (at 80%, /paced/ stopped at 8
//     connections, 5.2 s, in 4 of 6 runs, where 64 take 1.7 s; still in
//     1 of 6 once the window waited for the handshakes, ObserveReady).
//   - A quadrupling, which assumes the rate can at least double, is tried
//     only under quadBelow busy: the CPU has room for twice the rate.
//     Otherwise the count doubles. On loopback, one noisy window (the
//     rates of 30 ms windows there spread 0.9-1.6 GB/s) could make 8 to 16
//     look linear, and the search went on to 64 connections.
//
// longPath reports whether a search step (settle and window) at latency
// lat takes 100 ms or more (20 latencies of 5 ms or more): there the first
// step quadruples, after a shorter window.
func longPath(lat time.Duration) bool { return settle(lat)+window(lat) >= 100*time.Millisecond }

const (
	cpuBound  = 0.8
	cpuFull   = 0.95
	quadBelow = 0.5
)

// decide applies what a finished measurement at the current count found.
func (s *Scaler) decide(now time.Time, rate, busy float64, lat time.Duration) (int, bool) {
	old := s.n
	switch {
	case s.prevN == 0:
		// The first measurement: only a doubling can tell.
	case rate-s.prevRate < keepGain*s.prevRate:
		s.n, s.done = s.prevN, true
		s.reason = fmt.Sprintf("%d connections moved no more than %d (%.0f vs %.0f MB/s): back to %d",
			old, s.prevN, rate/1e6, s.prevRate/1e6, s.prevN)
		return s.set(now, old)
	case (rate-s.prevRate)/float64(s.n-s.prevN) < growGain*s.prevRate/float64(s.prevN):
		s.done = true
		s.reason = fmt.Sprintf("the total stopped growing with the connections (%d: %.0f MB/s, %d: %.0f MB/s)",
			s.prevN, s.prevRate/1e6, old, rate/1e6)
		return s.set(now, old)
	}
	// A doubling that brought its full share (linear scaling: the
	// connections are capped each, not the link) is followed by a
	// quadrupling: fewer steps to the plateau.
	first := s.prevN == 0
	linear := !first && (rate-s.prevRate)/float64(s.n-s.prevN) >= linearGain*s.prevRate/float64(s.prevN)
	factor := 2
	if linear && busy < quadBelow { // (-1, unknown, included)
		factor = 4
	}
	if first && busy < quadBelow && longPath(lat) {
		// On a long path a step costs 20 latencies at the smaller
		// count: at 30 ms, 8 connections for 0.45 s and 16 for 0.6 s
		// more, where 32 took 1.7 s for 1 GiB and -c auto 2.5 s. The
		// first step skips a doubling while the CPU has room; if the
		// link was full at the start, the next measurement goes back.
		factor = 4
	}
	// A full share from a machine already at cpuBound is not the
	// server's cap but noise: the CPU could not have taken it.
	capped := linear && s.prevBusy < cpuBound
	s.prevN, s.prevRate, s.prevBusy = s.n, rate, busy
	if busy >= cpuFull || (busy >= cpuBound && !capped && !first) {
		// The machine has no CPU left for more connections: they
		// would share it, not add to it.
		s.done = true
		s.reason = fmt.Sprintf("the machine's CPU was %.0f%% busy with %d connections (%.0f MB/s): no more", 100*busy, s.n, rate/1e6)
		return s.set(now, old)
	}
	if s.n >= s.ceiling {
		s.done = true
		if s.ceiling == s.max {
			s.reason = fmt.Sprintf("each connection added its share up to the maximum, %d (%.0f MB/s)", s.n, rate/1e6)
		}
		return s.set(now, old)
	}
	s.n = min(factor*s.n, s.ceiling)
	s.peak = max(s.peak, s.n)
	s.reason = fmt.Sprintf("%d connections moved %.0f MB/s: trying %d", old, rate/1e6, s.n)
	return s.set(now, old)
}

// set restarts the measurement after a change of count from old.
func (s *Scaler) set(now time.Time, old int) (int, bool) {
	s.changed, s.t0, s.b0 = now, time.Time{}, 0
	return s.n, s.n != old
}

// Refused records a 429 or 503 answer to a request sent at sent: one
// connection fewer than allowed, for good (a server that admits k
// connections refuses the requests of each one past k), and the search
// ends. A request sent before the count last changed says nothing of the
// count now: it is not counted (else a burst of refusals would take many).
//
// But refusals of requests sent together, at the count the first refusal
// lowered, arriving with it (within refuseGrace), each tell of another
// connection too many: the server that admits 6 of 8 refuses two at once.
// (A refused connection waits out the retry delay before its next request,
// so that one connection is not refused twice in such a burst.)
func (s *Scaler) Refused(now, sent time.Time) (int, bool) {
	old := s.n
	if !s.burst.at.IsZero() && !sent.Before(s.burst.from) && sent.Before(s.burst.at) &&
		now.Before(s.burst.at.Add(refuseGrace)) {
		s.burst.k++
		n := max(s.burst.n-s.burst.k, 1)
		if n >= s.n {
			return s.n, false
		}
		s.n, s.ceiling = n, min(s.ceiling, n)
		s.reason = fmt.Sprintf("the server refused %d requests sent with %d connections allowed: %d", s.burst.k, s.burst.n, s.n)
		return s.set(now, old)
	}
	if s.lastRefusal.After(sent) || (!s.lastRefusal.IsZero() && sent.Before(s.changed.Add(refuseGrace))) {
		return s.n, false
	}
	first := s.lastRefusal.IsZero()
	s.lastRefusal = now
	s.burst.from, s.burst.at, s.burst.n, s.burst.k = s.changed, now, old, 1
	if first || s.n >= s.ceiling {
		// Refused at the most allowed: that count is too many for good.
		s.ceiling = max(s.n-1, 1)
	}
	s.n = max(s.n-1, 1)
	s.done = true
	s.reason = fmt.Sprintf("the server refused a request with %d connections allowed: %d", old, s.n)
	return s.set(now, old)
}

// refuseGrace is how long after a change of count a refusal still says
// nothing about it: the connections closed for it may not have reached the
// server yet.
const refuseGrace = 50 * time.Millisecond

// regrowAfter is how long without a refusal before one connection more
// is tried again, up to the ceiling: a refusal may also come from a
// connection the server had not yet seen closed.
const regrowAfter = time.Second

// regrow adds a connection after a quiet period following refusals.
func (s *Scaler) regrow(now time.Time) (int, bool) {
	if s.lastRefusal.IsZero() || s.n >= s.ceiling || now.Sub(s.lastRefusal) < regrowAfter || now.Sub(s.changed) < regrowAfter {
		return s.n, false
	}
	old := s.n
	s.n++
	s.reason = fmt.Sprintf("no refusal for %v: %d connections", regrowAfter, s.n)
	return s.set(now, old)
}

// Failed records a reset or a stall: one connection fewer, never below
// half the most allowed (a flaky link is not a reason to crawl), and the
// measurement starts over.
func (s *Scaler) Failed(now time.Time) (int, bool) {
	old := s.n
	s.n = min(old, s.ceiling, max(old-1, (s.peak+1)/2, 1))
	s.prevN, s.prevRate = 0, 0
	if s.n != old {
		s.reason = fmt.Sprintf("a connection failed: %d", s.n)
	}
	return s.set(now, old)
}
