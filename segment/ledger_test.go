package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// acquire asks led for work for conn at now and fails unless a lease comes.
func acquire(t *testing.T, led *Ledger, conn int, now time.Time) Grant {
	t.Helper()
	g := led.Acquire(context.Background(), conn, now)
	if g.Lease == nil {
		t.Fatalf("conn %d at %v: no lease (wake %v)", conn, now, g.Wake)
	}
	return g
}

// ledgerOf returns a ledger of size bytes planned in 4 MiB ranges for
// workers connections.
func ledgerOf(size int64, workers int) *Ledger {
	led := NewLedger(size, Split(size, 4<<20), Policy{})
	led.setWorkers(workers)
	return led
}

// viewOf is the policy's view of connection conn at now.
func viewOf(led *Ledger, conn int, now time.Time) View {
	led.mu.Lock()
	defer led.mu.Unlock()
	v, _, _ := led.viewLocked(conn, now)
	return v
}

// TestLeaseWritesOnlyItsBytes: a lease writes up to its piece's end and no
// further, whatever its response brings, and a split cuts it short.
func TestLeaseWritesOnlyItsBytes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	led := NewLedger(100, Split(100, 100), Policy{MinPiece: 1})
	led.setWorkers(1)
	g := acquire(t, led, 0, now)
	dst := &simDst{}
	n, more, err := g.Lease.Write(dst, make([]byte, 60))
	if n != 60 || !more || err != nil {
		t.Fatalf("Write(60) = %d, %v, %v; want 60, true, nil", n, more, err)
	}
	n, more, err = g.Lease.Write(dst, make([]byte, 60))
	if n != 40 || more || err != nil {
		t.Fatalf("Write(60) at 60 = %d, %v, %v; want 40, false, nil", n, more, err)
	}
	if got := led.Done(); got != 100 {
		t.Fatalf("Done() = %d, want 100", got)
	}
	if err := checkSim(led, dst, 100); err != nil {
		t.Fatal(err)
	}
}

// TestLedgerFinished: Finished closes when the last byte is written, not
// at a change before it (a range taken, a piece completed), and at once
// for a ledger with nothing left (a finished journal, an empty file).
func TestLedgerFinished(t *testing.T) {
	t.Parallel()
	closed := func(led *Ledger) bool {
		select {
		case <-led.Finished():
			return true
		default:
			return false
		}
	}
	now := time.Unix(1e9, 0)
	led := NewLedger(100, Split(100, 50), Policy{MinPiece: 1})
	led.setWorkers(2)
	a, b := acquire(t, led, 0, now), acquire(t, led, 1, now)
	dst := &simDst{}
	if _, _, err := a.Lease.Write(dst, make([]byte, 50)); err != nil {
		t.Fatal(err)
	}
	a.Lease.Release(nil, now, nil)
	if closed(led) {
		t.Fatal("Finished closed with half the file written")
	}
	if _, _, err := b.Lease.Write(dst, make([]byte, 50)); err != nil {
		t.Fatal(err)
	}
	if !closed(led) {
		t.Fatal("Finished not closed with every byte written")
	}
	b.Lease.Release(nil, now, nil) // after the end: no second close
	if !closed(NewLedger(0, nil, Policy{})) || !closed(NewLedger(10, []Range{{Start: 0, End: 10, Done: 10}}, Policy{})) {
		t.Fatal("Finished not closed for a ledger with nothing to fetch")
	}
}

// TestTakeoverCancelsHolder: taking the whole rest of a stalled holder's
// range cancels the holder's request at once; its late bytes are not
// written, and the bytes count once.
func TestTakeoverCancelsHolder(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	const size = 20 << 10 // too short to share: conn 0 takes it all
	led := NewLedger(size, Split(size, size), Policy{})
	led.setWorkers(2)
	holder := acquire(t, led, 0, now)
	holder.Lease.Headers(now, now, now.Add(time.Millisecond))
	// Nothing else to do: conn 1 waits while nothing is measured.
	if g := led.Acquire(context.Background(), 1, now.Add(2*time.Millisecond)); g.Lease != nil || g.Wake.IsZero() {
		t.Fatalf("conn 1 got %+v, want a wait", g)
	}
	// Past the stall grace with no byte: conn 1 takes it all.
	later := now.Add(stallGrace(0) + 10*time.Millisecond)
	thief := acquire(t, led, 1, later)
	if thief.Lease.From() != 0 || thief.Lease.End() != size {
		t.Fatalf("thief leased [%d,%d), want the whole range", thief.Lease.From(), thief.Lease.End())
	}
	if !errors.Is(context.Cause(holder.Ctx), ErrLost) {
		t.Fatalf("holder's context: %v, want cancelled with ErrLost", context.Cause(holder.Ctx))
	}
	dst := &simDst{}
	if n, more, _ := holder.Lease.Write(dst, make([]byte, 100)); n != 0 || more {
		t.Fatalf("lost holder wrote %d bytes (more %v)", n, more)
	}
	holder.Lease.Release(context.Canceled, later, nil)
	if _, more, err := thief.Lease.Write(dst, make([]byte, size)); more || err != nil {
		t.Fatalf("thief: more %v, err %v", more, err)
	}
	thief.Lease.Release(nil, later, nil)
	if err := checkSim(led, dst, size); err != nil {
		t.Fatal(err)
	}
	if g := led.Acquire(context.Background(), 0, later); g.Lease != nil || !g.Wake.IsZero() {
		t.Fatalf("after the end: %+v, want done", g)
	}
}

// TestSplitLeavesQueuedBytes: the bytes of a holder's answer that reached
// this host (waiting in its receive queue, which the views do not count)
// stay the holder's when an idle connection takes its range: the cut falls
// after them, and the holder goes on; when all that is left has arrived,
// there is nothing to take and the idle connection waits.
func TestSplitLeavesQueuedBytes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	const size = 20 << 10 // too short to share: conn 0 takes it all
	for _, tc := range []struct {
		name   string
		queued int64
		from   int64 // where the idle connection's range begins; 0: none
	}{
		{"some queued", 8 << 10, 8 << 10},
		{"all queued", size, 0},
	} {
		led := NewLedger(size, Split(size, size), Policy{})
		led.setWorkers(2)
		holder := acquire(t, led, 0, now)
		holder.Lease.Headers(now, now, now.Add(time.Millisecond))
		holder.Lease.SetQueued(func() int64 { return tc.queued })
		// Past the stall grace with no byte read: without the queue, a
		// takeover of the whole range.
		later := now.Add(stallGrace(0) + 10*time.Millisecond)
		g := led.Acquire(context.Background(), 1, later)
		got := "a wait"
		if g.Lease != nil {
			got = fmt.Sprintf("[%d,%d)", g.Lease.From(), g.Lease.End())
		} else if g.Wake.IsZero() {
			got = "done"
		}
		want := "a wait"
		if tc.from > 0 {
			want = fmt.Sprintf("[%d,%d)", tc.from, size)
		}
		if got != want {
			t.Errorf("%s: conn 1 got %s, want %s", tc.name, got, want)
		}
		if err := context.Cause(holder.Ctx); err != nil {
			t.Errorf("%s: the holder was cancelled: %v", tc.name, err)
		}
	}
}

// TestHedgeRace: a hedge and its holder race; bytes one of them wrote are
// skipped by the other, the first to finish wins and the other is
// cancelled, and every byte counts once.
func TestHedgeRace(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	led := NewLedger(1000, Split(1000, 1000), Policy{})
	led.setWorkers(2)
	a := acquire(t, led, 0, now)
	dst := &simDst{}
	a.Lease.Write(dst, make([]byte, 300))
	led.mu.Lock()
	b := led.hedgeLocked(led.head, 1)
	_, cancel := context.WithCancelCause(context.Background())
	b.cancel = cancel
	led.mu.Unlock()
	if b.From() != 300 {
		t.Fatalf("hedge starts at %d, want 300 (the holder's last written byte)", b.From())
	}
	// The hedge runs ahead: 300..900.
	if n, more, _ := b.Write(dst, make([]byte, 600)); n != 600 || !more {
		t.Fatalf("hedge Write = %d, %v", n, more)
	}
	// The holder's next 400 bytes (300..700) were written by the hedge.
	if n, more, _ := a.Lease.Write(dst, make([]byte, 400)); n != 400 || !more {
		t.Fatalf("holder Write = %d, %v", n, more)
	}
	if got := led.Done(); got != 900 {
		t.Fatalf("Done() = %d, want 900: bytes counted twice?", got)
	}
	// The hedge finishes first: the holder is cancelled.
	if _, more, _ := b.Write(dst, make([]byte, 100)); more {
		t.Fatal("hedge: more after the end")
	}
	if !errors.Is(context.Cause(a.Ctx), ErrLost) {
		t.Fatalf("holder's context: %v, want ErrLost", context.Cause(a.Ctx))
	}
	if err := checkSim(led, dst, 1000); err != nil {
		t.Fatal(err)
	}
	if n, _ := led.Hedges(); n != 1 {
		t.Fatalf("Hedges() = %d, want 1", n)
	}
}

// TestFailureHoldsRangeBack: a failed request gives its range back from
// the last written byte, not before the backoff; failures in a row count,
// and a request that moved enough resets the count.
func TestFailureHoldsRangeBack(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	led := NewLedger(1<<20, Split(1<<20, 1<<20), Policy{})
	led.setWorkers(1)
	dst := &simDst{}
	g := acquire(t, led, 0, now)
	g.Lease.Write(dst, make([]byte, 1000))
	delay := func(n int) time.Duration { return time.Duration(n) * time.Second }
	if n := g.Lease.Release(io.ErrUnexpectedEOF, now, delay); n != 1 {
		t.Fatalf("failures = %d, want 1", n)
	}
	if g := led.Acquire(context.Background(), 0, now); g.Lease != nil || g.Wake.After(now.Add(time.Second)) {
		t.Fatalf("during the backoff: %+v, want a wait until %v at the latest", g, now.Add(time.Second))
	}
	g = acquire(t, led, 0, now.Add(time.Second))
	if g.Lease.From() != 1000 {
		t.Fatalf("retry starts at %d, want 1000", g.Lease.From())
	}
	if n := g.Lease.Release(io.ErrUnexpectedEOF, now.Add(time.Second), delay); n != 2 {
		t.Fatalf("failures = %d, want 2 (in a row)", n)
	}
	g = acquire(t, led, 0, now.Add(3*time.Second))
	g.Lease.Arrived(workingProgress)
	g.Lease.Write(dst, make([]byte, workingProgress))
	if n := g.Lease.Release(io.ErrUnexpectedEOF, now.Add(3*time.Second), delay); n != 1 {
		t.Fatalf("failures = %d after a working request, want 1", n)
	}
}

// TestPolicyDecide: the policy's choices for views at the edges.
func TestPolicyDecide(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		v    View
		want ActionKind
		len  int64 // for ActTake, 0: not checked
		at   int64 // for ActSplit
	}{
		{"done", View{Complete: true}, ActDone, 0, 0},
		{"first range, nothing known", View{Workers: 8, Rate: -1,
			Pending: &PendingView{0, 4 << 20, 0}, PendingBytes: 64 << 20}, ActTake, 4 << 20, 0},
		{"more connections than ranges", View{Workers: 64, Rate: -1,
			Pending: &PendingView{0, 1 << 20, 0}, PendingBytes: 1 << 20}, ActTake, 16 << 10, 0},
		{"taper near the end", View{Workers: 8, Rate: 25e6, TotalRate: 200e6, Latency: ms,
			Pending: &PendingView{0, 4 << 20, 0}, PendingBytes: 16 << 20, InFlight: 30 << 20}, ActTake, 1 << 20, 0},
		{"end game: an equal share", View{Workers: 4, Rate: 1e9, TotalRate: 4e9, Latency: 10 * ms, MinLatency: 10 * ms,
			Pending: &PendingView{0, 32 << 20, 0}, PendingBytes: 400 << 20}, ActTake, 100 << 20, 0},
		// Deciding ahead (AcquireAhead), with 30 MiB of its answer still
		// to come: it is free only after those.
		{"end game, deciding ahead", View{Workers: 4, Rate: 1e9, TotalRate: 4e9, Latency: 10 * ms, MinLatency: 10 * ms, Busy: 30 << 20,
			Pending: &PendingView{0, 32 << 20, 0}, PendingBytes: 370 << 20, InFlight: 30 << 20}, ActTake, 70 << 20, 0},
		{"end game, deciding ahead with its share still to come", View{Workers: 4, Rate: 1e9, TotalRate: 4e9, Latency: 10 * ms, MinLatency: 10 * ms, Busy: 120 << 20,
			Pending: &PendingView{0, 32 << 20, 0}, PendingBytes: 280 << 20, InFlight: 120 << 20}, ActWait, 0, 0},
		// Nothing measured yet, deciding ahead with 100 KiB still to come
		// of an equal share of 101 KiB: nothing (the connections free
		// first take the rest).
		{"nothing known, deciding ahead", View{Workers: 126, Rate: -1, Busy: 100 << 10,
			Pending: &PendingView{0, 132 << 10, 0}, PendingBytes: 700 << 10, InFlight: 12 << 20}, ActWait, 0, 0},
		{"nothing known, deciding ahead early", View{Workers: 8, Rate: -1, Busy: 1 << 20,
			Pending: &PendingView{0, 4 << 20, 0}, PendingBytes: 40 << 20, InFlight: 24 << 20}, ActTake, 4 << 20, 0},
		// -c auto's search may still reach 16: the shares are theirs.
		{"end game, more connections to come", View{Workers: 4, GrowTo: 16, Rate: 1e9, TotalRate: 4e9, Latency: 2 * ms, MinLatency: 2 * ms,
			Pending: &PendingView{0, 32 << 20, 0}, PendingBytes: 400 << 20}, ActTake, 25 << 20, 0},
		// ... but not below 4 latencies' worth (a 64th of 192 MiB is 3 MiB).
		{"end game, more connections to come, far away", View{Workers: 16, GrowTo: 64, Rate: 35e6, TotalRate: 560e6, Latency: 30 * ms, MinLatency: 30 * ms,
			Pending: &PendingView{0, 4 << 20, 0}, PendingBytes: 192 << 20}, ActTake, 4.2e6, 0},
		{"split the slow holder", View{Workers: 2, Rate: 1e6, TotalRate: 2e6, Latency: ms, Now: now,
			Active: []ActiveView{{Start: 0, End: 10 << 20, Claimed: 0, Pos: 0, Leases: 1, Rate: 1e6, Age: time.Second}}},
			ActSplit, 0, 5<<20 + 500},
		{"a crumb is not split", View{Workers: 2, Rate: 1e6, TotalRate: 2e6, Latency: ms, Now: now, HedgeBudget: 0,
			Active: []ActiveView{{Start: 0, End: 10, Claimed: 0, Pos: 0, Leases: 1, Rate: 1e6, Age: time.Second}}},
			ActWait, 0, 0},
		{"hedge a stalled crumb", View{Workers: 2, Rate: 1e6, TotalRate: 1e6, Latency: ms, Now: now, HedgeBudget: 64 << 10,
			Active: []ActiveView{{Start: 0, End: 8 << 10, Claimed: 0, Pos: 0, Leases: 1, Rate: 100, Age: time.Second}}},
			ActHedge, 0, 0},
		{"wait for a rate", View{Workers: 2, Rate: -1, Latency: ms, Now: now,
			Active: []ActiveView{{Start: 0, End: 10 << 20, Leases: 1, Rate: -1, Age: ms}}}, ActWait, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Policy{}.Decide(&tc.v)
			if a.Kind != tc.want {
				t.Fatalf("Decide(%+v) = %+v, want kind %d", tc.v, a, tc.want)
			}
			if tc.want == ActTake && tc.len != 0 && a.Len != tc.len {
				t.Fatalf("Decide: take %d bytes, want %d", a.Len, tc.len)
			}
			if tc.want == ActSplit && (a.At < tc.at-tc.at/100 || a.At > tc.at+tc.at/100) {
				t.Fatalf("Decide: split at %d, want about %d", a.At, tc.at)
			}
			if tc.want == ActWait && !a.Wake.After(tc.v.Now) {
				t.Fatalf("Decide: wait until %v, not after now %v", a.Wake, tc.v.Now)
			}
		})
	}
}

// TestPolicyPlanned: connections fewer than the ranges were planned for
// (-c auto settled at 8 of 16) take two planned ranges per request, once
// their rates are known; not with a --segment-size (NoJoin), nor at the
// planned count; and the hash lead's bound moves by what they take.
func TestPolicyPlanned(t *testing.T) {
	t.Parallel()
	us := time.Microsecond
	view := func(workers int) View {
		return View{Workers: workers, Rate: 100e6, TotalRate: float64(workers) * 100e6, Latency: 100 * us, MinLatency: 100 * us,
			Pending: &PendingView{0, 4 << 20, 0}, PendingBytes: 1 << 30}
	}
	for _, tc := range []struct {
		name    string
		p       Policy
		workers int
		want    int64
	}{
		{"8 of 16", Policy{Planned: 16}, 8, 8 << 20},
		{"4 of 16", Policy{Planned: 16}, 4, 16 << 20},
		{"16 of 16", Policy{Planned: 16}, 16, 4 << 20},
		{"64 of 16", Policy{Planned: 16}, 64, 4 << 20},
		{"not planned", Policy{}, 8, 4 << 20},
		{"--segment-size", Policy{Planned: 16, NoJoin: true}, 8, 4 << 20},
	} {
		v := view(tc.workers)
		if a := tc.p.Decide(&v); a.Kind != ActTake || a.Len != tc.want {
			t.Errorf("%s: %+v, want to take %d", tc.name, a, tc.want)
		}
	}
	// The bound: 14 MiB past the hash, in steps of 4 MiB planned for 16
	// connections: 12 MiB; with 8 fetching, steps of 8 MiB: 8 MiB.
	for _, tc := range []struct {
		workers int
		want    int64
	}{{16, 12 << 20}, {8, 8 << 20}} {
		led := NewLedger(1<<30, Split(1<<30, 4<<20), Policy{Planned: 16})
		led.setWorkers(tc.workers)
		led.SetWindow(Window{Consumed: func() int64 { return 0 }, Size: 14 << 20, Step: 4 << 20})
		led.mu.Lock()
		v, _, _ := led.viewLocked(0, time.Unix(1e9, 0))
		led.mu.Unlock()
		if v.Limit != tc.want {
			t.Errorf("%d connections: bound at %d, want %d", tc.workers, v.Limit, tc.want)
		}
	}
}

// TestAcquireAhead: a connection with a request in flight may take its
// next range ahead, once, and no idle connection may; the lease taken
// ahead becomes the one in flight when the first is released, and its
// response, which waited behind the first, is no measure of the latency.
func TestAcquireAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Unix(1e9, 0)
	ms := time.Millisecond
	led := ledgerOf(64<<20, 2)
	a := acquire(t, led, 0, t0).Lease
	if g := led.AcquireAhead(ctx, 1, t0); g.Lease != nil {
		t.Fatalf("an idle connection took [%d,%d) ahead", g.Lease.From(), g.Lease.End())
	}
	a.Headers(t0, t0, t0.Add(30*ms))
	b := led.AcquireAhead(ctx, 0, t0.Add(40*ms)).Lease
	if b == nil || b.From() != a.End() {
		t.Fatalf("ahead: %v, want the range after [%d,%d)", b, a.From(), a.End())
	}
	if g := led.AcquireAhead(ctx, 0, t0.Add(41*ms)); g.Lease != nil {
		t.Fatal("a second range taken ahead")
	}
	c := &led.conns[0]
	if c.cur != a || c.next != b {
		t.Fatalf("in flight %p, ahead %p; want %p, %p", c.cur, c.next, a, b)
	}
	a.Arrived(4 << 20)
	a.Release(nil, t0.Add(150*ms), nil)
	if c.cur != b || c.next != nil || c.hist <= 0 {
		t.Fatalf("after the first: in flight %p (want %p), ahead %p, history %.0f B/s", c.cur, b, c.next, c.hist)
	}
	// Its headers come right after the first answer's end, 110 ms after
	// it was sent: neither the latency nor the least one moves.
	b.Headers(t0.Add(40*ms), t0.Add(40*ms), t0.Add(151*ms))
	if led.latency != 30*ms || led.minLatency != 30*ms {
		t.Fatalf("latency %v, least %v; want 30ms both", led.latency, led.minLatency)
	}
	// A lease taken ahead and given up first leaves the one in flight.
	d := led.AcquireAhead(ctx, 0, t0.Add(160*ms)).Lease
	if d == nil {
		t.Fatal("no range ahead of the second")
	}
	d.Release(context.Canceled, t0.Add(161*ms), nil)
	if c.cur != b || c.next != nil {
		t.Fatalf("after giving up the one ahead: in flight %p (want %p), ahead %p", c.cur, b, c.next)
	}
	b.Release(nil, t0.Add(300*ms), nil)
	if c.cur != nil {
		t.Fatal("a connection with nothing in flight has a current request")
	}
}

// TestViewRateInFlight: a connection deciding with a request in flight (a
// range sent ahead) is judged by that request's rate, not by the history
// of the ones before it. The probe's answer, read from the socket's buffer
// in a few milliseconds, left its connection a history of gigabytes a
// second; 30 ms away, deciding ahead of its second request's end at that
// rate, it took 13-17 MiB of the end game where the others took 2-4 and
// ended 0.15-0.3 s after them.
func TestViewRateInFlight(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1e9, 0)
	ms := time.Millisecond
	led := ledgerOf(256<<20, 2)
	a := acquire(t, led, 0, t0).Lease
	a.Headers(t0, t0, t0.Add(1*ms))
	a.Arrived(4 << 20)
	a.Release(nil, t0.Add(3*ms), nil) // 4 MiB in 2 ms: a burst
	if h := led.conns[0].hist; h < 1e9 {
		t.Fatalf("history %.0f B/s after the burst, want over 1 GB/s", h)
	}
	t1 := t0.Add(3 * ms)
	b := acquire(t, led, 0, t1).Lease
	b.Headers(t1, t1, t1.Add(30*ms))
	b.Arrived(8 << 20) // 8 MiB in 400 ms: 21 MB/s
	now := t1.Add(430 * ms)
	v := viewOf(led, 0, now)
	if v.Rate <= 0 || v.Rate > 2*21e6 {
		t.Fatalf("deciding with 8 MiB in 400 ms in flight: rate %.0f B/s, want about 21 MB/s", v.Rate)
	}
	// Idle again, its history is the last request's.
	b.Release(nil, now, nil)
	v = viewOf(led, 0, now)
	if v.Rate <= 0 || v.Rate > 2*21e6 {
		t.Fatalf("idle after it: rate %.0f B/s, want about 21 MB/s", v.Rate)
	}
}

// TestKeptAnswerNoRate: the probe's answer, short and read at memory speed
// from the socket's buffer, sets no history: the first views see nothing
// measured (equal shares), not a link of gigabytes a second. A long one, or
// any later request, is measured as usual.
func TestKeptAnswerNoRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Unix(1e9, 0)
	ms := time.Millisecond
	led := ledgerOf(256<<20, 16)
	a := led.AcquireFirst(ctx, 0, 256<<10, t0).Lease
	if a == nil {
		t.Fatal("no lease for the probe's answer")
	}
	a.Headers(t0.Add(-30*ms), t0.Add(-30*ms), t0)
	a.Arrived(256 << 10)
	a.Release(nil, t0.Add(2*ms), nil) // 256 KiB in 2 ms
	if h := led.conns[0].hist; h != 0 {
		t.Fatalf("history %.0f B/s from the probe's short answer, want none", h)
	}
	v := viewOf(led, 1, t0.Add(3*ms))
	if v.Rate > 0 || v.TotalRate > 0 {
		t.Fatalf("after the probe's answer: rate %.0f, total %.0f B/s; want nothing measured", v.Rate, v.TotalRate)
	}
	// The connection's next request is measured.
	t1 := t0.Add(3 * ms)
	b := acquire(t, led, 0, t1).Lease
	b.Headers(t1, t1, t1.Add(30*ms))
	b.Arrived(4 << 20)
	b.Release(nil, t1.Add(230*ms), nil) // 4 MiB in 200 ms
	if h := led.conns[0].hist; h < 15e6 || h > 30e6 {
		t.Fatalf("history %.0f B/s after 4 MiB in 200 ms, want about 21 MB/s", h)
	}
	// A long answer is a measure too.
	led2 := ledgerOf(256<<20, 16)
	c := led2.AcquireFirst(ctx, 0, 4<<20, t0).Lease
	c.Headers(t0.Add(-30*ms), t0.Add(-30*ms), t0)
	c.Arrived(4 << 20)
	c.Release(nil, t0.Add(200*ms), nil)
	if h := led2.conns[0].hist; h < 15e6 || h > 30e6 {
		t.Fatalf("history %.0f B/s after a 4 MiB answer in 200 ms, want about 21 MB/s", h)
	}
}

// TestPolicyUntimedConsumer: in the end game, a hash not yet timed is taken
// at half its speed alone (ConsumePeak), and the first deciders keep a rest
// for later rounds instead of a 16th of everything each (1 GiB 30 ms away:
// 61 MiB each, and 0.7-1.4 s of hashing after the last byte). With nothing
// known of it, one round, as before.
func TestPolicyUntimedConsumer(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	view := func(peak float64) View {
		return View{Workers: 16, Rate: 34e6, TotalRate: 550e6, Latency: 40 * ms, MinLatency: 40 * ms,
			Pending: &PendingView{64 << 20, 68 << 20, 64 << 20}, PendingBytes: 960 << 20, InFlight: 100 << 20,
			Limit: 1 << 30, ConsumePeak: peak}
	}
	p := Policy{}.withDefaults()
	oneRound := view(0)
	share := p.taper(&oneRound)
	if want := int64(1060<<20) * 34 / 550; share < want*99/100 || share > want*101/100 {
		t.Fatalf("untimed, unknown: a share of %d, want about %d (a 16th of what is left)", share, want)
	}
	untimed := view(1.4e9)
	if keep := p.lastRound(&untimed, float64(1060<<20)); keep <= 0 {
		t.Fatalf("untimed, 1.4 GB/s alone: lastRound keeps %v, want a rest for later rounds", keep)
	}
	if got := p.taper(&untimed); got >= share/2 {
		t.Fatalf("untimed, 1.4 GB/s alone: a share of %d, want under half of %d", got, share)
	}
}

// TestPolicyAloneNoConsumerCap: a connection alone joins ranges for its
// latency even where the hash, caught up with it, is between one and two
// times its rate: the consumer cap (a range near a slower hash holds no
// more than arrives before the hash catches up) would cut every request to
// one planned range, each costing a latency, with no other connection to
// fetch meanwhile. With two connections the cap holds.
func TestPolicyAloneNoConsumerCap(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	view := func(workers int) View {
		return View{Workers: workers, Rate: 1.3e9, TotalRate: 1.3e9 * float64(workers), Latency: 13 * ms, MinLatency: 13 * ms,
			Pending: &PendingView{1 << 20, 2 << 20, 1 << 20}, PendingBytes: 4 << 30,
			Limit: 1 << 30, ConsumePeak: 3.5e9, Consumed: 1 << 20}
	}
	p := Policy{}.withDefaults()
	alone := view(1)
	if n := p.taper(&alone); n <= 1<<20 {
		t.Fatalf("alone, the hash caught up at half of 3.5 GB/s: takes %d, want more than its planned range of 1 MiB", n)
	}
	two := view(2)
	if n := p.taper(&two); n > 1<<20 {
		t.Fatalf("two connections, the hash caught up: takes %d, want at most the planned 1 MiB (the consumer cap)", n)
	}
}
