package segment_test

// Faulty servers (issue 5): each fault of a server or network ends in the
// right bytes or in a clear error that leaves no wrong byte behind it, never
// in a hang (every test runs under a context deadline) or a panic.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"rget/origin"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"rget/segment"
)

// probeRange is the Range header of the probe; faults below spare it, so
// that they hit the ranges of a download that started well.
const probeRange = "bytes=0-0"

// faultWriter applies a test's fault to one response: hook may change the
// status and headers when they are written, and the body is cut (the
// connection aborted) after cut bytes when cut >= 0.
type faultWriter struct {
	http.ResponseWriter
	hook    func(code int, h http.Header) int
	cut     int64
	written int64
}

func (w *faultWriter) WriteHeader(code int) {
	if w.hook != nil {
		code = w.hook(code, w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *faultWriter) Write(p []byte) (int, error) {
	if w.cut >= 0 && w.written+int64(len(p)) > w.cut {
		n, _ := w.ResponseWriter.Write(p[:w.cut-w.written])
		w.written += int64(n)
		w.Flush()
		panic(http.ErrAbortHandler)
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *faultWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *faultWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// startHandler serves h on loopback for the test.
func startHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv, err := origin.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL
}

// download is what fetchKeep left: the part file, the plan, and counters.
type download struct {
	path   string
	remote *segment.Remote
	plan   *segment.Ledger
	prog   *segment.Progress
}

// fetchKeep probes url and fetches it into a part file that outlives the
// fetch, so that a test can check what a failed fetch left on disk.
func fetchKeep(ctx context.Context, t *testing.T, url string, conns int, seg int64, opts segment.Options) (*download, error) {
	t.Helper()
	client := segment.NewClient(segment.ClientOptions{Connections: conns})
	defer client.CloseIdleConnections()
	if opts.Backoff == nil {
		opts.Backoff = noBackoff
	}
	r, err := segment.Probe(ctx, client, url, segment.Options{Retries: opts.Retries, Backoff: noBackoff, StallTimeout: opts.StallTimeout})
	if err != nil {
		return nil, err
	}
	d := &download{path: filepath.Join(t.TempDir(), "out.part"), remote: r, prog: segment.NewProgress(conns)}
	f, err := os.Create(d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if seg == 0 {
		seg = segment.SegmentSize(r.Size, conns)
	}
	d.plan = segment.NewLedger(r.Size, segment.Split(r.Size, seg), segment.Policy{})
	opts.Connections, opts.Progress = conns, d.prog
	return d, segment.Fetch(ctx, client, r, f, d.plan, opts)
}

// deadline bounds one test: a hang fails it instead of stalling CI.
func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkWritten checks the part file against the plan: the bytes each range
// says are done are the content's, and nothing was written past them.
func checkWritten(t *testing.T, d *download, c origin.Content) {
	t.Helper()
	got, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, c.Size)
	if _, err := c.ReadAt(want, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	for _, r := range d.plan.Snapshot() {
		done, n := r.Start+r.Done, int64(len(got))
		if r.Done > 0 && done > n {
			t.Fatalf("range %+v: file is only %d bytes", r, n)
		}
		if r.Done > 0 && !bytes.Equal(got[r.Start:done], want[r.Start:done]) {
			t.Fatalf("range %+v: bytes marked done differ from the content", r)
		}
		rest := got[min(done, n):min(r.End, n)]
		if i := bytes.IndexFunc(rest, func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("range %+v: byte %d written past the %d bytes done", r, done+int64(i), r.Done)
		}
	}
}

// TestFaultPermanentStatus: a range answered 401, 403, 404 or 410 in the
// middle of a download stops it at once with that status: no retry.
func TestFaultPermanentStatus(t *testing.T) {
	t.Parallel()
	for _, code := range []int{401, 403, 404, 410} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			const size = 3 << 20
			o := origin.New(origin.Content{Size: size, Seed: 3})
			var requests atomic.Int64
			url := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if r.Header.Get("Range") != probeRange {
					http.Error(w, "no", code)
					return
				}
				o.ServeHTTP(w, r)
			})) + "/file"
			d, err := fetchKeep(deadline(t), t, url, 1, 1<<20, segment.Options{Retries: 5})
			var se *segment.StatusError
			if !errors.As(err, &se) || se.Code != code {
				t.Fatalf("fetch error = %v, want *StatusError %d", err, code)
			}
			if n := requests.Load(); n != 2 {
				t.Errorf("%d requests, want 2 (the probe and one range, no retry)", n)
			}
			if n := d.prog.Retries.Load(); n != 0 {
				t.Errorf("Retries = %d, want 0", n)
			}
			checkWritten(t, d, o.Content())
		})
	}
}

// TestFaultTransientStatus: 408, 429 and 5xx answers to ranges are retried
// and the file comes out right.
func TestFaultTransientStatus(t *testing.T) {
	t.Parallel()
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			const size = 2<<20 + 1
			o, url := serve(t, size, origin.WithFailFirst(3, code))
			_, clean := serve(t, size)
			res, err := fetchVia(t, clean, url, 2, 1<<20, segment.Options{})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if res.sum != o.Content().SHA256() {
				t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
			}
			if n := res.prog.Retries.Load(); n != 3 {
				t.Errorf("Retries = %d, want 3", n)
			}
		})
	}
}

// TestFaultResumesFromLastByte: a range whose body is cut is asked again
// from the byte after the last one written, so the bytes served add up to
// the file (plus the probe's one byte), and each request starts where the
// previous one was cut.
func TestFaultResumesFromLastByte(t *testing.T) {
	t.Parallel()
	const size, cut = 1 << 20, 300_000
	o, url := serve(t, size, origin.WithCutAfter(cut))
	res, err := fetch(t, url, 1, size, segment.Options{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
	}
	want := []string{probeRange}
	for start := int64(0); start < size; start += cut {
		want = append(want, fmt.Sprintf("bytes=%d-%d", start, size-1))
	}
	if got := o.Ranges(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", got, want)
	}
	// The origin counts a response's bytes as its handler's writes
	// return, which may be just after the client has read them.
	waitFor(t, func() bool { return o.BytesServed() >= size+1 })
	if served := o.BytesServed(); served != size+1 {
		t.Errorf("served %d bytes, want %d (the file and the probe's byte)", served, size+1)
	}
}

// stallHandler serves o, but the first n requests other than the probe (or
// only the probe, if probe is set) stall: before their headers (after =
// false) or right after them, until the client gives up.
func stallHandler(o *origin.Origin, n int64, probe, after bool) http.Handler {
	var count atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Header.Get("Range") == probeRange) == probe && count.Add(1) <= n {
			if !after {
				<-r.Context().Done()
				return
			}
			w = &stallBody{w, r.Context()}
		}
		o.ServeHTTP(w, r)
	})
}

// stallBody sends the headers of a response, then nothing: its first body
// write blocks until the client is gone.
type stallBody struct {
	http.ResponseWriter
	ctx context.Context
}

func (s stallBody) Write([]byte) (int, error) {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

// TestFaultStall: a request that stalls before its headers, or after them
// with no body byte, is dropped after the stall timeout and retried; the
// probe too.
func TestFaultStall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		probe, after bool
	}{
		{"range before headers", false, false},
		{"range after headers", false, true},
		{"probe before headers", true, false},
		{"probe after headers", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const size = 2 << 20
			o := origin.New(origin.Content{Size: size, Seed: 9})
			url := startHandler(t, stallHandler(o, 2, tc.probe, tc.after)) + "/file"
			d, err := fetchKeep(deadline(t), t, url, 2, 1<<20, segment.Options{StallTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			checkWritten(t, d, o.Content())
			if got := d.plan.Prefix(); got != size {
				t.Fatalf("Prefix() = %d, want %d", got, size)
			}
		})
	}
}

// TestFaultStallForever: a probe that always stalls ends in ErrStalled
// after its retries, never in a hang.
func TestFaultStallForever(t *testing.T) {
	t.Parallel()
	o := origin.New(origin.Content{Size: 10, Seed: 1})
	url := startHandler(t, stallHandler(o, 1<<40, true, true)) + "/file"
	_, err := fetchKeep(deadline(t), t, url, 1, 0, segment.Options{StallTimeout: 100 * time.Millisecond, Retries: 2})
	if !errors.Is(err, segment.ErrStalled) {
		t.Fatalf("error = %v, want ErrStalled", err)
	}
}

// lie rewrites the answers to ranges (not to the probe) with hook, and cuts
// their bodies after cut bytes when cut >= 0.
func lie(o *origin.Origin, cut int64, hook func(code int, h http.Header) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != probeRange {
			w = &faultWriter{ResponseWriter: w, hook: hook, cut: cut}
		}
		o.ServeHTTP(w, r)
	})
}

// TestFaultResponseChecks: every answer to a range is checked before a byte
// of it is written: status, Content-Range (start, end, total), the
// Content-Length against it, Content-Encoding, and the validator. Each lie
// ends the download with its error, at once, and with no wrong byte on disk;
// a body that merely ends early is retried.
func TestFaultResponseChecks(t *testing.T) {
	t.Parallel()
	const size = 3 << 20
	isRange := func(err error) bool {
		var re *segment.RangeError
		return errors.As(err, &re)
	}
	for _, tc := range []struct {
		name  string
		cut   int64
		hook  func(code int, h http.Header) int
		check func(error) bool // nil: the download must succeed
	}{
		{"Content-Range shifted", -1, func(code int, h http.Header) int {
			var a, b, n int64
			fmt.Sscanf(h.Get("Content-Range"), "bytes %d-%d/%d", &a, &b, &n)
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a+1, b+1, n))
			return code
		}, isRange},
		{"Content-Range wrong total", -1, func(code int, h http.Header) int {
			var a, b, n int64
			fmt.Sscanf(h.Get("Content-Range"), "bytes %d-%d/%d", &a, &b, &n)
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, n+1))
			return code
		}, isRange},
		{"Content-Range unknown total", -1, func(code int, h http.Header) int {
			var a, b, n int64
			fmt.Sscanf(h.Get("Content-Range"), "bytes %d-%d/%d", &a, &b, &n)
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", a, b))
			return code
		}, isRange},
		{"Content-Range missing", -1, func(code int, h http.Header) int {
			h.Del("Content-Range")
			return code
		}, isRange},
		{"Content-Range garbage", -1, func(code int, h http.Header) int {
			h.Set("Content-Range", "bytes 0-x/y")
			return code
		}, isRange},
		{"Content-Length shorter than the range", -1, func(code int, h http.Header) int {
			h.Set("Content-Length", "500000")
			return code
		}, isRange},
		{"206 gzip-encoded", -1, func(code int, h http.Header) int {
			h.Set("Content-Encoding", "gzip")
			return code
		}, isRange},
		{"ETag changed, Range still served", -1, func(code int, h http.Header) int {
			h.Set("ETag", `"other"`)
			return code
		}, func(err error) bool { return errors.Is(err, segment.ErrChanged) }},
		{"416", -1, func(code int, h http.Header) int {
			return http.StatusRequestedRangeNotSatisfiable
		}, func(err error) bool {
			var se *segment.StatusError
			return errors.As(err, &se) && se.Code == 416
		}},
		{"body ends early", 400_000, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := origin.New(origin.Content{Size: size, Seed: 11})
			url := startHandler(t, lie(o, tc.cut, tc.hook)) + "/file"
			d, err := fetchKeep(deadline(t), t, url, 2, 1<<20, segment.Options{Retries: 20})
			switch {
			case tc.check == nil && err != nil:
				t.Fatalf("fetch: %v", err)
			case tc.check == nil && d.prog.Retries.Load() == 0:
				t.Errorf("no retry counted")
			case tc.check != nil && !tc.check(err):
				t.Fatalf("fetch error = %v, want the lie reported", err)
			case tc.check != nil && d.prog.Retries.Load() != 0:
				t.Errorf("a lie was retried %d times", d.prog.Retries.Load())
			}
			if d != nil {
				checkWritten(t, d, o.Content())
			}
		})
	}
}

// TestFaultRangeDropped: a 200 to a ranged request in the middle of a
// download (the server stopped honoring Range) ends the download with a
// clear error, and the full body is never written at a range's offset.
func TestFaultRangeDropped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []origin.Option
		want []error
	}{
		// The 200 carries the pinned ETag: the same file, Range dropped.
		{"strong ETag", nil, []error{segment.ErrRangeIgnored}},
		// Neither a strong ETag nor Last-Modified: no If-Range is sent.
		{"no validator", []origin.Option{origin.WithWeakETag(), origin.WithLastModified(time.Time{})}, []error{segment.ErrRangeIgnored}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const size = 4 << 20
			// The probe and the first range are served as ranges (later
			// requests may join several planned ranges into one).
			o := origin.New(origin.Content{Size: size, Seed: 5}, append(tc.opts, origin.WithNoRangeAfter(2))...)
			url := startHandler(t, o) + "/file"
			d, err := fetchKeep(deadline(t), t, url, 1, 1<<20, segment.Options{Retries: 5})
			ok := false
			for _, w := range tc.want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("fetch error = %v, want one of %v", err, tc.want)
			}
			if got := d.plan.Done(); got != 1<<20 {
				t.Errorf("Done() = %d, want the range served before", got)
			}
			checkWritten(t, d, o.Content())
		})
	}
}

// encoded serves c compressed with enc ("gzip" or "zstd") as
// Content-Encoding, whatever the request asked; with ranges, it serves byte
// ranges of the compressed form (as a server that compresses on the fly
// and caches the result would). cut >= 0 cuts the first response after cut
// bytes of the compressed body.
func encoded(t *testing.T, c origin.Content, enc string, ranges bool, cut int64) string {
	t.Helper()
	plain := make([]byte, c.Size)
	if _, err := c.ReadAt(plain, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	var z bytes.Buffer
	switch enc {
	case "gzip":
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		zw.Write(plain)
		zw.Close()
	case "zstd":
		zw, err := zstd.NewWriter(&z)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(plain)
		zw.Close()
	}
	var first atomic.Bool
	return startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", enc)
		w.Header().Set("ETag", `"z-`+enc+`"`)
		if cut >= 0 && r.Header.Get("Range") != probeRange && first.CompareAndSwap(false, true) {
			w = &faultWriter{ResponseWriter: w, cut: cut}
		}
		if !ranges {
			r = r.Clone(r.Context())
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(z.Bytes()))
	})) + "/file.bin"
}

// TestFaultContentEncoding: a single stream that arrives gzip- or
// zstd-encoded although identity was asked is decoded; the file, and so its
// SHA-256, is the decoded content. A compressed body cut short is retried,
// never taken for the end of the file.
func TestFaultContentEncoding(t *testing.T) {
	t.Parallel()
	const size = 2<<20 + 7
	c := origin.Content{Size: size, Seed: 21}
	for _, enc := range []string{"gzip", "zstd"} {
		for _, tc := range []struct {
			name   string
			ranges bool
			cut    int64
		}{
			{"200", false, -1},
			{"206 to the probe", true, -1},
			{"cut once", false, 1 << 20},
		} {
			t.Run(enc+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				url := encoded(t, c, enc, tc.ranges, tc.cut)
				d, err := fetchKeep(deadline(t), t, url, 4, 0, segment.Options{})
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				if d.remote.Size != -1 || d.remote.Ranges || d.remote.Encoding != enc {
					t.Errorf("Probe: Size %d, Ranges %v, Encoding %q; want an unknown size, no ranges, %s",
						d.remote.Size, d.remote.Ranges, d.remote.Encoding, enc)
				}
				if got := d.plan.Size(); got != size {
					t.Fatalf("Size() = %d, want %d", got, size)
				}
				b, err := os.ReadFile(d.path)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := sha256.Sum256(b), c.SHA256(); got != want {
					t.Fatalf("sha256 %x, want %x (of the decoded bytes)", got, want)
				}
			})
		}
	}
}

// TestFaultContentEncodingAlwaysCut: a compressed stream that is cut every
// time fails after its retries; it never ends as a short "complete" file.
func TestFaultContentEncodingAlwaysCut(t *testing.T) {
	t.Parallel()
	c := origin.Content{Size: 1 << 20, Seed: 2}
	plain := make([]byte, c.Size)
	c.ReadAt(plain, 0)
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	zw.Write(plain)
	zw.Close()
	url := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		if r.Header.Get("Range") != probeRange {
			// A chunked body that ends cleanly in the middle of the
			// gzip stream: only the decoder can tell it is short.
			w.Write(z.Bytes()[:z.Len()/2])
			return
		}
		w.Write(z.Bytes())
	})) + "/file"
	_, err := fetchKeep(deadline(t), t, url, 1, 0, segment.Options{Retries: 2})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v, want io.ErrUnexpectedEOF after the retries", err)
	}
}

// TestFaultUnsupportedEncoding: an encoding rget cannot decode is a clear
// error, not retried, and nothing is written.
func TestFaultUnsupportedEncoding(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	url := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Encoding", "br")
		w.Write([]byte("not really brotli"))
	})) + "/file"
	d, err := fetchKeep(deadline(t), t, url, 1, 0, segment.Options{Retries: 3})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`unsupported Content-Encoding "br"`)) {
		t.Fatalf("error = %v, want unsupported Content-Encoding", err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (probe and stream, no retry)", n)
	}
	if b, _ := os.ReadFile(d.path); len(b) != 0 {
		t.Errorf("%d bytes written", len(b))
	}
}

// TestFaultFlakyStream: a server without ranges that cuts every answer a
// little further on is read to the end: each retry skips what is written,
// and only failures in a row count against the retries.
func TestFaultFlakyStream(t *testing.T) {
	t.Parallel()
	const size, step = 3 << 20, 200_000 // 16 cuts, twice the default retries
	o := origin.New(origin.Content{Size: size, Seed: 4}, origin.WithNoRange())
	var n atomic.Int64
	url := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != probeRange {
			w = &faultWriter{ResponseWriter: w, cut: n.Add(1) * step}
		}
		o.ServeHTTP(w, r)
	})) + "/file"
	d, err := fetchKeep(deadline(t), t, url, 1, 0, segment.Options{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	checkWritten(t, d, o.Content())
	if got := d.plan.Prefix(); got != size {
		t.Fatalf("Prefix() = %d, want %d", got, size)
	}
	if got := d.prog.Retries.Load(); got < 15 {
		t.Errorf("Retries = %d, want at least 15", got)
	}
}

// TestFaultFlakyRanges: a big range cut every 300 kB (14 times, more than
// the default 8 retries) is read to its end: only failures in a row count.
func TestFaultFlakyRanges(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	o, url := serve(t, size, origin.WithCutAfter(300_000))
	d, err := fetchKeep(deadline(t), t, url, 1, size, segment.Options{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	checkWritten(t, d, o.Content())
	if got := d.prog.Retries.Load(); got != 13 {
		t.Errorf("Retries = %d, want 13", got)
	}
}
