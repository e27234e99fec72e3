package merge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// partFile writes data to a new part file in a temp dir and returns it open.
func partFile(t *testing.T, data []byte) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.part")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f, path
}

// cursorOn returns n random bytes and a cursor on a part file holding
// them, closed when the test ends.
func cursorOn(t *testing.T, n int) ([]byte, *Cursor) {
	t.Helper()
	data := randBytes(t, n)
	f, _ := partFile(t, data)
	t.Cleanup(func() { f.Close() })
	return data, NewCursor(f)
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestCursorInSteps(t *testing.T) {
	t.Parallel()
	data, c := cursorOn(t, 3*bufSize+12345)
	ctx := context.Background()
	for _, to := range []int64{0, 1, 17, bufSize, bufSize + 1, 2*bufSize + 5, int64(len(data)), int64(len(data))} {
		if err := c.Advance(ctx, to); err != nil {
			t.Fatalf("Advance(%d): %v", to, err)
		}
		if got := c.Offset(); got != to {
			t.Fatalf("Offset() = %d, want %d", got, to)
		}
	}
	if got, want := c.Sum(), sha256.Sum256(data); got != want {
		t.Fatalf("Sum() = %x, want %x", got, want)
	}
}

func TestCursorResume(t *testing.T) {
	t.Parallel()
	data := randBytes(t, 2*bufSize+7)
	f, _ := partFile(t, data)
	defer f.Close()
	ctx := context.Background()
	c := NewCursor(f)
	if err := c.Advance(ctx, bufSize+3); err != nil {
		t.Fatal(err)
	}
	off, state, err := c.State()
	if err != nil || off != bufSize+3 {
		t.Fatalf("State() = %d, %v, want offset %d", off, err, bufSize+3)
	}
	r, err := Resume(f, off, state)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := r.Advance(ctx, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Sum(), sha256.Sum256(data); got != want {
		t.Fatalf("resumed Sum() = %x, want %x", got, want)
	}
	if _, err := Resume(f, 0, []byte("garbage")); err == nil {
		t.Fatal("Resume with a garbage state succeeded")
	}
}

// TestCursorPastEOF: asking for bytes the file does not have is an error,
// not a silent short hash.
func TestCursorPastEOF(t *testing.T) {
	t.Parallel()
	f, _ := partFile(t, []byte("short"))
	defer f.Close()
	c := NewCursor(f)
	if err := c.Advance(context.Background(), 10); err == nil {
		t.Fatal("Advance past EOF succeeded")
	}
}

// TestFollow: the cursor keeps up with a growing prefix and stops when its
// context is cancelled.
func TestFollow(t *testing.T) {
	t.Parallel()
	data, c := cursorOn(t, 4*bufSize)
	var prefix atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, c, prefix.Load, nil, time.Millisecond) }()
	for _, p := range []int64{bufSize / 2, 3 * bufSize, int64(len(data))} {
		prefix.Store(p)
		deadline := time.Now().Add(10 * time.Second)
		for c.Offset() < p {
			if time.Now().After(deadline) {
				t.Fatalf("cursor stuck at %d, prefix %d", c.Offset(), p)
			}
			select {
			case err := <-done:
				t.Fatalf("Follow returned early: %v", err)
			case <-time.After(time.Millisecond):
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow() = %v, want nil after cancel", err)
	}
	if got, want := c.Sum(), sha256.Sum256(data); got != want {
		t.Fatalf("Sum() = %x, want %x", got, want)
	}
}

func TestFinalize(t *testing.T) {
	t.Parallel()
	data := randBytes(t, 1000)
	good := sha256.Sum256(data)
	for _, tc := range []struct {
		name    string
		size    int64
		want    string
		exists  bool
		replace bool
		check   func(error) bool
	}{
		{"no digest", 1000, "", false, false, func(err error) bool { return err == nil }},
		{"right digest", 1000, hex.EncodeToString(good[:]), false, false, func(err error) bool { return err == nil }},
		{"wrong digest", 1000, hex.EncodeToString(make([]byte, 32)), false, false, func(err error) bool {
			var ce *ChecksumError
			return errors.As(err, &ce) && ce.Got == hex.EncodeToString(good[:])
		}},
		{"wrong size", 999, "", false, false, func(err error) bool {
			var se *SizeError
			return errors.As(err, &se)
		}},
		{"final exists", 1000, "", true, false, func(err error) bool { return errors.Is(err, ErrExists) }},
		{"final replaced", 1000, "", true, true, func(err error) bool { return err == nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, part := partFile(t, data)
			final := filepath.Join(filepath.Dir(part), "out")
			if tc.exists {
				if err := os.WriteFile(final, []byte("other"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := NewCursor(f)
			sum, err := Finalize(context.Background(), f, c, Options{Part: part, Final: final, Size: tc.size, Want: tc.want, Replace: tc.replace})
			if !tc.check(err) {
				t.Fatalf("Finalize() error = %v", err)
			}
			got, rerr := os.ReadFile(final)
			switch {
			case err == nil:
				if rerr != nil || string(got) != string(data) || sum != good {
					t.Fatalf("published %d bytes (%v), sum %x; want the data, sum %x", len(got), rerr, sum, good)
				}
				if _, err := os.Stat(part); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("part file still there after publish: %v", err)
				}
			case tc.exists:
				if string(got) != "other" {
					t.Fatalf("existing final was changed to %d bytes", len(got))
				}
			default:
				if !errors.Is(rerr, os.ErrNotExist) {
					t.Fatalf("final exists after a failed Finalize: %v", rerr)
				}
			}
		})
	}
}

func TestHashFile(t *testing.T) {
	t.Parallel()
	data := randBytes(t, 5000)
	_, path := partFile(t, data)
	sum, n, err := HashFile(context.Background(), path)
	if err != nil || n != 5000 || sum != sha256.Sum256(data) {
		t.Fatalf("HashFile() = %x, %d, %v", sum, n, err)
	}
	if _, _, err := HashFile(context.Background(), path+".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("HashFile(missing) error = %v, want ErrNotExist", err)
	}
}

func BenchmarkCursor(b *testing.B) {
	data := make([]byte, 64<<20)
	rand.Read(data)
	path := filepath.Join(b.TempDir(), "part")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := NewCursor(f)
		if err := c.Advance(context.Background(), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCursorFileTruncated: a part file cut short under the cursor (by
// another program) is an error from Advance, in whichever way the cursor
// reads it, never a crash.
func TestCursorFileTruncated(t *testing.T) {
	t.Parallel()
	data := randBytes(t, 3*bufSize)
	f, _ := partFile(t, data)
	defer f.Close()
	c := NewCursor(f)
	ctx := context.Background()
	if err := c.Advance(ctx, bufSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(bufSize + 4096); err != nil {
		t.Fatal(err)
	}
	if err := c.Advance(ctx, int64(len(data))); err == nil {
		t.Fatal("Advance over a truncated file succeeded")
	}
}

// TestCursorRate: the cursor times its own work, not the waits between
// steps: unknown before minTimed bytes, then at least the bytes over the
// wall time the steps took (their work is part of it), and not lowered by
// an idle pause.
func TestCursorRate(t *testing.T) {
	t.Parallel()
	_, c := cursorOn(t, 2*minTimed)
	ctx := context.Background()
	start := time.Now()
	if err := c.Advance(ctx, minTimed-1); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	if r := c.Rate(); r != 0 {
		t.Fatalf("Rate() after %d bytes = %v, want 0 (unknown)", minTimed-1, r)
	}
	start = time.Now()
	if err := c.Advance(ctx, minTimed); err != nil {
		t.Fatal(err)
	}
	wall += time.Since(start)
	// At least the bytes over the wall time, but for the decay: the
	// steps' weights differ by at most exp(-minTimed/rateSpan), 6% (a
	// rate 0.2% under the plain ratio once failed here).
	r := c.Rate()
	if least := float64(minTimed) / wall.Seconds() * math.Exp(-float64(minTimed)/rateSpan); r <= 0 || r < least {
		t.Fatalf("Rate() = %v after %d bytes, want at least %v (in %v)", r, minTimed, least, wall)
	}
	// An idle cursor (waiting on the prefix) keeps its rate: the wait is
	// not work. Wait until the clock has visibly moved.
	for t0 := time.Now(); time.Since(t0) < 20*time.Millisecond; {
		runtime.Gosched()
	}
	if err := c.Advance(ctx, 2*minTimed); err != nil {
		t.Fatal(err)
	}
	if r2 := c.Rate(); r2 < r/10 {
		t.Fatalf("Rate() = %v after an idle pause, was %v", r2, r)
	}
}

// TestCursorTeeError: a Tee that fails stops the cursor for good: the hash
// took the bytes the Tee refused, so no later step or State is sound.
func TestCursorTeeError(t *testing.T) {
	t.Parallel()
	data, c := cursorOn(t, 2*bufSize)
	c.Tee = failWriter{}
	ctx := context.Background()
	if err := c.Advance(ctx, int64(len(data))); err == nil {
		t.Fatal("Advance with a failing Tee succeeded")
	}
	if err := c.Advance(ctx, int64(len(data))); err == nil {
		t.Fatal("Advance after a failed Tee succeeded")
	}
	if _, _, err := c.State(); err == nil {
		t.Fatal("State after a failed Tee succeeded")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("tee refused") }

// TestCursorPeak: Peak is unknown until Calibrate or a step of peakMin
// bytes; a step's peak is at least its bytes over the wall time it took;
// Peak is the faster of it and the calibration.
func TestCursorPeak(t *testing.T) {
	t.Parallel()
	data, c := cursorOn(t, 2<<20)
	if p := c.Peak(); p != 0 {
		t.Fatalf("Peak() of a new cursor = %v, want 0", p)
	}
	c.Calibrate()
	calib := c.Peak()
	if calib <= 0 {
		t.Fatalf("Peak() after Calibrate = %v, want > 0", calib)
	}
	// A step under peakMin does not count.
	if err := c.Advance(context.Background(), peakMin/2); err != nil {
		t.Fatal(err)
	}
	if p := c.Peak(); p != calib {
		t.Fatalf("Peak() after a step of %d bytes = %v, want the calibration %v", peakMin/2, p, calib)
	}
	start := time.Now()
	if err := c.Advance(context.Background(), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	if p := math.Float64frombits(c.peak.Load()); p < float64(bufSize)/wall.Seconds() {
		t.Fatalf("step peak = %v after %d bytes in %v, want at least %v", p, len(data)-peakMin/2, wall, float64(bufSize)/wall.Seconds())
	}
	if p, want := c.Peak(), max(math.Float64frombits(c.peak.Load()), calib); p != want {
		t.Fatalf("Peak() = %v, want the faster of the steps' peak and the calibration, %v", p, want)
	}
}

// TestCursorBufferFitsTheFile: a small file's steps read into a buffer of
// its size, not bufSize (fresh memory costs a fault a page); a larger step
// later grows it, up to bufSize, and the sum is right throughout.
func TestCursorBufferFitsTheFile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		steps []int64
		want  int
	}{
		{[]int64{1}, 64 << 10},
		{[]int64{100 << 10}, 128 << 10},
		{[]int64{256 << 10}, 256 << 10},
		{[]int64{10 << 10, 300 << 10}, 512 << 10},
		{[]int64{3 * bufSize}, bufSize},
	} {
		size := tt.steps[len(tt.steps)-1]
		data, c := cursorOn(t, int(size))
		for _, to := range tt.steps {
			if err := c.Advance(context.Background(), to); err != nil {
				t.Fatalf("Advance(%d): %v", to, err)
			}
		}
		if len(c.buf) != tt.want {
			t.Errorf("steps to %v: buffer of %d bytes, want %d", tt.steps, len(c.buf), tt.want)
		}
		if got, want := c.Sum(), sha256.Sum256(data); got != want {
			t.Errorf("steps to %v: Sum() = %x, want %x", tt.steps, got, want)
		}
	}
}
