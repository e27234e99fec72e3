package segment_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"rget/origin"
	"sync/atomic"
	"testing"
	"time"

	"rget/segment"
)

// noBackoff retries at once: tests never sleep.
func noBackoff(int) time.Duration { return 0 }

// result is what one test download produced.
type result struct {
	sum    [32]byte
	size   int64
	remote *segment.Remote
	plan   *segment.Ledger
	prog   *segment.Progress
}

// fetch downloads url with conns connections and segments of seg bytes (0:
// the default) into a temp file, and hashes what was written.
func fetch(t *testing.T, url string, conns int, seg int64, opts segment.Options) (*result, error) {
	t.Helper()
	return fetchWith(t, url, conns, seg, segment.Policy{}, opts)
}

// fetchWith is fetch with the ledger's policy pol.
func fetchWith(t *testing.T, url string, conns int, seg int64, pol segment.Policy, opts segment.Options) (*result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: conns})
	defer client.CloseIdleConnections()
	r, err := segment.Probe(ctx, client, url, segment.Options{Retries: opts.Retries, Backoff: noBackoff})
	if err != nil {
		return nil, err
	}
	return fetchPolicy(ctx, t, client, r, conns, seg, pol, opts)
}

func fetchRemote(ctx context.Context, t *testing.T, client *http.Client, r *segment.Remote, conns int, seg int64, opts segment.Options) (*result, error) {
	t.Helper()
	return fetchPolicy(ctx, t, client, r, conns, seg, segment.Policy{}, opts)
}

// fetchPolicy is fetchRemote with the ledger's policy pol.
func fetchPolicy(ctx context.Context, t *testing.T, client *http.Client, r *segment.Remote, conns int, seg int64, pol segment.Policy, opts segment.Options) (*result, error) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "out.part"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if seg == 0 {
		seg = segment.SegmentSize(r.Size, conns)
	}
	plan := segment.NewLedger(r.Size, segment.Split(r.Size, seg), pol)
	prog := segment.NewProgress(conns)
	opts.Connections = conns
	if opts.Progress == nil {
		opts.Progress = prog
	}
	if opts.Backoff == nil {
		opts.Backoff = noBackoff
	}
	if err := segment.Fetch(ctx, client, r, f, plan, opts); err != nil {
		return &result{remote: r, plan: plan, prog: prog}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	res := &result{size: n, remote: r, plan: plan, prog: prog}
	h.Sum(res.sum[:0])
	return res, nil
}

// serveProbed serves o (with Start's options opts) and returns it probed
// through another origin of the same content: the probe is not among o's
// requests (nor its gauge's, nor held by its hold).
func serveProbed(ctx context.Context, t *testing.T, client *http.Client, o *origin.Origin, opts ...origin.Option) *segment.Remote {
	t.Helper()
	srv, err := origin.Start(o, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	probe, err := origin.Start(origin.New(o.Content()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { probe.Close() })
	r, err := segment.Probe(ctx, client, probe.URL+"/f", segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.FinalURL = srv.URL + "/f"
	return r
}

// fetchVia probes probeURL and fetches the same content from fetchURL: a
// faulty origin's faults then hit the ranges, not the probe.
func fetchVia(t *testing.T, probeURL, fetchURL string, conns int, seg int64, opts segment.Options) (*result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: conns})
	defer client.CloseIdleConnections()
	r, err := segment.Probe(ctx, client, probeURL, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.FinalURL = fetchURL
	return fetchRemote(ctx, t, client, r, conns, seg, opts)
}

// serve starts an origin over size bytes of content with opts.
func serve(t *testing.T, size int64, opts ...origin.Option) (*origin.Origin, string) {
	t.Helper()
	o := origin.New(origin.Content{Size: size, Seed: uint64(size) + 1}, opts...)
	srv, err := origin.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return o, srv.URL + "/file"
}

// TestFetchSizes: every size at the edges of the plan, over 1, 3, 8 and 64
// connections, lands byte for byte.
func TestFetchSizes(t *testing.T) {
	t.Parallel()
	const seg = 1 << 20
	sizes := []int64{0, 1, 2, seg - 1, seg, seg + 1, 38797379} // the last is a prime near 37 MiB
	for _, size := range sizes {
		for _, conns := range []int{1, 3, 8, 64} {
			t.Run(fmt.Sprintf("size=%d/conns=%d", size, conns), func(t *testing.T) {
				t.Parallel()
				o, url := serve(t, size)
				res, err := fetch(t, url, conns, seg, segment.Options{})
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				if res.size != size || res.sum != o.Content().SHA256() {
					t.Fatalf("got %d bytes sha256 %x, want %d bytes %x", res.size, res.sum, size, o.Content().SHA256())
				}
				if got := res.plan.Prefix(); got != size {
					t.Errorf("Prefix() = %d, want %d", got, size)
				}
				if got := res.prog.Received.Load(); got < size {
					t.Errorf("Received = %d, want at least %d", got, size)
				}
			})
		}
	}
}

// TestFetchRunsConnectionsAtOnce: with N connections, N range requests are
// in flight together. The fetching origin holds every request until N have
// arrived, so the test would hang (and time out) with fewer.
func TestFetchRunsConnectionsAtOnce(t *testing.T) {
	t.Parallel()
	for _, conns := range []int{3, 8, 64} {
		t.Run(fmt.Sprint(conns), func(t *testing.T) {
			t.Parallel()
			size := int64(conns) * 64 << 10
			content := origin.Content{Size: size, Seed: 7}
			probe, err := origin.Start(origin.New(content))
			if err != nil {
				t.Fatal(err)
			}
			defer probe.Close()
			release := make(chan struct{})
			var arrived atomic.Int64
			held := origin.New(content,
				origin.WithOnRequest(func(*http.Request) {
					if arrived.Add(1) == int64(conns) {
						close(release)
					}
				}),
				origin.WithHold(release))
			srv, err := origin.Start(held)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			client := segment.NewClient(segment.ClientOptions{Connections: conns})
			defer client.CloseIdleConnections()
			r, err := segment.Probe(ctx, client, probe.URL+"/file", segment.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r.FinalURL = srv.URL + "/file" // same content, same ETag
			res, err := fetchRemote(ctx, t, client, r, conns, 64<<10, segment.Options{})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if res.sum != content.SHA256() {
				t.Fatalf("sha256 %x, want %x", res.sum, content.SHA256())
			}
			if got := held.MaxConcurrent(); got != int64(conns) {
				t.Fatalf("MaxConcurrent() = %d, want %d", got, conns)
			}
		})
	}
}

func TestFetchNoRange(t *testing.T) {
	t.Parallel()
	const size = 3<<20 + 17
	o, url := serve(t, size, origin.WithNoRange())
	res, err := fetch(t, url, 8, 0, segment.Options{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.remote.Ranges {
		t.Fatal("Probe said the no-Range server serves ranges")
	}
	if res.size != size || res.sum != o.Content().SHA256() {
		t.Fatalf("got %d bytes %x, want %d bytes %x", res.size, res.sum, size, o.Content().SHA256())
	}
	// The probe, then one stream.
	if got := o.Requests(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
}

func TestFetchRedirect(t *testing.T) {
	t.Parallel()
	const size = 2<<20 + 5
	o, url := serve(t, size)
	base := url[:len(url)-len("/file")]
	res, err := fetch(t, base+"/redirect/3/dir/name.bin", 4, 1<<20, segment.Options{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.remote.FinalURL != base+"/dir/name.bin" {
		t.Errorf("FinalURL = %q, want %q", res.remote.FinalURL, base+"/dir/name.bin")
	}
	if got := segment.FileName(res.remote); got != "name.bin" {
		t.Errorf("FileName = %q, want name.bin", got)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
	}
}

func TestProbeStatus(t *testing.T) {
	t.Parallel()
	_, url := serve(t, 10)
	base := url[:len(url)-len("/file")]
	for _, code := range []int{403, 404, 410, 500} {
		_, err := fetch(t, fmt.Sprintf("%s/status/%d", base, code), 2, 0, segment.Options{})
		var se *segment.StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Errorf("status %d: error %v, want *StatusError with that code", code, err)
		}
	}
}

func TestProbeUnreachable(t *testing.T) {
	t.Parallel()
	_, url := serve(t, 10)
	srvURL := url[:len(url)-len("/file")]
	// A port nobody listens on: take one and close it.
	o := origin.New(origin.Content{Size: 1})
	srv, err := origin.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	dead := srv.URL + "/file"
	srv.Close()
	if _, err := fetch(t, dead, 2, 0, segment.Options{}); err == nil {
		t.Fatalf("fetch from a closed port succeeded (server %s)", srvURL)
	}
}

// TestFetchRetriesTransient: 5xx answers and cut bodies are retried, each
// range resuming from its last written byte, and the file is right.
func TestFetchRetriesTransient(t *testing.T) {
	t.Parallel()
	const size = 4<<20 + 3
	for _, tc := range []struct {
		name string
		opt  origin.Option
	}{
		{"503 first", origin.WithFailFirst(3, http.StatusServiceUnavailable)},
		{"cut bodies", origin.WithCutAfter(300_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, url := serve(t, size, tc.opt)
			_, clean := serve(t, size)
			res, err := fetchVia(t, clean, url, 4, 1<<20, segment.Options{Retries: 30})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if res.sum != o.Content().SHA256() {
				t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
			}
			if res.prog.Retries.Load() == 0 {
				t.Error("no retries counted")
			}
			// Resuming from the last byte: at most one buffer re-sent per cut.
			if served := o.BytesServed(); served > 2*size {
				t.Errorf("served %d bytes for a %d-byte file", served, size)
			}
		})
	}
}

// TestFetchPermanentFailures: what must stop the download at once.
func TestFetchPermanentFailures(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	for _, tc := range []struct {
		name  string
		opt   origin.Option
		check func(error) bool
	}{
		{"etag changes", origin.WithChangeETagAfter(2), func(err error) bool { return errors.Is(err, segment.ErrChanged) }},
		{"lying Content-Range", origin.WithLieContentRange(), func(err error) bool {
			var re *segment.RangeError
			return errors.As(err, &re)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, url := serve(t, size, tc.opt)
			_, clean := serve(t, size)
			_, err := fetchVia(t, clean, url, 4, 1<<20, segment.Options{Retries: 3})
			if !tc.check(err) {
				t.Fatalf("fetch error = %v", err)
			}
		})
	}
}

// TestFetchPersistent500: a server that keeps failing ends in a StatusError
// after the retries, not a hang.
func TestFetchPersistent500(t *testing.T) {
	t.Parallel()
	_, url := serve(t, 2<<20, origin.WithFailFirst(1000, http.StatusInternalServerError))
	// The probe itself fails first: that is the StatusError.
	_, err := fetch(t, url, 2, 0, segment.Options{Retries: 2})
	var se *segment.StatusError
	if !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("error = %v, want *StatusError 500", err)
	}
}

// TestAutoStartsHigherFarAway: -c auto starts at twice AutoStart when the
// probe finds the server on a long path (20 ms per request here): 16
// connections have begun when the search first changes the count (8
// latencies of settling and a window later), or by the end if it never
// does; at 8, the 9th to 16th begin only after that change.
func TestAutoStartsHigherFarAway(t *testing.T) {
	t.Parallel()
	o, url := serve(t, 32<<20, origin.WithLatency(20*time.Millisecond))
	prog := segment.NewProgress(64)
	// began counts the first 16 connections that have begun: the ones a
	// change of count lets in may begin before OnScale is told of it.
	began := func() int {
		n := 0
		for i := range 2 * segment.AutoStart {
			if prog.Conns[i].Received.Load() > 0 || prog.Conns[i].End.Load() > 0 {
				n++
			}
		}
		return n
	}
	atFirst := -1 // connections under way at the first change of count
	res, err := fetch(t, url, 64, 1<<20, segment.Options{Auto: true, Progress: prog, OnScale: func(int, string) {
		if atFirst < 0 {
			atFirst = began()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
	}
	if atFirst < 0 {
		atFirst = began()
	}
	if atFirst != 2*segment.AutoStart {
		t.Fatalf("%d connections fetched before the search changed the count, want %d (the first count 20 ms away)", atFirst, 2*segment.AutoStart)
	}
}
