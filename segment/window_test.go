package segment_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"rget/segment"
)

// A ledger with a window hands out nothing at or past its end, and more
// once the consumer moves (a stream's reorder window).
func TestLedgerLimit(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	const size = 2*mib + 100
	led := segment.NewLedger(16*mib, segment.Split(16*mib, mib), segment.Policy{})
	var consumed atomic.Int64
	led.SetWindow(segment.Window{Consumed: consumed.Load, Size: size})
	limit := func() int64 { return consumed.Load() + size }
	ctx := context.Background()
	now := time.Unix(1000, 0)
	var leases []*segment.Lease
	for conn := range 4 {
		g := led.Acquire(ctx, conn, now)
		if g.Lease == nil {
			continue
		}
		if g.Lease.End() > limit() {
			t.Fatalf("conn %d leased [%d,%d), past the limit %d", conn, g.Lease.From(), g.Lease.End(), limit())
		}
		leases = append(leases, g.Lease)
	}
	if len(leases) == 0 {
		t.Fatal("nothing handed out below the limit")
	}
	if g := led.Acquire(ctx, 5, now); g.Lease != nil {
		t.Fatalf("window full, yet conn 5 leased [%d,%d)", g.Lease.From(), g.Lease.End())
	}
	changed := led.Changed()
	consumed.Store(8*mib - size)
	led.Poke()
	select {
	case <-changed:
	default:
		t.Fatal("Poke did not signal a change")
	}
	g := led.Acquire(ctx, 5, now)
	if g.Lease == nil || g.Lease.From() < 2*mib || g.Lease.End() > 8*mib {
		t.Fatalf("after the limit grew to 8 MiB, conn 5 got %+v", g.Lease)
	}
}

// With the window full, idle connections split or hedge the range at the
// front only when the consumer waits for it; when the consumer is behind
// (a hash or a reader slower than the fetch), more requests would not help
// it, and they wait.
func TestPolicyWindowFullStealsOnlyForAStarvedConsumer(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	v := segment.View{
		Now: time.Unix(1000, 0), Workers: 2, Latency: time.Millisecond, MinLatency: time.Millisecond,
		Rate: 50 * mib, TotalRate: 60 * mib, PendingBytes: 56 * mib, HedgeBudget: 2 * mib,
		Pending: &segment.PendingView{Start: 8 * mib, End: 64 * mib, Claimed: 8 * mib},
		// The front range crawls; the one behind it is nearly done.
		Active: []segment.ActiveView{
			{Start: 0, End: 4 * mib, Claimed: mib, Pos: mib, Leases: 1, Rate: 1 * mib},
			{Start: 4 * mib, End: 8 * mib, Claimed: 7 * mib, Pos: 7 * mib, Leases: 1, Rate: 50 * mib},
		},
		InFlight: 4 * mib, Limit: 8 * mib,
	}
	v.Starved = true
	a := segment.Policy{}.Decide(&v)
	if a.Kind != segment.ActSplit && a.Kind != segment.ActHedge || a.Index != 0 {
		t.Errorf("window full, consumer waiting: %+v, want the front range split or hedged", a)
	}
	v.Starved = false
	if a := (segment.Policy{}).Decide(&v); a.Kind != segment.ActWait {
		t.Errorf("window full, consumer behind: %+v, want a wait", a)
	}
}

// An elastic window (a file's, on disk) grows with the ranges being
// fetched: connections added to a download (-c auto) each get one, where a
// fixed window of the same size (a stream's, in memory) holds them back.
func TestElasticWindowGrowsWithActiveRanges(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, elastic := range []bool{false, true} {
		led := segment.NewLedger(64*mib, segment.Split(64*mib, mib), segment.Policy{})
		led.SetWindow(segment.Window{Consumed: func() int64 { return 0 }, Size: 2 * mib, Step: mib, Elastic: elastic})
		got := 0
		for conn := range 6 {
			if g := led.Acquire(context.Background(), conn, time.Unix(1000, 0)); g.Lease != nil {
				got++
			}
		}
		if want := map[bool]int{false: 2, true: 6}[elastic]; got != want {
			t.Errorf("elastic %v: %d of 6 connections got a range, want %d", elastic, got, want)
		}
	}
}

// A file's (soft) window is passed, when the front lags and nothing can be
// split or hedged, by one more window at most: the fetch never runs
// further ahead of the hash than that, whatever holds the front back.
func TestPolicySoftWindowHasAHardLimit(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	view := func(claimed int64) segment.View {
		return segment.View{
			Now: time.Unix(1000, 0), Workers: 2, Latency: time.Millisecond, MinLatency: time.Millisecond,
			Rate: 50 * mib, TotalRate: 51 * mib, PendingBytes: 64*mib - claimed,
			Pending: &segment.PendingView{Start: claimed, End: 64 * mib, Claimed: claimed},
			// The front crawls and is too short to split or hedge.
			Active: []segment.ActiveView{
				{Start: 0, End: 4 * mib, Claimed: 4*mib - 8<<10, Pos: 4*mib - 8<<10, Leases: 1, Rate: 0.01 * mib},
			},
			Limit: 8 * mib, Starved: true, SoftLimit: true, HardLimit: 16 * mib,
		}
	}
	v := view(8 * mib)
	a := segment.Policy{}.Decide(&v)
	if a.Kind != segment.ActTake || a.Len <= 0 || 8*mib+a.Len > 16*mib {
		t.Errorf("window full, front lagging: %+v, want a range within the hard limit", a)
	}
	v = view(16 * mib)
	if a := (segment.Policy{}).Decide(&v); a.Kind != segment.ActWait {
		t.Errorf("at the hard limit: %+v, want a wait", a)
	}
}

// Connections held back by a window's bound wait for the consumer, not for
// the ranges that complete, and wake one at a time: the first in line once
// the consumer moves the bound, and the next only when the one before
// found something to fetch.
func TestWindowWaitersWakeOneAtATime(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	led := segment.NewLedger(64*mib, segment.Split(64*mib, mib), segment.Policy{NoJoin: true})
	var consumed atomic.Int64
	led.SetWindow(segment.Window{Consumed: consumed.Load, Size: 8 * mib, Step: mib})
	ctx := context.Background()
	now := time.Unix(1000, 0)
	var leases []*segment.Lease
	for conn := range 8 {
		g := led.Acquire(ctx, conn, now)
		if g.Lease == nil || g.Lease.End() != int64(conn+1)*mib {
			t.Fatalf("conn %d below the bound of 8 MiB: %+v, want the range [%d, %d) MiB", conn, g, conn, conn+1)
		}
		leases = append(leases, g.Lease)
	}
	complete := func(ls *segment.Lease) {
		t.Helper()
		if _, _, err := ls.Write(discardAt{}, make([]byte, ls.End()-ls.From())); err != nil {
			t.Fatal(err)
		}
		ls.Release(nil, now, nil)
	}
	for _, ls := range leases[:4] {
		complete(ls) // the consumer, at 0, is not waiting on the front
	}
	woken := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	held := make([]segment.Grant, 3) // conns 10, 11, 12, in line
	for i := range held {
		if held[i] = led.Acquire(ctx, 10+i, now); held[i].Lease != nil || held[i].Changed == nil {
			t.Fatalf("conn %d, beyond the bound: %+v, want a wait on it", 10+i, held[i])
		}
	}
	// A range completing does not move the bound.
	complete(leases[4])
	for i, g := range held {
		if woken(g.Changed) {
			t.Fatalf("a completion ahead of the consumer woke conn %d", 10+i)
		}
	}
	// The bound moves once the consumer is a step on.
	consumed.Store(mib - 1)
	led.ConsumerAt(mib - 1)
	if woken(held[0].Changed) {
		t.Fatal("the consumer moved less than a step, and conn 10 was woken")
	}
	consumed.Store(mib)
	led.ConsumerAt(mib)
	if !woken(held[0].Changed) || woken(held[1].Changed) || woken(held[2].Changed) {
		t.Fatal("the bound moved a step: want conn 10 woken, the others not")
	}
	// Conn 10 takes the step the bound moved: conn 11 is woken.
	if g := led.Acquire(ctx, 10, now); g.Lease == nil || g.Lease.End() != 9*mib {
		t.Fatalf("conn 10 after the bound moved to 9 MiB: %+v, want [8, 9) MiB", g)
	}
	if !woken(held[1].Changed) || woken(held[2].Changed) {
		t.Fatal("conn 10 took a range: want conn 11 woken next, and conn 12 not")
	}
	// Conn 11 finds nothing and waits again; conn 12 stays asleep.
	again := led.Acquire(ctx, 11, now)
	if again.Lease != nil || again.Changed == nil || woken(again.Changed) || woken(held[2].Changed) {
		t.Fatalf("conn 11 with the window full again: %+v, conn 12 woken %v", again, woken(held[2].Changed))
	}
	// Bytes given back wake the first in line.
	leases[5].Release(errors.New("connection reset"), now, nil)
	if !woken(held[2].Changed) || woken(again.Changed) {
		t.Fatal("a range given back: want conn 12, first in line, woken, and conn 11 not")
	}
	// Poke wakes every one.
	led.Poke()
	if !woken(again.Changed) {
		t.Fatal("Poke did not wake every connection held back")
	}
}
