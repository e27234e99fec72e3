package segment

// The scheduler's simulator: the real Ledger and Policy driven under
// deterministic virtual time by modelled connections (a rate cap each, a
// request latency, stalls, drops, a cap that changes), with no sockets and
// no sleeps. Each case asserts that the download finishes, near the ideal
// time, fetching each byte about once, in a bounded number of requests.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// simLink is one modelled download.
type simLink struct {
	size  int64
	conns int
	rate  float64       // bytes/s each connection is capped at
	lat   time.Duration // request latency (sent to headers)
	// Faults.
	slowConn    bool    // connection 0 runs 10x slower
	stallFirst  bool    // connection 0's first response stalls after its headers
	changeAt    float64 // at this fraction of the ideal time every cap is multiplied by changeBy
	changeBy    float64
	dropEvery   int   // every Nth response is cut in the middle (0: never)
	initialSegs int64 // planned range size; 0: SegmentSize
	window      int64 // a stream's reorder window (Ledger.SetWindow), drained at once; 0: none
	// lead models a file's hash lead (download's hashLead): an elastic
	// window of max(64 MiB, 2 × conns × range size) in whole ranges,
	// behind a hash that keeps up with the prefix.
	lead bool
	// hash is how fast the lead's consumer takes the prefix, bytes/s (the
	// hash of a file, told to the policy as Window.Rate); 0: at once. The
	// download ends when it has taken the last byte.
	hash float64
	// hashBusy, if set, is how fast the hash takes the prefix while the
	// fetch runs (it shares the cores with it), and what the policy is
	// told; hash is its rate after the last byte.
	hashBusy float64
	// planned, if above conns, is how many connections the ranges are
	// planned for (-c auto settled below the 16 it plans for): the
	// policy joins them (Policy.Planned), the lead moves by what it joins.
	planned int
	// burst is how many seconds of its cap a connection's response sends
	// at once, at its headers (nginx's limit_rate lets a response send a
	// second's worth ahead; token buckets do the like): a short range
	// arrives far faster than the cap.
	burst float64
	// burstOnce: only a connection's first response (a fresh TCP
	// connection's) has the burst.
	burstOnce bool
	// ramp, if set, is -c auto's count over time: it starts at ramp[0].n
	// connections and moves to each step's n at its time (the last step
	// should reach conns). The connections above the count wait.
	ramp    []simStep
	changeT float64 // changeTime, once computed
	// pipeline: a connection sends its next request ahead, on its own
	// connection, as the fetcher does (Ledger.AcquireAhead, at
	// Lease.aheadBytes before its answer ends); the answer follows the
	// one before it without a latency.
	pipeline bool
}

// busyHash is the hash's rate while the fetch runs.
func (k simLink) busyHash() float64 {
	if k.hashBusy > 0 {
		return k.hashBusy
	}
	return k.hash
}

// simStep is a change of the connection count at virtual second at.
type simStep struct {
	at float64
	n  int
}

// autoRamp is -c auto's search as it goes on a capped link: 8
// connections, 16 a measurement later, then the most it may use.
func autoRamp(conns int) []simStep {
	return []simStep{{0, min(8, conns)}, {0.043, min(16, conns)}, {0.103, conns}}
}

// workersAt is how many connections fetch at virtual second t, and when
// that changes next (+Inf: never).
func (k simLink) workersAt(t float64) (int, float64) {
	n, next := k.conns, math.Inf(1)
	for i, st := range k.ramp {
		if st.at > t {
			next = st.at
			break
		}
		n = st.n
		if i == len(k.ramp)-1 {
			n = k.conns
		}
	}
	return n, next
}

// planFor is how many connections the ranges are planned for.
func (k simLink) planFor() int { return max(k.conns, k.planned) }

// segs is the planned range size: initialSegs, else SegmentSize, within
// what a window allows (as download's prepareSink plans them).
func (k simLink) segs() int64 {
	if k.initialSegs > 0 {
		return k.initialSegs
	}
	segs := SegmentSize(k.size, k.planFor())
	if k.window > 0 {
		segs = min(segs, max(k.window/int64(2*k.conns), MinPiece))
	}
	return segs
}

func (k simLink) String() string {
	s := fmt.Sprintf("%s at %s/conn x%d, latency %v", fmtSize(k.size), fmtSize(int64(k.rate)), k.conns, k.lat)
	if k.slowConn {
		s += ", one 10x slower"
	}
	if k.stallFirst {
		s += ", one stalls after headers"
	}
	if k.window > 0 {
		s += ", window " + fmtSize(k.window)
	}
	if k.changeBy != 0 {
		s += fmt.Sprintf(", cap x%.2f at %.0f%%", k.changeBy, 100*k.changeAt)
	}
	if k.dropEvery > 0 {
		s += fmt.Sprintf(", every %dth response dropped", k.dropEvery)
	}
	if k.hash > 0 {
		s += fmt.Sprintf(", hashed at %s/s", fmtSize(int64(k.hash)))
		if k.hashBusy > 0 {
			s += fmt.Sprintf(" (%s/s while fetching)", fmtSize(int64(k.hashBusy)))
		}
	}
	if k.planned > k.conns {
		s += fmt.Sprintf(", ranges planned for %d", k.planned)
	}
	if k.initialSegs > 0 {
		s += ", ranges of " + fmtSize(k.initialSegs)
	}
	if k.burst > 0 {
		s += fmt.Sprintf(", %.2gs of cap sent at once", k.burst)
		if k.burstOnce {
			s += " by a new connection"
		}
	}
	if len(k.ramp) > 0 {
		s += ", ramped as -c auto"
	}
	if k.pipeline {
		s += ", pipelined"
	}
	return s
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1fTiB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// connRate is connection i's cap at virtual second t.
func (k simLink) connRate(i int, t float64) float64 {
	r := k.baseRate(i)
	if k.changeBy != 0 && t >= k.changeTime() {
		r *= k.changeBy
	}
	return r
}

// baseRate is connection i's cap before any change.
func (k simLink) baseRate(i int) float64 {
	if k.slowConn && i == 0 && k.conns > 1 {
		return k.rate / 10
	}
	return k.rate
}

// sumRates is the total of the caps before any change (a stalled
// connection counts for nothing).
func (k simLink) sumRates() float64 {
	sum := 0.0
	for i := 0; i < k.conns; i++ {
		if k.stallFirst && i == 0 && k.conns > 1 {
			continue
		}
		sum += k.baseRate(i)
	}
	return sum
}

// changeTime is when the caps change: changeAt of the way through the
// download as it would go without the change.
func (k simLink) changeTime() float64 {
	if k.changeT > 0 {
		return k.changeT
	}
	return k.changeAt * float64(k.size) / k.sumRates()
}

// ideal is the time the download takes with every connection busy from
// the start at its cap, no request costing anything.
func (k simLink) ideal() float64 {
	sum := k.sumRates()
	// Each connection's first response sends its burst at once (a
	// scheduler that makes more requests gets more of them: the bound
	// does not count on that).
	t := max(float64(k.size)-k.burst*sum, 0) / sum
	for i, st := range k.ramp {
		// The connections a ramp leaves out meanwhile move nothing.
		if i+1 < len(k.ramp) {
			t += float64(k.conns-st.n) / float64(k.conns) * (k.ramp[i+1].at - st.at)
		}
	}
	if k.changeBy != 0 {
		// The bytes moved before the change, then the rest at the new caps.
		t0 := k.changeTime()
		t = t0 + (float64(k.size)-sum*t0)/(sum*k.changeBy)
	}
	if k.lead && k.hash > 0 {
		t = max(t, float64(k.size)/k.hash) // the hash is the slower lane
	}
	return t
}

// simConn is one modelled connection: the worker loop of fetch.go, driven
// by events.
type simConn struct {
	i     int
	state int // simIdle, simHeaders, simBody, simWait, simDone
	ls    *Lease
	ctx   context.Context
	// The request in flight.
	sent, hdr   float64
	from, end   int64   // what it asked
	acc         float64 // bytes the server sent so far (fractional)
	written     int64   // bytes passed to Write
	lastFlush   float64
	dropAt      int64 // cut after this many bytes; -1 never
	stalled     bool
	bursted     bool // the response's burst (simLink.burst) was sent
	responses   int
	wake        float64
	changed     <-chan struct{}
	lastAdvance float64
	// The request sent ahead (simLink.pipeline): its lease, when it was
	// sent, and the end it asked for.
	next     *Lease
	nextCtx  context.Context
	nextSent float64
	nextEnd  int64
}

const (
	simIdle = iota
	simHeaders
	simBody
	simWait
	simDone
)

// simDebug prints every request of a simulated download (RGET_SIM_DEBUG=1).
var simDebug = os.Getenv("RGET_SIM_DEBUG") != ""

// simDst records every write; at the end they must tile [0, size) exactly.
type simDst struct{ w [][2]int64 }

func (d *simDst) WriteAt(p []byte, off int64) (int, error) {
	d.w = append(d.w, [2]int64{off, int64(len(p))})
	return len(p), nil
}

// simResult is what one simulated download did.
type simResult struct {
	seconds   float64
	ideal     float64
	sent      int64 // bytes the server sent, over all responses
	requests  int
	splits    int
	hedges    int
	dupBudget int64
	drops     int
	recycled  int
	hashTail  float64 // seconds the hash took after the last byte
	ahead     int     // requests sent ahead (simLink.pipeline)
}

// simBuffer is the worker's copy buffer the simulator assumes (see
// Lease.aheadBytes).
const simBuffer = 256 << 10

// simZeros stands for received bytes, whose content the simulator does
// not model (the ledger sees only offsets and lengths); it is only read.
var simZeros = make([]byte, 16<<20)

// simulate runs one download of k to its end and checks the ledger's
// accounting; it returns an error describing what went wrong.
func simulate(k simLink) (simResult, error) {
	if k.changeBy != 0 {
		k.changeT = k.changeTime()
	}
	ideal := k.ideal()
	led := NewLedger(k.size, Split(k.size, k.segs()), Policy{Planned: k.planned})
	workers, _ := k.workersAt(0)
	led.setWorkers(workers)
	if workers < k.conns {
		led.setGrowTo(k.conns) // the search may reach them all
	}
	// The reader of a stream takes each byte as soon as the prefix holds
	// it: the window's end moves with the prefix.
	var drained int64
	if k.window > 0 {
		led.SetWindow(Window{Consumed: func() int64 { return drained }, Size: k.window})
	} else if k.lead {
		step := max(k.segs(), MinPiece)
		w := Window{Consumed: func() int64 { return drained }, Size: max(64<<20, 2*int64(k.planFor())*step),
			Step: step, Elastic: true}
		if k.hash > 0 && os.Getenv("BLIND") == "" {
			// As merge.Cursor: untimed until its first 4 MiB; its
			// speed alone is known from the start (a calibration).
			w.Rate = func() float64 {
				if drained < 4<<20 {
					return 0
				}
				return k.busyHash()
			}
			w.Peak = func() float64 { return k.hash }
		}
		led.SetWindow(w)
	}
	// hashed is when drained was last brought up to date (hashTo).
	hashed := 0.0
	dst := &simDst{}
	// A flush period fine enough to model the worker's 20 ms, coarse
	// enough that a long simulated download stays cheap.
	flush := max(flushAfter.Seconds(), ideal/400)
	epoch := time.Unix(1e9, 0)
	at := func(t float64) time.Time { return epoch.Add(time.Duration(t * 1e9)) }
	lat := k.lat.Seconds()
	cs := make([]*simConn, k.conns)
	for i := range cs {
		cs[i] = &simConn{i: i, dropAt: -1}
	}
	var res simResult
	res.ideal = ideal
	maxSteps := 200000 + 400*k.conns
	ctx := context.Background()
	now := 0.0

	// advance brings the bytes the server sent on c's response up to t.
	advance := func(c *simConn, t float64) {
		if c.state != simBody || c.stalled {
			c.lastAdvance = t
			return
		}
		want := float64(c.end - c.from)
		if c.dropAt >= 0 {
			want = float64(c.dropAt)
		}
		before := int64(c.acc)
		if !c.bursted {
			c.bursted = true
			c.acc += k.burst * k.connRate(c.i, c.lastAdvance)
		}
		c.acc += k.connRate(c.i, c.lastAdvance) * (t - c.lastAdvance)
		if c.acc > want-1e-3 {
			c.acc = want // float rounding must not leave a byte unsent
		}
		c.lastAdvance = t
		if d := int64(c.acc) - before; d > 0 {
			c.ls.Arrived(int(d))
			res.sent += d
		}
	}
	// release ends c's request with err and makes it idle.
	release := func(c *simConn, err error) {
		if simDebug && int64(c.acc) > c.written {
			fmt.Printf("t=%.6f conn %d releases [%d,%d): %d sent, %d written\n", now, c.i, c.from, c.end, int64(c.acc), c.written)
		}
		c.ls.Release(err, at(now), func(int) time.Duration { return 0 })
		c.ls, c.state = nil, simIdle
	}
	// begin makes c's state that of a new request for lease ls, sent at
	// sent, its headers due at hdr.
	begin := func(c *simConn, ls *Lease, lctx context.Context, end int64, sent, hdr float64) {
		c.ls, c.ctx = ls, lctx
		c.from, c.end = ls.From(), end
		c.sent, c.hdr = sent, hdr
		c.acc, c.written = 0, 0
		if !k.burstOnce {
			c.bursted = false
		}
		c.state = simHeaders
		if simDebug {
			fmt.Printf("t=%.6f conn %d takes [%d,%d) (%s) hedge=%v, sent at %.6f\n", now, c.i, c.from, c.end, fmtSize(c.end-c.from), ls.Hedge(), sent)
		}
		c.responses++
		c.stalled = k.stallFirst && c.i == 0 && c.responses == 1 && k.conns > 1
		c.dropAt = -1
		if k.dropEvery > 0 && res.requests%k.dropEvery == 0 && c.end-c.from > 1 {
			c.dropAt = (c.end - c.from) / 2
		}
	}
	// takeNext starts c's request sent ahead, now that the one before it
	// is released: its answer follows at once, or a latency after it was
	// sent; on a connection that broke (fresh) it is sent again now. A
	// lease lost before its turn is given back.
	takeNext := func(c *simConn, fresh bool) {
		ls, lctx := c.next, c.nextCtx
		c.next = nil
		if ls == nil {
			return
		}
		if lctx.Err() != nil {
			ls.Release(nil, at(now), func(int) time.Duration { return 0 })
			return
		}
		if fresh {
			ls.sentNow()
			begin(c, ls, lctx, c.nextEnd, now, now+lat)
			return
		}
		begin(c, ls, lctx, c.nextEnd, c.nextSent, max(now, c.nextSent+lat))
	}
	// flushBody writes what arrived and not yet written; it reports
	// whether the lease wants more.
	flushBody := func(c *simConn) (bool, error) {
		n := int64(c.acc) - c.written
		c.lastFlush = now
		if n <= 0 {
			return true, nil
		}
		for n > 0 {
			k := min(n, int64(len(simZeros)))
			_, more, err := c.ls.Write(dst, simZeros[:k])
			c.written += k
			n -= k
			if err != nil || !more {
				c.written += n
				return more, err
			}
		}
		return true, nil
	}

	// hashTo moves the hash on to t: at k.hash bytes/s, as far as the
	// prefix allows (the prefix only grows at events, so it held since the
	// last one). It reports whether drained moved.
	hashTo := func(t float64) bool {
		p := led.Prefix()
		if k.hash <= 0 || !k.lead {
			moved := p > drained
			drained = max(drained, p)
			hashed = t
			return moved
		}
		d := k.busyHash() * (t - hashed)
		hashed = t
		switch {
		case drained >= p:
			return false
		case float64(drained)+d >= float64(p)-1: // float rounding must not leave a byte
			drained = p
		default:
			drained += int64(d)
		}
		return d >= 1
	}

	for step := 0; ; step++ {
		if n, at := k.workersAt(now); n != workers {
			workers = n
			led.setWorkers(n)
			if math.IsInf(at, 1) {
				led.setGrowTo(0) // settled
			}
		}
		if step > maxSteps {
			st := ""
			for _, c := range cs[:min(len(cs), 4)] {
				st += fmt.Sprintf(" [conn %d state %d acc %.1f written %d req [%d,%d) lastFlush %.6f wake %.6f]", c.i, c.state, c.acc, c.written, c.from, c.end, c.lastFlush, c.wake)
			}
			return res, fmt.Errorf("no end after %d events at t=%.9fs (ideal %.3fs): a loop;%s", step, now, ideal, st)
		}
		for _, c := range cs {
			advance(c, now)
		}
		// The hash ran since the last event on the prefix that held then.
		hmoved := k.hash > 0 && hashTo(now)
		acted := false
		for _, c := range cs {
			if c.i >= workers && c.state == simIdle {
				continue // left out by the count (a gate's wait)
			}
			switch c.state {
			case simHeaders:
				if c.hdr > now {
					continue
				}
				if c.ctx.Err() != nil { // lost before its headers
					release(c, nil)
					break
				}
				c.ls.Headers(at(c.sent), at(c.sent), at(c.hdr))
				c.state, c.lastAdvance, c.lastFlush = simBody, c.hdr, c.hdr
			case simBody:
				if c.ctx.Err() != nil {
					if !errors.Is(context.Cause(c.ctx), ErrLost) {
						return res, fmt.Errorf("lease cancelled with %v", context.Cause(c.ctx))
					}
					release(c, nil)
					takeNext(c, true)
					acted = true
					break
				}
				got := int64(c.acc)
				full := got >= c.end-c.from
				dropped := c.dropAt >= 0 && got >= c.dropAt
				if !full && !dropped && now-c.lastFlush < flush-1e-9 {
					// Mid-body: bytes wait in the buffer, unless the lease
					// has been cut short of them.
					if c.from+got < c.ls.End() {
						continue
					}
				}
				more, err := flushBody(c)
				if err != nil {
					return res, err
				}
				if k.pipeline && more && !full && !dropped && c.next == nil && c.i < workers {
					if b, _ := c.ls.aheadBytes(at(now), simBuffer); b >= 0 && c.end-(c.from+c.written) <= b {
						if g := led.AcquireAhead(ctx, c.i, at(now)); g.Lease != nil {
							c.next, c.nextCtx, c.nextSent, c.nextEnd = g.Lease, g.Ctx, now, g.Lease.End()
							res.requests++
							res.ahead++
							acted = true
						}
					}
				}
				switch {
				case !more:
					cut := c.from+c.written < c.end
					release(c, nil)
					takeNext(c, cut)
					if cut && led.recycle(c.i) {
						c.bursted = false // a fresh connection
						// The response was cut short, and the
						// connection was much slower than the others:
						// a fresh one is judged afresh (fetch.go).
						res.recycled++
					}
					acted = true
				case dropped:
					res.drops++
					release(c, io.ErrUnexpectedEOF)
					takeNext(c, true)
					acted = true
				case full:
					return res, fmt.Errorf("response [%d,%d) ended but the lease wants more", c.from, c.end)
				}
			case simWait:
				select {
				case <-c.changed:
				default:
					if c.wake > now {
						continue
					}
				}
				c.state = simIdle
			}
			if c.state == simIdle {
				c.changed = led.Changed()
				g := led.Acquire(ctx, c.i, at(now))
				if g.Changed != nil {
					c.changed = g.Changed
				}
				acted = true
				switch {
				case g.Lease != nil:
					res.requests++
					begin(c, g.Lease, g.Ctx, g.Lease.End(), now, now+lat)
				case !g.Wake.IsZero():
					c.state, c.wake = simWait, g.Wake.Sub(epoch).Seconds()
				default:
					c.state = simDone
				}
			}
		}
		done := 0
		for _, c := range cs {
			if c.state == simDone || c.i >= workers && c.state == simIdle && led.Done() == k.size {
				done++
			}
		}
		if done == len(cs) {
			break
		}
		if (k.window > 0 || k.lead) && (hashTo(now) || hmoved) {
			if k.lead {
				led.ConsumerAt(drained) // as the hash cursor's Flush does
			} else {
				led.Poke() // as a stream's drain does
			}
			acted = true
		}
		if acted {
			continue // another connection may act on what changed, at the same time
		}
		next := math.Inf(1)
		for _, c := range cs {
			switch c.state {
			case simHeaders:
				next = min(next, c.hdr)
			case simBody:
				if c.stalled {
					continue
				}
				r := k.connRate(c.i, now)
				target := min(c.end, c.ls.End()) - c.from
				if c.dropAt >= 0 {
					target = min(target, c.dropAt)
				}
				if float64(target) > c.acc {
					next = min(next, max(now+(float64(target)-c.acc)/r, now+1e-9))
				}
				next = min(next, c.lastFlush+flush)
			case simWait:
				next = min(next, c.wake)
			}
		}
		if p := led.Prefix(); k.lead && k.hash > 0 && p > drained {
			// The hash moves on while it has bytes: look again when it
			// has taken them, or a flush period on.
			next = min(next, now+max(min(float64(p-drained)/k.busyHash(), flush), 1e-9))
		}
		if k.changeBy != 0 && now < k.changeTime() {
			next = min(next, k.changeTime())
		}
		if _, at := k.workersAt(now); at > now {
			next = min(next, at)
		}
		if math.IsInf(next, 1) {
			return res, fmt.Errorf("stuck at t=%.3fs: no connection has anything to wait for", now)
		}
		now = max(next, now)
	}
	res.seconds = now
	if k.lead && k.hash > 0 {
		// The hash has the rest of the file to take after the last byte.
		res.seconds += float64(k.size-drained) / k.hash
		res.hashTail = float64(k.size-drained) / k.hash
	}
	res.splits = led.Splits()
	res.hedges, _ = led.Hedges()
	res.dupBudget = led.hedgeBudget()
	return res, checkSim(led, dst, k.size)
}

// checkSim checks the ledger's end state and that the writes tiled the
// file exactly: every byte written once.
func checkSim(led *Ledger, dst *simDst, size int64) error {
	if got := led.Done(); got != size {
		return fmt.Errorf("Done() = %d, want %d", got, size)
	}
	if got := led.Prefix(); got != size {
		return fmt.Errorf("Prefix() = %d, want %d", got, size)
	}
	var at int64
	for _, r := range led.Snapshot() {
		if r.Start != at || r.Done != r.End-r.Start {
			return fmt.Errorf("snapshot range %+v at %d: not tiled or not done", r, at)
		}
		at = r.End
	}
	slices.SortFunc(dst.w, func(a, b [2]int64) int { return int(min(max(a[0]-b[0], -1), 1)) })
	at = 0
	for _, w := range dst.w {
		if w[0] != at {
			return fmt.Errorf("write at %d of %d bytes, want one at %d: a gap or an overlap", w[0], w[1], at)
		}
		at += w[1]
	}
	if at != size {
		return fmt.Errorf("writes end at %d, want %d", at, size)
	}
	return nil
}

// checkBounds holds a simulated download to the scheduler's promises.
func checkBounds(k simLink, r simResult) error {
	lat := k.lat.Seconds()
	// Each dropped response costs its connection a request latency and
	// what it had in flight.
	// A range shorter than twice the policy's MinPiece is not cut: a file
	// smaller than the connections can share costs up to one such range
	// at one connection's rate (the slowest: before anything is
	// measured, nothing tells which one that is).
	slowest := k.baseRate(0)
	if k.changeBy != 0 {
		slowest *= min(1, k.changeBy)
	}
	slack := 2*lat + float64(min(k.size, 2*16<<10))/slowest
	if k.dropEvery > 0 {
		// A dropped response is asked again, a latency later, and the
		// new request may be dropped in turn: the critical path holds
		// about log_N(requests at once) such rounds.
		depth := math.Ceil(math.Log(float64(max(k.conns, 2)))/math.Log(float64(k.dropEvery))) + 1
		slack += 2 * lat * depth
	}
	if k.changeBy != 0 {
		// A changed cap shows in the estimates within a few observation
		// periods; ranges handed out meanwhile are sized on the old one.
		slack += 2 * observeFor(k.lat).Seconds()
	}
	if k.slowConn {
		// Which connection is slow shows only once its rate is measured
		// (observeFor) and an idle connection next looks (wake, half of
		// that), and its range then moves to another.
		slack += 1.5*observeFor(k.lat).Seconds() + 2*lat
	}
	if k.stallFirst {
		// A response that delivers nothing is taken for stalled only
		// after its grace period (and, with no rate measured yet,
		// nothing else is known) and seen at the next look (wake).
		slack += stallGrace(k.lat).Seconds() + lat + observeFor(k.lat).Seconds()
	}
	factor := 1.03
	if k.window > 0 {
		// A stream's window: the range at its start holds the others
		// back while one connection fetches it (the first is split or
		// hedged, but not before its rate is known), and no connection
		// may run more than a window ahead.
		factor = 1.10
		slack += float64(k.segs())/slowest + observeFor(k.lat).Seconds()
	}
	if k.lead && k.hash > 0 && k.slowConn {
		// A slow connection at the front holds the hash back, and the
		// lead fills: with two or three connections (too few to tell
		// a slow one from the others) the rest wait until it is split
		// (2.7 GiB at 18 MiB/s x 2: 1.065 x ideal; 1.007 unhashed).
		factor = 1.10
	}
	if k.lead && k.hash > 0 {
		// The hash takes the prefix in order: it may have up to the
		// lead (twice, past a lagging front) and the last period's
		// writes left when the last byte arrives.
		lead := max(64<<20, 2*int64(k.planFor())*max(k.segs(), MinPiece),
			int64(k.sumRates()*lat*2*coalesceRTTs)+max(k.segs(), MinPiece)) // Window.Elastic
		slack += float64(min(k.size, 2*lead))/k.hash + max(flushAfter.Seconds(), r.ideal/400)
	}
	if limit := factor*r.ideal + slack; r.seconds > limit {
		return fmt.Errorf("took %.4fs, ideal %.4fs: %.3f x ideal, limit %.4fs", r.seconds, r.ideal, r.seconds/r.ideal, limit)
	}
	// A dropped response is sent again from its last written byte.
	dropWaste := int64(r.drops) * int64(k.rate*max(flushAfter.Seconds(), r.ideal/400)+1)
	if limit := int64(1.02*float64(k.size)) + r.dupBudget + dropWaste; r.sent > limit {
		return fmt.Errorf("server sent %d bytes for %d: %.4f x size, limit %d", r.sent, k.size, float64(r.sent)/float64(k.size), limit)
	}
	pieces := (k.size + k.segs() - 1) / k.segs()
	limit := int(2*pieces) + 16*k.conns + 2*r.drops + 8
	if k.window > 0 {
		limit += r.splits // a full window splits the range at its start
	}
	if r.requests > limit {
		return fmt.Errorf("%d requests (%d splits, %d hedges), limit %d", r.requests, r.splits, r.hedges, limit)
	}
	return nil
}

// TestSimulatorTable: the link conditions the scheduler must hold at,
// each named.
func TestSimulatorTable(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	cases := []simLink{
		{size: 64 << 20, conns: 8, rate: 400 << 10, lat: ms},  // the slow link of issue 10
		{size: 64 << 20, conns: 16, rate: 400 << 10, lat: ms}, // with more connections
		{size: 64 << 20, conns: 8, rate: 700e3, lat: 30 * ms}, // 700 KB/s, 30 ms away
		{size: 1 << 30, conns: 16, rate: 25e6, lat: ms / 2},   // the paced benchmark
		{size: 8 << 20, conns: 8, rate: 50e3, lat: 30 * ms},   // 50 KB/s
		{size: 1, conns: 8, rate: 50e3, lat: ms},              // one byte
		{size: 1, conns: 1, rate: 2e9, lat: ms / 10},          // one byte, one connection
		{size: 3 << 30, conns: 1, rate: 2e9, lat: ms / 10},    // one fast connection
		{size: 4 << 30, conns: 256, rate: 25e6, lat: ms},      // 256 connections
		{size: 4 << 30, conns: 8, rate: 2e9, lat: 5 * ms},     // 2 GB/s, 5 ms away
		{size: 1 << 40, conns: 64, rate: 2e9, lat: ms},        // a TiB
		{size: 1 << 30, conns: 16, rate: 25e6, lat: ms, slowConn: true},
		{size: 4 << 20, conns: 8, rate: 1 << 20, lat: ms, stallFirst: true}, // issue 10's stalled first response
		{size: 256 << 20, conns: 16, rate: 2e6, lat: 5 * ms, stallFirst: true},
		{size: 256 << 20, conns: 32, rate: 2e6, lat: 5 * ms, changeAt: 0.3, changeBy: 0.25},
		{size: 256 << 20, conns: 32, rate: 2e6, lat: 5 * ms, changeAt: 0.3, changeBy: 4},
		{size: 256 << 20, conns: 8, rate: 10e6, lat: 2 * ms, dropEvery: 7},
		{size: 100 << 20, conns: 3, rate: 123456, lat: 20 * ms, slowConn: true, dropEvery: 11},
		// Streams to a writer (-o -): a reorder window drained at once.
		{size: 1 << 30, conns: 16, rate: 25e6, lat: ms / 2, window: 64 << 20},
		{size: 256 << 20, conns: 16, rate: 25e6, lat: ms, window: 64 << 20, slowConn: true},
		{size: 256 << 20, conns: 16, rate: 25e6, lat: ms, window: 64 << 20, stallFirst: true},
		{size: 64 << 20, conns: 8, rate: 400 << 10, lat: ms, window: 4 << 20},
		{size: 256 << 20, conns: 8, rate: 10e6, lat: 2 * ms, window: 16 << 20, dropEvery: 7},
		// Files hashed as they complete (the hash lead): the last
		// round must not leave the hash much to do after the last byte.
		{size: 256 << 20, conns: 16, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.7e9}, // the delay proxy: 1 MiB per 30 ms
		{size: 1 << 30, conns: 16, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.7e9},
		// The hash sharing the cores with the fetch, barely twice as
		// fast as the link: in one later round it had 720 MiB to do
		// when the first ended (0.32 s after the last byte).
		{size: 1 << 30, conns: 16, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.2e9},
		// 32 of them: the hash barely faster than the link. Rounds that
		// halve started with half the file, the hash idle meanwhile
		// (0.27 s after the last byte); a first round of a quarter or
		// an eighth gives it work early.
		{size: 1 << 30, conns: 32, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.2e9},
		{size: 1 << 30, conns: 16, rate: 25e6, lat: ms / 2, lead: true, hash: 1.7e9},  // /paced/
		{size: 1 << 30, conns: 4, rate: 300e6, lat: ms / 10, lead: true, hash: 1.7e9}, // /fast/
		{size: 4 << 30, conns: 8, rate: 60e6, lat: 30 * ms, lead: true, hash: 400e6},  // a slower hash (-z)
		// -c auto settled at 8 of the 16 connections its ranges were
		// planned for: loopback, the slow cap, a long path.
		{size: 1 << 30, conns: 8, rate: 130e6, lat: ms / 10, lead: true, hash: 1.7e9, planned: 16},
		{size: 64 << 20, conns: 8, rate: 400e3, lat: ms, lead: true, planned: 16},
		{size: 1 << 30, conns: 8, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.7e9, planned: 16},
		// A server that sends a second of its cap at once (nginx's
		// limit_rate): short ranges arrive at memory speed, long ones
		// at the cap.
		{size: 64 << 20, conns: 64, rate: 400e3, lat: ms, lead: true, hash: 1.7e9, burst: 1},
		{size: 64 << 20, conns: 16, rate: 400e3, lat: ms, lead: true, hash: 1.7e9, burst: 1},
		{size: 64 << 20, conns: 8, rate: 400e3, lat: ms, lead: true, hash: 1.7e9, planned: 16, burst: 1},
		{size: 1 << 30, conns: 16, rate: 25e6, lat: ms / 2, lead: true, hash: 1.7e9, burst: 1},
		{size: 8 << 20, conns: 32, rate: 50e3, lat: 30 * ms, lead: true, burst: 1},
		{size: 64 << 20, conns: 64, rate: 400e3, lat: ms, lead: true, burst: 1, initialSegs: 256 << 10},
		{size: 64 << 20, conns: 16, rate: 400e3, lat: ms, lead: true, burst: 1, initialSegs: 128 << 10},
		// -c auto's ramp on such a server: 8, 16, then 64 connections
		// (the planned ranges split as connections join).
		{size: 64 << 20, conns: 64, rate: 400e3, lat: ms, lead: true, hash: 1.7e9, burst: 1, burstOnce: true, planned: 16, ramp: autoRamp(64)},
		{size: 64 << 20, conns: 64, rate: 400e3, lat: 5 * ms, lead: true, hash: 1.7e9, burst: 1, burstOnce: true, planned: 16, ramp: autoRamp(64)},
		{size: 1 << 30, conns: 64, rate: 25e6, lat: ms / 2, lead: true, hash: 1.7e9, burst: 1, burstOnce: true, planned: 16, ramp: autoRamp(64)},
		// -c auto on the delay proxy's link (1 MiB per 30 ms): 8
		// connections for 0.46 s, then 32.
		{size: 1 << 30, conns: 32, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.7e9, planned: 16, ramp: []simStep{{0, 8}, {0.46, 32}}},
		// Requests sent ahead (pipelining), on the links above where a
		// request costs a latency worth it.
		{size: 256 << 20, conns: 16, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.7e9, pipeline: true},
		{size: 1 << 30, conns: 16, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.2e9, pipeline: true},
		// 30 ms away through the bench's delay proxy, which takes a
		// core's share: the hash runs at a quarter of its speed while
		// the fetch runs, then at 1.2 GB/s.
		{size: 256 << 20, conns: 16, rate: 23e6, lat: 30 * ms, lead: true, hash: 1.2e9, hashBusy: 300e6, pipeline: true},
		{size: 256 << 20, conns: 16, rate: 23e6, lat: 30 * ms, lead: true, hash: 1.2e9, hashBusy: 500e6, pipeline: true},
		{size: 1 << 30, conns: 16, rate: 23e6, lat: 30 * ms, lead: true, hash: 1.2e9, hashBusy: 400e6, pipeline: true},
		{size: 1 << 30, conns: 16, rate: 23e6, lat: 30 * ms, lead: true, hash: 1.2e9, hashBusy: 600e6, pipeline: true},
		{size: 1 << 30, conns: 16, rate: 23e6, lat: 30 * ms, lead: true, hash: 1.2e9, hashBusy: 400e6},
		{size: 1 << 30, conns: 32, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.2e9, pipeline: true},
		{size: 64 << 20, conns: 8, rate: 700e3, lat: 30 * ms, pipeline: true},
		{size: 8 << 20, conns: 8, rate: 50e3, lat: 30 * ms, pipeline: true},
		{size: 100 << 20, conns: 3, rate: 123456, lat: 20 * ms, slowConn: true, dropEvery: 11, pipeline: true},
		{size: 256 << 20, conns: 16, rate: 2e6, lat: 5 * ms, stallFirst: true, pipeline: true},
		{size: 256 << 20, conns: 32, rate: 2e6, lat: 5 * ms, changeAt: 0.3, changeBy: 4, pipeline: true},
		{size: 4 << 30, conns: 8, rate: 60e6, lat: 30 * ms, lead: true, hash: 400e6, pipeline: true},
		{size: 1 << 30, conns: 32, rate: 35e6, lat: 30 * ms, lead: true, hash: 1.7e9, planned: 16, ramp: []simStep{{0, 8}, {0.46, 32}}, pipeline: true},
		{size: 64 << 20, conns: 64, rate: 400e3, lat: 5 * ms, lead: true, hash: 1.7e9, burst: 1, burstOnce: true, planned: 16, ramp: autoRamp(64), pipeline: true},
	}
	for _, k := range cases {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			if testing.Short() && k.size >= 1<<40 {
				t.Skip("a TiB is for the long run")
			}
			r, err := simulate(k)
			if err == nil {
				err = checkBounds(k, r)
			}
			if err == nil && k.hash < k.sumRates() {
				// With the hash the slower lane it must be kept busy
				// from its first bytes: its own time, and the first
				// ranges' latency and flush.
				if limit := 1.06*float64(k.size)/k.hash + 2*k.lat.Seconds(); r.seconds > limit {
					err = fmt.Errorf("took %.4fs with the hash the slower lane (%.4fs alone), limit %.4fs", r.seconds, float64(k.size)/k.hash, limit)
				}
			}
			if err == nil && k.hash > k.sumRates() && k.burst == 0 {
				// With the link the slower lane: two latencies, and
				// what arrives in two flush periods (the simulated
				// connections tell the ledger of their writes once a
				// period).
				limit := 2*k.lat.Seconds() + 2*k.sumRates()*flushAfter.Seconds()/k.hash
				if k.busyHash() < k.sumRates() {
					// A hash slower than the link while the fetch runs
					// falls behind by the difference, whatever the order.
					limit += (1 - k.busyHash()/k.sumRates()) * float64(k.size) / k.hash
				}
				if r.hashTail > limit {
					err = fmt.Errorf("the hash took %.4fs after the last byte, limit %.4fs", r.hashTail, limit)
				}
			}
			if err != nil {
				t.Fatalf("%v: %v", k, err)
			}
			t.Logf("hash tail %.4fs, %.4f x ideal, sent %.4f x size, %d requests (%d ahead), %d splits, %d hedges, %d recycled",
				r.hashTail, r.seconds/r.ideal, float64(r.sent)/float64(k.size), r.requests, r.ahead, r.splits, r.hedges, r.recycled)
		})
	}
}

// randomLink draws a link from rng: rates from 50 KB/s to 2 GB/s per
// connection, 1 to 256 connections, sizes from 1 byte to 1 TiB (each
// log-uniform), latencies from 50 µs to 50 ms within a 16 MiB window, and
// now and then a slow connection, a stall, a changed cap or dropped
// responses.
func randomLink(rng *rand.Rand) simLink {
	logU := func(lo, hi float64) float64 {
		return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
	}
	k := simLink{
		size:  int64(logU(1, 1<<40)),
		conns: int(logU(1, 257)),
		rate:  logU(50e3, 2e9),
	}
	lat := logU(50e-6, 50e-3)
	lat = min(lat, float64(16<<20)/k.rate) // a TCP window of at most 16 MiB
	k.lat = time.Duration(lat * 1e9)
	// Keep a case cheap: at most ~4k planned ranges.
	if seg := SegmentSize(k.size, k.conns); k.size/seg > 1<<12 {
		k.size = seg << 12
	}
	switch rng.IntN(8) {
	case 0:
		k.slowConn = true
	case 1:
		k.stallFirst = true
	case 2:
		k.changeAt, k.changeBy = 0.1+0.6*rng.Float64(), logU(0.25, 4)
	case 3:
		k.dropEvery = 3 + rng.IntN(20)
	}
	k.lead = true // a download to a file
	if k.conns < 16 && rng.IntN(4) == 0 {
		k.planned = 16 // -c auto settled below what it planned for
	}
	if rng.IntN(2) == 0 && k.changeBy == 0 { // (a changed cap would move the hash-bound ideal)
		k.hash = logU(100e6, 4e9) // SHA-256 without and with SHA-NI, or a decompressor after it
		// Keep a case cheap: idle connections look every few
		// latencies while a slow hash holds them back.
		k.size = min(k.size, int64(2*k.hash))
	}
	k.pipeline = rng.IntN(2) == 0
	return k
}

// TestSimulatorRandom runs seeded random links; a failure prints the seed
// and the link, and RGET_SIM_SEED=N replays one.
func TestSimulatorRandom(t *testing.T) {
	t.Parallel()
	n := 1000
	if testing.Short() || raceEnabled {
		n = 150
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("RGET_SIM_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RGET_SIM_SEED=%q: %v", v, err)
		}
		seed, n = s, 1
	}
	var worstT, worstB float64
	var cases int
	var worstTLink, worstBLink simLink
	for i := 0; i < n; i++ {
		s := seed + uint64(i)
		k := randomLink(rand.New(rand.NewPCG(s, 0x5eed)))
		r, err := simulate(k)
		if err == nil {
			err = checkBounds(k, r)
		}
		if err != nil {
			t.Fatalf("seed %d: %v: %v", s, k, err)
		}
		// The ratios that speak of the scheduler rather than of a file
		// too short for its latency (those are held to the slack).
		clean := !k.slowConn && !k.stallFirst && k.dropEvery == 0 && k.changeBy == 0 && k.hash == 0
		if x := r.seconds / r.ideal; x > worstT && clean && r.ideal > 100*k.lat.Seconds() && k.size/int64(k.conns) >= 2*16<<10 {
			worstT, worstTLink = x, k
		}
		if x := float64(r.sent) / float64(k.size); x > worstB && k.size >= 1<<20 {
			worstB, worstBLink = x, k
		}
		cases++
	}
	t.Logf("%d cases from seed %d: worst time %.4f x ideal (%v), worst bytes %.4f x size (%v); time of fault-free downloads over 100 latencies with 32 KiB or more a connection, bytes of files over 1 MiB",
		cases, seed, worstT, worstTLink, worstB, worstBLink)
}
