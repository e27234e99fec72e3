package download

// This file downloads to an io.Writer (rget get -o -): the ranges are
// fetched in parallel into a reorder window, and its completed prefix is
// written out in order, hashed on the way.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"rget/segment"
)

// defaultWindow is the reorder window of a download to a writer, and
// minWindow the least: a stream (no ranges) writes in pieces of up to a
// connection's 256 KiB buffer.
const (
	defaultWindow = 64 << 20
	minWindow     = 256 << 10
)

// window is a ring of bytes the fetch writes into at their offsets, and
// the drain reads out in order: bytes [drained, drained+len(buf)) map to
// buf at offset mod len(buf). The ledger never hands out a range past
// limit(), so writes always fit; a write that would not (a stream, whose
// reads the ledger does not bound) waits for room.
type window struct {
	buf     []byte
	free    func() // unmaps buf
	drained atomic.Int64
	mu      sync.Mutex
	room    chan struct{} // closed when drained moves
	done    <-chan struct{}
	stop    chan struct{} // closed by abort: the fetch is over
	stopped sync.Once
}

// abort wakes and fails the writes waiting for room: the fetch failed (the
// drain may be gone).
func (w *window) abort() { w.stopped.Do(func() { close(w.stop) }) }

func newWindow(size int64, done <-chan struct{}) *window {
	// Outside Go's heap: as live heap, the collector would let the heap
	// grow to twice the window.
	buf, free := segment.NewBuffer(int(size))
	return &window{buf: buf, free: free, room: make(chan struct{}), done: done, stop: make(chan struct{})}
}

// limit is the first offset that does not fit yet.
func (w *window) limit() int64 { return w.drained.Load() + int64(len(w.buf)) }

// WriteAt copies p to its place in the ring, once there is room for it.
func (w *window) WriteAt(p []byte, off int64) (int, error) {
	for off+int64(len(p)) > w.limit() {
		if int64(len(p)) > int64(len(w.buf)) {
			return 0, fmt.Errorf("write of %d bytes: larger than the %d-byte window", len(p), len(w.buf))
		}
		w.mu.Lock()
		room := w.room
		w.mu.Unlock()
		if off+int64(len(p)) <= w.limit() {
			break
		}
		select {
		case <-room:
		case <-w.done:
			return 0, context.Canceled
		case <-w.stop:
			return 0, context.Canceled
		}
	}
	n := int64(len(w.buf))
	at := off % n
	k := copy(w.buf[at:], p)
	copy(w.buf, p[k:])
	return len(p), nil
}

// bytes returns the ring's bytes from off, up to n and the ring's end.
func (w *window) bytes(off, n int64) []byte {
	size := int64(len(w.buf))
	at := off % size
	return w.buf[at : at+min(n, size-at)]
}

// advance records that the bytes before to were written out.
func (w *window) advance(to int64) {
	w.drained.Store(to)
	w.mu.Lock()
	close(w.room)
	w.room = make(chan struct{})
	w.mu.Unlock()
}

// sink is the output side of a download to a writer.
type sink struct {
	win *window
	out io.Writer
	h   hash.Hash
	led *segment.Ledger
}

// drainChunk bounds one write to the output.
const drainChunk = 1 << 20

// drainTo writes the completed prefix out until to bytes are out, waiting
// for more as the fetch completes it; it returns when they are, or when
// ctx is done (nil: the fetch ended, and finish writes the rest).
func (s *sink) drainTo(ctx context.Context, to func() int64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		changed := s.led.Changed()
		d, p := s.win.drained.Load(), s.led.Prefix()
		if p > d {
			b := s.win.bytes(d, min(p-d, drainChunk))
			s.h.Write(b)
			if _, err := s.out.Write(b); err != nil {
				return &segment.LocalError{Err: fmt.Errorf("write output: %w", err)}
			}
			s.win.advance(d + int64(len(b)))
			s.led.Poke()
			continue
		}
		if n := to(); n >= 0 && d >= n {
			return nil // (a size not known yet: until ctx is done)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
	}
}

// finish writes out what is left after a complete fetch and checks the
// digest.
func (s *sink) finish(ctx context.Context, want string) (string, error) {
	size := s.led.Prefix()
	if err := s.drainTo(ctx, func() int64 { return size }); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(s.h.Sum(nil))
	if want != "" && sum != want {
		return sum, &ChecksumError{File: "the output", Want: want, Got: sum}
	}
	return sum, nil
}

// prepareSink sets up a download of r to cfg.Writer: no part file, no
// journal; ranges small enough that every connection has one in the window.
func prepareSink(ctx context.Context, cfg config, r *segment.Remote, conns int) *job {
	win := cfg.Window
	if win <= 0 {
		win = defaultWindow
	}
	win = max(win, minWindow)
	segSize := cfg.SegmentSize
	if segSize == 0 {
		segSize = min(segment.SegmentSize(r.Size, conns), max(win/int64(2*conns), segment.MinPiece))
	}
	segSize = min(segSize, win)
	jb := &job{out: "-", policy: policy(cfg)}
	jb.plan = segment.NewLedger(r.Size, segment.Split(r.Size, segSize), jb.policy)
	s := &sink{win: newWindow(win, ctx.Done()), out: cfg.Writer, h: sha256.New(), led: jb.plan}
	if cfg.Decompress {
		jb.dec = newDecoder(cfg.Writer, cfg.HashDecompressed, cfg.notice)
		s.out = jb.dec
	}
	jb.plan.SetWindow(segment.Window{Consumed: s.win.drained.Load, Size: int64(len(s.win.buf))})
	jb.sink = s
	return jb
}
