package origin

// This file holds the Origin: the http.Handler that serves one Content with
// correct HTTP range semantics, plus a few helper routes, and counts what it
// serves.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// copyBufSize is the size of the buffers a response body is copied with.
const copyBufSize = 256 << 10

// Origin is an http.Handler serving one Content, with optional faults. Routes:
//
//	/redirect/N/REST     302 to /redirect/N-1/REST, and from N = 1 to /REST;
//	                     Location is relative (a path, no scheme or host)
//	/absredirect/N/REST  the same with absolute Locations (http://HOST/...)
//	/status/CODE         answers CODE (200-599) with a short text body
//	/cd/NAME             the content, with Content-Disposition: attachment;
//	                     filename="NAME" (NAME is percent-decoded, so
//	                     "..%2F..%2Fetc%2Fpasswd" yields "../../etc/passwd")
//	anything else        the content ("/file", "/dir/any-name.bin", ...)
//
// The content is served with http.ServeContent (so 206, 416, If-Range and
// multi-range requests behave as in net/http), with a strong ETag
// (Content.ETag), Last-Modified, and Content-Type application/octet-stream.
//
// Every request is first counted (Requests, Ranges, MaxConcurrent), then
// passed to WithOnRequest's function, then held (WithHold), delayed
// (WithLatency), possibly failed (WithFailFirst), and then routed.
//
// An Origin is safe for concurrent use; create it with NewOrigin.
type Origin struct {
	content Content
	cfg     config

	requests atomic.Int64
	bytes    atomic.Int64
	inFlight Gauge

	mu     sync.Mutex
	ranges []string // guarded by mu

	bufs sync.Pool // of *[]byte, copyBufSize long
}

// NewOrigin returns an Origin serving c with opts. Connection-level options
// (WithRatePerConn, WithSlowConn) take effect when the Origin is served by
// Start.
func New(c Content, opts ...Option) *Origin {
	return &Origin{content: c, cfg: newConfig(opts)}
}

// Content returns the content the origin serves (before any change made by
// WithChangeETagAfter).
func (o *Origin) Content() Content { return o.content }

// Changed returns the content served after the change made by
// WithChangeETagAfter: the same Size, Seed + 1.
func (o *Origin) Changed() Content {
	return Content{Size: o.content.Size, Seed: o.content.Seed + 1}
}

// Requests returns how many requests have arrived so far (of any path,
// counted before they are held, delayed or failed).
func (o *Origin) Requests() int64 { return o.requests.Load() }

// BytesServed returns how many bytes of content bodies (200 and 206
// responses, including multipart framing) have been written so far; status,
// error and redirect bodies are not counted.
func (o *Origin) BytesServed() int64 { return o.bytes.Load() }

// MaxConcurrent returns the largest number of requests in flight at once
// observed so far.
func (o *Origin) MaxConcurrent() int64 { return o.inFlight.Max() }

// Ranges returns the Range header of every request so far, in arrival order
// ("" for a request without one). The origin keeps them all, a few dozen
// bytes per request.
func (o *Origin) Ranges() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.ranges...)
}

// ServeHTTP implements http.Handler.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.arrive(r)
	gw := &gaugeWriter{ResponseWriter: w, leave: []func(){o.inFlight.Enter(r.Context())}}
	if g := o.cfg.gauge; g != nil {
		gw.leave = append(gw.leave, g.Enter(r.Context()))
	}
	defer gw.out()
	w = gw
	if o.cfg.onRequest != nil {
		o.cfg.onRequest(r)
	}
	if !o.wait(r.Context()) {
		return // the client is gone
	}
	switch {
	case n <= int64(o.cfg.failFirst):
		serveStatus(w, o.cfg.failStatus)
		return
	case o.cfg.failAfter >= 0 && n > int64(o.cfg.failAfter):
		serveStatus(w, o.cfg.failAfterStatus)
		return
	}
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/redirect/"):
		serveRedirect(w, r, strings.TrimPrefix(p, "/redirect/"), "")
	case strings.HasPrefix(p, "/absredirect/"):
		serveRedirect(w, r, strings.TrimPrefix(p, "/absredirect/"), "http://"+r.Host)
	case strings.HasPrefix(p, "/status/"):
		code, err := strconv.Atoi(strings.TrimPrefix(p, "/status/"))
		if err != nil || code < 200 || code > 599 {
			code = http.StatusBadRequest
		}
		serveStatus(w, code)
	case strings.HasPrefix(p, "/cd/"):
		name, err := url.PathUnescape(strings.TrimPrefix(p, "/cd/"))
		if err != nil {
			serveStatus(w, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Disposition", contentDisposition(name))
		o.serveContent(w, r, n)
	default:
		o.serveContent(w, r, n)
	}
}

// arrive counts a new request and returns its 1-based arrival number.
func (o *Origin) arrive(r *http.Request) int64 {
	o.mu.Lock()
	o.ranges = append(o.ranges, r.Header.Get("Range"))
	n := o.requests.Add(1) // under mu: n is the request's index in ranges, plus one
	o.mu.Unlock()
	return n
}

// Gauge counts the requests in flight at one or more origins
// (WithGauge), and the most at once. A request is in flight from its
// arrival until its handler returns or its client goes away, whichever is
// first: a request the client abandoned is not one it waits on. The zero
// value is ready to use.
type Gauge struct {
	cur, max atomic.Int64
}

// Enter counts a request of ctx in; the returned func (or ctx's end)
// counts it out, once.
func (g *Gauge) Enter(ctx context.Context) (leave func()) {
	cur := g.cur.Add(1)
	for m := g.max.Load(); cur > m && !g.max.CompareAndSwap(m, cur); m = g.max.Load() {
	}
	var once sync.Once
	out := func() { once.Do(func() { g.cur.Add(-1) }) }
	stop := context.AfterFunc(ctx, out)
	return func() {
		stop()
		out()
	}
}

// gaugeWriter counts its request out of the gauges as it starts writing
// the last byte of the body: from then on the client may have everything,
// and start its next request, before the handler returns.
type gaugeWriter struct {
	http.ResponseWriter
	leave   []func()
	written int64
}

func (g *gaugeWriter) Write(p []byte) (int, error) {
	if cl, err := strconv.ParseInt(g.Header().Get("Content-Length"), 10, 64); err == nil && g.written+int64(len(p)) >= cl {
		g.out()
	}
	n, err := g.ResponseWriter.Write(p)
	g.written += int64(n)
	return n, err
}

func (g *gaugeWriter) out() {
	for _, f := range g.leave {
		f()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (g *gaugeWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// Max is the most requests that were in flight at once.
func (g *Gauge) Max() int64 { return g.max.Load() }

// Current is the requests in flight now.
func (g *Gauge) Current() int64 { return g.cur.Load() }

// wait applies WithHold and WithLatency. It reports false if ctx ended first.
func (o *Origin) wait(ctx context.Context) bool {
	if o.cfg.hold != nil {
		select {
		case <-o.cfg.hold:
		case <-ctx.Done():
			return false
		}
	}
	if o.cfg.latency > 0 {
		t := time.NewTimer(o.cfg.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// serveContent serves the content as of request n, with the body faults.
func (o *Origin) serveContent(w http.ResponseWriter, r *http.Request, n int64) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD")
		serveStatus(w, http.StatusMethodNotAllowed)
		return
	}
	c, modTime := o.content, o.cfg.lastModified
	if o.cfg.changeETagAfter >= 0 && n > int64(o.cfg.changeETagAfter) {
		c = o.Changed()
		if !modTime.IsZero() {
			modTime = modTime.Add(time.Hour)
		}
	}
	etag := c.ETag()
	if o.cfg.weakETag {
		etag = "W/" + etag
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Content-Type", "application/octet-stream")
	noRange := o.cfg.noRange || (o.cfg.noRangeAfter >= 0 && n > int64(o.cfg.noRangeAfter))
	if noRange {
		r = withoutRange(r)
	}
	fw := &faultWriter{
		w:      w,
		o:      o,
		cut:    o.cfg.cutAfter,
		lie:    o.cfg.lieContentRange,
		hideAR: noRange,
	}
	http.ServeContent(fw, r, "", modTime, c.Reader())
}

// withoutRange returns a shallow copy of r without Range and If-Range.
func withoutRange(r *http.Request) *http.Request {
	r2 := *r
	r2.Header = r.Header.Clone()
	r2.Header.Del("Range")
	r2.Header.Del("If-Range")
	return &r2
}

// serveRedirect answers a /redirect/N/REST request; rest is "N/REST" and
// base is prepended to Location ("" for a relative one).
func serveRedirect(w http.ResponseWriter, r *http.Request, rest, base string) {
	num, tail, _ := strings.Cut(rest, "/")
	hops, err := strconv.Atoi(num)
	if err != nil || hops < 0 {
		serveStatus(w, http.StatusBadRequest)
		return
	}
	prefix := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	prefix, _, _ = strings.Cut(prefix, "/") // "redirect" or "absredirect"
	loc := base + "/" + tail
	if hops > 1 {
		loc = base + "/" + prefix + "/" + strconv.Itoa(hops-1) + "/" + tail
	}
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusFound)
}

// serveStatus answers with code and its status text as a plain text body.
func serveStatus(w http.ResponseWriter, code int) {
	body := strconv.Itoa(code) + " " + http.StatusText(code) + "\n"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	io.WriteString(w, body) //nolint:errcheck // the client may be gone; nothing to do
}

// contentDisposition formats an attachment with filename name. A printable
// ASCII name is sent as a quoted string (escaping \ and "); any other name
// gets an RFC 6266 filename* in UTF-8 and an ASCII fallback with '_' in place
// of the other bytes.
func contentDisposition(name string) string {
	ascii := true
	fallback := []byte(name)
	for i, b := range fallback {
		if b < 0x20 || b > 0x7e {
			ascii = false
			fallback[i] = '_'
		}
	}
	v := `attachment; filename="` + quoteEscape(string(fallback)) + `"`
	if !ascii {
		v += "; filename*=UTF-8''" + extValue(name)
	}
	return v
}

// extValue percent-encodes s as the value of an RFC 8187 extended parameter:
// every byte but ALPHA, DIGIT and !#$&+-.^_`|~ becomes %XX.
func extValue(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

func (o *Origin) getBuf() *[]byte {
	if bp, ok := o.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, copyBufSize)
	return &b
}

func (o *Origin) putBuf(bp *[]byte) { o.bufs.Put(bp) }
