package segment_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"rget/segment"
)

// A ledger with a limit hands out nothing at or past it, and more once it
// grows (a stream's reorder window).
func TestLedgerLimit(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	led := segment.NewLedger(16*mib, segment.Split(16*mib, mib), segment.Policy{})
	var limit atomic.Int64
	limit.Store(2*mib + 100)
	led.SetLimit(limit.Load)
	ctx := context.Background()
	now := time.Unix(1000, 0)
	var leases []*segment.Lease
	for conn := range 4 {
		g := led.Acquire(ctx, conn, now)
		if g.Lease == nil {
			continue
		}
		if g.Lease.End() > limit.Load() {
			t.Fatalf("conn %d leased [%d,%d), past the limit %d", conn, g.Lease.From(), g.Lease.End(), limit.Load())
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
	limit.Store(8 * mib)
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
