package merge

import (
	"context"
	"testing"
)

// TestViewFault: a file truncated while its mapped bytes are read is an
// error from view (the runtime's fault turned into a recovered panic), not
// a crash of the program.
func TestViewFault(t *testing.T) {
	t.Parallel()
	f, _ := partFile(t, randBytes(t, 1<<20))
	defer f.Close()
	v := newViewer(f)
	var sum byte
	_, err := v.View(0, 1<<20, func(b []byte) error {
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		for _, x := range b {
			sum += x
		}
		return nil
	})
	if err == nil {
		t.Fatalf("view of a truncated file succeeded (sum %d)", sum)
	}
	t.Logf("view: %v", err)
}

// TestCursorBrokenByFault: after a fault part-way through a step, the
// cursor neither goes on nor saves a hash state that the journal would
// resume from.
func TestCursorBrokenByFault(t *testing.T) {
	t.Parallel()
	data := randBytes(t, 1<<20)
	f, _ := partFile(t, data)
	defer f.Close()
	c := NewCursor(f)
	var last byte
	c.Tee = writerFunc(func(b []byte) (int, error) {
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		last = b[len(b)-1]
		return len(b), nil
	})
	ctx := context.Background()
	if err := c.Advance(ctx, int64(len(data))); err == nil {
		t.Fatalf("Advance over a file truncated mid-step succeeded (last byte %d)", last)
	}
	if _, _, err := c.State(); err == nil {
		t.Fatal("State() after a broken step succeeded")
	}
	if err := c.Advance(ctx, int64(len(data))); err == nil {
		t.Fatal("a broken cursor advanced")
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(b []byte) (int, error) { return w(b) }
