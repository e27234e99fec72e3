package download

import (
	"context"
	"testing"
	"time"

	"rget/merge"
	"rget/segment"
)

// TestHashLead: the fetch of a file stays within the lead of the hash: no
// range reaches past the hashed offset plus the lead (in whole steps), and
// once the hash moves the bound on, a connection held back by it is woken
// (a connection waiting on the bound is not woken by anything else), and
// gets more.
func TestHashLead(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	const size = 64 * mib
	f := partFile(t, size)
	lead, step := leadFor(2, 4*mib)
	if lead != minLead || step != 4*mib {
		t.Fatalf("leadFor(2, 4 MiB) = %d, %d; want %d, %d", lead, step, minLead, 4*mib)
	}
	lead = 16 * mib // a window of four ranges, for the test
	jb := &job{f: f, cursor: merge.NewCursor(f), lead: lead, leadStep: step,
		plan: segment.NewLedger(size, segment.Split(size, step), segment.Policy{})}
	jb.hashLead()

	ctx := context.Background()
	now := time.Unix(1000, 0)
	var ends []int64
	var held segment.Grant
	for conn := range 8 {
		g := jb.plan.Acquire(ctx, conn, now)
		if g.Lease == nil {
			held = g
			break
		}
		ends = append(ends, g.Lease.End())
		if _, _, err := g.Lease.Write(f, make([]byte, g.Lease.End()-g.Lease.From())); err != nil {
			t.Fatal(err)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] > lead {
		t.Fatalf("with nothing hashed, ranges ended at %v: want some, none past %d", ends, lead)
	}
	if held.Changed == nil || held.Wake.IsZero() {
		t.Fatalf("a connection beyond the bound got %+v, want a wait on the bound", held)
	}
	if err := jb.cursor.Advance(ctx, step-1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Changed:
		t.Fatal("the hash moved less than a step and the connection held back was woken")
	default:
	}
	if err := jb.cursor.Advance(ctx, 2*step); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Changed:
	default:
		t.Fatal("the hash moved the bound by two steps and the connection held back was not woken")
	}
	g := jb.plan.Acquire(ctx, 9, now)
	if g.Lease == nil || g.Lease.End() > 2*step+lead {
		t.Fatalf("after hashing %d bytes got %+v, want a range ending by %d", 2*step, g.Lease, 2*step+lead)
	}
}
