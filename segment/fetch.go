package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Options configures Fetch.
type Options struct {
	// Connections is the number of ranges fetched at once. If zero, 8.
	Connections int
	// BufferSize is each connection's copy buffer. If zero, 256 KiB.
	BufferSize int
	// Retries is how many times one range is retried after a transient
	// failure (reset, timeout, truncated body, 408, 429, 5xx). If zero, 8;
	// negative means never.
	Retries int
	// Backoff is the wait before retry attempt (1-based). If nil,
	// exponential from 250 ms to 15 s with jitter. Tests set it to return 0.
	Backoff func(attempt int) time.Duration
	// Header holds extra request headers (credentials, User-Agent).
	Header http.Header
	// Progress receives byte counts as they arrive. May be nil.
	Progress *Progress
	// Trace, if set, is called after every request with what it did
	// (rget get --debug).
	Trace func(Trace)
	// StallTimeout drops a request whose body delivers no byte for this
	// long; its range is retried from its last written byte. If zero, 20 s;
	// negative means never.
	StallTimeout time.Duration
}

// Progress is what a running Fetch reports, for the caller to read at any
// time: counters only, updated atomically by the workers.
type Progress struct {
	Received atomic.Int64 // body bytes received, over all connections
	Retries  atomic.Int64 // requests retried after a transient failure
	Recycled atomic.Int64 // slow connections dropped for a fresh one
	Conns    []ConnProgress
}

// ConnProgress is what one connection (worker) is doing.
type ConnProgress struct {
	Received atomic.Int64 // body bytes received by this connection
	Start    atomic.Int64 // the range being fetched: [Start, End)
	End      atomic.Int64 // 0 when idle
	Pos      atomic.Int64 // next offset to be written in [Start, End)
}

// NewProgress returns counters for a fetch with conns connections.
func NewProgress(conns int) *Progress {
	return &Progress{Conns: make([]ConnProgress, max(conns, 1))}
}

// Trace describes one finished request.
type Trace struct {
	URL      string
	Range    string // the Range header sent, "" for none
	Status   int    // 0 when no response arrived
	Bytes    int64  // body bytes received
	Start    time.Time
	Duration time.Duration
	Err      error // nil on success
}

// trace reports one request to opts.Trace, if set.
func (o *Options) trace(url, rng string, status *int, bytes *int64, start time.Time, err error) {
	if o.Trace != nil {
		o.Trace(Trace{URL: url, Range: rng, Status: *status, Bytes: *bytes, Start: start, Duration: time.Since(start), Err: err})
	}
}

// counter is the io.Writer end of the TeeReader each body is read through.
type counter struct{ total, conn *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) {
	c.total.Add(int64(len(p)))
	c.conn.Add(int64(len(p)))
	return len(p), nil
}

// fetcher holds what the workers of one Fetch share.
type fetcher struct {
	client *http.Client
	remote *Remote
	dst    io.WriterAt
	plan   *Plan
	opts   Options
	prog   *Progress
}

// Fetch downloads the ranges of plan from r into dst and returns when every
// worker has exited: nil once every range is written, or the first error,
// which cancels the other workers. A remote without range support is
// fetched as one stream. dst receives non-overlapping WriteAt calls from
// several goroutines at once (an *os.File allows that).
func Fetch(ctx context.Context, client *http.Client, r *Remote, dst io.WriterAt, plan *Plan, opts Options) error {
	opts.defaults()
	prog := opts.Progress
	if prog == nil || len(prog.Conns) < opts.Connections {
		prog = NewProgress(opts.Connections)
	}
	f := &fetcher{client: client, remote: r, dst: dst, plan: plan, opts: opts, prog: prog}
	if !r.Ranges {
		return f.stream(ctx, &prog.Conns[0])
	}
	plan.mu.Lock()
	plan.workers = opts.Connections
	plan.mu.Unlock()
	g, ctx := errgroup.WithContext(ctx)
	for i := 0; i < opts.Connections; i++ {
		c := &prog.Conns[i]
		g.Go(func() error { return f.worker(ctx, c) })
	}
	return g.Wait()
}

// defaults fills in the zero fields of o.
func (o *Options) defaults() {
	if o.Connections <= 0 {
		o.Connections = 8
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 256 << 10
	}
	if o.Retries == 0 {
		o.Retries = 8
	}
	if o.Backoff == nil {
		o.Backoff = defaultBackoff
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 20 * time.Second
	}
}

// defaultBackoff grows from 250 ms to 15 s, each wait randomized by ±50% so
// that many connections failing together do not retry in lockstep.
func defaultBackoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt-1, 6)
	d = min(d, 15*time.Second)
	return d/2 + rand.N(d)
}

// worker takes ranges from the plan until none is left.
func (f *fetcher) worker(ctx context.Context, c *ConnProgress) error {
	buf := make([]byte, f.opts.BufferSize)
	defer c.End.Store(0)
	for ctx.Err() == nil {
		pt := f.plan.take()
		if pt == nil {
			return nil
		}
		err := f.fetchPart(ctx, pt, c, buf)
		f.plan.release(pt)
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// fetchPart fetches what is left of pt, retrying transient failures from the
// last byte written.
func (f *fetcher) fetchPart(ctx context.Context, pt *part, c *ConnProgress, buf []byte) error {
	recycles := 0
	for attempt := 1; ; attempt++ {
		before := pt.done.Load()
		err := f.fetchOnce(ctx, pt, c, buf, recycles < maxRecycles)
		if err == nil {
			return nil
		}
		if errors.Is(err, errSlow) {
			// Not a failure: ask again at once, on another connection.
			recycles++
			attempt--
			f.prog.Recycled.Add(1)
			continue
		}
		if pt.done.Load()-before >= workingProgress {
			attempt = 1 // it was working: only failures in a row count
		}
		if f.opts.Retries < 0 || attempt > f.opts.Retries || !retryable(ctx, err) {
			return err
		}
		f.prog.Retries.Add(1)
		if werr := wait(ctx, retryDelay(err, attempt, f.opts.Backoff)); werr != nil {
			return err
		}
	}
}

// fetchOnce issues one ranged request for the rest of pt and copies the body.
// With mayRecycle, it gives up with errSlow when its connection is much
// slower than the others (see tooSlow).
func (f *fetcher) fetchOnce(ctx context.Context, pt *part, c *ConnProgress, buf []byte, mayRecycle bool) (err error) {
	end, ok := f.plan.remaining(pt)
	if !ok {
		return nil
	}
	from := pt.start + pt.done.Load()
	var status int
	var got int64
	defer func(start time.Time) {
		f.opts.trace(f.remote.FinalURL, formatRange(from, end), &status, &got, start, err)
	}(time.Now())
	c.Start.Store(pt.start)
	c.End.Store(end)
	c.Pos.Store(from)
	ctx, w := watch(ctx, f.opts.StallTimeout)
	defer w.stop()
	sent := time.Now()
	resp, conn, err := f.get(ctx, from, end)
	if err != nil {
		return fmt.Errorf("range [%d,%d): %w", from, end, w.cause(err))
	}
	f.plan.observeLatency(time.Since(sent))
	defer resp.Body.Close()
	if lc, ok := conn.(*lowConn); ok && resp.ContentLength == end-from {
		lc.arm(end - from)
	}
	status = resp.StatusCode
	body := io.TeeReader(w.reader(resp.Body), counter{&f.prog.Received, &c.Received})
	pos := from
	defer func() { got = pos - from }()
	began := time.Now()
	nextCheck := began.Add(slowAfter)
	for {
		want := len(buf)
		if left := end - pos; left < int64(want) {
			want = int(left)
		}
		n, rerr := io.ReadFull(body, buf[:want])
		if n > 0 {
			k := f.plan.claim(pt, pos, n)
			if k > 0 {
				if _, err := f.dst.WriteAt(buf[:k], pos); err != nil {
					return fmt.Errorf("range [%d,%d): write: %w", from, end, err)
				}
				f.plan.wrote(pt, k)
				pos += int64(k)
				c.Pos.Store(pos)
			}
			if k < n || pos >= end {
				// Done, or the tail was split off and another worker has it.
				return nil
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				rerr = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("range [%d,%d): body ended at %d: %w", from, end, pos, w.cause(rerr))
		}
		// The range may have been split: refresh the end.
		end, _ = f.plan.remaining(pt)
		if pos >= end {
			return nil
		}
		if now := time.Now(); mayRecycle && now.After(nextCheck) {
			nextCheck = now.Add(slowAfter / 4)
			if f.tooSlow(pos-from, end-pos, now.Sub(began)) {
				return fmt.Errorf("range [%d,%d) at %d: %w", from, end, pos, errSlow)
			}
		}
	}
}

// A connection much slower than the others (a bad path, a throttled flow)
// is dropped and its range asked again on a fresh one, at most maxRecycles
// times per range.
const (
	slowAfter   = 500 * time.Millisecond // judge a request only after this long
	slowFactor  = 4                      // "much slower": below the mean rate / slowFactor
	maxRecycles = 3
)

// errSlow ends a request whose connection is much slower than the others.
var errSlow = errors.New("connection much slower than the others")

// tooSlow reports whether a request that moved got bytes in el, with left
// bytes still to go, should be given up for a fresh connection: its rate is
// below the mean rate of the ranges in flight divided by slowFactor, and a
// connection at the mean rate would finish the rest more than hedgeGain
// sooner.
func (f *fetcher) tooSlow(got, left int64, el time.Duration) bool {
	mean := f.plan.meanRate(time.Now())
	rate := max(float64(got)/el.Seconds(), 1)
	return mean > 0 && rate*slowFactor < mean &&
		float64(left)/rate-float64(left)/mean > hedgeGain.Seconds()
}

// get requests [from, end) with If-Range and checks that the answer is
// exactly that range of the pinned version of the resource.
// It also returns the connection the answer came on.
func (f *fetcher) get(ctx context.Context, from, end int64) (*http.Response, net.Conn, error) {
	var conn net.Conn
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) { conn = ci.Conn },
	})
	req, err := newRequest(ctx, f.remote.FinalURL, f.opts.Header)
	if err != nil {
		return nil, nil, err
	}
	asked := formatRange(from, end)
	req.Header.Set("Range", asked)
	if v := f.remote.ifRange(); v != "" {
		req.Header.Set("If-Range", v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	if err := f.check(resp, asked, from, end); err != nil {
		resp.Body.Close()
		return nil, nil, err
	}
	return resp, conn, nil
}

// check validates a response to the ranged request asked for [from, end).
func (f *fetcher) check(resp *http.Response, asked string, from, end int64) error {
	if err := f.sameVersion(resp); err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		if v := f.remote.ifRange(); v != "" && v != resp.Header.Get("ETag") && v != resp.Header.Get("Last-Modified") {
			// If-Range answered with the whole resource, without the
			// validator it was given: it no longer matches.
			return fmt.Errorf("%s: %w", resp.Request.URL.Redacted(), ErrChanged)
		}
		// The same version, whole: the server stopped serving ranges.
		return fmt.Errorf("%s: %w", resp.Request.URL.Redacted(), ErrRangeIgnored)
	default:
		return statusError(resp)
	}
	got := resp.Header.Get("Content-Range")
	cr, err := parseContentRange(got)
	if err != nil {
		return &RangeError{Asked: asked, Got: fmt.Sprintf("Content-Range %q", got), Reason: "unparsable"}
	}
	if cr.start != from || cr.end != end {
		return &RangeError{Asked: asked, Got: "Content-Range " + got, Reason: "not the range asked for"}
	}
	if cr.total != f.remote.Size {
		return &RangeError{Asked: asked, Got: "Content-Range " + got,
			Reason: fmt.Sprintf("complete length is not the %d bytes probed", f.remote.Size)}
	}
	if resp.ContentLength >= 0 && resp.ContentLength != end-from {
		return &RangeError{Asked: asked, Got: fmt.Sprintf("Content-Length %d", resp.ContentLength),
			Reason: "length does not match the range"}
	}
	if e := contentEncoding(resp.Header); e != "" {
		return &RangeError{Asked: asked, Got: "Content-Encoding " + e, Reason: "a range must be sent as stored"}
	}
	return nil
}

// sameVersion reports ErrChanged when resp carries a validator different
// from the one probed.
func (f *fetcher) sameVersion(resp *http.Response) error {
	r := f.remote
	if tag := resp.Header.Get("ETag"); r.ETag != "" && tag != "" && tag != r.ETag {
		return fmt.Errorf("%s: ETag %s, was %s: %w", resp.Request.URL.Redacted(), tag, r.ETag, ErrChanged)
	}
	if lm := resp.Header.Get("Last-Modified"); r.ETag == "" && r.LastModified != "" && lm != "" && lm != r.LastModified {
		return fmt.Errorf("%s: Last-Modified %s, was %s: %w", resp.Request.URL.Redacted(), lm, r.LastModified, ErrChanged)
	}
	return nil
}
