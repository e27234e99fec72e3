package segment

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Options configures Fetch.
type Options struct {
	// Connections is the number of ranges fetched at once. If zero, 8.
	Connections int
	// BufferSize is each connection's copy buffer. If zero, 16 MiB shared
	// by the connections, within [64 KiB, 256 KiB] each, and above 64
	// connections 12 MiB, at least 48 KiB each: many connections take
	// smaller buffers, so memory stays bounded. (At 256 connections with
	// 16 MiB, peak RSS was 46.7-51.3 MiB in 6 runs, against 48 MiB asked
	// of them; with 12, 43.2-46.6 MiB, the same times. 12 MiB for all
	// counts made -c auto, sized for its 64, 4% slower on loopback:
	// 192 KiB buffers at 8 connections.)
	BufferSize int
	// Retries is how many times one range is retried after a transient
	// failure (reset, timeout, truncated body, 408, 429, 5xx). If zero, 8;
	// negative means never.
	Retries int
	// Backoff is the wait before retry attempt (1-based). If nil,
	// exponential from 250 ms to 15 s with jitter. Tests set it to return 0.
	Backoff func(attempt int) time.Duration
	// Header holds extra request headers (credentials, User-Agent), as
	// sent to the URL first asked: Fetch drops the credentials among them
	// when the final URL is on another host or plain http (Remote.Header).
	Header http.Header
	// Progress receives byte counts as they arrive. May be nil; if not, it
	// must have a ConnProgress for each connection (NewProgress), or Fetch
	// fails.
	Progress *Progress
	// Trace, if set, is called after every request with what it did
	// (rget get --debug).
	Trace func(Trace)
	// StallTimeout drops a request whose body delivers no byte for this
	// long; its range is retried from its last written byte. If zero, 20 s;
	// negative means never.
	StallTimeout time.Duration
	// OnRetry, if set, is told of every failed request that will be
	// retried, before the wait.
	OnRetry func(Retry)
	// Limiter, if set, is the one budget of bytes per second that every
	// connection's reads draw from (rget get --limit-rate). Its burst
	// bounds each read.
	Limiter *rate.Limiter
	// Budget, if set, is the connections this fetch shares with others
	// (a batch): each request holds one of its slots, so that no more
	// are in flight across the fetches than it has; Connections is then
	// the most this fetch may hold.
	Budget *Budget
	// OnConn, if set, is told when connection slot conn opens a new TCP
	// connection (open) and when Fetch closes one, with the reason.
	OnConn func(conn int, open bool, reason string)
	// OnStart, if set, is told of every ranged request as it is sent
	// (URL, Range, Start, Conn); Trace tells of its end.
	OnStart func(Trace)
	// Auto finds the connection count by measuring (-c auto): Connections
	// is then the most; a Scaler starts with a few and adds more while
	// they raise the total rate, and 429/503 answers, resets and stalls
	// take some away. OnScale, if set, is told of every change.
	Auto    bool
	OnScale func(n int, reason string)
	// OnDrop, if set, is told of a source (FetchFrom) dropped for failing
	// while others remain: its ranges go to the others.
	OnDrop func(url string, err error)
	// KeepStream, for Probe: when the server answers the probe with the
	// whole resource (no ranges), keep that response open for Fetch to
	// read instead of asking for the resource again. The caller then
	// calls Remote.Discard when done with the Remote.
	KeepStream bool
	// FirstRange, for Probe with KeepStream: the probe asks for the first
	// FirstRange bytes rather than the first byte, and keeps a 206 answer
	// of exactly those (of the whole file when it is smaller) open: Fetch
	// reads it as the first range of connection 0 instead of asking for
	// those bytes again, so that a file of at most FirstRange bytes takes
	// one request, and the first range arrives a round trip sooner. The
	// caller then calls Remote.Discard when done with the Remote. 0 asks
	// for the first byte.
	FirstRange int64
	// NoPipelining sends each request only once the answer before it on
	// its connection has arrived. By default, on a path whose request
	// latency is 2 ms or more, a connection sends its next request a
	// little before its current answer ends (HTTP/1.1 pipelining), on
	// servers that keep connections alive, through no proxy, with the
	// client NewClient makes, and without a Budget (Fetch's own
	// connections): each request then costs no idle round trip.
	NoPipelining bool
}

// Progress is what a running Fetch reports, for the caller to read at any
// time: counters only, updated atomically by the workers.
type Progress struct {
	Received  atomic.Int64 // body bytes received, over all connections
	Retries   atomic.Int64 // requests retried after a transient failure
	Recycled  atomic.Int64 // requests whose range another connection took or finished first, and slow connections closed for a fresh one
	Pipelined atomic.Int64 // requests sent before the answer ahead of them on their connection had ended (Options.NoPipelining)
	Conns     []ConnProgress
	// Sources are the bytes received from each source of FetchFrom, in
	// its order; nil (not counted) unless the caller sizes it.
	Sources []atomic.Int64
}

// ConnProgress is what one connection (worker) is doing.
type ConnProgress struct {
	Received atomic.Int64 // body bytes received by this connection
	Start    atomic.Int64 // the range being fetched: [Start, End)
	End      atomic.Int64 // 0 when idle
	Pos      atomic.Int64 // next offset to be written in [Start, End)
	Busy     atomic.Int64 // nanoseconds spent in requests
	Retries  atomic.Int64 // its requests retried after a failure
}

// Active is how many connections are fetching a range now.
func (p *Progress) Active() int {
	n := 0
	for i := range p.Conns {
		if p.Conns[i].End.Load() != 0 {
			n++
		}
	}
	return n
}

// NewProgress returns counters for a fetch with conns connections.
func NewProgress(conns int) *Progress {
	return &Progress{Conns: make([]ConnProgress, max(conns, 1))}
}

// Retry describes a failed request that will be tried again.
type Retry struct {
	What    string        // "probe", "stream" or the range, e.g. "bytes 0-4194303"
	Attempt int           // failures in a row so far (1 for the first)
	Max     int           // Options.Retries
	Delay   time.Duration // the wait before the next try
	Err     error
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
	Conn     int   // the worker (connection slot) that sent it; -1 for the probe
	Fresh    bool  // it went out on a new TCP connection, not a kept-alive one
	// Ahead: it was sent before the answer ahead of it on its
	// connection had ended (pipelined; see Options.NoPipelining).
	Ahead bool
	// Kept: no request of its own; the answer is the probe's, read on
	// (Options.FirstRange; the probe's Trace has Kept too).
	Kept bool
}

// conn reports a connection opened or closed to opts.OnConn, if set.
func (o *Options) conn(slot int, open bool, reason string) {
	if o.OnConn != nil {
		o.OnConn(slot, open, reason)
	}
}

// trace reports one request to opts.Trace, if set.
func (o *Options) trace(t Trace) {
	if o.Trace != nil {
		t.Duration = time.Since(t.Start)
		o.Trace(t)
	}
}

// counter is the io.Writer end of the TeeReader each body is read through:
// the bytes received over all connections, by this connection, and on this
// request (which the rate estimate reads).
type counter struct{ total, conn, req, src *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) {
	n := int64(len(p))
	c.total.Add(n)
	c.conn.Add(n)
	if c.req != nil {
		c.req.Add(n)
	}
	if c.src != nil {
		c.src.Add(n)
	}
	return len(p), nil
}

// fetcher holds what the workers of one Fetch share.
type fetcher struct {
	client  *http.Client
	remote  *Remote // the first source
	sources []*source
	dst     io.WriterAt
	led     *Ledger
	opts    Options
	prog    *Progress
	held    atomic.Int64    // budget slots held by this fetch's workers
	gate    *gate           // -c auto; nil for a fixed count
	tr      *http.Transport // the pipes' (see pipe); nil: no pipelining
	// noPipe: an answer on a pipe was a redirect, which only the client
	// follows; the workers' requests go through it from then on.
	noPipe atomic.Bool
	// noAhead: an answer to a request sent ahead stalled, or was junk:
	// the server (or something on the way) does not pipeline.
	noAhead atomic.Bool
	mu      sync.Mutex // sources' failures and dead
	bufs    buffers    // the workers' copy buffers
}

// source is one server of the file, with its own validators and headers.
type source struct {
	remote   *Remote
	header   http.Header
	bytes    *atomic.Int64 // nil when not counted
	failures int           // in a row
	dead     bool
}

// Fetch downloads the ranges of led from r into dst and returns when every
// worker has exited: nil once every byte is written, or the first error,
// which cancels the other workers. A remote without range support is
// fetched as one stream. dst receives non-overlapping WriteAt calls from
// several goroutines at once (an *os.File allows that).
func Fetch(ctx context.Context, client *http.Client, r *Remote, dst io.WriterAt, led *Ledger, opts Options) error {
	return FetchFrom(ctx, client, []*Remote{r}, dst, led, opts)
}

// dropAfter is how many failures in a row drop a source while others
// remain.
const dropAfter = 3

// FetchFrom is Fetch from several sources of the same file (mirrors), each
// probed on its own and of the same size: connection i starts on source
// i mod len(sources), so the ranges flow to the sources that deliver
// fastest; a source that fails for good or dropAfter times in a row is
// dropped (Options.OnDrop) while another remains, and its connections move
// to the others without the failure counting against the ranges. Sources
// after the first must serve byte ranges.
func FetchFrom(ctx context.Context, client *http.Client, rs []*Remote, dst io.WriterAt, led *Ledger, opts Options) error {
	if len(rs) == 0 {
		return errors.New("segment: no source to fetch from")
	}
	r := rs[0]
	opts.defaults()
	prog := opts.Progress
	if prog == nil {
		prog = NewProgress(opts.Connections)
	} else if len(prog.Conns) < opts.Connections {
		return fmt.Errorf("segment: Progress for %d connections, fetching with %d", len(prog.Conns), opts.Connections)
	}
	f := &fetcher{client: client, remote: r, dst: dst, led: led, prog: prog}
	for i, sr := range rs {
		if sr.Size != r.Size || (i > 0 && !sr.Ranges) {
			return fmt.Errorf("segment: source %s: %d bytes (ranges %v), the first has %d", sr.FinalURL, sr.Size, sr.Ranges, r.Size)
		}
		// Credentials stay with the host they were meant for, whatever
		// the caller passes (see Remote.Header).
		src := &source{remote: sr, header: sr.Header(opts.Header)}
		if i < len(prog.Sources) {
			src.bytes = &prog.Sources[i]
		}
		f.sources = append(f.sources, src)
	}
	opts.Header = f.sources[0].header
	opts.Progress = prog
	f.opts = opts
	if !r.Ranges {
		return f.stream(ctx, &prog.Conns[0])
	}
	if f.tr = f.pipeTransport(ctx); f.tr != nil {
		// The workers dial their own connections: the probe's, idle in
		// the client's pool, would be one more than asked for (a
		// server admitting N from a client refuses the Nth).
		client.CloseIdleConnections()
	}
	led.setWorkers(opts.Connections)
	g, gctx := errgroup.WithContext(ctx)
	var control sync.WaitGroup
	stop := func() {}
	if opts.Auto && opts.Connections > 1 {
		f.gate = newGate(NewScaler(opts.Connections, r.latency, time.Now()), led, opts.OnScale)
		f.gate.shrink = client.CloseIdleConnections
		led.setWorkers(f.gate.count())
		led.setGrowTo(f.gate.s.Reach())
		var cctx context.Context
		cctx, stop = context.WithCancel(gctx)
		control.Go(func() { f.gate.control(cctx, prog) })
	}
	f.bufs = buffers{size: opts.BufferSize, count: opts.Connections}
	first, k := f.first(gctx) // leased before any worker asks
	for i := 0; i < opts.Connections; i++ {
		if i == 0 && first.Lease != nil {
			g.Go(func() error { return f.worker(gctx, i, &prog.Conns[i], first, k) })
			continue
		}
		g.Go(func() error { return f.worker(gctx, i, &prog.Conns[i], Grant{}, nil) })
	}
	err := g.Wait()
	f.bufs.release()
	stop()
	control.Wait()
	return err
}

// pipeTransport is the Transport the workers' pipes dial with, or nil
// when requests are not to be pipelined (Options.NoPipelining): every
// source must have kept its probe's connection alive over HTTP/1.1 and be
// reached without a proxy. Not under a budget shared with other fetches
// (a batch): its slots move between the files, and a connection of its
// own per worker cannot move with them, as the client's pool's do (each
// move cost a new connection: three files 30 ms away, 1.20-1.34 s against
// 1.06-1.24 through the pool).
func (f *fetcher) pipeTransport(ctx context.Context) *http.Transport {
	if f.opts.NoPipelining || f.opts.Budget != nil {
		return nil
	}
	var tr *http.Transport
	for _, src := range f.sources {
		if !src.remote.keepAlive {
			return nil
		}
		req, err := newRequest(ctx, src.remote.FinalURL, src.header)
		if err != nil {
			return nil
		}
		if tr = pipeTransport(f.client, req); tr == nil {
			return nil
		}
	}
	return tr
}

// lane is a worker's pipelining state: its pipe, and the lease it took
// ahead (Ledger.AcquireAhead) with the request sent for it.
type lane struct {
	p    pipe
	conn int
	next *Grant
	req  *http.Request // next's request
	src  *source       // the source req goes to
	end  int64         // the end req asked for (next's may move closer)
	// lease is next's lease, kept after next is taken for fetching:
	// req's answer is that lease's only.
	lease *Lease
	// Of the answer being read: the watch that ends with it, the end of
	// the range it brings, and whether its request was sent ahead.
	stop  func() bool
	asked int64
	ahead bool
}

// drop gives back the lease taken ahead, if any, and closes the pipe.
func (ln *lane) drop() {
	if ln.next != nil {
		ln.next.Lease.Release(nil, time.Now(), nil)
		ln.next = nil
	}
	ln.p.close()
}

// sendAhead takes the worker's next lease and sends its request on the
// pipe, behind the answer being read (see Ledger.AcquireAhead). A request
// that cannot be written now is sent again in its turn.
func (f *fetcher) sendAhead(ctx context.Context, ln *lane, src *source) bool {
	if f.noAhead.Load() || f.noPipe.Load() || f.gate != nil && !f.gate.admits(ln.conn) {
		return false
	}
	g := f.led.AcquireAhead(ctx, ln.conn, time.Now())
	if g.Lease == nil {
		return false
	}
	from, end := g.Lease.From(), g.Lease.End()
	ln.next, ln.src, ln.lease, ln.end = &g, src, g.Lease, end
	req, err := f.request(ctx, src, from, end)
	if err != nil {
		ln.req = nil
		return true
	}
	ln.req = req
	var fresh bool
	if ln.p.send(ctx, req, &fresh) == nil {
		f.prog.Pipelined.Add(1)
	}
	return true
}

// defaults fills in the zero fields of o.
func (o *Options) defaults() {
	if o.Connections <= 0 {
		o.Connections = 8
	}
	if o.BufferSize <= 0 {
		budget, least := 16<<20, 64<<10
		if o.Connections > 64 {
			budget, least = 12<<20, 48<<10
		}
		o.BufferSize = min(max(budget/o.Connections, least), 256<<10)
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

// worker is one connection: it asks the ledger what to do, does it, and
// stops when every byte is written or a failure is final. first, if it has
// a lease, is its first, with k its answer (fetcher.first).
func (f *fetcher) worker(ctx context.Context, conn int, c *ConnProgress, first Grant, k *keptResponse) error {
	var buf []byte
	defer c.End.Store(0)
	var ln *lane
	if f.tr != nil {
		ln = &lane{p: pipe{tr: f.tr, slot: conn, opts: &f.opts}, conn: conn}
		defer ln.drop()
	}
	defer f.led.leave(conn)
	if first.Lease != nil {
		buf = f.bufs.take()
		if err := f.fetchFirst(ctx, first, k, c, buf, ln); err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var g Grant
		if ln != nil && ln.next != nil {
			// Taken ahead, its request already on the pipe. (No budget
			// here: see pipeTransport.)
			g, ln.next = *ln.next, nil
		} else {
			var done bool
			var err error
			if g, done, err = f.acquire(ctx, conn, ln); err != nil || done {
				return err
			}
			if g.Lease == nil {
				continue
			}
		}
		if buf == nil {
			// Only now: in a batch most workers may never get a slot.
			buf = f.bufs.take()
		}
		pause, err := f.fetch(ctx, g, conn, c, buf, ln, nil)
		f.releaseSlot()
		if err != nil {
			return err
		}
		if err := wait(ctx, pause); err != nil {
			return err
		}
	}
}

// first leases the first range the probe kept (Options.FirstRange) for
// worker 0, with the response that brings it, if the ledger has those
// bytes pending and, under a Budget, the response holds a slot of it
// (HoldSlot); else it closes the response.
func (f *fetcher) first(ctx context.Context) (Grant, *keptResponse) {
	if !f.remote.KeptFirst() {
		return Grant{}, nil
	}
	k := f.remote.take()
	if k == nil {
		return Grant{}, nil
	}
	var g Grant
	if f.opts.Budget == nil || k.slot == f.opts.Budget {
		g = f.led.AcquireFirst(ctx, 0, k.end, time.Now())
	}
	if g.Lease == nil {
		k.discard()
		return Grant{}, nil
	}
	return g, k
}

// fetchFirst fetches the lease first leased, in the slot its response
// holds, if any.
func (f *fetcher) fetchFirst(ctx context.Context, g Grant, k *keptResponse, c *ConnProgress, buf []byte, ln *lane) error {
	slot := k.slot
	k.slot = nil
	if slot != nil {
		f.held.Add(1)
	}
	pause, err := f.fetch(ctx, g, 0, c, buf, ln, k)
	if slot != nil {
		f.held.Add(-1)
		slot.Release()
	}
	if f.tr != nil {
		// The workers' pipes dial their own: the probe's connection,
		// idle now, would be one more than asked for.
		f.client.CloseIdleConnections()
	}
	if err != nil {
		return err
	}
	return wait(ctx, pause)
}

// acquire waits for worker conn's turn (the -c auto count, a budget slot)
// and asks the ledger for a lease. With no lease it has waited for a
// change, or reports done when every byte is written. A lease comes with
// the budget slot, if any, held (fetch's caller releases it).
func (f *fetcher) acquire(ctx context.Context, conn int, ln *lane) (g Grant, done bool, err error) {
	if f.gate != nil {
		if !f.gate.admits(conn) {
			f.led.leave(conn) // no longer idle among the pollers
			if ln != nil {
				ln.p.close() // not to be held open while the slot waits
			}
		}
		if ok, err := f.gate.wait(ctx, conn); !ok {
			return Grant{}, err == nil, err
		}
	}
	changed := f.led.Changed()
	if b := f.opts.Budget; b != nil {
		if f.led.Done() >= f.led.Size() {
			return Grant{}, true, nil
		}
		f.led.leave(conn) // (no longer idle among the pollers)
		ok, err := b.Acquire(ctx, changed, f.gain)
		if err != nil || !ok {
			return Grant{}, false, err
		}
		f.held.Add(1)
	}
	g = f.led.Acquire(ctx, conn, time.Now())
	if g.Lease == nil {
		f.releaseSlot()
		if g.Wake.IsZero() {
			return Grant{}, true, nil
		}
		if g.Changed != nil {
			changed = g.Changed // held back by the window's bound
		}
		return Grant{}, false, waitChange(ctx, changed, time.Until(g.Wake))
	}
	return g, false, nil
}

// fetch does one lease of the worker conn, and reports an error only when
// the fetch must stop; pause is how long the worker waits before its next
// request (a refused connection waits out the retry delay). k, if set, is
// the lease's answer, which the probe kept (Options.FirstRange).
func (f *fetcher) fetch(ctx context.Context, g Grant, conn int, c *ConnProgress, buf []byte, ln *lane, k *keptResponse) (pause time.Duration, err error) {
	src := f.source(conn)
	if k != nil {
		src = f.sources[0]
	}
	var used net.Conn
	var drained bool
	sent := time.Now()
	err = f.fetchLease(g.Ctx, ctx, src, g.Lease, c, buf, &used, &drained, ln, k)
	if err != nil && f.gate != nil && ctx.Err() == nil && !errors.Is(context.Cause(g.Ctx), ErrLost) {
		f.gate.failed(err, sent)
	}
	if used != nil && !drained && f.opts.Budget != nil {
		// The body was cut short, so the connection cannot be reused:
		// closed now, before the slot goes to another request, the server
		// sees this request end before the next one begins.
		used.Close()
	}
	if used != nil && !drained && f.opts.OnConn != nil {
		reason := "request or response cut short (its range was split or finished by another connection)"
		if err != nil && !errors.Is(context.Cause(g.Ctx), ErrLost) {
			reason = "failed: " + err.Error()
		}
		f.opts.conn(conn, false, reason)
	}
	if errors.Is(context.Cause(g.Ctx), ErrLost) {
		f.prog.Recycled.Add(1)
		err = nil // another connection finished these bytes
	}
	if err != nil && ctx.Err() != nil {
		g.Lease.Release(nil, time.Now(), nil)
		return 0, ctx.Err()
	}
	if f.blame(ctx, src, err) {
		// The source is dropped: the range is not to blame.
		g.Lease.Release(nil, time.Now(), nil)
		return 0, nil
	}
	var delay time.Duration
	failures := g.Lease.Release(err, time.Now(), func(n int) time.Duration {
		delay = retryDelay(err, n, f.opts.Backoff)
		return delay
	})
	if used != nil && !drained && f.led.recycle(conn) {
		// Much slower than the others: a bad path or a throttled
		// flow, which a fresh connection is likely not to have. (A
		// drained connection went back to the pool, where another
		// request may already use it: it is not ours to close.)
		used.Close()
		f.prog.Recycled.Add(1)
		f.opts.conn(conn, false, "much slower than the others: replaced by a fresh connection")
	}
	if err != nil {
		if !f.opts.mayRetry(ctx, err, failures) {
			return 0, err
		}
		c.Retries.Add(1)
		f.opts.retrying(Retry{What: "bytes " + strings.TrimPrefix(formatRange(g.Lease.From(), g.Lease.End()), "bytes="),
			Attempt: failures, Max: f.opts.Retries, Delay: delay, Err: err})
		if refusal(err) {
			// The server refused this connection (429, 503): it waits
			// too, not only the range. Else it would take the next
			// range at once and be refused again, and again, holding
			// back every range of the file for the retry delay (a
			// server admitting 6 connections, -c auto: 170 refusals
			// in the first 30 ms).
			return delay, nil
		}
	}
	return 0, nil
}

// releaseSlot gives back the budget slot a worker holds.
func (f *fetcher) releaseSlot() {
	if f.opts.Budget != nil {
		f.held.Add(-1)
		f.opts.Budget.Release()
	}
}

// gain is how much a budget slot is worth to this fetch: first come the
// fetches holding none, then the most bytes left per connection.
func (f *fetcher) gain() float64 {
	held := f.held.Load()
	if held <= 0 {
		return First
	}
	return float64(f.led.Size()-f.led.Done()) / float64(held+1)
}

// source is the live source connection conn fetches from: its own
// (conn mod the sources), or the next live one after it.
func (f *fetcher) source(conn int) *source {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.sources)
	for i := range n {
		if s := f.sources[(conn+i)%n]; !s.dead {
			return s
		}
	}
	return f.sources[0] // never reached: the last source is never dropped
}

// blame records the outcome of a request to src, and reports whether src
// is dropped for it: it failed for good or dropAfter times in a row, and
// another source remains. Local errors are not the source's.
func (f *fetcher) blame(ctx context.Context, src *source, err error) bool {
	if len(f.sources) == 1 {
		return false
	}
	var local *LocalError
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil:
		src.failures = 0
		return false
	case errors.As(err, &local):
		return false // the disk's, not the source's
	case src.dead:
		return true
	}
	src.failures++
	if retryable(ctx, err) && src.failures < dropAfter {
		return false
	}
	live := 0
	for _, s := range f.sources {
		if !s.dead {
			live++
		}
	}
	if live < 2 {
		return false
	}
	src.dead = true
	if f.opts.OnDrop != nil {
		f.opts.OnDrop(src.remote.FinalURL, err)
	}
	return true
}

// waitChange blocks until changed is closed, d passes or ctx is done.
func waitChange(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// flushAfter bounds how long received bytes wait in a connection's buffer
// before they are written: on a slow connection a buffer takes long to
// fill, and bytes not written cannot be counted nor kept by a split.
const flushAfter = 20 * time.Millisecond

// fetchLease issues one ranged request for the lease and writes the body
// through it until the lease's end.
// *drained is set when the body was read to its end, so that the
// connection is kept for the next request.
func (f *fetcher) fetchLease(ctx, wctx context.Context, src *source, ls *Lease, c *ConnProgress, buf []byte, used *net.Conn, drained *bool, ln *lane, k *keptResponse) (err error) {
	from, end := ls.From(), ls.End()
	if from >= end {
		*drained = true
		if k != nil {
			k.discard()
		}
		return nil
	}
	var status int
	var got int64
	var fresh, sentAhead bool
	defer func(start time.Time) {
		c.Busy.Add(int64(time.Since(start)))
		f.opts.trace(Trace{URL: src.remote.FinalURL, Range: formatRange(from, end), Status: status, Bytes: got,
			Start: start, Err: err, Conn: ls.conn, Fresh: fresh, Ahead: sentAhead, Kept: k != nil})
	}(time.Now())
	if f.opts.OnStart != nil {
		f.opts.OnStart(Trace{URL: src.remote.FinalURL, Range: formatRange(from, end), Start: time.Now(), Conn: ls.conn, Kept: k != nil})
	}
	c.Start.Store(from)
	c.End.Store(end)
	c.Pos.Store(from)
	var w *watchdog
	if k != nil {
		// The probe's request, answered: its watchdog guards the body,
		// and the lease's end (lost, split, the fetch cancelled) ends it.
		w = k.w
		if w.t != nil {
			w.t.Reset(w.d)
		}
		untie := context.AfterFunc(ctx, func() { w.cancel(context.Cause(ctx)) })
		defer untie()
	} else {
		ctx, w = watch(ctx, f.opts.StallTimeout)
	}
	defer w.stop()
	sent := time.Now()
	var wrote atomic.Int64 // when the request was written (after any dial and handshake)
	var resp *http.Response
	var conn net.Conn
	piped := ln != nil && !f.noPipe.Load() && k == nil
	if k != nil {
		resp, conn, fresh = k.resp, k.conn, k.fresh
		if ln != nil {
			ln.p.close()
		}
		if fresh {
			f.opts.conn(ls.conn, true, "")
		}
	} else if piped {
		resp, conn, err = f.getPiped(ctx, src, ls, from, end, &fresh, &wrote, ln)
		sentAhead = ln.ahead
		if errors.Is(err, errRedirected) {
			piped = false
		}
	} else if ln != nil {
		ln.p.close()
	}
	if !piped && k == nil {
		resp, conn, err = f.get(ctx, src, ls.conn, from, end, &fresh, &wrote)
	}
	*used = conn
	if err != nil {
		return fmt.Errorf("range [%d,%d): %w", from, end, w.cause(err))
	}
	head := time.Now()
	if k != nil {
		// The probe's latency, as of now: the answer's bytes count
		// from when they are read, not from when the probe had its
		// headers (the file was planned and prepared meanwhile).
		shift := head.Sub(k.head)
		sent = k.sent.Add(shift)
		wrote.Store(k.wrote.Add(shift).UnixNano())
	}
	ls.Headers(sent, time.Unix(0, wrote.Load()), head)
	pos := from
	defer func() {
		if piped {
			// The connection serves the next answer only once this one
			// is read to its end, within the watch: else it goes, and a
			// request sent ahead goes again on another. (Closing the
			// body first would read the rest with no deadline.)
			clean := *drained && pos >= ln.asked && atEOF(resp.Body)
			if !ln.stop() || !clean {
				ln.p.close()
			}
		}
		resp.Body.Close()
	}()
	raw, ahead := conn, int64(0)
	if tc, ok := conn.(*tls.Conn); ok {
		raw, ahead = tc.NetConn(), tlsReadAhead
	}
	if lc, ok := raw.(*lowConn); ok {
		if resp.ContentLength == end-from {
			lc.arm(end - from - ahead)
		}
		ls.SetQueued(lc.Queued) // with TLS, records: body bytes and a little more
	}
	status = resp.StatusCode
	body := io.TeeReader(w.reader(resp.Body), counter{&f.prog.Received, &c.Received, &ls.arrived, src.bytes})
	defer func() { got = pos - from }()
	var n int // bytes in buf not yet written
	// The bytes at pos go to buf[at:], at the same place in a page as pos
	// is in the file's (buf is page-aligned), so that the file's whole
	// blocks can be written around the page cache (internal/directio).
	at := skew(pos, len(buf))
	var first time.Time
	asked := ln == nil || ln.next != nil // the next request is sent
	for {
		nr, rerr := body.Read(f.opts.readSlice(buf[at+n:]))
		if nr > 0 && n == 0 {
			first = time.Now()
		}
		if werr := f.opts.take(ctx, nr); werr != nil {
			return fmt.Errorf("range [%d,%d): %w", from, end, werr)
		}
		n += nr
		out := n // bytes to write now
		if n > 0 && at+n < len(buf) && rerr == nil && pos+int64(n) < end {
			// A flush on time writes whole blocks, the rest waits for
			// more: a block two writes share goes through the page cache
			// (internal/directio), and on 16 connections one such write
			// held the file's direct reads and writes up for milliseconds.
			out = 0
			if time.Since(first) >= flushAfter {
				out = n - int((pos+int64(n))%Block)
			}
		}
		if out > 0 {
			_, more, werr := ls.Write(f.dst, buf[at:at+out])
			if werr != nil {
				return fmt.Errorf("range [%d,%d): %w", from, end, &LocalError{werr})
			}
			pos += int64(out)
			rest := at + out
			at = skew(pos, len(buf))
			n = copy(buf[at:], buf[rest:rest+n-out])
			if n > 0 {
				first = time.Now()
			}
			c.Pos.Store(pos)
			if !more {
				*drained = pos >= end
				return nil // done, or the rest is another connection's
			}
			if piped && !asked {
				b, never := ls.aheadBytes(time.Now(), len(buf))
				if b >= 0 && end-pos <= b {
					// (Refused, it looks again after the next write:
					// a connection idle now may be busy then.)
					asked = f.sendAhead(wctx, ln, src)
				}
				asked = asked || never
			}
		}
		if rerr != nil {
			return fmt.Errorf("range [%d,%d): body ended at %d: %w", from, end, pos, w.cause(unexpected(rerr)))
		}
	}
}

// get requests [from, end) with If-Range and checks that the answer is
// exactly that range of the pinned version of the resource.
// It also returns the connection the answer came on (or, when the request
// failed after it got one, that connection, which the failure closed), and
// sets *fresh when that connection is new.
func (f *fetcher) get(ctx context.Context, src *source, slot int, from, end int64, fresh *bool, wrote *atomic.Int64) (*http.Response, net.Conn, error) {
	var conn net.Conn
	wrote.Store(time.Now().UnixNano())
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) {
			conn, *fresh = ci.Conn, !ci.Reused
			if !ci.Reused {
				f.opts.conn(slot, true, "")
			}
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(time.Now().UnixNano()) },
	})
	req, err := f.request(ctx, src, from, end)
	if err != nil {
		return nil, nil, err
	}
	asked := req.Header.Get("Range")
	resp, err := f.client.Do(req)
	if err != nil {
		// A request that got a connection and failed before its
		// answer (cancelled: its range went to another connection, or
		// the server never answered) took that connection down with
		// it: the caller reports it closed.
		return nil, conn, err
	}
	if err := check(src.remote, resp, asked, from, end); err != nil {
		resp.Body.Close()
		return nil, nil, err
	}
	return resp, conn, nil
}

// request builds the request for [from, end) of src, with If-Range.
func (f *fetcher) request(ctx context.Context, src *source, from, end int64) (*http.Request, error) {
	req, err := newRequest(ctx, src.remote.FinalURL, src.header)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", formatRange(from, end))
	if v := src.remote.ifRange(); v != "" {
		req.Header.Set("If-Range", v)
	}
	return req, nil
}

// getPiped is get on the worker's pipe: the answer to the request sent
// ahead for ls (sendAhead), or to one sent now. On success ln.stop and
// ln.asked describe the answer (the caller calls ln.stop once done with
// the body). errRedirected: the answer was a redirect, for the client to
// follow (the pipe is closed, and no longer used by the fetch).
func (f *fetcher) getPiped(ctx context.Context, src *source, ls *Lease, from, end int64, fresh *bool, wrote *atomic.Int64, ln *lane) (*http.Response, net.Conn, error) {
	ln.p.next()
	req := ln.req
	queued := req != nil && ln.lease == ls && ln.src == src && ln.p.queued(req)
	ln.ahead = queued
	if queued {
		// Sent ahead: the answer is to what it asked for, which a
		// split may since have cut shorter (the rest is read away
		// with the connection).
		end = ln.end
	} else {
		if req != nil && ln.p.queued(req) {
			// Sent ahead for a lease given up since (its range ended
			// before its turn): its answer comes first, and is not
			// this lease's.
			ln.p.close()
		}
		ls.sentNow()
		var err error
		if req, err = f.request(ctx, src, from, end); err != nil {
			return nil, nil, err
		}
		reused := ln.p.conn != nil
		err = ln.p.send(ctx, req, fresh)
		if err != nil && reused && ctx.Err() == nil {
			// A kept-alive connection the server has closed since:
			// once more on a fresh one, as net/http does.
			ln.p.close()
			err = ln.p.send(ctx, req, fresh)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	ln.req, ln.src, ln.lease = nil, nil, nil
	wrote.Store(time.Now().UnixNano())
	resp, stop, err := ln.p.receive(ctx, req, fresh)
	if err != nil {
		var ne net.Error
		if queued && (errors.Is(context.Cause(ctx), ErrStalled) || ln.p.junk || errors.As(err, &ne) && ne.Timeout()) {
			f.noAhead.Store(true)
		}
		return nil, nil, err
	}
	if ln.p.junk {
		f.noAhead.Store(true)
	}
	ln.stop, ln.asked = stop, end
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		ln.p.close()
		stop()
		resp.Body.Close()
		f.noPipe.Store(true)
		return nil, nil, errRedirected
	}
	if err := check(src.remote, resp, req.Header.Get("Range"), from, end); err != nil {
		ln.p.close()
		stop()
		resp.Body.Close()
		return nil, nil, err
	}
	return resp, ln.p.conn, nil
}

// errRedirected: see getPiped.
var errRedirected = errors.New("redirected")

// atEOF reports whether body, read to the end of its range, is at its end
// (the terminating chunk of a chunked one is read here): only then does
// the connection hold the next answer.
func atEOF(body io.Reader) bool {
	var b [1]byte
	n, err := body.Read(b[:])
	return n == 0 && err == io.EOF
}

// check validates a response to the ranged request asked for [from, end).
func check(r *Remote, resp *http.Response, asked string, from, end int64) error {
	if err := sameVersion(r, resp); err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		if v := r.ifRange(); v != "" && v != resp.Header.Get("ETag") && v != resp.Header.Get("Last-Modified") {
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
	if cr.total != r.Size {
		return &RangeError{Asked: asked, Got: "Content-Range " + got,
			Reason: fmt.Sprintf("complete length is not the %d bytes probed", r.Size)}
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
func sameVersion(r *Remote, resp *http.Response) error {
	if tag := resp.Header.Get("ETag"); r.ETag != "" && tag != "" && tag != r.ETag {
		return fmt.Errorf("%s: ETag %s, was %s: %w", resp.Request.URL.Redacted(), tag, r.ETag, ErrChanged)
	}
	if lm := resp.Header.Get("Last-Modified"); r.ETag == "" && r.LastModified != "" && lm != "" && lm != r.LastModified {
		return fmt.Errorf("%s: Last-Modified %s, was %s: %w", resp.Request.URL.Redacted(), lm, r.LastModified, ErrChanged)
	}
	return nil
}

// skew is where in a copy buffer of size bytes the bytes at file offset
// pos go: pos's offset in its Block, in buffers large enough to give that
// up. (The buffers are page-aligned: an offset at a whole Block then lies
// at an address direct I/O can take.)
func skew(pos int64, size int) int {
	if size < 4*Block {
		return 0
	}
	return int(pos % Block)
}

// readSlice bounds a read by the limiter's burst, so that a limited
// download draws from the budget in small steps.
func (o *Options) readSlice(b []byte) []byte {
	if o.Limiter != nil && len(b) > o.Limiter.Burst() {
		return b[:o.Limiter.Burst()]
	}
	return b
}

// take waits until n bytes that arrived fit the rate limit.
func (o *Options) take(ctx context.Context, n int) error {
	if o.Limiter == nil || n <= 0 {
		return nil
	}
	return o.Limiter.WaitN(ctx, n)
}
