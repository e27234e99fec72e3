package segment

import (
	"sync"
	"sync/atomic"
	"time"
)

// MinSplit is the default smallest range that work stealing creates.
const MinSplit = 1 << 20

// Range is the half-open byte range [Start, End) of the resource, of which
// the first Done bytes are written to the destination.
type Range struct {
	Start, End, Done int64
}

// SegmentSize picks the size of the ranges Split cuts for a resource of size
// bytes fetched over conns connections: about sixteen ranges per connection
// but at least 4 MiB (each request costs a round trip), at least four per
// connection (the queue balances fast and slow connections), within
// [MinSplit, 64 MiB]. Small ranges keep the completed prefix, and so the
// hash, close behind the download: on a capped link (1 GiB, 16 connections
// at 25 MB/s) 4 MiB ranges finished in 2.72 s with 0.04 s left to verify,
// 16 MiB ones in 2.85 s with 0.2 s.
func SegmentSize(size int64, conns int) int64 {
	if conns <= 0 {
		conns = 1
	}
	c := int64(conns)
	s := max(size/(16*c), 4<<20)
	s = min(s, size/(4*c), 64<<20)
	return max(s, MinSplit)
}

// Split tiles [0, size) with ranges of segSize bytes in file order; the last
// one may be shorter. It returns nil for size <= 0.
func Split(size, segSize int64) []Range {
	if size <= 0 {
		return nil
	}
	if segSize <= 0 {
		segSize = size
	}
	n := (size + segSize - 1) / segSize
	rs := make([]Range, 0, n)
	for start := int64(0); start < size; start += segSize {
		rs = append(rs, Range{Start: start, End: min(start+segSize, size)})
	}
	return rs
}

// part is one range of a Plan as the workers see it.
type part struct {
	start int64
	// Guarded by Plan.mu:
	end     int64     // shrinks when the tail is split off
	claimed int64     // bytes from start reserved by the owner for writing
	active  bool      // a worker owns it
	began   time.Time // when the current owner took it
	base    int64     // done when the current owner took it
	// done is the number of bytes from start written to the destination.
	done atomic.Int64
}

func (p *part) complete() bool { return p.start+p.done.Load() >= p.end }

// Plan is the shared state of one download's ranges: a queue that hands
// them out in file order, splits in-flight ranges for idle workers, and
// tracks the completed prefix of the file. Its methods are safe for
// concurrent use; the caller reads Snapshot and Prefix while Fetch runs.
type Plan struct {
	size     atomic.Int64
	minSplit int64

	mu     sync.Mutex
	parts  []*part // sorted by start, tiling [0, size)
	splits int
	// workers is the number of connections taking from the plan (set by
	// Fetch); below 2 there is no taper.
	workers int
	// latency is a moving average of the time from sending a request to
	// its response headers.
	latency time.Duration
	// finishedRate is a moving average of the rates at which owners
	// finished their ranges: what a thief may expect.
	finishedRate float64

	// prefix is the length of the completed prefix [0, prefix).
	prefix atomic.Int64
	// frontier is the first incomplete part, nil when all are complete.
	frontier atomic.Pointer[part]
}

// NewPlan returns a plan for a resource of size bytes made of rs, which must
// tile [0, size) in order (from Split, or from a journal with Done set).
// minSplit bounds work stealing; if zero, MinSplit.
func NewPlan(size int64, rs []Range, minSplit int64) *Plan {
	if minSplit <= 0 {
		minSplit = MinSplit
	}
	p := &Plan{minSplit: minSplit}
	p.size.Store(size)
	for _, r := range rs {
		pt := &part{start: r.Start, end: r.End, claimed: r.Done}
		pt.done.Store(r.Done)
		p.parts = append(p.parts, pt)
	}
	p.mu.Lock()
	p.advanceLocked()
	p.mu.Unlock()
	return p
}

// Size is the resource's size; -1 while unknown (a stream without length).
func (p *Plan) Size() int64 { return p.size.Load() }

// Prefix is the length of the completed prefix of the file: every byte of
// [0, Prefix()) is written.
func (p *Plan) Prefix() int64 { return p.prefix.Load() }

// Splits is how many times an in-flight range was split for an idle worker.
func (p *Plan) Splits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.splits
}

// Snapshot returns the ranges with the bytes written of each, in file order.
func (p *Plan) Snapshot() []Range {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := make([]Range, 0, len(p.parts))
	for _, pt := range p.parts {
		if pt.end > pt.start { // a range wholly taken over is empty until released
			rs = append(rs, Range{Start: pt.start, End: pt.end, Done: pt.done.Load()})
		}
	}
	return rs
}

// BytesDone is the number of bytes written, over all ranges.
func (p *Plan) BytesDone() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, pt := range p.parts {
		n += pt.done.Load()
	}
	return n
}

// take hands out the first pending range in file order, or, when none is
// left, steals from the in-flight range expected to finish last (see
// stealLocked). It returns nil when there is nothing left to take.
func (p *Plan) take() *part {
	return p.takeAt(time.Now())
}

func (p *Plan) takeAt(now time.Time) *part {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pt := range p.parts {
		if !pt.active && !pt.complete() {
			p.taperLocked(pt, now)
			pt.active, pt.began, pt.base = true, now, pt.done.Load()
			return pt
		}
	}
	return p.stealLocked(now)
}

// The taper. Ranges handed out in file order all take about as long, so the
// last ones end up to one range's time apart: connections fall idle while
// the last few finish, and everything after the oldest of them waits to be
// hashed. Near the end, therefore, a pending range is handed out cut to
// 1/(2 × workers) of the bytes still pending (guided self-scheduling), so
// that the last ranges are short and finish together. A cut is never below
// taperFloor, nor below what a connection moves in taperRTTs request
// latencies: each range costs a round trip on its connection.
const (
	taperFloor = 256 << 10
	taperRTTs  = 8
)

// taperLocked cuts pending range pt (see the taper) and queues the rest of
// it right after, pending.
func (p *Plan) taperLocked(pt *part, now time.Time) {
	if p.workers < 2 {
		return
	}
	var pending int64
	for _, q := range p.parts {
		if !q.active {
			pending += q.end - (q.start + q.done.Load())
		}
	}
	floor := int64(taperFloor)
	if r := p.meanRateLocked(now); r > 0 {
		floor = max(floor, int64(r*p.latency.Seconds()*taperRTTs))
	}
	cut := max(pending/int64(2*p.workers), floor)
	from := pt.start + pt.done.Load()
	if pt.end-from < cut+floor {
		return // the rest would be too short to take on its own
	}
	rest := &part{start: from + cut, end: pt.end}
	pt.end = from + cut
	p.insertAfterLocked(pt, rest)
}

// observeLatency records how long a request took to its response headers.
func (p *Plan) observeLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latency == 0 {
		p.latency = d
	} else {
		p.latency = (3*p.latency + d) / 4
	}
}

// Work stealing, for an idle worker when no range is pending.
//
// The victim is the in-flight range expected to finish last: bytes left
// over its owner's measured rate. The thief takes the tail that it can
// fetch in the time the owner fetches the head, assuming the thief moves at
// the mean rate of the ranges in flight: with equal rates that is half, from
// a connection ten times slower almost all of it. The tail must be at least
// minSplit, except that the whole remainder of a range whose owner is so
// slow that taking it over saves more than hedgeGain is taken (a hedge
// against the "stuck at 99%" tail); the owner then stops at its next write.
const (
	// rateAfter is how long an owner must have run for its rate to count.
	rateAfter = 200 * time.Millisecond
	// hedgeGain is the least time a whole takeover must save.
	hedgeGain = 200 * time.Millisecond
)

func (p *Plan) stealLocked(now time.Time) *part {
	rates := make(map[*part]float64)
	for _, pt := range p.parts {
		if r, ok := pt.rateLocked(now); ok {
			rates[pt] = r
		}
	}
	mean := p.meanRateLocked(now) // what a thief is expected to move
	var victim *part
	var worst float64 // expected seconds to finish, or bytes left when no rates are known
	for _, pt := range p.parts {
		left := pt.end - (pt.start + pt.claimed)
		if !pt.active || left <= 0 {
			continue
		}
		cost := float64(left)
		if mean > 0 {
			r, ok := rates[pt]
			if !ok {
				r = mean
			}
			cost = float64(left) / max(r, 1)
		}
		if victim == nil || cost > worst {
			victim, worst = pt, cost
		}
	}
	if victim == nil {
		return nil
	}
	left := victim.end - (victim.start + victim.claimed)
	tail := left / 2
	if rv, ok := rates[victim]; ok && mean > 0 {
		tail = int64(float64(left) * mean / (rv + mean))
	}
	if tail < p.minSplit {
		rv, ok := rates[victim]
		if !ok || mean <= 0 || left < 64<<10 {
			return nil
		}
		saved := float64(left)/max(rv, 1) - float64(left)/mean
		if saved < hedgeGain.Seconds() {
			return nil
		}
		tail = left
	}
	mid := victim.end - tail
	stolen := &part{start: mid, end: victim.end, active: true, began: now}
	victim.end = mid
	p.insertAfterLocked(victim, stolen)
	p.splits++
	return stolen
}

// meanRate is the mean rate in bytes per second of the owners of the
// ranges in flight (and of those that finished), 0 when none is known yet.
func (p *Plan) meanRate(now time.Time) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.meanRateLocked(now)
}

func (p *Plan) meanRateLocked(now time.Time) float64 {
	sum, n := p.finishedRate, 0
	if sum > 0 {
		n = 1
	}
	for _, pt := range p.parts {
		if r, ok := pt.rateLocked(now); ok {
			sum += r
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// rateLocked is the rate of pt's current owner in bytes per second, once
// it has run long enough to tell.
func (pt *part) rateLocked(now time.Time) (float64, bool) {
	el := now.Sub(pt.began)
	if !pt.active || el < rateAfter {
		return 0, false
	}
	return float64(pt.done.Load()-pt.base) / el.Seconds(), true
}

func (p *Plan) insertAfterLocked(after, pt *part) {
	for i, q := range p.parts {
		if q == after {
			p.parts = append(p.parts, nil)
			copy(p.parts[i+2:], p.parts[i+1:])
			p.parts[i+1] = pt
			return
		}
	}
	panic("segment: split of a part not in the plan")
}

// claim reserves up to n bytes of pt at offset pos for writing, returning how
// many may be written: fewer when the range was split meanwhile, 0 when pos
// has reached its end.
func (p *Plan) claim(pt *part, pos int64, n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	left := pt.end - pos
	if left <= 0 {
		return 0
	}
	k := int64(n)
	if k > left {
		k = left
	}
	pt.claimed = pos + k - pt.start
	return int(k)
}

// wrote records n bytes written to pt and advances the prefix.
func (p *Plan) wrote(pt *part, n int) {
	d := pt.done.Add(int64(n))
	if p.frontier.Load() == pt {
		storeMax(&p.prefix, pt.start+d)
	}
}

// release gives pt back: to the queue when incomplete, else it is finished
// and the prefix moves past it.
func (p *Plan) release(pt *part) {
	p.releaseAt(pt, time.Now())
}

func (p *Plan) releaseAt(pt *part, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A finished range counts however short it was: fast ones are short.
	if el := now.Sub(pt.began); pt.active && pt.complete() && el > 0 && pt.done.Load() > pt.base {
		r := float64(pt.done.Load()-pt.base) / el.Seconds()
		if p.finishedRate == 0 {
			p.finishedRate = r
		} else {
			p.finishedRate = (p.finishedRate + r) / 2
		}
	}
	pt.active = false
	pt.claimed = pt.done.Load()
	if pt.claimed == 0 && pt.end == pt.start {
		// A whole takeover left nothing: drop the empty part.
		for i, q := range p.parts {
			if q == pt {
				p.parts = append(p.parts[:i], p.parts[i+1:]...)
				break
			}
		}
	}
	p.advanceLocked()
}

// remaining reports whether pt still has bytes to fetch, and its end.
func (p *Plan) remaining(pt *part) (end int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pt.end, pt.start+pt.done.Load() < pt.end
}

// advanceLocked moves the frontier past completed parts and sets the prefix.
func (p *Plan) advanceLocked() {
	for _, pt := range p.parts {
		if !pt.complete() {
			p.frontier.Store(pt)
			storeMax(&p.prefix, pt.start+pt.done.Load())
			return
		}
	}
	p.frontier.Store(nil)
	storeMax(&p.prefix, max(p.size.Load(), 0))
}

// setStreamed records n bytes of a single stream written from offset 0.
func (p *Plan) setStreamed(n int64) { storeMax(&p.prefix, n) }

// finishStream fixes the size of a stream once it has ended.
func (p *Plan) finishStream(n int64) {
	p.size.Store(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.parts) == 0 && n > 0 {
		pt := &part{start: 0, end: n, claimed: n}
		pt.done.Store(n)
		p.parts = []*part{pt}
	}
	storeMax(&p.prefix, n)
}

// storeMax raises v to x if x is larger.
func storeMax(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}
