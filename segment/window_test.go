package segment_test

import (
	"context"
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
