package segment

// This file holds the gate of -c auto: Fetch starts the most connections
// it may use, and the gate lets the first N of them fetch, N as the Scaler
// decides from what the connections move.

import (
	"context"
	"errors"
	"sync"
	"time"
)

// gate lets workers below its count fetch; the others wait.
type gate struct {
	mu      sync.Mutex
	s       *Scaler
	changed chan struct{} // closed when the count changes
	onScale func(n int, reason string)
	led     *Ledger
	told    bool // the search's end was told (onScale, the ledger)
	// shrink is called when the count goes down: the client's idle
	// connections are closed, so that the server sees only those in use
	// (one that limits clients counts idle ones too).
	shrink func()
}

func newGate(s *Scaler, led *Ledger, onScale func(int, string)) *gate {
	return &gate{s: s, changed: make(chan struct{}), onScale: onScale, led: led}
}

// wait blocks worker conn while the count leaves it out; it reports false
// when the fetch is complete (the worker stops).
func (g *gate) wait(ctx context.Context, conn int) (bool, error) {
	for {
		g.mu.Lock()
		n, ch := g.s.N(), g.changed
		g.mu.Unlock()
		if conn < n {
			return true, nil
		}
		done := g.led.Finished()
		if g.led.Done() >= g.led.Size() {
			return false, nil
		}
		select {
		case <-ch:
		case <-done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// admits reports whether connection conn is among those the count lets
// fetch now.
func (g *gate) admits(conn int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return conn < g.s.N()
}

// apply publishes a change of count, and the search's end even where
// the count stays (a CPU found saturated at the first measurement): its
// reason is the verdict's, and the last scale event's; the ledger's
// requests no longer make room for connections to come.
func (g *gate) apply(n int, changed bool) {
	settled := g.s.Settled() && !g.told
	if !changed && !settled {
		return
	}
	if settled {
		g.told = true
		g.led.setGrowTo(0)
	}
	if changed {
		if n < g.led.workersNow() && g.shrink != nil {
			g.shrink()
		}
		close(g.changed)
		g.changed = make(chan struct{})
		g.led.setWorkers(n)
	}
	if g.onScale != nil {
		g.onScale(n, g.s.Reason())
	}
}

// observe feeds the bytes received so far to the scaler.
func (g *gate) observe(now time.Time, received int64) {
	lat := g.led.minLatencyNow()
	g.mu.Lock()
	defer g.mu.Unlock()
	var cpu CPUSample
	ready := true
	if !g.s.Settled() {
		// (Once settled, the scaler only regrows after refusals: no
		// need to read /proc/stat every 10 ms to the end.)
		cpu = SampleCPU()
		// What reached this host, not only what the workers read: on
		// a CPU saturated with TLS the workers read in bursts, and 30
		// ms windows read 942 MB/s from 32 connections capped at 25
		// MB/s each, then 246 MB/s from 64.
		received += g.led.queuedNow(now)
		ready = g.led.started(g.s.N())
	}
	g.apply(g.s.ObserveReady(now, received, lat, cpu, ready))
}

// failed tells the scaler of a failed request: a refusal (429, 503) caps
// the count, a reset or a stall takes one away.
func (g *gate) failed(err error, sent time.Time) {
	var se *StatusError
	var local *LocalError
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case refusal(err):
		g.apply(g.s.Refused(time.Now(), sent))
	case errors.As(err, &se), errors.As(err, &local), errors.Is(err, ErrLost):
	default:
		g.apply(g.s.Failed(time.Now()))
	}
}

// control observes the fetch's progress until ctx is done.
func (g *gate) control(ctx context.Context, prog *Progress) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.observe(now, prog.Received.Load())
		}
	}
}

// Count is the connection count allowed now.
func (g *gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.s.N()
}
