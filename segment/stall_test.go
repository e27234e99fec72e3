package segment_test

import (
	"context"
	"errors"
	"net/http"
	"rget/origin"
	"sync/atomic"
	"testing"
	"time"

	"rget/segment"
)

// stallWriter passes n bytes of a response through, then blocks until the
// request is gone: a server that stops sending after the headers.
type stallWriter struct {
	http.ResponseWriter
	n   int
	ctx context.Context
}

func (s *stallWriter) Write(p []byte) (int, error) {
	k := 0
	if s.n > 0 {
		var err error
		k, err = s.ResponseWriter.Write(p[:min(len(p), s.n)])
		s.n -= k
		s.ResponseWriter.(http.Flusher).Flush()
		if err != nil || k == len(p) {
			return k, err
		}
	}
	<-s.ctx.Done()
	return k, s.ctx.Err()
}

// TestFetchStall: a range whose body stops flowing is dropped after the
// stall timeout and fetched again from its last written byte.
func TestFetchStall(t *testing.T) {
	t.Parallel()
	const size = 3 << 20
	o := origin.New(origin.Content{Size: size, Seed: size + 1})
	var ranged atomic.Int64
	stalling := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "bytes=0-0" && ranged.Add(1) <= 2 {
			w = &stallWriter{ResponseWriter: w, n: 100_000, ctx: r.Context()}
		}
		o.ServeHTTP(w, r)
	})
	srv, err := origin.Start(stalling)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, err := fetch(t, srv.URL+"/file", 2, 1<<20, segment.Options{StallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
	}
	// Each stalled range was retried after the stall timeout, or taken over
	// by an idle connection before that (on a loaded machine).
	moved := res.prog.Retries.Load() + res.prog.Recycled.Load() + int64(res.plan.Splits())
	if moved < 2 {
		t.Fatalf("retries+recycled+splits = %d, want at least 2 (two stalled ranges)", moved)
	}
}

// TestFetchStallGivesUp: a server that always stalls ends in ErrStalled
// after the retries, never a hang.
func TestFetchStallGivesUp(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	o := origin.New(origin.Content{Size: size, Seed: size + 1})
	stalling := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "bytes=0-0" {
			w = &stallWriter{ResponseWriter: w, n: 10, ctx: r.Context()}
		}
		o.ServeHTTP(w, r)
	})
	srv, err := origin.Start(stalling)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, err = fetch(t, srv.URL+"/file", 2, 1<<20, segment.Options{StallTimeout: 100 * time.Millisecond, Retries: 2})
	if !errors.Is(err, segment.ErrStalled) {
		t.Fatalf("fetch error = %v, want ErrStalled", err)
	}
}
