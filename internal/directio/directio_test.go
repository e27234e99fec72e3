package directio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// open opens a new file of size bytes in a test directory for direct I/O,
// skipping the test where the file system cannot do it.
func openTest(t testing.TB, size int64) (*os.File, *File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "part")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, f, f)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("no direct I/O here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return f, d, path
}

// pageBuf returns n bytes at a page boundary, and then skewed by skew.
func pageBuf(t testing.TB, n, skew int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n+skew, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b[skew : skew+n]
}

// TestWriteAt writes a file in pieces of every alignment, from buffers
// placed like the file offsets (as segment's workers place them) and not,
// concurrently, and reads it back through View, ReadAt and the ordinary
// descriptor.
func TestWriteAt(t *testing.T) {
	const size = 9<<20 + 12345
	want := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	f, d, _ := openTest(t, size)
	page := os.Getpagesize()
	// Cut the file at random points into 24 ranges, written concurrently,
	// each in random pieces.
	cuts := []int{0, size}
	for range 23 {
		cuts = append(cuts, rng.IntN(size))
	}
	slices.Sort(cuts)
	var wg sync.WaitGroup
	errs := make(chan error, len(cuts))
	for i := 0; i+1 < len(cuts); i++ {
		from, to := cuts[i], cuts[i+1]
		seed := uint64(i)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 3))
			buf := pageBuf(t, 1<<20, 0)
			for pos := from; pos < to; {
				n := min(to-pos, 1+rng.IntN(300<<10))
				at := pos % page // like segment's workers
				if seed%3 == 0 {
					at = rng.IntN(page) // not: all through the page cache
				}
				copy(buf[at:at+n], want[pos:pos+n])
				if k, err := d.WriteAt(buf[at:at+n], int64(pos)); err != nil || k != n {
					errs <- errors.Join(err, io.ErrShortWrite)
					return
				}
				pos += n
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d.Direct() < size/2 {
		t.Errorf("%d bytes went direct, want most of %d", d.Direct(), size)
	}
	// Read back in random steps through View.
	var got []byte
	for off := int64(0); off < size; {
		n := min(size-off, 1+rng.Int64N(3<<20))
		k, err := d.View(off, n, func(b []byte) error {
			got = append(got, b...)
			return nil
		})
		if err != nil || k <= 0 {
			t.Fatalf("View(%d, %d) = %d, %v", off, n, k, err)
		}
		off += k
	}
	if !bytes.Equal(got, want) {
		t.Fatal("View read back other bytes than were written")
	}
	back := make([]byte, size)
	if _, err := f.ReadAt(back, 0); err != nil || !bytes.Equal(back, want) {
		t.Fatalf("the page cache's view differs (%v)", err)
	}
	if n, err := d.ReadAt(back[:100], size-100); err != nil || n != 100 || !bytes.Equal(back[:100], want[size-100:]) {
		t.Fatalf("ReadAt at the end = %d, %v", n, err)
	}
	if n, err := d.ReadAt(back[:100], size-50); !errors.Is(err, io.EOF) || n != 50 {
		t.Fatalf("ReadAt past the end = %d, %v; want 50, EOF", n, err)
	}
}

// TestViewFollowsWrites reads back a file while it is written in order,
// each View up to what is written: the block at the end of one View, read
// before the rest of it was written, must be read again.
func TestViewFollowsWrites(t *testing.T) {
	const size = 4<<20 + 100
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	_, d, _ := openTest(t, size)
	h, sum := sha256.New(), sha256.Sum256(want)
	buf := pageBuf(t, 64<<10, 0)
	var hashed int64
	for pos := 0; pos < size; {
		n := min(size-pos, 1000+pos%7000)
		at := pos % os.Getpagesize()
		copy(buf[at:at+n], want[pos:pos+n])
		if _, err := d.WriteAt(buf[at:at+n], int64(pos)); err != nil {
			t.Fatal(err)
		}
		pos += n
		for hashed < int64(pos) {
			k, err := d.View(hashed, int64(pos)-hashed, func(b []byte) error { h.Write(b); return nil })
			if err != nil {
				t.Fatal(err)
			}
			hashed += k
		}
	}
	if !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("the hash of what View showed differs from the file's")
	}
}

// TestViewErrors: bytes past the end, a failing fn, and a closed file.
func TestViewErrors(t *testing.T) {
	f, d, _ := openTest(t, 10000)
	if _, err := f.WriteAt(bytes.Repeat([]byte{1}, 10000), 0); err != nil {
		t.Fatal(err)
	}
	if k, err := d.View(9000, 2000, func([]byte) error { return nil }); !errors.Is(err, io.ErrUnexpectedEOF) || k != 1000 {
		t.Errorf("View past the end = %d, %v; want 1000 and ErrUnexpectedEOF", k, err)
	}
	boom := errors.New("boom")
	if _, err := d.View(0, 5000, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("View with a failing fn = %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.View(0, 10, func([]byte) error { return nil }); !errors.Is(err, os.ErrClosed) {
		t.Errorf("View after Close = %v", err)
	}
}

// TestRefusedGoesBuffered: once direct writes fail, the rest is written
// through the page cache, whole.
func TestRefusedGoesBuffered(t *testing.T) {
	f, d, _ := openTest(t, 1<<20)
	d.d.Close() // every direct write now fails
	p := pageBuf(t, 1<<20, 0)
	for i := range p {
		p[i] = byte(i >> 8)
	}
	if n, err := d.WriteAt(p, 0); err != nil || n != len(p) {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if !d.failed.Load() || d.Direct() != 0 {
		t.Fatalf("failed %v, direct %d", d.failed.Load(), d.Direct())
	}
	back := make([]byte, len(p))
	if _, err := f.ReadAt(back, 0); err != nil || !bytes.Equal(back, p) {
		t.Fatalf("read back: %v", err)
	}
	// View reads through the page cache now (the direct descriptor is
	// closed: a direct read would fail).
	if n, err := d.ReadAt(back, 0); err != nil || n != len(p) || !bytes.Equal(back, p) {
		t.Fatalf("View after direct writes stopped = %d, %v", n, err)
	}
}

// TestBusyDiskGoesBuffered: a disk with direct writes in flight most of the
// time is what the download waits on: the rest goes through the page cache.
func TestBusyDiskGoesBuffered(t *testing.T) {
	for _, tc := range []struct {
		share float64 // of the time a write is in flight
		want  bool
	}{{0.5, false}, {0.9, true}} {
		d := &File{align: 4096, mem: 4096, slots: make(chan struct{}, maxWrites)}
		now := time.Unix(1000, 0)
		const each = 1 << 20
		for n := 0; n < 2*judgeBusyAfter; n += each {
			d.begin(now)
			now = now.Add(time.Duration(tc.share * 1e6))
			d.end(each, now)
			now = now.Add(time.Duration((1 - tc.share) * 1e6))
		}
		if got := d.failed.Load(); got != tc.want {
			t.Errorf("busy %.0f%% of the time: direct writes stopped %v, want %v", 100*tc.share, got, tc.want)
		}
	}
}

// TestSlowDiskGoesBuffered: a disk that takes direct writes slower than
// minRate, over the time any are in flight, gets the rest through the page
// cache; writes at once are not counted twice.
func TestSlowDiskGoesBuffered(t *testing.T) {
	d := &File{align: 4096, mem: 4096, slots: make(chan struct{}, maxWrites)}
	t0 := time.Unix(1000, 0)
	at := func(n int64, rate float64) time.Time { return t0.Add(time.Duration(float64(n) / rate * 1e9)) }
	d.begin(t0)
	d.end(judgeAfter/2, t0)
	if d.failed.Load() {
		t.Fatal("judged before judgeAfter bytes")
	}
	// 16 writes at once, together at twice minRate: each took 16 times
	// as long as it would alone.
	t1 := at(judgeAfter/2, 1e12)
	for range 16 {
		d.begin(t1)
	}
	for i := range 16 {
		d.end(judgeAfter/16, t1.Add(at(int64(i+1)*judgeAfter/16, 2*minRate).Sub(t0)))
	}
	if d.failed.Load() {
		t.Fatal("a disk at twice minRate, 16 writes at once, judged slow")
	}
	t2 := at(4*judgeAfter, 1e6)
	d.begin(t2)
	d.end(judgeAfter, t2.Add(at(4*judgeAfter, minRate).Sub(t0)))
	if !d.failed.Load() {
		t.Fatal("a disk below minRate not judged slow")
	}
}

// BenchmarkView hashes a 256 MiB file read back through View, against
// the same through the page cache with pread.
func BenchmarkView(b *testing.B) {
	const size = 256 << 20
	f, d, _ := openTest(b, size)
	buf := pageBuf(b, 4<<20, 0)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := d.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			h := sha256.New()
			for off := int64(0); off < size; {
				k, err := d.View(off, size-off, func(p []byte) error { h.Write(p); return nil })
				if err != nil {
					b.Fatal(err)
				}
				off += k
			}
		}
	})
	b.Run("pread", func(b *testing.B) {
		b.SetBytes(size)
		p := make([]byte, 1<<20)
		for b.Loop() {
			h := sha256.New()
			for off := int64(0); off < size; off += int64(len(p)) {
				if _, err := f.ReadAt(p, off); err != nil {
					b.Fatal(err)
				}
				h.Write(p)
			}
		}
	})
}
