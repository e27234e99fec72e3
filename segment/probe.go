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
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Remote describes the resource found by Probe: where it finally lives, how
// large it is, whether it serves byte ranges, and the validators that pin the
// version being fetched.
type Remote struct {
	URL          string // as asked
	FinalURL     string // after redirects; ranges are requested here
	Size         int64  // complete length in bytes; -1 when unknown
	Ranges       bool   // the server answered the probe with a 206
	ETag         string // as sent, including quotes and any W/ prefix
	LastModified string
	Filename     string // the Content-Disposition filename, unsanitized; "" if none
	Encoding     string // Content-Encoding of the probe response, "" for identity

	// latency is the probe's request latency: its request written to its
	// response headers (the last request, after redirects; no dial or
	// handshake). -c auto's first count follows it (NewScaler).
	latency time.Duration
	// keepAlive: the probe's answer came over HTTP/1.1 on a connection
	// the server keeps open, so requests may be pipelined on it (see
	// Options.NoPipelining).
	keepAlive bool

	// kept is the probe's own response when Options.KeepStream asked to
	// keep it: the whole resource (no ranges), which the stream reads
	// instead of asking again, or its first range (Options.FirstRange),
	// which Fetch reads as the download's first.
	kept *atomic.Pointer[keptResponse]
}

// keptResponse is a probe response kept open, with its stall watchdog.
type keptResponse struct {
	resp *http.Response
	w    *watchdog
	// Of a first range: its end (0 for a stream), the connection it
	// came on and whether the probe dialed it, and when its request was
	// sent, written and answered (the ledger's latency).
	end               int64
	conn              net.Conn
	fresh             bool
	sent, wrote, head time.Time
	// slot, if set, is the Budget slot the response holds: whoever ends
	// the response gives it back (HoldSlot).
	slot *Budget
}

// discard closes the kept response and gives back the slot it holds.
func (k *keptResponse) discard() {
	k.resp.Body.Close()
	k.w.stop()
	if k.slot != nil {
		k.slot.Release()
	}
}

// take returns the kept response, once, or nil.
func (r *Remote) take() *keptResponse {
	if r.kept == nil {
		return nil
	}
	return r.kept.Swap(nil)
}

// Discard closes the response Probe kept (see Options.KeepStream) if
// Fetch did not read it, and gives back the Budget slot it held
// (HoldSlot). It is safe to call always.
func (r *Remote) Discard() {
	if k := r.take(); k != nil {
		k.discard()
	}
}

// KeptFirst reports whether the probe kept its answer for the first range
// (Options.FirstRange) and Fetch has not taken it yet.
func (r *Remote) KeptFirst() bool {
	if r.kept == nil {
		return false
	}
	k := r.kept.Load()
	return k != nil && k.end > 0
}

// HoldSlot hands the response the probe kept (see KeptFirst) one slot of
// b that the caller holds: Fetch, under the same Budget, reads the response
// in that slot, and whoever ends the response gives the slot back
// (Discard, if Fetch does not take it). Without a kept response the slot
// is given back at once.
func (r *Remote) HoldSlot(b *Budget) {
	if r.kept != nil {
		if k := r.kept.Load(); k != nil {
			k.slot = b
			return
		}
	}
	b.Release()
}

// ifRange returns the validator to send in If-Range, or "" when there is
// none usable. RFC 9110 forbids weak entity tags in If-Range, so a weak ETag
// falls back to Last-Modified.
func (r *Remote) ifRange() string {
	if r.ETag != "" && !strings.HasPrefix(r.ETag, "W/") {
		return r.ETag
	}
	return r.LastModified
}

// ClientOptions configures NewClient.
type ClientOptions struct {
	// Connections is the number of connections the download uses at once;
	// the Transport keeps that many per host. If zero, 8.
	Connections int
	// AllowInsecureRedirect permits a redirect from https to http. If false,
	// such a redirect fails.
	AllowInsecureRedirect bool
	// Insecure skips TLS certificate verification.
	Insecure bool
	// ConnectTimeout bounds dialing and the TLS handshake. If zero, 30 s.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers. If zero, 60 s.
	HeaderTimeout time.Duration
	// RootCAs are the certificate authorities trusted for TLS. If nil, the
	// system's.
	RootCAs *x509.CertPool
	// Proxy chooses the proxy of each request. If nil, the environment's
	// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as http.ProxyFromEnvironment.
	Proxy func(*http.Request) (*url.URL, error)
	// Warm, if set, is where the client takes the connections its
	// Warm method dialed ahead. A Warmer serves one client.
	Warm *Warmer
}

// NewClient returns an HTTP/1.1 client sized for o.Connections: Go's HTTP/2
// client would multiplex every range onto one TCP connection, which defeats
// the point (golang/go#37373). Proxies come from o.Proxy or the
// environment.
func NewClient(o ClientOptions) *http.Client {
	n := o.Connections
	if n <= 0 {
		n = 8
	}
	connect := o.ConnectTimeout
	if connect <= 0 {
		connect = 30 * time.Second
	}
	header := o.HeaderTimeout
	if header <= 0 {
		header = 60 * time.Second
	}
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	proxy := o.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return withLowat(conn), nil
	}
	tlsConfig := &tls.Config{InsecureSkipVerify: o.Insecure, RootCAs: o.RootCAs}
	var dialTLS func(ctx context.Context, network, addr string) (net.Conn, error)
	if w := o.Warm; w != nil {
		base := dial
		hs := func(ctx context.Context, c net.Conn, addr string) (net.Conn, error) {
			return handshake(ctx, c, addr, tlsConfig, connect)
		}
		w.mu.Lock()
		w.dial, w.proxy, w.handshake = base, proxy, hs
		w.mu.Unlock()
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if network == "tcp" {
				if c := w.take(addr); c != nil {
					return c, nil
				}
			}
			return base(ctx, network, addr)
		}
		// HTTPS connections dialed ahead are handshaken ahead too: the
		// Transport takes them whole (and dials the others the same way).
		dialTLS = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if network == "tcp" {
				if c := w.take(tlsKey(addr)); c != nil {
					return c, nil
				}
			}
			c, err := base(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return hs(ctx, c, addr)
		}
	}
	tr := &http.Transport{
		DialTLSContext:        dialTLS,
		Proxy:                 proxy,
		DialContext:           dial,
		ReadBufferSize:        readBufferSize,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: header,
		// One more than n: the probe's connection, and one that a split
		// range has just abandoned, may still be counted while closing.
		MaxConnsPerHost:     2 * n,
		MaxIdleConnsPerHost: n + 1,
		MaxIdleConns:        2*n + 8,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		TLSClientConfig:     tlsConfig,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return permanentError{fmt.Errorf("stopped after %d redirects", len(via))}
			}
			prev := via[len(via)-1].URL
			if prev.Scheme == "https" && req.URL.Scheme == "http" {
				if !o.AllowInsecureRedirect {
					return permanentError{fmt.Errorf("refusing redirect from https to http (%s); allow it with --allow-insecure-redirect", req.URL.Redacted())}
				}
				// Allowed, but credentials never travel in clear text
				// (net/http would keep them on the same host).
				dropCredentials(req)
			}
			return nil
		},
	}
}

// handshake runs the TLS handshake of an HTTP/1.1 client on c, a connection
// to addr, with cfg and within timeout, as the Transport would; it closes c
// on failure.
func handshake(ctx context.Context, c net.Conn, addr string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// Probe asks for the first byte of rawURL (a HEAD is often wrong or refused),
// or its first Options.FirstRange bytes, and describes the resource from
// the answer. Of opts it uses Header, Retries, Backoff, StallTimeout,
// Trace, KeepStream and FirstRange: transient failures (a stalled answer
// among them) are retried, but a host that cannot be reached at all fails
// at once.
func Probe(ctx context.Context, client *http.Client, rawURL string, opts Options) (*Remote, error) {
	opts.defaults()
	var r *Remote
	err := opts.retry(ctx, "probe", func() (bool, error) {
		var err error
		r, err = probeOnce(ctx, client, rawURL, &opts)
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return false, permanentError{err} // nothing listens there
		}
		return false, err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// probeOnce sends one probe. The stall watchdog bounds it from the dial to
// the end of the body, so that a server that answers nothing, or sends
// headers and then nothing, cannot hang it.
func probeOnce(ctx context.Context, client *http.Client, rawURL string, opts *Options) (r *Remote, err error) {
	var status int
	var got int64
	span := int64(1) // the bytes asked for
	if opts.KeepStream && opts.FirstRange > 0 {
		span = opts.FirstRange
	}
	sent := time.Now()
	kept := false // the response is handed on to the fetch: do not close it
	defer func() {
		opts.trace(Trace{URL: rawURL, Range: formatRange(0, span), Status: status, Bytes: got, Start: sent, Err: err, Conn: -1, Fresh: true, Kept: kept})
	}()
	ctx, w := watch(ctx, opts.StallTimeout)
	defer func() {
		if !kept {
			w.stop()
		}
	}()
	req, err := newRequest(ctx, rawURL, opts.Header)
	if err != nil {
		return nil, permanentError{err}
	}
	req.Header.Set("Range", formatRange(0, span))
	var wrote atomic.Int64 // when the last request was written, in ns since the epoch
	var conn net.Conn      // the last request's (GotConn and Do return in order)
	var fresh bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn:      func(ci httptrace.GotConnInfo) { conn, fresh = ci.Conn, !ci.Reused },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(time.Now().UnixNano()) },
	}))
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", w.cause(err))
	}
	head := time.Now()
	var lat time.Duration
	if t := wrote.Load(); t > 0 {
		lat = head.Sub(time.Unix(0, t))
	}
	defer func() {
		if !kept {
			resp.Body.Close()
		}
	}()
	status = resp.StatusCode
	r = &Remote{
		URL:          rawURL,
		FinalURL:     resp.Request.URL.String(),
		Size:         -1,
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		Filename:     dispositionFilename(resp.Header.Get("Content-Disposition")),
		Encoding:     contentEncoding(resp.Header),
		latency:      lat,
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		cr, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", req.URL.Redacted(), err)
		}
		if cr.start != 0 || cr.end < 1 || cr.end > span {
			return nil, fmt.Errorf("probe %s: %w", req.URL.Redacted(),
				&RangeError{Asked: formatRange(0, span), Got: resp.Header.Get("Content-Range"), Reason: "wrong range"})
		}
		r.Size = cr.total
		r.keepAlive = resp.ProtoAtLeast(1, 1) && !resp.Close
		// An unknown complete length ("bytes 0-0/*") cannot be planned.
		r.Ranges = cr.total > 0 && r.Encoding == ""
		if r.Encoding != "" {
			// The length is that of the encoded form; the decoded size
			// is known only at the end of the stream.
			r.Size = -1
		}
		if span > 1 && r.Ranges && cr.end == min(span, cr.total) && conn != nil &&
			(resp.ContentLength < 0 || resp.ContentLength == cr.end) {
			// The first range, as asked: Fetch reads it on, and its
			// watchdog waits until then (nothing reads it meanwhile).
			if w.t != nil {
				w.t.Stop()
			}
			r.kept = new(atomic.Pointer[keptResponse])
			k := &keptResponse{resp: resp, w: w, end: cr.end, conn: conn, fresh: fresh, sent: sent, wrote: sent, head: head}
			if t := wrote.Load(); t > 0 {
				k.wrote = time.Unix(0, t)
			}
			r.kept.Store(k)
			kept = true
			break
		}
		// (A longer body is not read away: the connection goes.)
		got, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", req.URL.Redacted(), w.cause(err))
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// The only resource without a first byte is the empty one.
		cr, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || cr.total != 0 {
			return nil, fmt.Errorf("probe %s: 416 for the first byte: %w", req.URL.Redacted(), statusError(resp))
		}
		r.Size, r.Ranges = 0, true
	case http.StatusOK:
		if r.Encoding == "" {
			r.Size = resp.ContentLength
		}
		if opts.KeepStream {
			// No ranges: this body is the download. Keep reading it
			// rather than asking for it again.
			r.kept = new(atomic.Pointer[keptResponse])
			r.kept.Store(&keptResponse{resp: resp, w: w})
			kept = true
		}
	default:
		return nil, statusError(resp)
	}
	return r, nil
}

// newRequest builds a GET for rawURL carrying hdr, asking for the bytes as
// stored (no compression: a compressed range has no stable offsets).
func newRequest(ctx context.Context, rawURL string, hdr http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("bad URL %q: scheme must be http or https", req.URL.Redacted())
	}
	if req.URL.Host == "" {
		return nil, fmt.Errorf("bad URL %q: no host", req.URL.Redacted())
	}
	for k, vs := range hdr {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept-Encoding", "identity")
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "rget")
	}
	return req, nil
}

// contentEncoding returns the response's Content-Encoding, "" for identity.
func contentEncoding(h http.Header) string {
	e := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	if e == "identity" {
		return ""
	}
	return e
}

// dispositionFilename returns the filename parameter of a Content-Disposition
// value (filename* preferred, as mime decodes it), or "".
func dispositionFilename(v string) string {
	if v == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(v)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return ""
	}
	return params["filename"]
}
