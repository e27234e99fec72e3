package segment

// This file is the scheduler's policy: what an idle connection does next,
// as a pure function of a View of the ledger (rate and latency estimates
// and the time included). The ledger applies the answer.

import (
	"cmp"
	"slices"
	"time"
)

// MinPiece is the default smallest range a taper or a split creates: a
// file has at most size/MinPiece ranges to share among connections.
const MinPiece = 16 << 10

// Policy decides what idle connections do. Its zero value is the default.
type Policy struct {
	// MinPiece is the smallest range a taper or a split creates, whatever
	// the rates. If zero, the package's MinPiece (16 KiB).
	MinPiece int64
	// RTTs is how many request latencies' worth of bytes a taper or split
	// range holds at least, so the request it costs stays a small part of
	// its time. If zero, 8.
	RTTs float64
	// NoJoin keeps every request within one planned range: pending
	// ranges are never joined for a fast, distant connection (the user
	// chose the range size).
	NoJoin bool
	// Planned, if set, is how many connections the planned ranges were
	// sized for (-c auto plans for more than it starts with). Fewer
	// connections, once their rates are known, take as much per request
	// as a planned range is of the file for each of Planned: a count
	// settled at 8 takes two ranges planned for 16 at a time.
	Planned int
}

func (p Policy) withDefaults() Policy {
	if p.MinPiece <= 0 {
		p.MinPiece = MinPiece
	}
	if p.RTTs <= 0 {
		p.RTTs = 8
	}
	return p
}

// ActionKind says what an idle connection does.
type ActionKind int

const (
	ActDone  ActionKind = iota // every byte is written: stop
	ActTake                    // fetch the first Len bytes of the pending range
	ActSplit                   // fetch Active[Index] from offset At to its end
	ActHedge                   // fetch what is left of Active[Index] too; the first to finish wins
	ActWait                    // nothing worth doing until Wake or a change in the ledger
)

// Action is the policy's answer.
type Action struct {
	Kind  ActionKind
	Len   int64     // ActTake: bytes to take (more joins the ranges after it); 0 means the whole range
	Index int       // ActSplit, ActHedge: which of View.Active
	At    int64     // ActSplit: the offset the new range starts at
	Wake  time.Time // ActWait
	// Held, with ActWait: the window's bound holds the connection back
	// while its consumer is behind; only the consumer moving on, or
	// bytes given back, changes that (Ledger.ConsumerAt).
	Held bool
}

// Decide returns what the idle connection of v does next.
//
//  0. With a window whose consumer waits on the range at the front, and
//     that range fetched at under half the others' median rate, the range
//     is split or hedged first (slowFront).
//  1. A pending range is taken in file order. Near the end it is cut to
//     1/(2 × connections) of the bytes still pending (guided
//     self-scheduling: the taper), so that the last ranges are short and
//     finish together; never below the floor (see floor). A window's
//     consumer of known speed shapes it too: the end game keeps a smaller
//     last round for it (lastRound), and a range near a consumer slower
//     than the link joins no more than the consumer would wait for
//     (consumerCap).
//  2. Else the range expected to finish last is split where the holder and
//     the idle connection, each at its expected rate and the latter after a
//     request latency, would finish together — when that saves more than a
//     couple of request latencies and the new range is above the floor. A
//     holder that moves nothing keeps nothing: the whole rest is taken and
//     its request cancelled.
//  3. Else, if what is left of it is too small to split and the hedge
//     budget allows, a duplicate request races the holder (a hedge).
//  4. Else wait.
func (p Policy) Decide(v *View) Action {
	p = p.withDefaults()
	if v.Complete {
		return Action{Kind: ActDone}
	}
	windowFull := v.Pending != nil && v.Limit > 0 && v.Pending.Claimed >= v.Limit
	if v.Pending != nil && !windowFull {
		if v.Limit > 0 && v.Starved && slowFront(v) {
			// The consumer waits on the range at the front, fetched
			// by a slow connection: splitting it moves the consumer
			// on, taking more ranges would not.
			if a, ok := p.steal(v, true); ok {
				return a
			}
		}
		n := p.taper(v)
		if n <= 0 && v.Busy > 0 {
			// Deciding ahead, with as much left of its own answer as
			// its share would be: it decides again once free.
			return Action{Kind: ActWait, Wake: p.wake(v)}
		}
		if p.NoJoin {
			n = min(n, v.Pending.End-v.Pending.Claimed)
		}
		if v.Limit > 0 {
			n = min(n, v.Limit-v.Pending.Claimed)
		}
		return Action{Kind: ActTake, Len: n}
	}
	// With the window full and its consumer waiting, the range at the
	// front holds everything back: it is the first to split or hedge.
	// With the consumer behind, more requests would not help it: wait.
	if windowFull && !v.Starved {
		return Action{Kind: ActWait, Wake: p.wake(v), Held: true}
	}
	if a, ok := p.steal(v, windowFull); ok {
		return a
	}
	if windowFull && v.SoftLimit && v.Pending.Claimed < v.HardLimit {
		// The front lags but cannot be split or hedged yet: holding
		// the others back would idle them for nothing.
		return Action{Kind: ActTake, Len: min(p.taper(v), v.HardLimit-v.Pending.Claimed)}
	}
	return Action{Kind: ActWait, Wake: p.wake(v)}
}

// floor is the smallest range worth a request for a connection moving rate
// bytes/s after a latency lat.
func (p Policy) floor(rate float64, lat time.Duration) int64 {
	return max(p.MinPiece, int64(max(rate, 0)*lat.Seconds()*p.RTTs))
}

// taper returns how much of the pending range to take (see Decide): the
// range, or more when its request would be short against the latency
// (following pending ranges are joined to it: coalesceRTTs), or less near
// the end. In the end game, when the connections together have less than
// endgameRTTs request latencies of work left, a connection takes what it
// can fetch by the time they all finish: one request each, not rounds of
// shrinking ones each costing a latency.
func (p Policy) taper(v *View) int64 {
	left := v.Pending.End - v.Pending.Claimed
	if v.Workers > 1 && (v.Rate <= 0 || v.TotalRate <= 0) {
		// Nothing measured yet: no connection takes more than an equal
		// share of the whole, so that more connections than planned
		// ranges all start at once.
		share := max((v.PendingBytes+v.InFlight)/int64(v.Workers), p.MinPiece)
		if v.Busy > 0 {
			// Deciding ahead: its share less what it still has to
			// receive, or nothing (126 connections 44 ms away, 7 took
			// the last pending bytes ahead, each behind its own 100 KiB,
			// and the other 119 found nothing when free: 1.94 x the
			// ideal time, 1.35 without sending ahead).
			if share -= v.Busy; share < p.MinPiece {
				return 0
			}
		}
		if left-share < p.MinPiece {
			return left
		}
		return share
	}
	if v.Rate > 0 && v.TotalRate > 0 && v.Workers > 1 {
		// Every connection pays one latency for its next request, after
		// what it has in flight: they all finish together when each takes
		// its rate's share of what is left.
		left := float64(v.PendingBytes + v.InFlight)
		if left/v.TotalRate < endgameRTTs*v.MinLatency.Seconds() {
			pool := left - p.lastRound(v, left)
			total, least := v.TotalRate, p.MinPiece
			if v.GrowTo > v.Workers {
				// While -c auto's search may add connections, the
				// shares are those of the count it may reach, each at
				// the rate of those fetching now: the connections to
				// come find pending ranges, and the rounds stay small
				// for the hash. But a share holds at least growRTTs
				// latencies' worth, or its request costs more than it
				// brings. 30 ms away, 16 connections, -c auto:
				//   - with shares for those fetching, they took 474 MiB
				//     of 1 GiB at 0.25 s; the 16 added at 0.45 s found
				//     95 MiB, the link then ran at twice the pace the
				//     end game had planned for, and the hash ended
				//     0.5-0.6 s after the last byte: 2.11-2.20 s in all
				//     (now 1.80-1.91);
				//   - with no floor, 256 MiB went in requests of 1-1.5
				//     MiB, half of each one's time a latency: 0.81-0.91
				//     s (now 0.69-0.70; -c 16 0.69-0.73).
				// (Policy.floor, 8 mean latencies, made the shares
				// too large: 256 MiB 0.78-0.81 s, 1 GiB's hash 0.32 s
				// after the last byte.)
				total *= float64(v.GrowTo) / float64(v.Workers)
				least = max(least, int64(v.Rate*v.MinLatency.Seconds()*growRTTs))
			}
			fair := int64(v.Rate/total*pool) - v.Busy
			if v.Busy > 0 && fair < least {
				return 0 // not worth a request yet: decide when free
			}
			fair = max(fair, least)
			if v.PendingBytes-fair < p.MinPiece {
				return v.PendingBytes // no crumb left for a request of its own
			}
			return fair
		}
	}
	join := int64(max(v.Rate, 0) * v.MinLatency.Seconds() * coalesceRTTs)
	if num, den := p.planRatio(v.Workers); num > den {
		// Ranges planned for more connections than fetch: as much per
		// request as the plan meant for each.
		join = max(join, (v.Pending.End-v.Pending.Start)*num/den)
	}
	if lim, ok := consumerCap(v); ok {
		join = min(join, lim)
	}
	if v.GrowTo > v.Workers {
		// While -c auto's search may add connections, a request joins
		// no more than a share for the count it may reach (in whole
		// planned ranges): those that come take pending ranges, not
		// splits of long ones in flight. At 30 ms, 8 connections took
		// 39-65 MiB each at 0.2 s (64 latencies' worth, a 16th of what
		// was pending); the 56 that came at 1 s split them, all ended
		// together at 1.76 s, and the hash, held at the front, had 1 GiB
		// left: 0.67 s.
		piece := max(v.Pending.End-v.Pending.Start, p.MinPiece)
		lim := v.PendingBytes / int64(2*v.GrowTo)
		join = min(join, max((lim+piece-1)/piece*piece, left))
	}
	want := max(left, join)
	if v.Workers < 2 {
		return want
	}
	// Not below a floor worth a request, unless the file is so short
	// against the latency that every connection has less than that to do.
	fl := max(p.MinPiece, min(p.floor(v.Rate, v.Latency), v.PendingBytes/int64(v.Workers)))
	share := max(v.PendingBytes/int64(2*v.Workers), fl)
	if want-share < fl {
		return want // the rest would be too short to fetch on its own
	}
	return min(want, share)
}

// planRatio is num/den planned ranges per request for workers connections:
// Planned/workers when fewer fetch than the ranges were planned for (see
// Planned), else 1/1. The hash lead's bound moves by as much (viewLocked).
func (p Policy) planRatio(workers int) (num, den int64) {
	if p.NoJoin || workers < 1 || p.Planned <= workers {
		return 1, 1
	}
	return int64(p.Planned), int64(workers)
}

// endgameRTTs: see taper.
const endgameRTTs = 64

// growRTTs: an end-game share while -c auto's search is open holds at
// least this many request latencies' worth (see taper).
const growRTTs = 4

// consumerCap bounds how many bytes a range taken now may hold when the
// window's consumer (the hash, a decompressor behind it) is the slower
// lane: slower than the connections together, faster than one. Such a
// consumer, reaching the range, would take its bytes faster than its one
// connection brings them, and wait: on a long path, where ranges join to 64
// latencies' worth, the first of them held a 400 MB/s consumer to one
// connection's 60 MB/s for two seconds (4 GiB, 8 connections, 30 ms: 1.15
// × the consumer's own time in the simulator). A range may hold what
// arrives before the consumer, from where it is now, would catch up with
// it; far ahead of the consumer that is no bound. Not when the consumer is
// over twice as fast as the link: there the requests it would add cost the
// link. Nor for a connection alone: no other fetches meanwhile, and each
// shorter request only adds a latency (5.7 MiB at 1.3 GB/s 13 ms away, the
// hash untimed at half its 3.5 GB/s: the cap was 0 with the hash caught up,
// and five planned ranges took a request each, 15 x the ideal time in the
// simulator; now one). (Bounded only when slower than the link, a hash of
// 400 MB/s while the fetch ran, against 16 connections of 23 MB/s 30 ms
// away, waited 1.3 s on the first 30 MiB range after the planned ones, and
// had 0.36 s of work after the last byte of 1 GiB in the simulator; now
// 0.03 s.)
func consumerCap(v *View) (int64, bool) {
	c, r := consumeRate(v), v.Rate
	if c <= 0 || r <= 0 || v.Pending == nil || c >= 2*v.TotalRate || c <= r || v.Workers < 2 {
		return 0, false
	}
	reach := float64(v.Pending.Claimed-v.Consumed)/c - v.MinLatency.Seconds()
	return int64(max(reach, 0) / (1/r - 1/c)), true
}

// lastRound is how many of the left bytes (pending and in flight) to keep
// for later, smaller rounds of requests in the end game, when the window's
// consumer (the hash) is slow enough against the link for it to matter:
// one round makes the ranges finish together, and the consumer, which
// takes the file in order, then has all of them to do after the last byte
// (30 ms away, 16 connections, 256 MiB: a 192 MiB round, 0.12 s of
// hashing). Each later round costs a request latency, but the consumer
// takes the round before it while it arrives. The answer is the rest,
// among shares of left (see lastRounds), that lets the consumer finish first,
// the rest itself fetched the same way (up to lastRounds more rounds), if
// it gains more than a latency; else 0 (one round).
//
// One later round was not enough where the hash is barely faster than the
// link: 1 GiB 30 ms away over 16 connections, the hash at 1.2 GB/s (it
// shares the cores with the fetch), kept 240 MiB for a second round and
// had 720 MiB to do when the first ended: 0.29-0.32 s after the last byte.
// In rounds that halve, each hashed while the next arrives, it has a
// round of tens of MiB left. Where the link is as fast as the hash (32
// connections there), a first round of half the file leaves the hash idle
// meanwhile: the shares include larger rests, for a smaller first round.
//
// The consumer's rate is the one it has while the fetch runs (consumeRate).
func (p Policy) lastRound(v *View, left float64) float64 {
	busy := consumeRate(v)
	if busy <= 0 || v.TotalRate <= 0 {
		return 0
	}
	rp := rounds{lat: v.MinLatency.Seconds(), link: v.TotalRate, consumer: busy,
		least: float64(int64(v.Workers) * p.MinPiece)}
	backlog := float64(v.Backlog) / busy
	one, _ := rp.plan(left, 0, backlog, 0)
	done, keep := rp.plan(left, 0, backlog, lastRounds)
	if done < one-max(rp.lat, 0.001) {
		return keep
	}
	return 0
}

// consumeRate is how fast the window's consumer takes bytes while the
// fetch runs: as timed, or before that half its speed alone, as it goes
// with the fetch beside it; 0 unknown. Taken for unknown, an untimed hash
// made one round of the end game: 1 GiB 30 ms away, 16 connections, the
// end game began at 0.3 s; each took 61 MiB, and the hash had 0.7-1.4 s
// of work after the last byte (now 0.06-0.16 s, and 2.66-2.72 s in all
// against 3.25-3.63).
func consumeRate(v *View) float64 {
	if v.ConsumeRate > 0 {
		return v.ConsumeRate
	}
	return v.ConsumePeak / 2
}

// lastRounds is how many rounds after the next lastRound plans for; each
// level tries keeping 7/8, 3/4, 1/2, 1/4, 1/8 or 1/16 of what is left for
// the later rounds (259 plans of a few float operations in all). 1 GiB 30 ms away, the simulator with the hash at 1.2 GB/s: 16
// connections take 470, 245, 125, 96 and 31 MiB rounds (2.33 -> 2.12 s);
// 32 connections start with a quarter (1.37 -> 1.26 s).
const lastRounds = 3

// rounds models the end game for lastRound: rounds of requests over a link
// of link bytes/s, each starting a latency after the one before ended, and
// a consumer of consumer bytes/s that takes a round once it has arrived.
type rounds struct {
	lat, link, consumer float64
	least               float64 // the smallest round worth planning
}

// plan returns when the consumer is done with left bytes fetched from t
// (seconds from now), the consumer busy until h, in a round and then up to
// depth more, the best way; and what that round keeps for the later ones.
func (rp rounds) plan(left, t, h float64, depth int) (done, keep float64) {
	round := func(rest float64) (end, busy float64) {
		end = t + rp.lat + (left-rest)/rp.link
		return end, max(h, end) + (left-rest)/rp.consumer
	}
	_, done = round(0)
	if depth == 0 {
		return done, 0
	}
	for _, f := range [...]float64{7. / 8, 3. / 4, 1. / 2, 1. / 4, 1. / 8, 1. / 16} {
		rest := left * f
		if rest < rp.least {
			continue
		}
		end, busy := round(rest)
		if d, _ := rp.plan(rest, end, busy, depth-1); d < done {
			done, keep = d, rest
		}
	}
	return done, keep
}

// coalesceRTTs is how many request latencies' worth of bytes a request
// carries at least while ranges are pending, so that the latency costs
// under 2% of the time even on a fast connection far away. The latency
// here is the least seen (the path's round trip): a server slow to answer
// because it is busy is not made faster by fewer, longer requests, and
// longer ones leave the completed prefix, so the hash, further behind (on
// loopback /fast/ c16, joining on the mean latency took 1.44-1.94 s, on
// planned 4 MiB ranges 1.09-1.11 s).
const coalesceRTTs = 64

// steal splits or hedges the active range that is worth it, trying the one
// expected to finish last first, or with frontFirst only the first in the
// file.
func (p Policy) steal(v *View, frontFirst bool) (Action, bool) {
	mean, n := 0.0, 0
	for _, a := range v.Active {
		if a.Rate >= 0 {
			mean += a.Rate
			n++
		}
	}
	if n == 0 {
		return Action{}, false // nothing measured yet: wait for the first rates
	}
	mean /= float64(n)
	thief := v.Rate
	if thief <= 0 {
		thief = mean
	}
	if thief <= 0 {
		return p.rescue(v)
	}
	cs := v.scratch[:0]
	for i, a := range v.Active {
		left := a.End - a.Pos
		if left <= 0 {
			continue
		}
		r := a.Rate
		if r < 0 {
			r = mean // not measured yet: like the others
		}
		t := inf
		if r > 0 {
			t = float64(left) / r
		}
		cs = append(cs, cand{i, left, r, t})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		switch {
		case frontFirst:
			return cmp.Compare(v.Active[a.i].Pos, v.Active[b.i].Pos)
		case a.t != b.t:
			return cmp.Compare(b.t, a.t) // the latest to finish first
		default:
			return cmp.Compare(b.left, a.left)
		}
	})
	if frontFirst {
		// Only the range at the front holds the window back, and only
		// when it lags: expected to finish after twice the median time
		// the active ranges need. Splitting the others, or a front
		// moving like them, would not move the window.
		if len(cs) == 0 || !lagging(cs) {
			return Action{}, false
		}
		cs = cs[:1]
	}
	lat := v.Latency.Seconds()
	for _, c := range cs {
		a := v.Active[c.i]
		alone := c.t
		// The thief's range, if it takes the whole rest, finishes at:
		whole := lat + float64(c.left)/thief
		if a.Leases == 1 {
			// Split where both finish together: the holder moves x at
			// its rate while the thief, a latency late, moves the rest.
			x := 0.0
			if c.rate > 0 {
				x = (lat + float64(c.left)/thief) / (1/c.rate + 1/thief)
				x = max(x, c.rate*lat) // what is already on its way to the holder
			}
			head := min(int64(x), c.left)
			tail := c.left - head
			together := max(float64(head)/max(c.rate, 1e-9), lat+float64(tail)/thief)
			if head == 0 {
				together = whole
			}
			if tail >= p.MinPiece && alone-together > 2*lat+0.001 {
				return Action{Kind: ActSplit, Index: c.i, At: a.Pos + head}, true
			}
		}
		// Too small to split: race it from its last written byte, if a
		// duplicate would finish well before the holder and the budget
		// allows.
		dup := a.End - a.Claimed
		whole = lat + float64(dup)/thief
		if a.Leases == 1 && dup <= v.HedgeBudget && alone-whole > 2*lat+0.001 &&
			a.Age > observeFor(v.Latency) {
			return Action{Kind: ActHedge, Index: c.i}, true
		}
	}
	return Action{}, false
}

// slowFront reports whether the active range at the front of the file is
// fetched at under half the median rate of the others (at least two of
// them measured), and above nothing: a slow connection, not just a range
// with more left.
func slowFront(v *View) bool {
	front := -1
	for i, a := range v.Active {
		if a.End > a.Pos && (front < 0 || a.Start < v.Active[front].Start) {
			front = i
		}
	}
	if front < 0 || v.Active[front].Rate <= 0 {
		// Unknown, or nothing moved yet: a response that has not
		// started is the rescue's, after its grace (under load a
		// first byte may take a while), not this rule's.
		return false
	}
	// Under half the median: more than half of the others (the median
	// and those above it) move over twice its rate. Counted, not sorted:
	// this runs at every look of an idle connection.
	f := v.Active[front].Rate
	var measured, faster int
	for i, a := range v.Active {
		if i != front && a.Rate >= 0 {
			measured++
			if a.Rate > 2*f {
				faster++
			}
		}
	}
	return measured >= 2 && faster >= measured-measured/2
}

// lagging reports whether the first of cs (the range at the front) is
// expected to finish after twice the time at least half of the others
// need, or is the only one left.
func lagging(cs []cand) bool {
	if len(cs) == 1 {
		return true
	}
	quick := 0
	for _, c := range cs[1:] {
		if 2*c.t < cs[0].t {
			quick++
		}
	}
	return 2*quick >= len(cs)-1
}

// wake is when an idle connection with nothing to do looks again (it also
// looks at every change in the ledger): soon enough for rates to be
// re-estimated, seldom enough to cost nothing: half an observation period,
// or 1/64 of the longest time a range still needs (a long tail is looked
// at less often), within 100 ms.
func (p Policy) wake(v *View) time.Time {
	var longest float64
	for _, a := range v.Active {
		if a.Rate > 0 {
			longest = max(longest, float64(a.End-a.Pos)/a.Rate)
		}
	}
	d := max(2*v.Latency, observeFor(v.Latency)/2, time.Duration(longest/64*1e9))
	d = min(d, 100*time.Millisecond)
	if !v.RetryAt.IsZero() && v.RetryAt.Sub(v.Now) < d {
		return v.RetryAt
	}
	return v.Now.Add(d)
}

// rescue handles a download where nothing has moved a byte yet that anyone
// measured: a holder whose response has delivered nothing for its grace
// period is taken over whole by the idle connection (a fresh connection is
// likely to do better). Each takeover of the same range doubles the wait,
// so a server that stalls every response is not asked in a loop.
func (p Policy) rescue(v *View) (Action, bool) {
	for i, a := range v.Active {
		if a.Leases == 1 && a.Rate == 0 && a.Pos == a.Claimed &&
			a.Age >= stallGrace(v.Latency)<<min(a.Takeovers, 10) {
			return Action{Kind: ActSplit, Index: i, At: a.Pos}, true
		}
	}
	return Action{}, false
}

// cand is an active range the policy may split or hedge.
type cand struct {
	i    int
	left int64
	rate float64
	t    float64 // expected seconds for the holder to finish alone
}
