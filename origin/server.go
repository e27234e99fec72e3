package origin

// This file holds Server: a real net/http server on a loopback port, whose
// connections are paced (WithRatePerConn, WithSlowConn) and tracked, so that
// Close returns only when every goroutine it started has exited.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server is an HTTP/1.1 server listening on 127.0.0.1, started by Start.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:PORT", without a trailing slash.
	URL string

	srv       *http.Server
	served    chan struct{} // closed when the Serve goroutine returns
	serveErr  error         // Serve's error; read after served is closed
	accepted  atomic.Int64
	answering atomic.Int64 // connections that have begun an answer

	mu       sync.Mutex
	conns    map[*pacedConn]struct{} // accepted and not yet closed by net/http; guarded by mu
	admitted int                     // connections admitted by WithMaxConns and open; guarded by mu
	maxConns int
	refused  atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// connKey is the context key under which ConnContext stores the *pacedConn.
type connKey struct{}

// Start listens on a free port of 127.0.0.1 (or on WithAddr's address) and
// serves h on it from a goroutine the Server owns, until Close.
//
// If h is an *Origin, its connection-level options (WithRatePerConn,
// WithSlowConn, WithAddr) apply; opts are applied after them and may
// override them. Start uses only the connection-level options in opts.
func Start(h http.Handler, opts ...Option) (*Server, error) {
	var cfg config
	if o, ok := h.(*Origin); ok {
		cfg = o.cfg
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	addr := cfg.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		served:   make(chan struct{}),
		conns:    make(map[*pacedConn]struct{}),
		maxConns: cfg.maxConns,
	}
	s.srv = &http.Server{
		Handler:           s.bindConn(h),
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState:         s.connState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	l := &pacedListener{Listener: ln, s: s, rate: cfg.ratePerConn, slowRate: cfg.slowConnRate, slowAt: cfg.slowConnAt}
	go func() {
		defer close(s.served)
		s.serveErr = s.srv.Serve(l)
	}()
	return s, nil
}

// WithAddr makes Start listen on addr ("host:port", as net.Listen takes it;
// port 0 picks a free one) instead of a free port of 127.0.0.1. Applied by
// Start.
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// Conns returns how many TCP connections the server has accepted so far.
func (s *Server) Conns() int64 { return s.accepted.Load() }

// Close stops the server: it closes the listener and every connection, and
// waits until the serving goroutine and every connection's goroutine have
// exited (a handler still running must return once its request's context is
// done, as Origin's do). Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.srv.Close()
		<-s.served
		if s.serveErr != nil && !errors.Is(s.serveErr, http.ErrServerClosed) {
			err = errors.Join(err, s.serveErr)
		}
		s.mu.Lock()
		conns := make([]*pacedConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.Close() //nolint:errcheck // closing twice; net/http reports the real error
			<-c.gone
		}
		if err != nil {
			s.closeErr = fmt.Errorf("bench: close %s: %w", s.URL, err)
		}
	})
	return s.closeErr
}

// connState tracks the end of each connection's serving goroutine.
func (s *Server) connState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*pacedConn)
	if !ok || (state != http.StateClosed && state != http.StateHijacked) {
		return
	}
	s.mu.Lock()
	delete(s.conns, c)
	if c.admission > 0 {
		s.admitted--
		c.admission = 0
	}
	s.mu.Unlock()
	c.goneOnce.Do(func() { close(c.gone) })
}

// bindConn wraps h so that a paced write on the request's connection stops
// waiting as soon as the request's context is done (the client went away),
// instead of pacing out a response nobody reads.
func (s *Server) bindConn(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*pacedConn); ok {
			stop := context.AfterFunc(r.Context(), c.abort)
			defer stop()
			if !s.admit(c) {
				s.refused.Add(1)
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Connection", "close")
				serveStatus(w, http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// admit decides, at its first request, whether connection c is served
// (WithMaxConns): while fewer than the maximum admitted connections are
// open.
func (s *Server) admit(c *pacedConn) bool {
	if s.maxConns <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.admission == 0 {
		c.admission = -1
		if s.admitted < s.maxConns {
			c.admission = 1
			s.admitted++
		}
	}
	return c.admission > 0
}

// Refused is how many requests WithMaxConns refused.
func (s *Server) Refused() int64 { return s.refused.Load() }

// pacedListener wraps every accepted connection in a pacedConn.
type pacedListener struct {
	net.Listener
	s        *Server
	rate     int64
	slowRate int64
	slowAt   int64
}

func (l *pacedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.accepted.Add(1)
	c := newPacedConn(nc, l.rate)
	if l.slowRate > 0 {
		// The n-th connection to answer a request is slow: the order in
		// which a client's connections carry requests (the probe first),
		// not the order it dialed them in (it may dial ahead).
		c.first = func() {
			if l.s.answering.Add(1) == l.slowAt {
				rate := l.slowRate
				if l.rate > 0 {
					rate = min(rate, l.rate)
				}
				c.setRate(rate)
			}
		}
	}
	l.s.mu.Lock()
	l.s.conns[c] = struct{}{}
	l.s.mu.Unlock()
	return c, nil
}
