package segment

// This file is the scheduler's bookkeeping: which bytes of the resource are
// written, which are leased to a connection, which are pending. What an idle
// connection does next is decided in policy.go; the ledger only applies it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLost is the cause with which a lease's context is cancelled when its
// bytes were taken from it: a racing lease finished them first.
var ErrLost = errors.New("range finished by another connection")

// piece is one range of the ledger. Pieces tile [0, size) as a linked list
// in file order; all fields are guarded by Ledger.mu.
type piece struct {
	start, end int64
	// claimed is the offset up to which bytes are written or being
	// written; done is the offset up to which they are written.
	claimed, done int64
	inflight      int      // writes between claim and done
	leases        []*Lease // the connections fetching it: 0, 1, or 2 racing
	prev, next    *piece
	// failures counts failed requests in a row (see Ledger.Release);
	// the piece is not handed out again before notBefore.
	failures  int
	notBefore time.Time
	takeovers int // times taken whole from a holder
}

func (p *piece) complete() bool { return p.done >= p.end }

// Lease is one connection's right to fetch and write the bytes of a piece,
// from the offset its request starts at to the piece's end, which may move
// closer when the tail is split off. A lease's bytes are written only
// through Write, which never writes past the piece's end nor a byte that a
// racing lease has written.
type Lease struct {
	led   *Ledger
	p     *piece
	conn  int
	from  int64 // where the request starts
	hedge bool
	ahead bool // its request was sent before the one ahead of it had its answer
	// kept: the probe's answer, its body read on by the download (AcquireFirst)
	kept   bool
	cancel context.CancelCauseFunc
	// Guarded by led.mu:
	pos  int64 // the next offset the response delivers
	over bool  // released, or lost to a racer
	// arrived counts the body bytes received on the request, written or
	// not yet; the rate estimate reads it.
	arrived atomic.Int64
	// queued, if set, tells how many more bytes of the response wait in
	// the connection's receive queue (guarded by led.mu); queuedLocked
	// keeps its answer for queuedFor, as asking costs a system call and
	// views are built for every idle connection's every look.
	queued func() int64
	qAt    time.Time
	qBytes int64
}

// queuedFor is how long an answer of Lease.queued is used.
const queuedFor = 5 * time.Millisecond

// queuedLocked is the lease's queued bytes as of at most queuedFor ago.
func (ls *Lease) queuedLocked(now time.Time) int64 {
	if ls.queued == nil {
		return 0
	}
	if d := now.Sub(ls.qAt); d >= queuedFor || d < 0 {
		ls.qAt, ls.qBytes = now, ls.queued()
	}
	// Not beyond its own response: on a pipelined connection the next
	// answer's bytes may follow in the same queue.
	return min(ls.qBytes, max(ls.p.end-ls.from-ls.arrived.Load(), 0))
}

// SetQueued gives the lease a way to know how many bytes of its response
// have reached this host and wait to be read: a split never takes those
// from it (they would be thrown away with its connection, and asked again).
func (ls *Lease) SetQueued(f func() int64) {
	ls.led.mu.Lock()
	defer ls.led.mu.Unlock()
	ls.queued = f
}

// From is the first offset the lease's request asks for.
func (ls *Lease) From() int64 { return ls.from }

// End is the offset its request should stop at now: the piece's end.
func (ls *Lease) End() int64 {
	ls.led.mu.Lock()
	defer ls.led.mu.Unlock()
	return ls.p.end
}

// sentNow records that the lease's request went out when its turn came,
// not ahead (its answer then measures the latency).
func (ls *Lease) sentNow() {
	ls.led.mu.Lock()
	defer ls.led.mu.Unlock()
	ls.ahead = false
}

// Hedge reports whether the lease duplicates bytes another lease is
// fetching (the two race; the first to finish wins).
func (ls *Lease) Hedge() bool { return ls.hedge }

// Ledger records one download's ranges. Its methods are safe for concurrent
// use: workers acquire leases and write through them while the caller reads
// Snapshot, Prefix and Done.
type Ledger struct {
	size atomic.Int64
	// done is the number of bytes written, each counted once however many
	// connections fetched it; prefix is the length of the completed prefix.
	done, prefix atomic.Int64

	mu         sync.Mutex
	head       *piece
	frontier   *piece // the first incomplete piece, nil when all are
	hint       *piece // no piece before it is pending
	npieces    int
	active     []*piece // pieces with at least one lease
	unleased   int64    // bytes not yet claimed in pieces without a lease
	window     *Window  // nil: none (SetWindow)
	conns      []connState
	workers    int           // connections fetching (set by Fetch)
	growTo     int           // the count -c auto's search may still reach; 0 once settled
	latency    time.Duration // see observeLatency
	minLatency time.Duration // the least latency seen
	agg        throughput    // what the connections deliver together
	policy     Policy
	splits     int
	hedges     int
	dupBytes   int64         // bytes asked twice by hedges
	changed    chan struct{} // closed and replaced when a piece completes or is released
	// winq holds the connections waiting on the window's bound, first
	// come first (each on its connState's win, Grant.Changed); windowAt
	// is the consumer's offset from which they would decide otherwise
	// (View's windowAt), math.MaxInt64 while none waits.
	winq     []int
	windowAt atomic.Int64
	finished chan struct{} // closed when every byte is written
	pollers  int           // idle connections that look again at a time the policy set
	// Reused by viewLocked and the policy, so that a decision allocates
	// nothing.
	scratchPieces []*piece
	scratchActive []ActiveView
	scratchCands  []cand
	scratchRates  []float64
}

// NewLedger returns a ledger for a resource of size bytes made of rs, which
// must tile [0, size) in order (from Split, or from a journal with Done
// set). policy decides what idle connections do; its zero value is the
// default policy.
func NewLedger(size int64, rs []Range, policy Policy) *Ledger {
	l := &Ledger{policy: policy.withDefaults(), changed: make(chan struct{}), finished: make(chan struct{})}
	l.windowAt.Store(math.MaxInt64)
	l.size.Store(size)
	var prev *piece
	var done int64
	for _, r := range rs {
		p := &piece{start: r.Start, end: r.End, claimed: r.Start + r.Done, done: r.Start + r.Done, prev: prev}
		if prev == nil {
			l.head = p
		} else {
			prev.next = p
		}
		prev = p
		l.npieces++
		done += r.Done
		l.unleased += p.end - p.claimed
	}
	l.done.Store(done)
	l.hint = l.head
	l.mu.Lock()
	l.advanceLocked()
	l.mu.Unlock()
	return l
}

// Size is the resource's size; -1 while unknown (a stream without length).
func (l *Ledger) Size() int64 { return l.size.Load() }

// Prefix is the length of the completed prefix: [0, Prefix()) is written.
func (l *Ledger) Prefix() int64 { return l.prefix.Load() }

// Done is the number of bytes written, each counted once.
func (l *Ledger) Done() int64 { return l.done.Load() }

// Splits is how many times a leased range was split for an idle connection.
func (l *Ledger) Splits() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.splits
}

// Hedges is how many duplicate requests raced a slow one, and how many
// bytes they asked for twice.
func (l *Ledger) Hedges() (n int, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hedges, l.dupBytes
}

// Snapshot returns the ranges with the bytes written of each, in file order.
func (l *Ledger) Snapshot() []Range {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := make([]Range, 0, l.npieces)
	for p := l.head; p != nil; p = p.next {
		rs = append(rs, Range{Start: p.start, End: p.end, Done: p.done - p.start})
	}
	return rs
}

// Changed returns a channel closed at the next change that may give an
// idle connection work: a lease released, a piece completed.
func (l *Ledger) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Finished returns a channel closed once every byte is written. Workers
// that the connection count leaves out wait on it rather than on Changed:
// with -c auto settled at 8 of 64, every change woke the 56 others (about
// 800 changes for 1 GiB on loopback).
func (l *Ledger) Finished() <-chan struct{} { return l.finished }

func (l *Ledger) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Connections held back by the window's bound (Action.Held) wait for
// nothing but what can let them through: the consumer moving the bound or
// reaching the front, bytes given back. Woken by every completion, as the
// others are, at 256 connections they asked 28,000 times for nothing in a
// 1 GiB download (92% of all asks), each time weighing every connection
// under the ledger's lock, which the hash, handing it on after its turn,
// then waited behind for a core. And they wake one at a time: one that
// takes something wakes the next (wakeWindowLocked), one that finds
// nothing waits again; woken all at once, each move of the bound still
// woke 75 of them, on average, for one range.

// waitWindowLocked queues conn among the connections waiting on the
// window's bound, until the consumer passes at (or a wake); it returns
// what conn waits on.
func (l *Ledger) waitWindowLocked(conn int, at int64) <-chan struct{} {
	c := &l.conns[conn]
	if c.win == nil {
		c.win = make(chan struct{})
		l.winq = append(l.winq, conn)
	}
	if at < l.windowAt.Load() {
		l.windowAt.Store(at)
	}
	return c.win
}

// unwaitWindowLocked takes conn out of the queue (it is looking again, or
// gone).
func (l *Ledger) unwaitWindowLocked(conn int) {
	if conn >= len(l.conns) || l.conns[conn].win == nil {
		return
	}
	l.conns[conn].win = nil
	for i, w := range l.winq {
		if w == conn {
			l.winq = append(l.winq[:i], l.winq[i+1:]...)
			break
		}
	}
	if len(l.winq) == 0 {
		l.windowAt.Store(math.MaxInt64)
	}
}

// wakeWindowLocked wakes the first connection waiting on the window's
// bound, or all of them.
func (l *Ledger) wakeWindowLocked(all bool) {
	for len(l.winq) > 0 {
		c := &l.conns[l.winq[0]]
		l.winq = l.winq[1:]
		close(c.win)
		c.win = nil
		if !all {
			break
		}
	}
	if len(l.winq) == 0 {
		l.windowAt.Store(math.MaxInt64)
	}
}

// Grant is the answer to Acquire: a lease to fetch, with the context its
// request must use (cancelled when the lease is lost); or nothing to do
// until Wake (or the next Changed); or, with neither, the end.
type Grant struct {
	Lease *Lease
	Ctx   context.Context
	Wake  time.Time
	// Changed, with no lease, is what to wait for besides Wake instead of
	// Changed(): the connection waits on the window's bound.
	Changed <-chan struct{}
}

// Window bounds how far ahead of the consumer of the completed prefix (a
// stream's reader, the hash) the ranges handed out may reach.
type Window struct {
	// Consumed is how many bytes of the prefix the consumer has taken.
	Consumed func() int64
	// Size is how far past Consumed ranges may end. Step, if above 1,
	// makes the bound move in multiples of Step only.
	Size, Step int64
	// Elastic lets the window grow past Size to twice what the
	// connections ask for in one round on a long path, and to twice Step
	// per range being fetched (a window of a file on disk, not one in
	// memory).
	Elastic bool
	// Rate, if set, is how fast the consumer takes bytes when it has
	// some, bytes/s (0 unknown): the policy then plans the last ranges so
	// that little is left for the consumer after the last byte arrives.
	Rate func() float64
	// Peak, if set, is how fast the consumer takes bytes with a core to
	// itself, as after the last byte (0 unknown): faster than Rate while
	// the fetch shares the cores with it. The policy stands in half of it
	// for a Rate not yet known.
	Peak func() float64
}

// limit is the offset no range may reach yet when the consumer has taken
// consumed bytes and the window is size.
func (w *Window) limit(consumed, size, step int64) int64 {
	end := consumed + size
	if step > 1 {
		end = end / step * step
	}
	return max(end, 1)
}

// SetWindow bounds what is handed out: no range reaches w's limit or past
// it. Call ConsumerAt as the consumer moves (or Poke). Call before Fetch.
func (l *Ledger) SetWindow(w Window) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.window = &w
	l.wakeWindowLocked(true)
}

// Poke makes idle connections look again (the limit moved), those waiting
// on the window's bound too.
func (l *Ledger) Poke() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notifyLocked()
	l.wakeWindowLocked(true)
}

// ConsumerAt tells the ledger that the window's consumer has taken the
// prefix up to off. A connection waiting on the window's bound looks again
// once that may let it through: the bound moved, or the consumer came near
// the front, where a lagging range is then split (and each one that finds
// something to do wakes the next). It costs an atomic load otherwise:
// call it at every step of the consumer.
func (l *Ledger) ConsumerAt(off int64) {
	if off < l.windowAt.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if off >= l.windowAt.Load() {
		l.wakeWindowLocked(false)
	}
}

// Acquire asks the policy what connection conn, idle at now, does next and
// applies it.
func (l *Ledger) Acquire(ctx context.Context, conn int, now time.Time) Grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ensureConnLocked(conn)
	if c := &l.conns[conn]; c.polling {
		c.polling = false
		l.pollers--
	}
	l.unwaitWindowLocked(conn)
	v, pend, active := l.viewLocked(conn, now)
	a := l.policy.Decide(&v)
	var ls *Lease
	switch a.Kind {
	case ActTake:
		ls = l.takeLocked(pend, a.Len, v.Limit, conn, now)
	case ActSplit:
		p := active[a.Index]
		at := max(a.At, l.heldLocked(p, now))
		if at >= p.end {
			// What is left has reached this host: the holder ends the
			// piece soon, and a change wakes this connection.
			return Grant{Wake: now.Add(time.Second)}
		}
		ls = l.splitLocked(p, at, conn)
	case ActHedge:
		ls = l.hedgeLocked(active[a.Index], conn)
	case ActWait:
		var windowed <-chan struct{}
		if a.Held {
			windowed = l.waitWindowLocked(conn, v.windowAt)
		}
		if l.pollers >= maxPollers {
			// Enough idle connections look again on their own: this one
			// waits for a change (a range finished or given back).
			return Grant{Wake: now.Add(time.Second), Changed: windowed}
		}
		l.conns[conn].polling = true
		l.pollers++
		return Grant{Wake: a.Wake, Changed: windowed}
	default:
		return Grant{}
	}
	lctx, cancel := context.WithCancelCause(ctx)
	ls.cancel = cancel
	l.conns[conn].start(ls, now)
	l.wakeWindowLocked(false) // there may be more for the next one
	return Grant{Lease: ls, Ctx: lctx}
}

// AcquireFirst grants connection conn the bytes [0, end), which a request
// already answered asked for (the probe's, Options.FirstRange), if none
// of them is written, leased or held back: joined from the pieces that
// tile them, and cut at end. Otherwise it grants nothing, and the answer
// is not needed.
func (l *Ledger) AcquireFirst(ctx context.Context, conn int, end int64, now time.Time) Grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ensureConnLocked(conn)
	p := l.head
	if p == nil || end <= 0 || !l.mergeableLocked(p, now) {
		return Grant{}
	}
	for p.end < end && l.mergeableLocked(p.next, now) {
		l.mergeNextLocked(p)
	}
	if p.end < end {
		return Grant{}
	}
	if end < p.end {
		l.cutLocked(p, end)
	}
	l.unleased -= p.end - p.claimed
	ls := l.leaseLocked(p, conn, false)
	ls.kept = true
	lctx, cancel := context.WithCancelCause(ctx)
	ls.cancel = cancel
	l.conns[conn].start(ls, now)
	return Grant{Lease: ls, Ctx: lctx}
}

// AcquireAhead is Acquire for a connection whose request in flight is
// about to end, so that its next request can be sent now, on the same
// connection, and be answered right after (HTTP/1.1 pipelining): the
// path's round trip between two requests is not lost. It grants only the
// pending bytes a request would take (Decide's ActTake), never a split or
// a hedge, which are decided better when the connection is free; and
// nothing when the connection has no request in flight or already one
// sent ahead. The lease, once granted, is fetched like any other; its
// request counts as in flight from when the one before it ends.
func (l *Ledger) AcquireAhead(ctx context.Context, conn int, now time.Time) Grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ensureConnLocked(conn)
	c := &l.conns[conn]
	if c.cur == nil || c.next != nil || c.polling || l.pollers > 0 {
		// (Connections idle now take the pending bytes first.)
		return Grant{}
	}
	v, pend, _ := l.viewLocked(conn, now)
	if cur := c.cur; !cur.over {
		v.Busy = max(cur.p.end-(cur.from+cur.arrived.Load()+cur.queuedLocked(now)), 0)
	}
	if (v.Rate <= 0 || v.TotalRate <= 0) && v.GrowTo <= v.Workers {
		// Nothing measured yet: its first answer, as far as it came,
		// stands for every connection's rate, as it did for when to
		// decide (aheadBytes). Else the share is the planned range,
		// never joined: 45.6 MiB over 15 connections of 42 MiB/s, 17
		// ms away, took three rounds of 1 MiB (1.59 x the ideal time)
		// where, deciding when free and measured, they took two.
		// (Not while -c auto may add connections: its first rounds
		// stay planned ranges, which the hash follows closely; joined,
		// 1 GiB 30 ms away over 8 then 32 connections left the hash
		// 0.096 s after the last byte, over the table's limit of 0.086.)
		if r := l.firstRate(c, now); r > 0 {
			v.Rate, v.TotalRate = r, r*float64(v.Workers)
		}
	}
	a := l.policy.Decide(&v)
	if a.Kind != ActTake || a.Len <= 0 {
		return Grant{}
	}
	ls := l.takeLocked(pend, a.Len, v.Limit, conn, now)
	ls.ahead = true
	lctx, cancel := context.WithCancelCause(ctx)
	ls.cancel = cancel
	c.next = ls
	return Grant{Lease: ls, Ctx: lctx}
}

// aheadBytes is how many bytes before the end of its response a lease's
// connection sends its next request (AcquireAhead): what arrives in
// aheadRTTs round trips at the connection's rate, and what it receives
// between two looks (the worker looks after each write of its buffer of
// buf bytes, or flushAfter, whichever comes first). It is -1 on a
// short path (below aheadLatency), where a request costs little, or while
// the rate is unknown. (The whole buffer, 256 KiB, was half a second of a
// 500 KB/s connection: its next range was taken four round trips early,
// from connections that were free before it.)
//
// never reports a short path: the least latency only falls, so the worker
// need not ask again (it asks after each write of its buffer, and the
// lock would be taken twice per write on loopback for nothing).
func (ls *Lease) aheadBytes(now time.Time, buf int) (b int64, never bool) {
	l := ls.led
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.minLatency < aheadLatency || ls.over {
		return -1, l.minLatency > 0 && l.minLatency < aheadLatency
	}
	c := &l.conns[ls.conn]
	r := c.rate(now, l.latency)
	if r <= 0 && c.cur == ls {
		r = l.firstRate(c, now)
	}
	if r <= 0 {
		return -1, false
	}
	return int64(r*l.minLatency.Seconds()*aheadRTTs) + min(int64(buf), int64(r*flushAfter.Seconds())), false
}

// firstRate is the rate of c's answer so far, for its first request, too
// early for rate's estimate: what came since its headers, over at least a
// round trip, tells enough for when to send the next and how much to ask.
// It is 0 before that.
func (l *Ledger) firstRate(c *connState, now time.Time) float64 {
	el := now.Sub(c.hdr)
	if c.cur == nil || c.hdr.IsZero() || el < l.minLatency || el <= 0 {
		return 0
	}
	return float64(c.cur.arrived.Load()) / el.Seconds()
}

// aheadLatency: requests are sent ahead (AcquireAhead) only where the
// least request latency seen is at least this. On loopback a request
// costs a fraction of a millisecond, and deciding a connection's next
// range before it is free would only decide it on staler rates.
const aheadLatency = 2 * time.Millisecond

// aheadRTTs: see aheadBytes. One round trip is the least that hides the
// request's; the second covers the rate's error and the bytes the
// connection has in its receive queue.
const aheadRTTs = 2

// leave records that connection conn, told to wait (ActWait), no longer
// looks on its own: it waits for a slot of the count or of a budget, or
// has stopped. It is then not among the idle connections that would take
// pending bytes before a range is taken ahead (AcquireAhead).
func (l *Ledger) leave(conn int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unwaitWindowLocked(conn)
	if conn < len(l.conns) && l.conns[conn].polling {
		l.conns[conn].polling = false
		l.pollers--
	}
}

func (l *Ledger) ensureConnLocked(conn int) {
	for len(l.conns) <= conn {
		l.conns = append(l.conns, connState{})
	}
}

// takeLocked leases the first n bytes still to fetch of pending piece p,
// leaving the rest of it pending (limit: a window's bound, 0 when none).
func (l *Ledger) takeLocked(p *piece, n, limit int64, conn int, now time.Time) *Lease {
	for n > 0 && p.claimed+n > p.end && l.mergeableLocked(p.next, now) {
		l.mergeNextLocked(p) // a fast, distant connection: one longer request
	}
	if at := blockUp(p.claimed + n); n > 0 && at < p.end {
		// At a whole Block (rounded down, the remainders of a round's
		// takes add up to a crumb that costs a request of its own),
		// but not past a window's bound.
		if limit > 0 && at > limit && limit > p.claimed {
			at = limit
		}
		l.cutLocked(p, at)
	}
	l.unleased -= p.end - p.claimed
	return l.leaseLocked(p, conn, false)
}

// mergeableLocked reports whether p may be joined to the piece before it:
// nobody fetches it, nothing of it is written, and it is not held back.
func (l *Ledger) mergeableLocked(p *piece, now time.Time) bool {
	return p != nil && len(p.leases) == 0 && p.claimed == p.start && !p.notBefore.After(now)
}

// mergeNextLocked joins the piece after p to p.
func (l *Ledger) mergeNextLocked(p *piece) {
	q := p.next
	p.end, p.next = q.end, q.next
	if q.next != nil {
		q.next.prev = p
	}
	if l.hint == q {
		l.hint = p
	}
	l.npieces--
}

// cutLocked ends p at off and inserts the rest as a new piece after it,
// with no lease. off must not be below p.claimed.
func (l *Ledger) cutLocked(p *piece, off int64) *piece {
	rest := &piece{start: off, end: p.end, claimed: off, done: off, prev: p, next: p.next}
	if p.next != nil {
		p.next.prev = rest
	}
	p.next = rest
	p.end = off
	l.npieces++
	return rest
}

// heldLocked is where leased piece p's bytes stop having reached this
// host: what its holders received, and what waits in their connections'
// receive queues (the view counts only the former). A split never takes
// those bytes from a holder: they would be thrown away with its
// connection, and asked again. p.start if nothing came.
func (l *Ledger) heldLocked(p *piece, now time.Time) int64 {
	pos := p.start
	for _, ls := range p.leases {
		if !ls.over {
			if got := ls.arrived.Load() + ls.queuedLocked(now); got > 0 {
				pos = max(pos, ls.from+got)
			}
		}
	}
	return min(pos, p.end)
}

// splitLocked gives the bytes of leased piece p from off on to conn.
// At p.start (nothing of p written) it is a whole takeover: the holder
// loses the piece and its request is cancelled at once.
func (l *Ledger) splitLocked(p *piece, off int64, conn int) *Lease {
	l.splits++
	if off <= p.start {
		for _, o := range p.leases {
			if !o.over {
				o.over = true
				o.cancel(ErrLost)
			}
		}
		p.leases = p.leases[:0]
		p.takeovers++
		l.dropActiveLocked(p)
		return l.leaseLocked(p, conn, false)
	}
	if b := blockUp(off); b < p.end {
		off = b // at a whole Block: the holder keeps a little more
	}
	rest := l.cutLocked(p, off)
	if p.complete() {
		l.completeLocked(p) // the holder has nothing left to fetch
	}
	return l.leaseLocked(rest, conn, false)
}

func (l *Ledger) dropActiveLocked(p *piece) {
	for i, q := range l.active {
		if q == p {
			l.active = append(l.active[:i], l.active[i+1:]...)
			return
		}
	}
}

// hedgeLocked gives conn a duplicate of what is left of leased piece p.
func (l *Ledger) hedgeLocked(p *piece, conn int) *Lease {
	l.hedges++
	l.dupBytes += p.end - p.claimed
	return l.leaseLocked(p, conn, true)
}

func (l *Ledger) leaseLocked(p *piece, conn int, hedge bool) *Lease {
	ls := &Lease{led: l, p: p, conn: conn, from: p.claimed, pos: p.claimed, hedge: hedge}
	if len(p.leases) == 0 {
		l.active = append(l.active, p)
	}
	p.leases = append(p.leases, ls)
	return ls
}

// Write writes p, the next bytes of the lease's response, at the lease's
// position. It skips bytes a racing lease has already written and stops at
// the piece's end: n is how many bytes of p belonged to the lease, more
// whether bytes are still to come. A lease that was lost writes nothing.
func (ls *Lease) Write(dst io.WriterAt, b []byte) (n int, more bool, err error) {
	l := ls.led
	l.mu.Lock()
	pc := ls.p
	if ls.over || ls.pos >= pc.end {
		l.mu.Unlock()
		return 0, false, nil
	}
	k := min(int64(len(b)), pc.end-ls.pos)
	wfrom, wto := max(ls.pos, pc.claimed), ls.pos+k
	write := wto > wfrom
	if write {
		pc.claimed = wto
		pc.inflight++
	}
	l.mu.Unlock()
	if write {
		_, err = dst.WriteAt(b[wfrom-ls.pos:k], wfrom)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if write {
		pc.inflight--
		if err != nil {
			pc.claimed = min(pc.claimed, wfrom)
			return 0, false, fmt.Errorf("write [%d,%d): %w", wfrom, wto, err)
		}
		if pc.inflight == 0 && pc.claimed > pc.done {
			l.done.Add(pc.claimed - pc.done)
			pc.done = pc.claimed
			if pc == l.frontier {
				storeMax(&l.prefix, pc.done)
			}
		}
	}
	ls.pos = wto
	if pc.complete() {
		l.completeLocked(pc)
	}
	return int(k), !ls.over && ls.pos < pc.end, nil
}

// completeLocked ends every lease of finished piece p: the losers of a race
// are cancelled at once.
func (l *Ledger) completeLocked(p *piece) {
	for _, o := range p.leases {
		if !o.over && o.pos < p.end {
			o.over = true
			o.cancel(ErrLost)
		}
	}
	l.advanceLocked()
	l.notifyLocked()
	if l.frontier == nil {
		l.wakeWindowLocked(true) // done: nobody waits any longer
	}
}

// Release ends the lease. err is why its request ended (nil when it
// finished or was lost); a failure with bytes left marks the piece pending
// again from its last written byte, not before delay(failures) from now,
// and counts the failure: Release returns how many requests for the piece failed in a row
// (a request that delivered at least workingProgress bytes resets the count).
func (ls *Lease) Release(err error, now time.Time, delay func(failures int) time.Duration) (failures int) {
	l := ls.led
	l.mu.Lock()
	defer l.mu.Unlock()
	p := ls.p
	lost := ls.over
	ls.over = true
	if ls.cancel != nil {
		ls.cancel(context.Canceled)
	}
	l.conns[ls.conn].finish(ls, now, l.latency)
	found := false
	for i, o := range p.leases {
		if o == ls {
			p.leases = append(p.leases[:i], p.leases[i+1:]...)
			found = true
			break
		}
	}
	if found && len(p.leases) == 0 {
		l.dropActiveLocked(p)
		if !p.complete() {
			l.unleased += p.end - p.claimed
			if l.hint == nil || p.start < l.hint.start {
				l.hint = p
			}
			l.wakeWindowLocked(false) // bytes given back may be within the bound
		}
	}
	if err != nil && !lost && !p.complete() {
		if ls.arrived.Load() >= workingProgress {
			p.failures = 0
		}
		p.failures++
		if delay != nil {
			p.notBefore = now.Add(delay(p.failures))
		}
	}
	l.notifyLocked()
	return p.failures
}

// advanceLocked moves the frontier past completed pieces and sets the prefix.
func (l *Ledger) advanceLocked() {
	p := l.frontier
	if p == nil {
		p = l.head
	}
	for ; p != nil; p = p.next {
		if !p.complete() {
			l.frontier = p
			storeMax(&l.prefix, p.done)
			return
		}
	}
	l.frontier = nil
	l.finishLocked()
	storeMax(&l.prefix, max(l.size.Load(), 0))
}

// finishLocked closes finished, once.
func (l *Ledger) finishLocked() {
	select {
	case <-l.finished:
	default:
		close(l.finished)
	}
}

// Arrived records n body bytes received on the lease's request.
func (ls *Lease) Arrived(n int) { ls.arrived.Add(int64(n)) }

// Headers records that the lease's response headers arrived at now for a
// request begun at sent (a dial and a TLS handshake included: the latency
// that stall and split decisions allow for) and written at wrote (the
// least of these stands for the path's round trip, which sizes requests
// and the hash lead; a handshake on loopback with the cores busy took
// milliseconds and inflated both).
func (ls *Lease) Headers(sent, wrote, now time.Time) {
	l := ls.led
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns[ls.conn].headers(l, ls, sent, wrote, now)
}

// finishStream fixes the size of a stream of unknown length once it ended.
func (l *Ledger) finishStream(n int64) {
	l.size.Store(n)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.head == nil && n > 0 {
		l.head = &piece{start: 0, end: n, claimed: n, done: n}
		l.npieces = 1
	}
	storeMax(&l.prefix, n)
	l.finishLocked()
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

// streamed records that a single stream has written [0, upto): the pieces
// it covers are done, in file order.
func (l *Ledger) streamed(upto int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.head == nil {
		storeMax(&l.done, upto) // unknown size: no pieces to mark
	}
	for p := l.frontier; p != nil && p.done < upto; p = p.next {
		d := min(p.end, upto)
		l.done.Add(d - p.done)
		l.unleased -= d - p.claimed
		p.done, p.claimed = d, d
	}
	l.advanceLocked()
	storeMax(&l.prefix, upto)
}

// maxPollers is how many idle connections with nothing to do look again
// on a timer (for rates to be re-estimated: a split or hedge may become
// worth it); the others wait for a change in the ledger. With hundreds of
// connections, each looking every few milliseconds cost more CPU than the
// download.
const maxPollers = 4

// setWorkers records how many connections fetch at once.
// workersNow is the number of connections the ledger plans for.
func (l *Ledger) workersNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.workers
}

// minLatencyNow is the least request latency seen so far.
func (l *Ledger) minLatencyNow() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.minLatency
}

// queuedNow is how many bytes of the responses in flight have reached
// this host and wait in their connections' receive queues.
func (l *Ledger) queuedNow(now time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, p := range l.active {
		for _, ls := range p.leases {
			if !ls.over {
				n += ls.queuedLocked(now)
			}
		}
	}
	return n
}

// started reports whether each of the first n connections has had a
// response under way (its headers received, now or before).
func (l *Ledger) started(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range min(n, len(l.conns)) {
		if c := &l.conns[i]; c.hist == 0 && c.hdr.IsZero() {
			return false
		}
	}
	return true
}

// setGrowTo records the count -c auto's search may still reach (0: none,
// the count is settled).
func (l *Ledger) setGrowTo(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.growTo = n
}

func (l *Ledger) setWorkers(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.workers = n
	l.ensureConnLocked(n - 1)
}

// recycle reports whether connection conn has been much slower than the
// others (below 1/slowFactor of their mean rate, over a finished request
// each): its next request should go out on a fresh TCP connection. Its
// history is then forgotten, so the new connection is judged afresh. A slot
// is recycled once: where all connections share one bottleneck (hundreds
// of them on one machine), some are always slow, and closing them again
// and again only churns connections.
func (l *Ledger) recycle(conn int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[conn].recycled {
		return false // once: a slot slow again on a fresh connection is not the path's fault
	}
	me := l.conns[conn].hist
	var sum float64
	var n int
	for i := range l.conns {
		if i != conn && l.conns[i].hist > 0 {
			sum += l.conns[i].hist
			n++
		}
	}
	if me <= 0 || n == 0 || me*slowFactor >= sum/float64(n) {
		return false
	}
	l.conns[conn].hist, l.conns[conn].histFor = 0, 0
	l.conns[conn].recycled = true
	return true
}

// slowFactor: a connection below 1/slowFactor of the others' mean rate is
// much slower than them.
const slowFactor = 4
