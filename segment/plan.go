package segment

import (
	"sync"
	"sync/atomic"
)

// MinSplit is the default smallest range that work stealing creates.
const MinSplit = 1 << 20

// Range is the half-open byte range [Start, End) of the resource, of which
// the first Done bytes are written to the destination.
type Range struct {
	Start, End, Done int64
}

// SegmentSize picks the size of the ranges Split cuts for a resource of size
// bytes fetched over conns connections: about four ranges per connection, so
// the queue balances fast and slow connections, between MinSplit and 64 MiB.
func SegmentSize(size int64, conns int) int64 {
	if conns <= 0 {
		conns = 1
	}
	s := size / int64(4*conns)
	return min(max(s, MinSplit), 64<<20)
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
	end     int64 // shrinks when the tail is split off
	claimed int64 // bytes from start reserved by the owner for writing
	active  bool  // a worker owns it
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
	rs := make([]Range, len(p.parts))
	for i, pt := range p.parts {
		rs[i] = Range{Start: pt.start, End: pt.end, Done: pt.done.Load()}
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
// left, splits the in-flight range with the most bytes left and hands out its
// second half. It returns nil when there is nothing left to take.
func (p *Plan) take() *part {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pt := range p.parts {
		if !pt.active && !pt.complete() {
			pt.active = true
			return pt
		}
	}
	var victim *part
	var best int64
	for _, pt := range p.parts {
		if left := pt.end - (pt.start + pt.claimed); pt.active && left > best {
			victim, best = pt, left
		}
	}
	if victim == nil || best < 2*p.minSplit {
		return nil
	}
	mid := victim.start + victim.claimed + best/2
	tail := &part{start: mid, end: victim.end, active: true}
	victim.end = mid
	p.insertAfterLocked(victim, tail)
	p.splits++
	return tail
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
	p.mu.Lock()
	defer p.mu.Unlock()
	pt.active = false
	pt.claimed = pt.done.Load()
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
