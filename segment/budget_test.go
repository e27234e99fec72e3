package segment_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"rget/origin"
	"rget/segment"
)

func TestBudgetHandsSlotToHighestGain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := segment.NewBudget(1)
	if ok, err := b.Acquire(ctx, nil, nil); !ok || err != nil {
		t.Fatalf("Acquire on a free budget = %v, %v", ok, err)
	}
	got := make(chan string, 2)
	for _, w := range []struct {
		name string
		gain float64
	}{{"low", 1}, {"high", 5}} {
		go func() {
			if ok, err := b.Acquire(ctx, nil, func() float64 { return w.gain }); ok && err == nil {
				got <- w.name
				b.Release()
			}
		}()
	}
	waitFor(t, func() bool { return b.InFlight() == 1 && waiters(b) == 2 })
	b.Release()
	if first, second := <-got, <-got; first != "high" || second != "low" {
		t.Errorf("slots went to %s then %s, want high then low", first, second)
	}
	if n := b.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after every release, want 0", n)
	}
}

func TestBudgetWakeAndCancel(t *testing.T) {
	t.Parallel()
	b := segment.NewBudget(1)
	b.Acquire(context.Background(), nil, nil)
	wake := make(chan struct{})
	close(wake)
	if ok, err := b.Acquire(context.Background(), wake, func() float64 { return 1 }); ok || err != nil {
		t.Errorf("Acquire with wake closed = %v, %v; want false, nil", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := b.Acquire(ctx, nil, func() float64 { return 1 }); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with ctx done = %v, %v; want false, Canceled", ok, err)
	}
	b.Release()
	if n := b.InFlight(); n != 0 {
		t.Errorf("InFlight = %d, want 0 (no slot leaked by the waiters that gave up)", n)
	}
}

// waiters is how many wait for a slot.
func waiters(b *segment.Budget) int { return segment.BudgetWaiters(b) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Two fetches sharing a budget of 3 never have more than 3 requests in
// flight at the origins, and both complete. The origins hold every request
// until both fetches have requests in flight: the second fetch (8
// connections) gets the 2 slots the first (1 connection) leaves, so the
// budget is shared, not taken by turns. (An origin's requests are in flight
// only while it writes, and a paced connection takes a range's bytes into
// its socket buffer at once: unheld, the fetches showed 1 request in flight
// at a time under the whole suite.)
func TestBudgetBoundsRequestsAcrossFetches(t *testing.T) {
	t.Parallel()
	var gauge origin.Gauge
	b := segment.NewBudget(3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: 8})
	defer client.CloseIdleConnections()
	done := make(chan error, 2)
	start := func(i, conns int, hold <-chan struct{}) *origin.Origin {
		content := origin.Content{Size: 3<<20 + int64(i), Seed: uint64(i) + 7}
		// The probe asks another origin of the same content, unheld.
		o := origin.New(content, origin.WithGauge(&gauge), origin.WithHold(hold))
		r := serveProbed(ctx, t, client, o, origin.WithRatePerConn(4<<20))
		go func() {
			res, err := fetchRemote(ctx, t, client, r, conns, 256<<10, segment.Options{Budget: b})
			if err == nil && res.sum != content.SHA256() {
				err = errors.New("wrong bytes")
			}
			done <- err
		}()
		return o
	}
	hold := make(chan struct{})
	first := start(0, 1, hold)
	waitFor(t, func() bool { return first.Requests() >= 1 })
	second := start(1, 8, hold)
	waitFor(t, func() bool { return second.Requests() >= 2 && gauge.Current() >= 3 })
	close(hold)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if p := gauge.Max(); p > 3 {
		t.Errorf("peak requests in flight %d, want at most 3", p)
	}
}
