package segment

// This file holds Budget, the connections several fetches share (a batch
// of files under one -c): a worker holds one of its slots for each request,
// and a freed slot goes to the fetch that gains most from it.

import (
	"context"
	"math"
	"sync"
)

// Budget is a number of request slots shared by several fetches (and the
// probes before them): no more requests are in flight at once than it has
// slots. The zero value has no slots; make one with NewBudget.
type Budget struct {
	mu      sync.Mutex
	size    int
	free    int
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	gain  func() float64
	ready chan struct{} // closed when the slot is handed over
}

// NewBudget returns a budget of n slots (at least 1).
func NewBudget(n int) *Budget {
	n = max(n, 1)
	return &Budget{size: n, free: n}
}

// Size is the number of slots.
func (b *Budget) Size() int { return b.size }

// InFlight is the number of slots held.
func (b *Budget) InFlight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.free
}

// First is the gain of a waiter that must go before any fetch's extra
// connection: a probe, or the first connection of a fetch that holds none.
const First = math.MaxFloat64

// Acquire takes a slot, waiting for one until ctx is done (its error) or
// wake is closed (false, nil: the caller looks again whether it still needs
// one). When several wait, a freed slot goes to the one whose gain,
// evaluated at that moment, is highest. A true result must be paired with
// Release.
func (b *Budget) Acquire(ctx context.Context, wake <-chan struct{}, gain func() float64) (bool, error) {
	b.mu.Lock()
	if b.free > 0 && len(b.waiters) == 0 {
		b.free--
		b.mu.Unlock()
		return true, nil
	}
	w := &budgetWaiter{gain: gain, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	var err error
	select {
	case <-w.ready:
		return true, nil
	case <-wake:
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, o := range b.waiters {
		if o == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			return false, err
		}
	}
	// The slot was handed over as we gave up: pass it on.
	b.releaseLocked()
	return false, err
}

// Release gives back a slot taken by Acquire.
func (b *Budget) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked()
}

func (b *Budget) releaseLocked() {
	if len(b.waiters) == 0 {
		b.free++
		return
	}
	best, bestGain := 0, math.Inf(-1)
	for i, w := range b.waiters {
		if g := w.gain(); g > bestGain {
			best, bestGain = i, g
		}
	}
	w := b.waiters[best]
	b.waiters = append(b.waiters[:best], b.waiters[best+1:]...)
	close(w.ready)
}
