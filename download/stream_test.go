package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rget/origin"
)

// chunked serves n bytes of c without a length and without ranges, in
// pieces, as a server streaming a generated file does.
func chunked(c origin.Content) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 100<<10)
		for off := int64(0); off < c.Size; {
			n, _ := c.ReadAt(buf[:min(int64(len(buf)), c.Size-off)], off)
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			off += int64(n)
			w.(http.Flusher).Flush()
		}
	})
}

// A server without a length nor ranges, to a Writer through a window much
// smaller than the file: everything arrives, in order.
func TestWriterStreamLongerThanWindow(t *testing.T) {
	t.Parallel()
	c := origin.Content{Size: 4<<20 + 3, Seed: 8}
	srv := httptest.NewServer(chunked(c))
	t.Cleanup(srv.Close)
	h := sha256.New()
	res, err := Run(deadline(t), srv.URL+"/f", Options{Writer: h, Window: 256 << 10, Connections: 4})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := c.SHA256()
	if got := h.Sum(nil); hex.EncodeToString(got) != hex.EncodeToString(want[:]) || res.SHA256 != hex.EncodeToString(want[:]) {
		t.Fatalf("written sha256 %x (reported %s), want %x", got, res.SHA256, want)
	}
}

// failingWriter fails once it has taken n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A Writer that fails ends the download with its error, also while a
// stream (no ranges) waits for room in the window.
func TestWriterFailureEndsTheDownload(t *testing.T) {
	t.Parallel()
	c := origin.Content{Size: 8 << 20, Seed: 9}
	for name, h := range map[string]http.Handler{"stream": chunked(c), "ranges": origin.New(c)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := Run(ctx, srv.URL+"/f", Options{Writer: &failingWriter{n: 1 << 20}, Window: 256 << 10, Connections: 4})
			if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("Run = %v (ctx %v), want the writer's error at once", err, ctx.Err())
			}
		})
	}
}

// A batch whose budget has one connection, for a file with a mirror: the
// probes do not wait for each other's slots.
func TestRunAllOneConnectionWithMirror(t *testing.T) {
	t.Parallel()
	c := origin.Content{Size: 1<<20 + 1, Seed: 10}
	a, b := httptest.NewServer(origin.New(c)), httptest.NewServer(origin.New(c))
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rs := RunAll(ctx, []Request{{URL: a.URL + "/f", Mirrors: []string{b.URL + "/f"}}}, Options{Dir: t.TempDir(), Connections: 1})
	if rs[0].Err != nil {
		t.Fatalf("RunAll: %v", rs[0].Err)
	}
	want := c.SHA256()
	if rs[0].Result.SHA256 != hex.EncodeToString(want[:]) {
		t.Fatalf("sha256 %s, want %x", rs[0].Result.SHA256, want)
	}
}

// The files of a batch share the idle connections to their host, as
// aria2c's do: 24 small files over 4 connections need a handful of TCP
// connections, not one or more each, and one request each: its probe.
func TestRunAllSharesConnections(t *testing.T) {
	t.Parallel()
	c := origin.Content{Size: 64 << 10, Seed: 11}
	o := origin.New(c)
	srv := httptest.NewUnstartedServer(o)
	var dialed atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var reqs []Request
	for i := range 24 {
		reqs = append(reqs, Request{URL: fmt.Sprintf("%s/f?i=%d", srv.URL, i), Output: fmt.Sprintf("f%02d", i)})
	}
	rs := RunAll(ctx, reqs, Options{Dir: t.TempDir(), Connections: 4})
	want := c.SHA256()
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("file %d: %v", i, r.Err)
		}
		if r.Result.SHA256 != hex.EncodeToString(want[:]) {
			t.Fatalf("file %d: sha256 %s, want %x", i, r.Result.SHA256, want)
		}
	}
	// At most the budget's 4 in flight, and a few more that a file's end
	// closes or the Transport counts while closing.
	if n := dialed.Load(); n > 12 {
		t.Errorf("%d TCP connections for 24 files over 4 connections, want at most 12", n)
	}
	// Each file is its probe's answer (segment.Options.FirstRange).
	if n := o.Requests(); n != 24 {
		t.Errorf("%d requests for 24 files of 64 KiB, want 24", n)
	}
}
