package segment

// This file is the one rate and latency estimator of the scheduler, and the
// read-only view of the ledger that the policy decides from.

import (
	"math"
	"time"
)

// connState is what the ledger knows of one connection's speed. It is fed
// by bytes as they arrive (Lease.Arrived), not by full buffers, so a slow
// connection shows its progress as it makes it. Guarded by Ledger.mu.
type connState struct {
	hist float64 // rate of its finished requests, bytes/s; 0 unknown
	// histFor is how long the history was observed over (a burst that
	// arrived in 0.3 ms is little evidence); it weighs the history
	// against a request in flight (blend).
	histFor time.Duration
	cur     *Lease // the request in flight, nil when idle
	sent    time.Time
	hdr     time.Time // when its response headers arrived; zero before
	// next is the request sent ahead on the same connection while cur
	// was finishing (HTTP/1.1 pipelining, Ledger.AcquireAhead); it
	// becomes cur when cur is released.
	next *Lease
	// polling: the connection is idle and looks again on a timer (one of
	// the Ledger's pollers).
	polling bool
	// recycled: its connection was once closed for being much slower.
	recycled bool
	// win, while it waits on the window's bound, is closed to wake it
	// (Ledger.waitWindowLocked).
	win chan struct{}
}

// observeLatency folds a request's latency d (request begun to response
// headers) into the ledger's moving average, one value for all connections
// to the same server, and path (request written to headers) into the least
// latency seen (see Lease.Headers).
func (l *Ledger) observeLatency(d, path time.Duration) {
	if l.minLatency == 0 || path < l.minLatency {
		l.minLatency = max(path, time.Microsecond)
	}
	if l.latency == 0 {
		l.latency = d
	} else {
		l.latency = (3*l.latency + d) / 4
	}
}

func (c *connState) start(ls *Lease, now time.Time) {
	c.cur, c.sent, c.hdr = ls, now, time.Time{}
}

func (c *connState) headers(l *Ledger, ls *Lease, sent, wrote, now time.Time) {
	c.hdr = now
	if ls.ahead {
		// Its answer waited for the one before it on the connection:
		// no measure of the path's latency (it would read as the time
		// that answer took to finish, or as nothing at all).
		return
	}
	l.observeLatency(now.Sub(sent), now.Sub(wrote))
}

// finish folds the request that ended at now into the history: the
// history becomes the request's final estimate (see blend), in which a long
// request's own bytes outweigh what came before.
//
// A request too short to measure well (under minMeasured bytes and 4
// observation periods) may raise a history at most twofold: a server that
// paces each connection sends the first part of a response at once (nginx's
// limit_rate, a second's worth), so a short range arrives at memory speed.
// A 64 KiB range over HTTPS measured at 8.6 MB/s on a 400 KB/s connection
// made it take 14 MiB in the end game. With no history yet, such a request
// sets it, however fast: ranges cut short as -c auto added connections
// measured 50 MB/s to 1.3 GB/s on 400 KB/s ones (the burst in 0.3-8 ms);
// blend's fading prior is what keeps that from lasting. (Not setting one
// was tried: on files short against the latency, where every request is
// short, rates stayed unknown and the simulator's random links ran up to
// 6x their ideal.)
func (c *connState) finish(ls *Lease, now time.Time, lat time.Duration) {
	if ls == c.next {
		c.next = nil // sent ahead, and given up before its turn
		return
	}
	if ls != c.cur {
		return
	}
	arrived := ls.arrived.Load()
	defer func() {
		if c.next != nil {
			// The request sent ahead is answered next, from now on:
			// its response is due now, not a latency from now.
			c.cur, c.sent, c.hdr, c.next = c.next, now.Add(-lat), time.Time{}, nil
		}
	}()
	if !c.hdr.IsZero() {
		el := now.Sub(c.hdr)
		tau := observeFor(lat)
		short := arrived < minMeasured && el < 4*tau
		switch {
		case el <= 0 || arrived == 0 && el <= 50*time.Millisecond:
			// Nothing to measure.
		case c.hist == 0 && ls.kept && short:
			// The probe's answer, short: its bytes came while the file
			// was planned and were read from the socket's buffer at
			// memory speed. As the first rate known, it stood for every
			// connection's (30 ms away, 256 KiB in 1-3 ms: 83-144 MB/s
			// against 25 measured after), and the end game began with
			// shares of a link 3-6 times too fast: some connections
			// took a 16th of the file at once, and all ended together,
			// the hash with 0.19 s of work left.
		case c.hist == 0:
			c.hist, c.histFor = float64(arrived)/el.Seconds(), el
		default:
			got := float64(arrived)
			if short {
				got = min(got, 2*c.hist*el.Seconds())
			}
			r, w := blend(c.hist, c.histFor, tau, got, el)
			c.hist, c.histFor = max(r, minRate), w
		}
	}
	c.cur = nil
}

// blend is the rate of got bytes over el, with a prior rate hist, observed
// over histFor, standing in for up to the first tau: (hist·w + got) / (w +
// el), w = min(histFor, tau)·e^(−el/tau); and the time the result stands
// for, w + el. The prior weighs no more than it was measured over, and
// fades within a few tau, so a history wrong by any factor (one short
// response measured at memory speed) gives way to what the request shows.
// With weight tau, not fading, one a thousandfold too high still read a
// hundredfold too high after 4 s of 400 KB/s; with fading alone, under a
// mean latency of 100 ms (tau 0.4 s), it held ranges unsplit for 2 s.
func blend(hist float64, histFor, tau time.Duration, got float64, el time.Duration) (float64, time.Duration) {
	x := el.Seconds() / tau.Seconds()
	w := min(histFor, tau).Seconds()
	if x < 40 {
		w *= math.Exp(-x)
	} else {
		w = 0
	}
	if w+el.Seconds() <= 0 {
		return hist, histFor
	}
	return (hist*w + got) / (w + el.Seconds()), time.Duration((w + el.Seconds()) * 1e9)
}

// minRate is the least history a connection keeps once measured (a history
// of 0 means unknown): bytes/s.
const minRate = 1

// rate is the connection's expected rate at now in bytes/s, or -1 when
// nothing is known yet. The request in flight is observed from its response
// headers (or from when they were due), with the history standing in for
// the first tau of it and fading after (blend). A stalled request decays
// toward zero; a changed cap shows within a few tau.
func (c *connState) rate(now time.Time, lat time.Duration) float64 {
	tau := observeFor(lat)
	if c.cur == nil {
		if c.hist > 0 {
			return c.hist
		}
		return -1
	}
	from := c.hdr
	if from.IsZero() {
		from = c.sent.Add(lat)
	}
	el := max(now.Sub(from), 0)
	got := float64(c.cur.arrived.Load())
	if got == 0 && el < stallGrace(lat) {
		// Nothing yet: too early to call it stalled.
		if c.hist > 0 {
			return c.hist
		}
		return -1
	}
	if c.hist > 0 {
		r, _ := blend(c.hist, c.histFor, tau, got, el)
		return r
	}
	if el < tau {
		return -1
	}
	return got / el.Seconds()
}

// throughput is what the connections deliver together, measured over
// periods long against the round trip and smoothed.
type throughput struct {
	at   time.Time
	done int64
	r    float64
}

// rate folds in done, the bytes written by now, and returns the estimate
// in bytes/s, 0 before a first period has passed.
func (t *throughput) rate(now time.Time, done int64, minLat time.Duration) float64 {
	if t.at.IsZero() || done < t.done {
		t.at, t.done = now, done
		return t.r
	}
	el := now.Sub(t.at)
	if el < max(50*time.Millisecond, 4*minLat) {
		return t.r
	}
	r := float64(done-t.done) / el.Seconds()
	if t.r == 0 {
		t.r = r
	} else {
		t.r = (t.r + r) / 2
	}
	t.at, t.done = now, done
	return t.r
}

// minMeasured: see finish.
const minMeasured = 1 << 20

// observeFor is how long a request must run before its own rate counts:
// several request latencies, and at least a few milliseconds.
func observeFor(lat time.Duration) time.Duration {
	return max(4*lat, 5*time.Millisecond)
}

// stallGrace is how long a response may deliver nothing before its rate
// counts as zero: a few observation periods, and at least 100 ms, so that
// a pause of a healthy connection is not taken for a stall.
func stallGrace(lat time.Duration) time.Duration {
	return max(4*observeFor(lat), 100*time.Millisecond)
}

// View is what the policy sees of the ledger when connection Conn is idle.
type View struct {
	Now     time.Time
	Conn    int
	Workers int // connections fetching
	// GrowTo is how many connections -c auto's search may still add up
	// to (0: the count is settled, or fixed).
	GrowTo  int
	Latency time.Duration // request latency (sent to headers); 0 unknown
	// MinLatency is the least request latency seen: the round trip of the
	// path without the server's queueing.
	MinLatency time.Duration
	// Rate is what the idle connection is expected to move, bytes/s: its
	// own (with a request in flight, as that request goes: connState.rate),
	// else the mean of the others; -1 unknown.
	Rate float64
	// Busy is what the connection deciding still has to receive of its
	// request in flight, when it decides ahead (Ledger.AcquireAhead); 0
	// when it is idle. Its next range begins only after.
	Busy int64
	// Pending is the first range in file order that nobody fetches and
	// that may be asked now; nil when there is none.
	Pending *PendingView
	// PendingBytes counts the bytes of every range nobody fetches.
	PendingBytes int64
	// RetryAt is the earliest time a range held back after a failure
	// may be asked again; zero when none is.
	RetryAt time.Time
	// Active are the ranges being fetched.
	Active []ActiveView
	// InFlight counts the bytes of active ranges still to arrive.
	InFlight int64
	// TotalRate is the expected rate of all connections together, bytes/s
	// (those not measured yet counted at the mean); 0 unknown.
	TotalRate float64
	// HedgeBudget is how many bytes hedges may still ask twice.
	HedgeBudget int64
	// Complete: every byte is written.
	Complete bool
	// Limit, if positive, is the offset no range may reach yet (a
	// stream's reorder window: what was consumed plus the window).
	Limit int64
	// Starved: with a Limit, the consumer has (nearly) caught up with the
	// completed prefix, so the range at the front holds everything back.
	Starved bool
	// SoftLimit: the Limit may be passed when the consumer is starved and
	// nothing at the front can be split or hedged (a file's window, on
	// disk; a stream's, in memory, may not), up to HardLimit.
	SoftLimit bool
	HardLimit int64
	// ConsumeRate is how fast the window's consumer takes bytes when it
	// has some (the hash of a file), bytes/s; 0 unknown. Backlog is what
	// it has yet to take of the bytes written, Consumed what it took.
	ConsumeRate float64
	// ConsumePeak is how fast the consumer goes with a core to itself, as
	// it will once the last byte is in; 0 unknown.
	ConsumePeak float64
	Backlog     int64
	Consumed    int64 // what the consumer has taken

	// scratch is room the policy may use for its candidates (the ledger
	// keeps it between calls, so that deciding allocates nothing).
	scratch []cand
	// windowAt, with a Limit, is the consumer's offset from which the
	// view changes for a connection the bound holds back: the bound's
	// next move, or Starved (Ledger.ConsumerAt).
	windowAt int64
}

// PendingView is a range nobody fetches: [Claimed, End) is left of it.
type PendingView struct {
	Start, End, Claimed int64
}

// ActiveView is a range being fetched: [Claimed, End) is left to write,
// [Pos, End) left to arrive (the holder may hold bytes not yet written, and
// bytes waiting in its connection's receive queue).
type ActiveView struct {
	Start, End, Claimed, Pos int64
	Leases                   int     // 1, or 2 while a hedge races the holder
	Takeovers                int     // times the range was taken from a stalled holder
	Rate                     float64 // the fastest holder's expected rate; -1 unknown
	Age                      time.Duration
}

// viewLocked builds the policy's view for connection conn at now, and
// returns the pieces behind its Pending and Active entries.
func (l *Ledger) viewLocked(conn int, now time.Time) (View, *piece, []*piece) {
	v := View{Now: now, Conn: conn, Workers: max(l.workers, 1), GrowTo: l.growTo, Latency: l.latency, MinLatency: l.minLatency, Complete: l.frontier == nil}
	if v.Complete {
		return v, nil, nil
	}
	v.PendingBytes = l.unleased
	v.HedgeBudget = l.hedgeBudget() - l.dupBytes
	// The first pending piece, from the hint: no piece before the hint is
	// pending, and ranges are taken in file order. The hint moves to the
	// first piece nobody fetches, held back or not.
	var pend, first *piece
	for p := l.hint; p != nil; p = p.next {
		if len(p.leases) > 0 || p.complete() {
			continue
		}
		if first == nil {
			first = p
		}
		if p.notBefore.After(now) {
			if v.RetryAt.IsZero() || p.notBefore.Before(v.RetryAt) {
				v.RetryAt = p.notBefore
			}
			continue
		}
		pend = p
		break
	}
	l.hint = first
	if pend != nil {
		v.Pending = &PendingView{Start: pend.start, End: pend.end, Claimed: pend.claimed}
	}
	var sum float64
	var n int
	if cap(l.scratchCands) < len(l.active) {
		l.scratchCands = make([]cand, 0, 2*len(l.active))
	}
	active := l.scratchPieces[:0]
	v.Active = l.scratchActive[:0]
	v.scratch = l.scratchCands[:0]
	defer func() {
		// Keep the grown slices for the next call (the view is used only
		// under l.mu, before the next one is built).
		l.scratchPieces, l.scratchActive, l.scratchCands = active[:0], v.Active[:0], v.scratch[:0]
	}()
	// Each connection's rate, once: with 256 connections the views took
	// every one twice (4% of the CPU).
	rates := l.scratchRates[:0]
	for i := range l.conns {
		rates = append(rates, l.conns[i].rate(now, l.latency))
	}
	l.scratchRates = rates
	for _, p := range l.active {
		if p.complete() {
			continue
		}
		a := ActiveView{Start: p.start, End: p.end, Claimed: p.claimed, Pos: p.claimed, Leases: len(p.leases), Rate: -1, Takeovers: p.takeovers}
		for _, ls := range p.leases {
			// (Not counting what waits in the holder's receive queue:
			// asking costs a system call per lease, and with 256
			// connections the views asked 94,000 times per GiB, 6% of
			// the CPU. A split asks its holder: heldLocked.)
			pos := ls.from + ls.arrived.Load()
			a.Pos = max(a.Pos, min(pos, p.end))
			c := &l.conns[ls.conn]
			a.Rate = max(a.Rate, rates[ls.conn])
			if ls != c.next {
				// (A request sent ahead has not begun: its age is
				// not that of the one its connection answers now.)
				a.Age = max(a.Age, now.Sub(c.sent))
			}
		}
		if a.Rate >= 0 {
			sum += a.Rate
			n++
		}
		v.Active = append(v.Active, a)
		v.InFlight += a.End - a.Pos
		active = append(active, p)
	}
	v.Rate = -1
	// A connection deciding ahead goes by the request it has in flight, as
	// TotalRate does, not by its history alone (TestViewRateInFlight).
	if r := rates[conn]; r > 0 {
		v.Rate = r
	} else if c := &l.conns[conn]; c.hist > 0 {
		v.Rate = c.hist
	} else if n > 0 {
		v.Rate = sum / float64(n)
	}
	// The total over every connection, idle ones at their history.
	var total, known float64
	var unknown int
	for _, r := range rates[:v.Workers] {
		if r >= 0 {
			total += r
			known++
		} else {
			unknown++
		}
	}
	if known > 0 {
		v.TotalRate = total + total/known*float64(unknown)
	}
	if w := l.window; w != nil {
		size, step := w.Size, w.Step
		if step > 1 {
			// Connections that join ranges planned for more of them
			// (Policy.Planned): the bound moves by what they take.
			num, den := l.policy.planRatio(v.Workers)
			step = step * num / den
		}
		if w.Elastic {
			// Two rounds of the requests a long path makes (see
			// coalesceRTTs), and twice the ranges of the connections
			// fetching now (-c auto may have added some): a window
			// never cuts them short. The rate is what arrives, if
			// less than the connections' rates added up: on loopback
			// HTTPS those (each read at memory speed) came to 4-6
			// GB/s, the window to 350 MiB, and with both cores busy
			// decrypting, the hash fell 0.6 s behind the last byte.
			rate := v.TotalRate
			if tp := l.agg.rate(now, l.done.Load(), l.minLatency); tp > 0 {
				rate = min(rate, tp)
			}
			// The ranges counted are those of the connections allowed,
			// not only those active now: as active ranges finished,
			// the window shrank with them (from 504 to 128 MiB, 64
			// connections on /paced/ under -c auto), closed on ranges
			// already claimed, and every connection stood idle for
			// 0.25 s while the hash caught up.
			// Plus a step: the bound moves in whole steps, and rounded
			// down it cut each request to one 64 MiB range, 2% of the
			// time a latency (153.6 GiB over one connection whose cap
			// fell to 296 MiB/s, 4.5 ms away: 1.031 x ideal).
			size = max(size, int64(rate*l.minLatency.Seconds()*2*coalesceRTTs)+max(step, 1),
				2*int64(max(v.Workers, len(v.Active)))*max(step, 1))
		}
		consumed := w.Consumed()
		v.Limit = w.limit(consumed, size, step)
		if w.Rate != nil {
			v.ConsumeRate = w.Rate()
		}
		if w.Peak != nil {
			v.ConsumePeak = w.Peak()
		}
		v.Backlog, v.Consumed = max(l.done.Load()-consumed, 0), consumed
		// The consumer is waiting on the front when it has less than a
		// quarter window of the completed prefix left to take.
		v.Starved = l.prefix.Load()-consumed <= size/4
		v.windowAt = min(l.prefix.Load()-size/4, consumed+1)
		if step > 1 {
			v.windowAt = min(l.prefix.Load()-size/4, v.Limit+step-size)
		}
		if w.Elastic {
			// Passed by one more window at most: what the hash has to
			// do after the last byte stays bounded when the cores, not
			// the network, hold the front back (HTTPS on loopback, 16
			// connections: with no bound the fetch ran 375 MiB ahead
			// of the hash, 0.45-0.66 s of hashing after the last byte).
			v.SoftLimit, v.HardLimit = true, w.limit(consumed, 2*size, step)
		}
	}
	return v, pend, active
}

// hedgeBudget is how many bytes hedges may ask twice over the download: 1%
// of the file, never more than a megabyte per connection, and at least
// 64 KiB so that a small file can still hedge its last bytes.
func (l *Ledger) hedgeBudget() int64 {
	b := min(l.size.Load()/100, int64(max(l.workers, 1))*MinSplit)
	return max(b, 64<<10)
}

// inf is an expected time for a connection that moves nothing.
var inf = math.Inf(1)
