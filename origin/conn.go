package origin

// This file holds pacedConn, the net.Conn wrapper that caps one connection's
// send rate with a token bucket.

import (
	"errors"
	"net"
	"sync"
	"time"
)

// maxBurst is the credit a paced connection may accumulate, unless one piece
// takes longer to send.
const maxBurst = 250 * time.Millisecond

// errAborted is returned by writes on a connection whose request was
// cancelled (the client is gone).
var errAborted = errors.New("bench: connection aborted: request context done")

// pacedConn is a server-side connection whose writes are paced at rate bytes
// per second (0 = unlimited), with a token bucket kept as a virtual clock:
// next is when the bytes written so far are due, and a write waits until its
// bytes are due. The bucket starts empty (next = accept time) and holds at
// most burst of credit (next never lags now by more), so a write that was
// late, because the handler or the scheduler was, is made up for, and the
// average rate stays accurate on a busy machine; yet an idle connection
// cannot save up more than burst. Writes are split into pieces of about
// 10 ms of sending, so that each wait is short and the pace smooth.
type pacedConn struct {
	net.Conn
	rate  int64
	piece int
	burst time.Duration
	// first, if set, runs before the first write (it may set the rate).
	first     func()
	firstOnce sync.Once

	mu   sync.Mutex
	next time.Time // guarded by mu

	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error

	aborted   chan struct{} // closed by abort
	abortOnce sync.Once

	gone     chan struct{} // closed when net/http is done with the connection
	goneOnce sync.Once

	admission int8 // WithMaxConns: 0 not decided yet, 1 admitted, -1 refused; guarded by Server.mu
}

func newPacedConn(c net.Conn, rate int64) *pacedConn {
	pc := &pacedConn{
		Conn:    c,
		closed:  make(chan struct{}),
		aborted: make(chan struct{}),
		gone:    make(chan struct{}),
		next:    time.Now(),
	}
	pc.setRate(rate)
	return pc
}

// setRate sets the pace; before the first write only.
func (c *pacedConn) setRate(rate int64) {
	c.rate = rate
	if rate > 0 {
		c.piece = int(min(max(rate/100, 256), 64<<10))
		c.burst = max(c.due(c.piece), maxBurst)
	}
}

// due returns how long n bytes take at the connection's rate.
func (c *pacedConn) due(n int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / c.rate)
}

func (c *pacedConn) Write(p []byte) (int, error) {
	if c.first != nil {
		c.firstOnce.Do(c.first)
	}
	if c.rate <= 0 {
		return c.Conn.Write(p)
	}
	var n int
	for len(p) > 0 {
		k := min(len(p), c.piece)
		if err := c.pace(k); err != nil {
			return n, err
		}
		m, err := c.Conn.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// pace waits until k more bytes may be sent, or until the connection is
// closed or aborted.
func (c *pacedConn) pace(k int) error {
	select {
	case <-c.aborted:
		return errAborted
	default:
	}
	wait := c.reserve(k, time.Now())
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.closed:
		return net.ErrClosed
	case <-c.aborted:
		return errAborted
	}
}

// reserve books k bytes on the connection's clock at now and returns how
// long the caller must wait before sending them.
func (c *pacedConn) reserve(k int, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if floor := now.Add(-c.burst); c.next.Before(floor) {
		c.next = floor
	}
	c.next = c.next.Add(c.due(k))
	return c.next.Sub(now)
}

// abort makes pending and future writes fail: the request being answered on
// this connection was cancelled.
func (c *pacedConn) abort() { c.abortOnce.Do(func() { close(c.aborted) }) }

// Close closes the connection; it is idempotent.
func (c *pacedConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// CloseWrite shuts down the sending side of the connection (a FIN), as
// servers do before closing one with a request still unread, so that the
// client sees the end rather than a reset. A handler that hijacked the
// connection may call it.
func (c *pacedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
