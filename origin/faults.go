package origin

// This file holds the origin's options and the response-writer wrapper that
// injects body-level faults (cut bodies, lying Content-Range, hidden range
// support) and counts the bytes served.

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Option configures an Origin (NewOrigin) or a Server (Start).
type Option func(*config)

// config is what the options set. Its zero value is not the default: see
// newConfig.
type config struct {
	// Connection level, applied by Start.
	ratePerConn  int64  // bytes per second for every connection; 0 = unlimited
	slowConnRate int64  // bytes per second for the slow connection; 0 = not slow
	slowConnAt   int64  // which connection to answer a request is slow, 1-based
	addr         string // listen address; "" = a free port of 127.0.0.1
	maxConns     int    // WithMaxConns; 0 = no limit

	// Request level, applied by Origin.ServeHTTP.
	latency         time.Duration
	hold            <-chan struct{}
	onRequest       func(*http.Request)
	failFirst       int
	failStatus      int
	failAfter       int // < 0: never
	failAfterStatus int
	noRange         bool
	noRangeAfter    int   // < 0: never
	cutAfter        int64 // < 0: never cut
	lieContentRange bool
	changeETagAfter int // < 0: never change
	lastModified    time.Time
	weakETag        bool
	gauge           *Gauge
}

func newConfig(opts []Option) config {
	cfg := config{
		cutAfter:        -1,
		changeETagAfter: -1,
		noRangeAfter:    -1,
		failAfter:       -1,
		lastModified:    time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	return cfg
}

// WithGauge counts the origin's requests in flight in g too, which
// several origins may share.
func WithGauge(g *Gauge) Option {
	return func(c *config) { c.gauge = g }
}

// WithRatePerConn caps the send rate of every TCP connection at bytesPerSec,
// each connection with its own token bucket (so N connections together send
// up to N times the cap). Zero or less means unlimited. Applied by Start.
func WithRatePerConn(bytesPerSec int64) Option {
	return func(c *config) { c.ratePerConn = max(bytesPerSec, 0) }
}

// WithSlowConn caps the first TCP connection the server accepts at
// bytesPerSec (or at the per-connection rate, if that is lower), so one
// connection is much slower than the others. Applied by Start.
func WithSlowConn(bytesPerSec int64) Option {
	return WithSlowConnAt(1, bytesPerSec)
}

// WithSlowConnAt is WithSlowConn for the n-th connection to answer a
// request (1 is the first): with n = 2, a client's probe goes through and
// one of its range connections is slow.
func WithSlowConnAt(n int, bytesPerSec int64) Option {
	return func(c *config) { c.slowConnRate, c.slowConnAt = max(bytesPerSec, 0), int64(n) }
}

// WithMaxConns serves at most n connections at once: a request on any
// other connection is answered 503 with Retry-After: 1 and the connection
// closed, as servers that limit clients do. Applied by Start.
func WithMaxConns(n int) Option {
	return func(c *config) { c.maxConns = n }
}

// WithLatency delays the response to every request by d, after its headers
// are read; the wait ends early if the request's context is done.
func WithLatency(d time.Duration) Option {
	return func(c *config) { c.latency = d }
}

// WithHold makes every request, once its headers are read and it is counted,
// wait until ch is closed (or the request's context is done) before it is
// answered. With WithOnRequest, a test can gather N requests in flight and
// then release them together.
func WithHold(ch <-chan struct{}) Option {
	return func(c *config) { c.hold = ch }
}

// WithOnRequest calls fn for every request as soon as it is counted, before
// WithHold, WithLatency and any fault. fn runs on the request's goroutine: a
// test can send on a channel from it to learn that a request has arrived.
func WithOnRequest(fn func(r *http.Request)) Option {
	return func(c *config) { c.onRequest = fn }
}

// WithFailFirst answers the first n requests (of any path) with status and a
// short text body. A status outside 200-599 means 503.
func WithFailFirst(n int, status int) Option {
	if status < 200 || status > 599 {
		status = http.StatusServiceUnavailable
	}
	return func(c *config) { c.failFirst, c.failStatus = n, status }
}

// WithFailAfter serves the first n requests (of any path), then answers
// every later one with status: a mirror that lost the file, or went down.
func WithFailAfter(n int, status int) Option {
	return func(c *config) { c.failAfter, c.failAfterStatus = n, status }
}

// WithNoRange makes the origin ignore Range and If-Range: every content
// request gets 200 and the full body, without an Accept-Ranges header.
func WithNoRange() Option {
	return func(c *config) { c.noRange = true }
}

// WithNoRangeAfter serves the first n requests normally, then behaves as
// WithNoRange: a server that stops honoring Range in the middle of a
// download (same file, same ETag).
func WithNoRangeAfter(n int) Option {
	return func(c *config) { c.noRangeAfter = max(n, 0) }
}

// WithCutAfter aborts every content response (200 or 206) whose body is
// longer than n bytes right after its first n body bytes: the client sees the
// connection end before Content-Length is reached. A negative n means never.
func WithCutAfter(n int64) Option {
	return func(c *config) { c.cutAfter = max(n, -1) }
}

// WithLieContentRange makes every 206 response carry a Content-Range that
// does not match the request (shifted by one byte, or otherwise wrong when
// the range cannot shift), while the body is still the requested bytes.
// A single-range request is the only way to get a single Content-Range; so
// the probe's "bytes=0-0" is lied about too.
func WithLieContentRange() Option {
	return func(c *config) { c.lieContentRange = true }
}

// WithChangeETagAfter makes the resource change after the first n requests:
// from request n+1 on, the origin serves Content{Size, Seed + 1} with its own
// ETag and a Last-Modified one hour later, so an If-Range with the old
// validator yields 200 and the new full body. Origin.Changed returns the new
// content. n = 0 serves the changed content from the first request.
func WithChangeETagAfter(n int) Option {
	return func(c *config) { c.changeETagAfter = max(n, 0) }
}

// WithLastModified sets the Last-Modified time; the default is 2026-01-01
// 00:00:00 UTC. The zero time means no Last-Modified header.
func WithLastModified(t time.Time) Option {
	return func(c *config) { c.lastModified = t }
}

// WithWeakETag serves the ETag as weak (W/"..."), which RFC 9110 forbids in
// If-Range: a client must fall back to Last-Modified.
func WithWeakETag() Option {
	return func(c *config) { c.weakETag = true }
}

// faultWriter wraps the ResponseWriter of one content response: it applies
// the body faults and counts 2xx body bytes into the Origin.
type faultWriter struct {
	w      http.ResponseWriter
	o      *Origin
	cut    int64 // cut the body after this many bytes; < 0 never
	lie    bool  // rewrite Content-Range of a 206
	hideAR bool  // remove Accept-Ranges

	wroteHeader bool
	success     bool // the status is 2xx: count the body
	written     int64
}

func (fw *faultWriter) Header() http.Header { return fw.w.Header() }

// Unwrap lets http.ResponseController reach the underlying writer.
func (fw *faultWriter) Unwrap() http.ResponseWriter { return fw.w }

func (fw *faultWriter) WriteHeader(code int) {
	if fw.wroteHeader {
		return
	}
	fw.wroteHeader = true
	fw.success = code >= 200 && code < 300
	h := fw.w.Header()
	if fw.hideAR {
		h.Del("Accept-Ranges")
	}
	if fw.lie && code == http.StatusPartialContent {
		if cr := h.Get("Content-Range"); cr != "" {
			h.Set("Content-Range", lieContentRange(cr))
		}
	}
	fw.w.WriteHeader(code)
}

// Write writes body bytes. When the body would pass the cut point, it sends
// the bytes up to it, flushes them to the client and aborts the connection
// with panic(http.ErrAbortHandler), which net/http handles silently.
func (fw *faultWriter) Write(p []byte) (int, error) {
	if !fw.wroteHeader {
		fw.WriteHeader(http.StatusOK)
	}
	if fw.success && fw.cut >= 0 && fw.written+int64(len(p)) > fw.cut {
		n, _ := fw.w.Write(p[:fw.cut-fw.written])
		fw.count(n)
		_ = http.NewResponseController(fw.w).Flush() // best effort: we abort next
		panic(http.ErrAbortHandler)
	}
	n, err := fw.w.Write(p)
	fw.count(n)
	return n, err
}

func (fw *faultWriter) count(n int) {
	fw.written += int64(n)
	if fw.success {
		fw.o.bytes.Add(int64(n))
	}
}

// ReadFrom copies src with a large pooled buffer: ServeContent's io.CopyN
// would otherwise use 32 KiB writes, which limits loopback throughput.
func (fw *faultWriter) ReadFrom(src io.Reader) (int64, error) {
	bp := fw.o.getBuf()
	defer fw.o.putBuf(bp)
	buf := *bp
	var total int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := fw.Write(buf[:nr])
			total += int64(nw)
			if werr != nil {
				return total, werr
			}
			if nw != nr {
				return total, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// lieContentRange returns a Content-Range that differs from cr, a valid
// "bytes first-last/size": shifted one byte up if that stays inside the
// resource, else one byte down, else one byte shorter, else with a wrong
// size. Anything it cannot parse comes back with a wrong unit.
func lieContentRange(cr string) string {
	var first, last, size int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &size); err != nil {
		return "octets" + strings.TrimPrefix(cr, "bytes")
	}
	switch {
	case last+1 < size:
		first, last = first+1, last+1
	case first > 0:
		first, last = first-1, last-1
	case last > first:
		last--
	default:
		size++
	}
	return "bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + strconv.FormatInt(size, 10)
}
