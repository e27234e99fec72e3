// Package directio writes a file's bytes around the page cache (O_DIRECT)
// and reads them back the same way, for a download's part file.
//
// A download writes each byte of its file once and reads it once, to hash
// it; the page cache gains it nothing but costs it a fresh page per 4 KiB.
// On a VM whose freed memory goes back to the host, filling fresh pages is
// the larger part of a buffered download's CPU (1 GiB: 0.5-2.4 s of system
// time, from one run to the next), while a direct write hands the buffer
// to the disk (0.1 s).
//
// Only whole aligned blocks go direct. What a write has before its first
// block boundary or after its last goes through the ordinary descriptor,
// so bytes of any offset and length can be written, and a block shared by
// two writes is only ever written through the page cache: the kernel keeps
// the two paths coherent (a direct read or write of a range first writes
// back its cached pages, and a direct write drops them after).
package directio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// maxWrites is how many direct writes may be in flight at once.
const maxWrites = 4

// ErrUnsupported reports a file or system that cannot do direct I/O.
var ErrUnsupported = errors.New("direct I/O not supported")

// readChunk is how much View reads back at a time, and readDepth how many
// such pieces it holds: the one being hashed and the next ones, being read
// meanwhile. A read waits behind the direct writes in flight, now and then
// for 10-20 ms here, while the hash takes a piece in about 1 ms: with one
// piece ahead, the hash of 1 GiB from a fast link ran at 475 MB/s, with
// the page cache at 672. (8 pieces put peak RSS at 256 connections at 48
// MiB, 4 at 43.)
const (
	readChunk = 1 << 20
	readDepth = 4
)

// File writes and reads one file with O_DIRECT where the bytes allow it.
// Its methods are safe for concurrent use.
type File struct {
	d        *os.File    // opened with O_DIRECT
	buffered io.WriterAt // what cannot go direct
	r        *os.File    // reads once direct writes stopped
	bmu      sync.Mutex  // one buffered write at a time (writeBuffered)
	align    int64       // file offsets and lengths of direct I/O
	mem      uintptr     // memory addresses of direct I/O
	// failed is set when a direct write was refused, or the disk took
	// direct writes slower than minRate: the rest goes through the page
	// cache.
	failed atomic.Bool
	direct atomic.Int64 // bytes written direct
	// slots bounds the direct writes in flight: the disk takes a few at
	// once faster than one (1 GiB in writes of 256 KiB: 1.0 GB/s one at
	// a time, 1.5 four at a time, here), but a read back for the hash
	// waits behind all of them (16 at a time: one read of 1 MiB in 8
	// took 3-13 ms instead of 0.5).
	slots chan struct{}

	// The disk's pace: how long direct writes were in flight (any number
	// of them at once), and since when while some are (inflight).
	pace     sync.Mutex
	inflight int
	since    time.Time
	busy     time.Duration
	judged   int64     // bytes of the writes timed
	first    time.Time // the first direct write's end

	mu sync.Mutex // View's buffers, and the pieces read into them
	// bufs are readDepth pieces' room; last is the piece View had last,
	// ahead the next ones, being read meanwhile, in file order.
	// the next, being read meanwhile (nil when none).
	bufs  [readDepth][]byte
	last  *piece
	ahead []*piece
	free  func()
	close sync.Once
}

// Open opens path, which f is open on, for direct I/O. Writes that cannot
// go direct (unaligned, or once direct writes stopped: see end) go to
// buffered, which writes to f; once they stopped, View reads through f.
// It fails with ErrUnsupported where the system or the file system has no
// direct I/O, or its alignment is coarser than a memory page (the unit the
// callers align their buffers to).
func Open(path string, f *os.File, buffered io.WriterAt) (*File, error) {
	d, align, mem, err := open(path)
	if err != nil {
		return nil, err
	}
	page := int64(os.Getpagesize())
	if align <= 0 || mem == 0 || page%align != 0 || uintptr(page)%mem != 0 {
		d.Close()
		return nil, fmt.Errorf("%s: alignment %d (memory %d): %w", path, align, mem, ErrUnsupported)
	}
	b, free, err := alloc(readDepth * readChunk)
	if err != nil {
		d.Close()
		return nil, err
	}
	return &File{d: d, r: f, buffered: buffered, align: align, mem: mem, slots: make(chan struct{}, maxWrites),
		bufs: split(b), free: free}, nil
}

// Direct reports how many bytes were written direct.
func (f *File) Direct() int64 { return f.direct.Load() }

// Close closes the direct descriptor. The buffered one is the caller's.
func (f *File) Close() error {
	var err error
	f.close.Do(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range f.ahead {
			<-p.done
		}
		f.last, f.ahead = nil, nil
		err = f.d.Close()
		f.free()
		f.bufs = [readDepth][]byte{}
	})
	return err
}

// WriteAt writes p at off: its whole aligned blocks direct where p's
// memory is aligned like its offset, the rest buffered.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	lo, hi := f.blocks(off, int64(len(p)))
	if hi <= lo || f.failed.Load() || !f.aligned(p[lo-off:]) {
		return f.writeBuffered(p, off)
	}
	n, err := f.writeBuffered(p[:lo-off], off)
	if err != nil {
		return n, err
	}
	f.slots <- struct{}{}
	// Only writes of judgeWrite or more tell the disk's pace: a small
	// one (a slow link's flush on time) costs its latency, whatever the
	// disk's bandwidth (4-8 KiB at 400 KB/s a connection: 40 MB/s). But
	// 256 connections' buffers are 48 KiB, and their writes must count:
	// with 64 KiB, 1 GiB went direct in 48 KiB writes, 4 at a time, and
	// took 4.6-4.7 s (2.4-2.6 s once they stopped after 28-76 MiB).
	big := hi-lo >= judgeWrite
	if big {
		f.begin(time.Now())
	}
	k, err := f.d.WriteAt(p[lo-off:hi-off], lo)
	f.direct.Add(int64(k))
	if big {
		f.end(int64(k), time.Now())
	}
	<-f.slots
	n += k
	if err != nil {
		// Refused as a whole (EINVAL: an alignment the file system did
		// not report), or cut short (a full disk: the buffered write of
		// the rest will say so): the rest goes through the page cache.
		f.failed.Store(true)
		k, err = f.writeBuffered(p[n:hi-off], off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
	}
	k, err = f.writeBuffered(p[hi-off:], hi)
	return n + k, err
}

// minRate and judgeAfter: once judgeAfter bytes went direct, a disk that
// took them at less than minRate bytes per second of writing (a spinning
// disk, 16 connections' writes scattered over the file: every one a seek)
// gets the rest through the page cache, whose writeback follows the hash
// in order. A solid-state disk takes them at 0.5-3 GB/s.
//
// maxBusy and judgeBusyAfter: once judgeBusyAfter bytes went direct, a disk
// with direct writes in flight more than maxBusy of the time since the
// first is what the download waits on; the page cache takes the rest, and
// the hash reads it from there (reading it back direct would wait for its
// writeback). Here, 1 GiB from loopback at 16 connections kept the disk
// busy 75-88% of the time and ran at 500 MB/s direct against 640 through
// the page cache; at 25 MB/s a connection, 47-50%, and direct was faster
// (its hash cheaper) and took a quarter less CPU.
//
// Only direct writes of judgeWrite or more are timed (see WriteAt).
const (
	minRate        = 150e6
	judgeAfter     = 16 << 20
	judgeWrite     = 32 << 10
	maxBusy        = 0.7
	judgeBusyAfter = 64 << 20
)

// begin and end bracket a direct write, of k bytes, at now: end stops
// direct writes when the disk took them slower than minRate, over the
// time any were in flight.
func (f *File) begin(now time.Time) {
	f.pace.Lock()
	defer f.pace.Unlock()
	if f.inflight == 0 {
		f.since = now
	}
	f.inflight++
}

func (f *File) end(k int64, now time.Time) {
	f.pace.Lock()
	defer f.pace.Unlock()
	f.judged += k
	n := f.judged
	busy := f.busy + now.Sub(f.since)
	if f.inflight--; f.inflight == 0 {
		f.busy = busy
	}
	if f.first.IsZero() {
		f.first = now
	}
	slow := n >= judgeAfter && float64(n)/busy.Seconds() < minRate
	full := n >= judgeBusyAfter && busy.Seconds() > maxBusy*now.Sub(f.first).Seconds()
	if slow || full {
		f.failed.Store(true)
	}
}

// writeBuffered writes p at off through the page cache, one such write at
// a time: a buffered write holds the file's inode lock for its whole copy,
// so writers at once gain nothing, and in the kernel they spin for it
// (2.5% of the CPU at 256 connections), while here they park.
func (f *File) writeBuffered(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.bmu.Lock()
	defer f.bmu.Unlock()
	return f.buffered.WriteAt(p, off)
}

// blocks returns the whole aligned blocks of [off, off+n): [lo, hi), empty
// when there are none.
func (f *File) blocks(off, n int64) (lo, hi int64) {
	lo = (off + f.align - 1) &^ (f.align - 1)
	hi = (off + n) &^ (f.align - 1)
	return lo, hi
}

// aligned reports whether b starts at an address direct I/O can use.
func (f *File) aligned(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%f.mem == 0
}

// View calls fn with the file's bytes [off, off+n), read back direct, in
// order, at most viewMax of them, and returns how many fn was given. While
// fn has one piece the next is read, and a piece read stays for the next
// call: a cursor stepping through a file reads each block once, and waits
// only for the first. Bytes the file does not have are an error
// (io.ErrUnexpectedEOF).
func (f *File) View(off, n int64, fn func([]byte) error) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bufs[0] == nil {
		return 0, fmt.Errorf("view at %d: %w", off, os.ErrClosed)
	}
	end := off + n
	limit := min(end, off+viewMax)
	var done int64
	for off+done < limit {
		at := off + done
		p := f.piece(at, end)
		if p.err != nil {
			return done, p.err
		}
		if !p.holds(at) {
			return done, fmt.Errorf("read back at %d: the file ends before %d: %w", p.end, end, io.ErrUnexpectedEOF)
		}
		f.readAhead(p, end)
		to := min(limit, p.end)
		if err := fn(p.b[at-p.lo : to-p.lo]); err != nil {
			return done, err
		}
		done += to - at
	}
	return done, nil
}

// viewMax is the most one View passes on.
const viewMax = 2 << 20

// A piece is a block-aligned span of the file read into one of the
// buffers (or being read: until done is closed). Its bytes from end on
// (the rest of the block the caller's end fell in, when it was read) may
// have been written since.
type piece struct {
	lo, end int64
	want    int64  // end, if all that was asked is read
	i       int    // which buffer
	b       []byte // what was asked for; got bytes of it were read
	got     int
	err     error
	done    chan struct{}
}

func (p *piece) holds(at int64) bool {
	return p.err == nil && p.lo <= at && at < p.end
}

// piece returns the piece that holds at, or failed to: the last one, the
// one read ahead, or one read now. Under f.mu.
func (f *File) piece(at, end int64) *piece {
	if p := f.last; p != nil && p.holds(at) {
		return p
	}
	for len(f.ahead) > 0 {
		p := f.ahead[0]
		f.ahead = f.ahead[1:]
		<-p.done
		if p.holds(at) {
			f.last = p
			return p
		}
	}
	p := f.start(at, end, f.idle(), !f.failed.Load())
	<-p.done
	f.last = p
	return p
}

// readAhead starts reading the pieces after p's, up to end, into the
// buffers no piece holds. Under f.mu.
func (f *File) readAhead(p *piece, end int64) {
	if p.err != nil || p.got < len(p.b) {
		return // the end of the file
	}
	if f.failed.Load() {
		// The page cache answers at once: a read on a goroutine of its
		// own would wait for a core behind the download's (see start).
		return
	}
	next := p.end
	for len(f.ahead) < readDepth-1 {
		if n := len(f.ahead); n > 0 {
			next = f.ahead[n-1].want
		}
		if next >= end {
			return
		}
		f.ahead = append(f.ahead, f.start(next, end, f.idle(), true))
	}
}

// idle returns a buffer no piece holds. Under f.mu.
func (f *File) idle() int {
	var used [readDepth]bool
	if f.last != nil {
		used[f.last.i] = true
	}
	for _, p := range f.ahead {
		used[p.i] = true
	}
	for i, u := range used {
		if !u {
			return i
		}
	}
	panic("directio: no idle buffer") // at most readDepth pieces are held
}

// split cuts b into readDepth buffers of readChunk bytes.
func split(b []byte) (bufs [readDepth][]byte) {
	for i := range bufs {
		bufs[i] = b[i*readChunk : (i+1)*readChunk : (i+1)*readChunk]
	}
	return bufs
}

// start reads the piece at at, up to readChunk and no further than end's
// block, into buffer i: on a goroutine the piece's done waits for, if
// async, else now. The bytes before end must be written already.
//
// Once direct writes stopped, the reads go through the page cache and are
// done on the caller's goroutine, one piece at a time: a goroutine read
// ahead waited for a core behind the download's workers, and with 256
// connections the hash spent 0.9 s of 2.2 waiting for its pieces (0.2 s
// reading them itself).
func (f *File) start(at, end int64, i int, async bool) *piece {
	lo := at &^ (f.align - 1)
	hi := min(lo+readChunk, (end+f.align-1)&^(f.align-1))
	p := &piece{lo: lo, want: min(hi, end), i: i, b: f.bufs[i][:hi-lo], done: make(chan struct{})}
	fill := func() {
		defer close(p.done)
		p.got, p.err = f.read(p.b, lo)
		p.end = min(end, lo+int64(p.got))
	}
	if async {
		go fill()
	} else {
		fill()
	}
	return p
}

// read fills b from off direct, short only at the end of the file.
func (f *File) read(b []byte, off int64) (int, error) {
	r := f.d
	if f.failed.Load() {
		r = f.r
	}
	n, err := r.ReadAt(b, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		return n, fmt.Errorf("read back %d bytes at %d: %w", len(b), off, err)
	}
	return n, nil
}

// ReadAt reads len(p) bytes at off (through View).
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	var n int
	_, err := f.View(off, int64(len(p)), func(b []byte) error {
		n += copy(p[n:], b)
		return nil
	})
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
