package download

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rget/internal/directio"
	"rget/origin"
)

// directHere skips the test where dir's file system has no direct I/O.
func directHere(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "probe")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	defer f.Close()
	d, err := directio.Open(path, f, f)
	if errors.Is(err, directio.ErrUnsupported) {
		t.Skipf("no direct I/O in %s: %v", dir, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// TestDirectIO: a file of minDirect or more is written mostly direct, over
// connections whose ranges start and end anywhere, and is whole; with
// DirectIO unset nothing is; an interrupted direct download resumes (its hash
// state read back direct) and finishes whole.
func TestDirectIO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	directHere(t, dir)
	const size = 3*minDirect + 4097
	c := origin.Content{Size: size, Seed: 11}
	want := c.SHA256()
	check := func(t *testing.T, res *Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.SHA256 != hex.EncodeToString(want[:]) {
			t.Fatalf("sha256 %s, want %x", res.SHA256, want)
		}
	}
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		res, err := Run(deadline(t), serve(t, origin.New(c))+"/file", Options{Dir: t.TempDir(), Connections: 7, SegmentSize: 1<<20 + 333, DirectIO: true})
		check(t, res, err)
		// (A disk slow to take them, as a loaded machine's may be,
		// stops direct writes after 16 MiB: see internal/directio.)
		if res.DirectBytes < 16<<20 {
			t.Errorf("%d bytes written direct, want 16 MiB or more of %d", res.DirectBytes, size)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		res, err := Run(deadline(t), serve(t, origin.New(c))+"/file", Options{Dir: t.TempDir(), Connections: 4})
		check(t, res, err)
		if res.DirectBytes != 0 {
			t.Errorf("%d bytes written direct without DirectIO", res.DirectBytes)
		}
	})
	t.Run("resumed", func(t *testing.T) {
		t.Parallel()
		o := origin.New(c, origin.WithRatePerConn(4e6))
		url := serve(t, o)
		ctx, cancel := context.WithCancel(deadline(t))
		opts := Options{Dir: t.TempDir(), Connections: 4, Checkpoint: 50 * time.Millisecond, DirectIO: true}
		done := make(chan error, 1)
		go func() {
			_, err := Run(ctx, url+"/file", opts)
			done <- err
		}()
		for o.BytesServed() < size/2 {
			select {
			case err := <-done:
				t.Fatalf("the first run ended before it was stopped: %v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("the stopped run reported success")
		}
		res, err := Run(deadline(t), serve(t, origin.New(c))+"/file", opts)
		check(t, res, err)
		if res.Resumed < size/4 || res.DirectBytes == 0 {
			t.Errorf("resumed %d bytes, %d written direct; want a quarter of %d resumed, and direct writes", res.Resumed, res.DirectBytes, size)
		}
	})
}

// serve starts o on 127.0.0.1 for the test and returns its URL.
func serve(t *testing.T, o *origin.Origin) string {
	t.Helper()
	srv, err := origin.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL
}
