package segment_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rget/origin"
	"rget/segment"
)

// firstRun is one download whose probe asked for the first range
// (Options.FirstRange): what it wrote, and what the probe and the fetch did.
type firstRun struct {
	sum    [32]byte
	err    error
	traces []segment.Trace
	prog   *segment.Progress
}

// fetchFirst probes url for its first first bytes, keeping the answer, and
// fetches it over conns connections in ranges of seg bytes, into a file
// whose first done bytes (the content's) a previous run wrote, under
// budget if set (holding a slot for the probe, as a batch does).
func fetchFirst(t *testing.T, url string, c origin.Content, conns int, seg, first, done int64, budget *segment.Budget, opts segment.Options) firstRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: conns})
	defer client.CloseIdleConnections()
	var run firstRun
	var mu = make(chan struct{}, 1)
	opts.Trace = func(tr segment.Trace) {
		mu <- struct{}{}
		run.traces = append(run.traces, tr)
		<-mu
	}
	opts.Backoff = noBackoff
	if budget != nil {
		if _, err := budget.Acquire(ctx, nil, func() float64 { return segment.First }); err != nil {
			t.Fatal(err)
		}
	}
	r, err := segment.Probe(ctx, client, url, segment.Options{KeepStream: true, FirstRange: first, Trace: opts.Trace, Backoff: noBackoff})
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer r.Discard()
	if budget != nil {
		r.HoldSlot(budget)
	}
	path := filepath.Join(t.TempDir(), "out.part")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, io.LimitReader(c.Reader(), done)); err != nil {
		t.Fatal(err)
	}
	var rs []segment.Range
	for _, x := range segment.Split(r.Size, seg) {
		x.Done = min(max(done-x.Start, 0), x.End-x.Start)
		rs = append(rs, x)
	}
	led := segment.NewLedger(r.Size, rs, segment.Policy{})
	run.prog = segment.NewProgress(conns)
	opts.Connections, opts.Progress, opts.Budget = conns, run.prog, budget
	run.err = segment.Fetch(ctx, client, r, f, led, opts)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	h.Sum(run.sum[:0])
	return run
}

// check fails t unless run wrote c whole.
func (run firstRun) check(t *testing.T, c origin.Content) {
	t.Helper()
	if run.err != nil {
		t.Fatalf("fetch: %v", run.err)
	}
	if run.sum != c.SHA256() {
		t.Fatalf("sha256 %x, want %x", run.sum, c.SHA256())
	}
}

// fromZero counts the Range headers an origin served that start at 0.
func fromZero(ranges []string) int {
	n := 0
	for _, r := range ranges {
		if strings.HasPrefix(r, "bytes=0-") {
			n++
		}
	}
	return n
}

// TestFirstRange: the probe asks for the first MiB and the fetch reads its
// answer as the first range: a file of at most a MiB takes one request,
// and no file asks for its first bytes twice.
func TestFirstRange(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, size := range []int64{1, 300 << 10, mib, mib + 1, 5*mib + 3} {
		for _, conns := range []int{1, 4} {
			t.Run(fmt.Sprintf("size=%d/conns=%d", size, conns), func(t *testing.T) {
				t.Parallel()
				o, url := serve(t, size)
				run := fetchFirst(t, url, o.Content(), conns, mib, mib, 0, nil, segment.Options{})
				run.check(t, o.Content())
				if n := fromZero(o.Ranges()); n != 1 {
					t.Errorf("%d requests from offset 0 (%q), want the probe's only", n, o.Ranges())
				}
				if size <= mib {
					if n := o.Requests(); n != 1 {
						t.Errorf("%d requests for %d bytes, want 1", n, size)
					}
					if got := run.prog.Received.Load(); got != size {
						t.Errorf("received %d bytes, want %d", got, size)
					}
				}
				kept := 0
				for _, tr := range run.traces {
					if tr.Kept {
						kept++
						if tr.Range != fmt.Sprintf("bytes=0-%d", mib-1) && tr.Range != fmt.Sprintf("bytes=0-%d", size-1) {
							t.Errorf("kept trace for %q", tr.Range)
						}
					}
				}
				if kept != 2 {
					t.Errorf("%d traces marked Kept, want the probe's and its range's: %+v", kept, run.traces)
				}
			})
		}
	}
}

// TestFirstRangeResumed: when the first bytes are written already, the
// probe's answer is not read (it is closed) and the rest is fetched.
func TestFirstRangeResumed(t *testing.T) {
	t.Parallel()
	o, url := serve(t, 3<<20)
	run := fetchFirst(t, url, o.Content(), 2, 1<<20, 1<<20, 512<<10, nil, segment.Options{})
	run.check(t, o.Content())
	for _, tr := range run.traces {
		if tr.Kept && tr.Conn >= 0 {
			t.Errorf("the probe's answer was read as %s over bytes written already", tr.Range)
		}
	}
	if got, want := run.prog.Received.Load(), int64(3<<20-512<<10); got != want {
		t.Errorf("received %d bytes, want the %d not written", got, want)
	}
}

// TestFirstRangeBudget: under a budget, the probe's answer is read in the
// slot the probe held, which is then given back; unread, Discard gives it
// back.
func TestFirstRangeBudget(t *testing.T) {
	t.Parallel()
	o, url := serve(t, 3<<20+5)
	b := segment.NewBudget(1)
	run := fetchFirst(t, url, o.Content(), 2, 1<<20, 1<<20, 0, b, segment.Options{})
	run.check(t, o.Content())
	if n := fromZero(o.Ranges()); n != 1 {
		t.Errorf("%d requests from offset 0, want the probe's only", n)
	}
	if n := b.InFlight(); n != 0 {
		t.Errorf("%d slots held after the fetch, want 0", n)
	}
	if n := o.MaxConcurrent(); n > 1 {
		t.Errorf("%d requests at once under a budget of 1", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: 1})
	defer client.CloseIdleConnections()
	if _, err := b.Acquire(ctx, nil, func() float64 { return segment.First }); err != nil {
		t.Fatal(err)
	}
	r, err := segment.Probe(ctx, client, url, segment.Options{KeepStream: true, FirstRange: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !r.KeptFirst() {
		t.Fatal("the probe kept no first range")
	}
	r.HoldSlot(b)
	r.Discard()
	if n := b.InFlight(); n != 0 {
		t.Errorf("%d slots held after Discard, want 0", n)
	}
}

// cutProbe serves o, but cuts the connection of the first request (the
// probe) after n bytes of its body.
func cutProbe(o *origin.Origin, n int64) http.Handler {
	var first atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			w = &cutWriter{ResponseWriter: w, left: n}
		}
		o.ServeHTTP(w, r)
	})
}

// cutWriter aborts the response once left bytes of body are written.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
		c.ResponseWriter.Write(p)
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

// TestFirstRangeCut: the probe's answer cut short is retried from its last
// written byte like any range's.
func TestFirstRangeCut(t *testing.T) {
	t.Parallel()
	o := origin.New(origin.Content{Size: 2<<20 + 7, Seed: 3})
	srv := httptest.NewServer(cutProbe(o, 100<<10))
	t.Cleanup(srv.Close)
	run := fetchFirst(t, srv.URL+"/f", o.Content(), 2, 1<<20, 1<<20, 0, nil, segment.Options{})
	run.check(t, o.Content())
	if n := run.prog.Retries.Load(); n < 1 {
		t.Errorf("%d retries, want the cut first range retried", n)
	}
	var failed bool
	for _, tr := range run.traces {
		failed = failed || tr.Kept && tr.Conn >= 0 && tr.Err != nil
	}
	if !failed {
		t.Errorf("no failed trace for the probe's answer: %+v", run.traces)
	}
}

// rewriteFirst serves o, but answers a request for [0, asked) as if it had
// asked for [0, got) (a server that caps a range's length, or one that
// sends more than asked).
func rewriteFirst(o *origin.Origin, asked, got int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == fmt.Sprintf("bytes=0-%d", asked-1) {
			r.Header.Set("Range", fmt.Sprintf("bytes=0-%d", got-1))
		}
		o.ServeHTTP(w, r)
	})
}

// TestFirstRangeOtherAnswer: a probe answered with fewer bytes than it
// asked for keeps nothing, and the download asks for its first bytes as
// any range's; one answered with more is refused as a wrong range.
func TestFirstRangeOtherAnswer(t *testing.T) {
	t.Parallel()
	o := origin.New(origin.Content{Size: 3<<20 + 1, Seed: 8})
	srv := httptest.NewServer(rewriteFirst(o, 1<<20, 64<<10))
	t.Cleanup(srv.Close)
	// (The ranges are of 512 KiB: the server rewrites only the probe's.)
	run := fetchFirst(t, srv.URL+"/f", o.Content(), 2, 512<<10, 1<<20, 0, nil, segment.Options{})
	run.check(t, o.Content())
	for _, tr := range run.traces {
		if tr.Kept {
			t.Errorf("a shorter answer was kept: %+v", tr)
		}
	}
	if n := fromZero(o.Ranges()); n != 2 {
		t.Errorf("%d requests from offset 0 (%q), want the probe's and the first range's", n, o.Ranges())
	}

	more := httptest.NewServer(rewriteFirst(o, 1<<20, 2<<20))
	t.Cleanup(more.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: 1})
	defer client.CloseIdleConnections()
	_, err := segment.Probe(ctx, client, more.URL+"/f", segment.Options{KeepStream: true, FirstRange: 1 << 20, Retries: -1})
	var re *segment.RangeError
	if !errors.As(err, &re) {
		t.Fatalf("probe answered with 2 MiB for 1: %v, want a RangeError", err)
	}
}
