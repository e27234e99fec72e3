package segment

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Warmer dials a download's connections while its probe is in flight, so
// that the range requests that follow do not each wait a round trip for
// their TCP handshake (30 ms away, 16 connections: the first bytes come one
// round trip sooner). A connection dialed ahead is handed to the client's
// Transport by its dialer when it asks for one to the same address; one
// left unused, or older than warmLife, is closed. Its methods are safe for
// concurrent use; the zero Warmer is not usable: pass NewWarmer() in
// ClientOptions.Warm.
type Warmer struct {
	mu    sync.Mutex
	ready map[string][]warmConn
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	proxy func(*http.Request) (*url.URL, error)
	// handshake, set by NewClient, makes a connection dialed ahead to an
	// https server a TLS one, kept under tlsKey(addr).
	handshake func(ctx context.Context, c net.Conn, addr string) (net.Conn, error)
	ctx       context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closed    bool
}

type warmConn struct {
	c  net.Conn
	at time.Time
}

// warmLife bounds how long a connection dialed ahead waits for its first
// request: servers close connections that send nothing (nginx after 60 s),
// and one closed under a request would cost a retry.
const warmLife = 5 * time.Second

// NewWarmer returns a Warmer for one client (see ClientOptions.Warm).
func NewWarmer() *Warmer {
	ctx, stop := context.WithCancel(context.Background())
	return &Warmer{ready: map[string][]warmConn{}, ctx: ctx, stop: stop}
}

// Warm starts dialing n connections to the server of rawURL in the
// background, unless they would go through a proxy, ctx is done, or the
// Warmer belongs to no client yet. It does not wait for them.
func (w *Warmer) Warm(ctx context.Context, rawURL string, n int) {
	if n <= 0 {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return
	}
	if w.proxy != nil {
		if p, err := w.proxy(req); err != nil || p != nil {
			return
		}
	}
	addr := canonicalAddr(req.URL)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.dial == nil {
		return
	}
	key, hs := addr, w.handshake
	if req.URL.Scheme == "https" && hs != nil {
		key = tlsKey(addr)
	} else {
		hs = nil
	}
	dctx, cancel := context.WithCancel(w.ctx)
	stop := context.AfterFunc(ctx, cancel)
	var dials sync.WaitGroup
	for range n {
		dials.Add(1)
		w.wg.Go(func() {
			defer dials.Done()
			c, err := w.dial(dctx, "tcp", addr)
			if err == nil && hs != nil {
				c, err = hs(dctx, c, addr)
			}
			if err != nil {
				return
			}
			w.put(key, c)
		})
	}
	w.wg.Go(func() {
		dials.Wait()
		stop()
		cancel()
		// Those not taken by then are closed (the probe redirected
		// elsewhere, or the file needs fewer connections).
		t := time.NewTimer(warmLife)
		defer t.Stop()
		select {
		case <-t.C:
			w.expire(key)
		case <-w.ctx.Done():
		}
	})
}

// expire closes the connections to addr that waited warmLife.
func (w *Warmer) expire(addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := w.ready[addr][:0]
	for _, wc := range w.ready[addr] {
		if time.Since(wc.at) < warmLife {
			keep = append(keep, wc)
		} else {
			wc.c.Close()
		}
	}
	w.ready[addr] = keep
}

// put keeps c for the next dial of addr, or closes it after Close.
func (w *Warmer) put(addr string, c net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		c.Close()
		return
	}
	w.ready[addr] = append(w.ready[addr], warmConn{c, time.Now()})
}

// take returns a connection dialed ahead to addr, or nil.
func (w *Warmer) take(addr string) net.Conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	for cs := w.ready[addr]; len(cs) > 0; cs = w.ready[addr] {
		wc := cs[len(cs)-1]
		w.ready[addr] = cs[:len(cs)-1]
		if time.Since(wc.at) < warmLife {
			return wc.c
		}
		wc.c.Close()
	}
	return nil
}

// Close stops the dials in progress, waits for them, and closes the
// connections nobody took.
func (w *Warmer) Close() {
	w.mu.Lock()
	w.closed = true
	w.stop()
	w.mu.Unlock()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for addr, cs := range w.ready {
		for _, wc := range cs {
			wc.c.Close()
		}
		delete(w.ready, addr)
	}
}

// tlsKey is the key of the TLS connections to addr dialed ahead (those of
// the plain ones is addr).
func tlsKey(addr string) string { return "tls:" + addr }

// canonicalAddr is the host:port the Transport dials for u.
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
