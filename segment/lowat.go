package segment

import (
	"net"
	"sync/atomic"
	"time"
)

// Receive low-water marks. A connection paced by the server delivers its
// bytes a packet at a time, and a reader woken for each packet spends more
// CPU in the scheduler and the poller than in copying. With SO_RCVLOWAT the
// kernel wakes the reader only once a mark's worth is queued. Two rules keep
// that from ever delaying a download:
//   - the mark stays within the body bytes certain to still arrive (see
//     arm), so a reader never waits for a byte that will not come: response
//     headers, the last bytes of a body and unarmed connections read with
//     the default mark of one byte;
//   - the mark is what the connection delivers in lowatSpan at its rate so
//     far, so a slow connection wakes as often as before and its bytes reach
//     the file, the progress bars and the stall watchdog without delay;
//   - the mark leaves out the body's last lowatStep bytes (more than a TCP
//     segment): a server that corks or delays small segments (nginx's
//     sendfile with tcp_nopush) sends the last, partial one only once the
//     bytes before it are acknowledged, and a segment shorter than the
//     receiver's MSS is acknowledged only after 40 ms, unless the reader
//     reads it and acknowledges at once (quickackBelow). A reader asleep on
//     a mark that needs the last segment waits those 40 ms: 56 such waits
//     in 20 downloads of 16 MiB over 16 connections paced at 25 MiB/s,
//     0.106 s median, against none and 0.074 s with the last bytes left
//     out.
const (
	// readBufferSize is the Transport's buffered reader: it may hold this
	// many body bytes that are no longer in the socket.
	readBufferSize = 4 << 10
	lowatStep      = 64 << 10  // marks are multiples of this; smaller ones are not set
	lowatMax       = 256 << 10 // the highest mark
	lowatSpan      = 10 * time.Millisecond
	// tlsReadAhead bounds the body bytes a TLS connection may have taken
	// from the socket before arm, besides readBufferSize: while the
	// headers were read, the record they ended in and its buffer's
	// read-ahead (a record is at most 16 KiB and a little more). The
	// socket carries more than the body (each record's header and tag),
	// so counting the body bytes stays on the safe side.
	tlsReadAhead = lowatMax
)

// quickackBelow: while fewer body bytes than this are still to arrive (the
// end of a response, and the headers of the next), the connection
// acknowledges what it reads at once (TCP_QUICKACK) instead of up to 40 ms
// later. A server that corks its responses (nginx's default sendfile with
// tcp_nopush) holds the last, partial segment back until the segments
// before it are acknowledged: on loopback, where a segment is 64 KiB,
// every 65-130 KB response took 44 ms instead of 0.2-5 ms, and the short
// ranges at the end of a download are that size. Setting it costs a system
// call per read, so only the last few reads of a response pay it.
const quickackBelow = 2 * lowatMax

// lowConn is a client connection whose receive low-water mark follows what
// the worker reading it expects (see the rules above), and which
// acknowledges the end of each response at once (see quickackBelow).
type lowConn struct {
	net.Conn
	set    func(int) error // sets SO_RCVLOWAT
	quick  func() error    // sets TCP_QUICKACK (for the next acknowledgement)
	noack  atomic.Bool     // setting TCP_QUICKACK failed
	inq    func() int64    // bytes waiting in the socket's receive queue
	expect atomic.Int64    // bytes certain to still arrive on the socket
	since  atomic.Int64    // when arm was called, in ns since the Unix epoch
	got    atomic.Int64    // bytes read since arm
	mark   atomic.Int64    // the mark in force; 0 means the default of 1
	off    atomic.Bool     // setting the mark failed: read as usual
}

// arm says that a response body of body bytes, whose headers have just been
// read, is about to be read. Some of it may already be in the Transport's
// reader rather than in the socket.
func (c *lowConn) arm(body int64) {
	c.got.Store(0)
	c.since.Store(time.Now().UnixNano())
	c.expect.Store(body - readBufferSize)
}

// Read sets the mark, if it changed, and reads.
func (c *lowConn) Read(p []byte) (int, error) {
	if !c.off.Load() {
		if m := c.nextMark(time.Now()); m != c.mark.Load() {
			if c.set(max(int(m), 1)) != nil {
				c.off.Store(true)
			}
			c.mark.Store(m)
		}
	}
	n, err := c.Conn.Read(p)
	left := c.expect.Add(-int64(n))
	c.got.Add(int64(n))
	if n > 0 && left < quickackBelow && c.quick != nil && !c.noack.Load() {
		if c.quick() != nil {
			c.noack.Store(true)
		}
	}
	return n, err
}

// nextMark is min(lowatMax, the bytes expected but the last lowatStep,
// what lowatSpan brings at the rate since arm), rounded down to a step; 0
// below a step or before the rate is known.
func (c *lowConn) nextMark(now time.Time) int64 {
	got, el := c.got.Load(), now.UnixNano()-c.since.Load()
	if got < lowatStep || el <= 0 {
		return 0
	}
	span := int64(float64(got) * float64(lowatSpan) / float64(el))
	m := min(lowatMax, c.expect.Load()-lowatStep, span) / lowatStep * lowatStep
	if m < lowatStep {
		return 0
	}
	return m
}

// Queued reports how many bytes the server has sent that wait in the
// connection's receive queue: they arrive whatever the reader decides, so a
// split leaves them to the holder (see Lease.SetQueued).
func (c *lowConn) Queued() int64 {
	if c.inq == nil {
		return 0
	}
	return c.inq()
}
