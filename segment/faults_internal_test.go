package segment

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"rget/origin"
	"syscall"
	"testing"
	"time"
)

// TestRetryDelay: the wait before a retry is the backoff, or the server's
// Retry-After when that is longer (capped at 5 minutes).
func TestRetryDelay(t *testing.T) {
	t.Parallel()
	zero := func(int) time.Duration { return 0 }
	fixed := func(int) time.Duration { return 2 * time.Second }
	for _, tc := range []struct {
		name    string
		err     error
		backoff func(int) time.Duration
		want    time.Duration
	}{
		{"503 Retry-After 1", &StatusError{Code: 503, RetryAfter: time.Second}, zero, time.Second},
		{"wrapped 429 Retry-After 7", fmt.Errorf("range [0,10): %w", &StatusError{Code: 429, RetryAfter: 7 * time.Second}), zero, 7 * time.Second},
		{"backoff longer than Retry-After", &StatusError{Code: 503, RetryAfter: time.Second}, fixed, 2 * time.Second},
		{"Retry-After capped", &StatusError{Code: 503, RetryAfter: 24 * time.Hour}, zero, 5 * time.Minute},
		{"503 without Retry-After", &StatusError{Code: 503}, fixed, 2 * time.Second},
		{"reset", syscall.ECONNRESET, zero, 0},
	} {
		if got := retryDelay(tc.err, 1, tc.backoff); got != tc.want {
			t.Errorf("%s: retryDelay(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestDefaultBackoff: exponential from 250 ms to 15 s, each wait within
// ±50% of its step (jitter), and not all the same.
func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 12; attempt++ {
		step := min(250*time.Millisecond<<min(attempt-1, 6), 15*time.Second)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := defaultBackoff(attempt)
			if d < step/2 || d >= step/2+step {
				t.Fatalf("defaultBackoff(%d) = %v, want in [%v, %v)", attempt, d, step/2, step/2+step)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Errorf("defaultBackoff(%d): %d distinct waits in 200, want jitter", attempt, len(seen))
		}
	}
}

// retryAfterServer answers every request with 503 and the Retry-After value
// the request's path names (after the slash, unescaped).
func retryAfterServer(t *testing.T) string {
	t.Helper()
	srv, err := origin.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, err := url.PathUnescape(r.URL.EscapedPath()[1:]); err == nil && v != "" {
			w.Header().Set("Retry-After", v)
		}
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL
}

// TestStatusErrorRetryAfter parses Retry-After from real 503 answers.
func TestStatusErrorRetryAfter(t *testing.T) {
	t.Parallel()
	base := retryAfterServer(t)
	client := NewClient(ClientOptions{})
	defer client.CloseIdleConnections()
	in30 := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		value    string
		min, max time.Duration
	}{
		{"1", time.Second, time.Second},
		{"120", 2 * time.Minute, 2 * time.Minute},
		{in30, 28 * time.Second, 30 * time.Second},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0}, // in the past
		{"-5", 0, 0},
		{"soon", 0, 0},
		{"", 0, 0},
	} {
		resp, err := client.Get(base + "/" + url.PathEscape(tc.value))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		se := statusError(resp)
		if se.Code != 503 || se.RetryAfter < tc.min || se.RetryAfter > tc.max {
			t.Errorf("Retry-After %q: %+v, want 503 and a wait in [%v, %v]", tc.value, se, tc.min, tc.max)
		}
	}
}

// TestProbeHonorsRetryAfter: after a 503 with Retry-After: 1, the probe
// waits for it, although the backoff is zero: a context that ends after
// 150 ms ends the wait, before any second request.
func TestProbeHonorsRetryAfter(t *testing.T) {
	t.Parallel()
	base := retryAfterServer(t)
	client := NewClient(ClientOptions{})
	defer client.CloseIdleConnections()
	var traces []Trace
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Probe(ctx, client, base+"/1", Options{
		Retries: 5, Backoff: func(int) time.Duration { return 0 },
		Trace: func(tr Trace) { traces = append(traces, tr) },
	})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.RetryAfter != time.Second {
		t.Fatalf("Probe error = %v, want the 503 with Retry-After 1s", err)
	}
	if len(traces) != 1 {
		t.Fatalf("%d requests before the deadline, want 1 (the retry waits for Retry-After)", len(traces))
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Probe returned after %v: the wait ignored the context", el)
	}
}

// TestRetryable is the retry classification, one case per kind of failure.
func TestRetryable(t *testing.T) {
	t.Parallel()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{syscall.ECONNRESET, true},
		{fmt.Errorf("range [0,5): body ended at 3: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("x: %w", ErrStalled), true},
		{timeout, true},
		{&url.Error{Op: "Get", URL: "http://h/", Err: timeout}, true},
		{&StatusError{Code: 408}, true},
		{&StatusError{Code: 429}, true},
		{&StatusError{Code: 500}, true},
		{&StatusError{Code: 503}, true},
		{&StatusError{Code: 401}, false},
		{&StatusError{Code: 403}, false},
		{&StatusError{Code: 404}, false},
		{&StatusError{Code: 410}, false},
		{&StatusError{Code: 416}, false},
		{fmt.Errorf("x: %w", ErrChanged), false},
		{fmt.Errorf("x: %w", ErrRangeIgnored), false},
		{&RangeError{Asked: "bytes=0-9", Got: "bytes 1-10/20", Reason: "not the range asked for"}, false},
		{&url.Error{Op: "Get", URL: "https://h/", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, false},
		{fmt.Errorf("range [0,5): %w", &LocalError{fmt.Errorf("write [0,5): %w", syscall.ENOSPC)}), false},
		{&os.PathError{Op: "write", Path: "/x/out.part", Err: syscall.EIO}, false},
		{permanentError{fmt.Errorf("unsupported Content-Encoding %q", "br")}, false},
		{&url.Error{Op: "Get", URL: "https://h/", Err: permanentError{errors.New("refusing redirect")}}, false},
		// Garbage on a reused connection: the transport drops it, so a
		// retry goes out on a fresh one.
		{&url.Error{Op: "Get", URL: "http://h/", Err: errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP status code "\x00\x01"`)}, true},
		{errors.New("unexpected protocol garbage"), true},
	} {
		if got := retryable(context.Background(), tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if retryable(done, tc.err) {
			t.Errorf("retryable(done context, %v) = true, want false", tc.err)
		}
	}
}

// TestRemoteHeader: credentials go to the final URL only when it is the
// host they were given for (or a subdomain of it) and not downgraded to
// plain http.
func TestRemoteHeader(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Authorization", "Bearer secret")
	h.Set("Cookie", "session=secret")
	h.Set("User-Agent", "test")
	for _, tc := range []struct {
		from, to string
		keep     bool
	}{
		{"http://127.0.0.1:1/f", "http://127.0.0.1:1/f", true},
		{"http://127.0.0.1:1/f", "http://127.0.0.1:2/g", true}, // same host, as net/http
		{"https://example.com/f", "https://cdn.example.com/f", true},
		{"https://example.com/f", "https://EXAMPLE.com/g", true},
		{"http://127.0.0.1:1/f", "http://localhost:1/f", false},
		{"https://example.com/f", "https://example.org/f", false},
		{"https://example.com/f", "https://badexample.com/f", false},
		{"https://cdn.example.com/f", "https://example.com/f", false},
		{"https://example.com/f", "http://example.com/f", false},
		{"http://[::1]:1/f", "http://[::1]:2/f", true},
	} {
		r := &Remote{URL: tc.from, FinalURL: tc.to}
		got := r.Header(h)
		kept := got.Get("Authorization") != "" || got.Get("Cookie") != ""
		if kept != tc.keep || got.Get("User-Agent") != "test" {
			t.Errorf("%s -> %s: Header = %v, want credentials kept=%v and the other headers", tc.from, tc.to, got, tc.keep)
		}
	}
	if h.Get("Authorization") == "" || h.Get("Cookie") == "" {
		t.Fatalf("Header changed its argument: %v", h)
	}
}

// FuzzDispositionFilename: whatever a server sends, dispositionFilename
// returns without panicking; and any name a server can encode in
// Content-Disposition (mime.FormatMediaType: quoted, or RFC 2231 encoded)
// comes back unchanged, to be sanitized by FileName.
func FuzzDispositionFilename(f *testing.F) {
	for _, s := range []string{"a.bin", "../../etc/passwd", "résumé.pdf", `a"b\c`, "a;b=c", "x\x00y", "", " lead", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		_ = dispositionFilename(name)
		_ = dispositionFilename("attachment; filename=" + name)
		_ = dispositionFilename("attachment; filename*=" + name)
		v := mime.FormatMediaType("attachment", map[string]string{"filename": name})
		if v == "" {
			return // not encodable
		}
		if got := dispositionFilename(v); got != name {
			t.Fatalf("dispositionFilename(%q) = %q, want %q", v, got, name)
		}
	})
}
