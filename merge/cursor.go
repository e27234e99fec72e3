package merge

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// bufSize is how much the cursor reads back at a time (see viewerOf).
const bufSize = 1 << 20

// stepBuf is the buffer a step of n bytes reads back into: bufSize, or for
// fewer bytes the power of two that holds them, from 64 KiB. A buffer is
// fresh memory, zeroed and faulted in page by page (15 µs a page on the
// development VM): a batch of small files paid 1 MiB each.
func stepBuf(n int64) int {
	b := 64 << 10
	for int64(b) < n && b < bufSize {
		b *= 2
	}
	return b
}

// Cursor computes the SHA-256 of a file that is being written out of order,
// by hashing its completed prefix in order. Its methods are safe for
// concurrent use.
type Cursor struct {
	r io.ReaderAt
	// Flush, if set, is called with each range just hashed, to start its
	// writeback to the disk early (sync_file_range): the sync before the
	// file is published then has little left to do. Set it before use;
	// Finalize may call it beside a step.
	Flush func(off, n int64)
	// Tee, if set, receives the bytes hashed, in order (a decompressor).
	// A write error stops the cursor. Set it before use.
	Tee io.Writer

	// v, when set, shows r's bytes its own way (a Viewer).
	v Viewer

	mu  sync.Mutex
	h   hash.Hash
	off int64
	buf []byte
	// broken is set when h may hold part of a step: no state is saved.
	broken error
	// pos is off, for Offset to read without waiting for a step.
	pos atomic.Int64
	// hashed counts the bytes steps moved; span and spanBytes are the
	// seconds and bytes of the recent steps, each weighted down by the
	// bytes hashed since (under mu); rate is their ratio (Rate).
	hashed          atomic.Int64
	span, spanBytes float64
	rate            atomic.Uint64 // float64 bits
	// peak is the fastest step of peakMin bytes or more, calib what
	// Calibrate measured (float64 bits; Peak).
	peak, calib atomic.Uint64
}

// A Viewer shows a file's bytes without copying them out: View calls fn
// with (some of) the bytes [off, off+n), in order, and returns how many fn
// was given. A cursor on an io.ReaderAt that is also a Viewer reads through
// View.
type Viewer interface {
	View(off, n int64, fn func([]byte) error) (int64, error)
}

// NewCursor returns a cursor at offset 0 of r.
func NewCursor(r io.ReaderAt) *Cursor {
	return &Cursor{r: r, h: sha256.New(), v: viewerOf(r)}
}

// viewerOf returns r's own View, or nil: the cursor reads r back into its
// buffer. (It mapped the file and hashed the page cache in place until
// session 13: on this VM, in its slower state, the page-table misses made
// the hash of a mapped 1 GiB cost 1.58-1.88 s of user time against
// 0.94-1.04 read back, `/paced/` c16, 3 pairs, CPU 2.57-3.19 s against
// 1.84-2.01; in the faster state of session 7 the copy had been a tenth of
// the cursor's cost.)
func viewerOf(r io.ReaderAt) Viewer {
	v, _ := r.(Viewer)
	return v
}

// Resume returns a cursor at offset off of r, with the hash state saved by
// State at that offset.
func Resume(r io.ReaderAt, off int64, state []byte) (*Cursor, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("restore hash state at %d: %w", off, err)
	}
	c := &Cursor{r: r, h: h, off: off, v: viewerOf(r)}
	c.pos.Store(off)
	return c, nil
}

// Offset is the number of bytes hashed so far. It does not wait for a
// step in progress.
func (c *Cursor) Offset() int64 {
	return c.pos.Load()
}

// State returns the offset and the marshaled hash state there, for Resume.
func (c *Cursor) State() (int64, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return 0, nil, c.broken
	}
	b, err := c.h.(encoding.BinaryMarshaler).MarshalBinary()
	return c.off, b, err
}

// Advance hashes the bytes from the cursor's offset up to to. It returns
// early with ctx's error when ctx is done.
func (c *Cursor) Advance(ctx context.Context, to int64) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := c.step(to)
		if err != nil || !more {
			return err
		}
	}
}

// Rate is how fast the cursor hashes (and feeds Tee) when it has bytes to
// take, in bytes per second of its own work; 0 until it has timed
// minTimed bytes. A scheduler uses it to foresee how long the hash will need
// after the last byte arrives.
//
// It is the rate of the last rateSpan bytes or so, not of the whole file:
// a hash that shares the cores with the fetch is slower at the end than at
// the start (1 GiB 30 ms away over 16 connections: with the whole file's
// rate it had 0.24-0.32 s of work left after the last byte in 3 of 4 runs,
// with the recent one 0.04-0.13 s).
func (c *Cursor) Rate() float64 {
	if c.hashed.Load() < minTimed {
		return 0
	}
	return math.Float64frombits(c.rate.Load())
}

// rateSpan is how many recently hashed bytes Rate speaks of.
const rateSpan = 64 << 20

// minTimed is how many bytes Rate waits for. The first steps are slow
// while the connections start (30 ms away: the first megabyte took 29 ms,
// and the first few MiB came to 45-160 MB/s against 300-500 later, taken
// for a hash too slow for later rounds to help it); Peak stands in
// meanwhile.
const minTimed = 4 << 20

// Peak is how fast the cursor goes with a core to itself, as it will once
// the fetch beside it is over: the fastest of its steps of peakMin bytes or
// more and of what Calibrate measured; 0 before either. (Rate, while the
// fetch runs, is a third to a half of it: 30 ms away behind the bench's
// delay proxy, 300-500 MB/s, then 1-1.2 GB/s after the last byte.)
func (c *Cursor) Peak() float64 {
	return max(math.Float64frombits(c.peak.Load()), math.Float64frombits(c.calib.Load()))
}

// peakMin is the smallest step Peak counts: shorter ones are timed
// coarsely.
const peakMin = 256 << 10

// Calibrate times SHA-256 alone on bytes in memory, so that Peak is known
// before the first step of peakMin bytes; it takes a tenth of a
// millisecond.
func (c *Cursor) Calibrate() {
	b := make([]byte, 64<<10)
	h := sha256.New()
	h.Write(b[:64]) // the first use sets the implementation up
	best := time.Duration(math.MaxInt64)
	for range 3 {
		start := time.Now()
		h.Write(b)
		best = min(best, time.Since(start))
	}
	if best > 0 {
		c.calib.Store(math.Float64bits(float64(len(b)) / best.Seconds()))
	}
}

// timed records a step that hashed k bytes in d (under mu).
func (c *Cursor) timed(k int64, d time.Duration) {
	if k <= 0 || d <= 0 {
		return
	}
	if r := float64(k) / d.Seconds(); k >= peakMin && r > math.Float64frombits(c.peak.Load()) {
		c.peak.Store(math.Float64bits(r))
	}
	keep := math.Exp(-float64(k) / rateSpan)
	c.span = c.span*keep + d.Seconds()
	c.spanBytes = c.spanBytes*keep + float64(k)
	c.hashed.Add(k)
	c.rate.Store(math.Float64bits(c.spanBytes / c.span))
}

// step hashes one buffer's worth towards to and reports whether more is left.
func (c *Cursor) step(to int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return false, c.broken
	}
	if c.off >= to {
		return false, nil
	}
	start, from := time.Now(), c.off
	defer func() {
		c.timed(c.off-from, time.Since(start))
	}()
	if c.v != nil {
		k, err := c.v.View(c.off, to-c.off, c.consume)
		if err != nil {
			c.broken = fmt.Errorf("hash at offset %d: %w", c.off, err)
			return false, c.broken
		}
		c.advanced(k)
		return c.off < to, nil
	}
	if len(c.buf) < bufSize {
		if want := stepBuf(to - c.off); len(c.buf) < want {
			c.buf = make([]byte, want)
		}
	}
	n := int64(len(c.buf))
	if left := to - c.off; left < n {
		n = left
	}
	k, err := c.r.ReadAt(c.buf[:n], c.off)
	if cerr := c.consume(c.buf[:k]); cerr != nil {
		// The hash has the bytes and the cursor has not moved: no state
		// past this point is sound.
		c.broken = cerr
		return false, cerr
	}
	c.advanced(int64(k))
	if err != nil && !(errors.Is(err, io.EOF) && int64(k) == n) {
		return false, fmt.Errorf("hash at offset %d: %w", c.off, err)
	}
	return c.off < to, nil
}

// consume hashes b, the bytes at the cursor's offset, and passes them on
// to Tee.
func (c *Cursor) consume(b []byte) error {
	c.h.Write(b)
	if c.Tee != nil && len(b) > 0 {
		if _, err := c.Tee.Write(b); err != nil {
			return fmt.Errorf("at offset %d: %w", c.off, err)
		}
	}
	return nil
}

// advanced moves the cursor k bytes on, after consume.
func (c *Cursor) advanced(k int64) {
	if c.Flush != nil && k > 0 {
		c.Flush(c.off, k)
	}
	c.off += k
	c.pos.Store(c.off)
}

// Sum returns the digest of the bytes hashed so far.
func (c *Cursor) Sum() [sha256.Size]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s [sha256.Size]byte
	c.h.Sum(s[:0])
	return s
}

// Follow advances c to prefix() every interval, and whenever changed (if
// set) signals that the prefix may have grown, until ctx is done; then it
// returns nil. It returns early only on a read error. It calibrates c
// first (Calibrate). The caller cancels ctx when the download has ended
// and then finishes with Finalize.
func Follow(ctx context.Context, c *Cursor, prefix func() int64, changed func() <-chan struct{}, interval time.Duration) error {
	c.Calibrate()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var ch <-chan struct{}
		if changed != nil {
			ch = changed() // before reading the prefix: no change is missed
		}
		if err := c.Advance(ctx, prefix()); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		case <-t.C:
		}
	}
}
