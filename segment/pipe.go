package segment

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"syscall"
	"time"
)

// pipe is one worker's own HTTP/1.1 connection, on which the worker may
// send its next request before the answer to the current one has arrived
// (pipelining): 30 ms away, each request otherwise leaves the connection
// idle for a round trip, 4-6 of them per connection on a download of 1 GiB
// over 16. Answers come back in the order the requests went out (RFC 9112,
// 9.3.2); a request whose answer is not read to its end, or whose turn
// never comes, takes the connection down with it, and the requests queued
// behind it are sent again on a fresh one. A pipe is used by its worker
// only.
type pipe struct {
	tr   *http.Transport
	slot int
	opts *Options

	addr string // host:port the connection goes to; "" when none
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	// sent are the requests written on conn whose answers are still to
	// be read, in order; served counts the answers read on conn.
	sent   []*http.Request
	served int
	// last: conn takes no more requests: the server said it closes it
	// after the answer being read, or a write on it failed.
	last bool
	// junk: an answer was due and something else came (see receive).
	junk bool
}

// pipeTransport returns the Transport a pipe can dial with, or nil when
// the client's requests must go through the client: a Transport of its
// own kind, no cookie jar, no proxy for the URL.
func pipeTransport(client *http.Client, req *http.Request) *http.Transport {
	tr, ok := client.Transport.(*http.Transport)
	if !ok || client.Jar != nil || tr.DialContext == nil || tr.DialTLS != nil {
		return nil
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.User != nil {
		return nil
	}
	if tr.Proxy != nil {
		if u, err := tr.Proxy(req); err != nil || u != nil {
			return nil
		}
	}
	return tr
}

// queued reports whether req was sent and waits for its answer.
func (p *pipe) queued(req *http.Request) bool {
	for _, r := range p.sent {
		if r == req {
			return true
		}
	}
	return false
}

// send writes req on the pipe's connection, dialing one first if there is
// none (or it goes elsewhere). fresh is set when it dialed.
func (p *pipe) send(ctx context.Context, req *http.Request, fresh *bool) error {
	if p.last {
		// The answer being read is the connection's last: the request
		// waits for its turn (see next) and a fresh connection.
		return errLast
	}
	addr := canonicalAddr(req.URL)
	if p.conn != nil && p.addr != addr {
		p.close()
	}
	if p.conn == nil {
		if err := p.dial(ctx, req, addr); err != nil {
			return err
		}
		*fresh = true
	}
	conn := p.conn // (p.close clears p.conn: not to be read from the watch's goroutine)
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
	err := req.Write(p.bw)
	if err == nil {
		err = p.bw.Flush()
	}
	if !stop() && err == nil {
		// The deadline was set, or is being set, as the write ended:
		// the connection cannot be trusted with the next write.
		err = context.Cause(ctx)
	}
	if err != nil {
		// Not closed here: an answer may still be read on it (the
		// one the request was to follow); it takes no more requests.
		p.last = true
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	p.sent = append(p.sent, req)
	return nil
}

// errLast: the pipe's connection ends after the answer being read.
var errLast = errors.New("the server closes the connection after this answer")

// next readies the pipe for the worker's next request, once it is done
// with the answer before: a connection the server said it closes is
// closed now.
func (p *pipe) next() {
	if p.last {
		p.close()
	}
}

// dial connects the pipe to addr (with TLS for https), as the Transport
// would: its dialer (connections dialed ahead, receive low-water marks),
// its TLS settings and handshake timeout.
func (p *pipe) dial(ctx context.Context, req *http.Request, addr string) error {
	var c net.Conn
	var err error
	if req.URL.Scheme == "https" && p.tr.DialTLSContext != nil {
		// NewClient's: handshaken, maybe ahead (Warmer).
		c, err = p.tr.DialTLSContext(ctx, "tcp", addr)
	} else {
		c, err = p.tr.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	if _, done := c.(*tls.Conn); req.URL.Scheme == "https" && !done {
		if c, err = handshake(ctx, c, addr, p.tr.TLSClientConfig, p.tr.TLSHandshakeTimeout); err != nil {
			return err
		}
	}
	p.conn, p.addr, p.served = c, addr, 0
	p.br = bufio.NewReaderSize(c, readBufferSize)
	p.bw = bufio.NewWriterSize(c, 4<<10)
	p.opts.conn(p.slot, true, "")
	return nil
}

// receive reads the answer to req, the first request waiting on the pipe.
// Its body must be read to its end (or the pipe closed) before the next
// answer is read; reads stop when ctx is done (the returned stop ends that
// watch). A pipelined request that the server closed the connection on
// without an answer (its keep-alive limit, or its idle timeout) is sent
// again, once, on a fresh connection: nothing of it was answered.
func (p *pipe) receive(ctx context.Context, req *http.Request, fresh *bool) (resp *http.Response, stop func() bool, err error) {
	for attempt := 0; ; attempt++ {
		if len(p.sent) == 0 || p.sent[0] != req {
			p.close()
			if err := p.send(ctx, req, fresh); err != nil {
				return nil, nil, err
			}
		}
		conn := p.conn
		if d := p.tr.ResponseHeaderTimeout; d > 0 {
			// (Before the watch: it must not overwrite the watch's.)
			conn.SetReadDeadline(time.Now().Add(d))
		}
		stop = context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
		resp, err = http.ReadResponse(p.br, req)
		for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			// An interim answer (103 Early Hints): the final one
			// follows.
			resp, err = http.ReadResponse(p.br, req)
		}
		if err == nil && p.tr.ResponseHeaderTimeout > 0 {
			conn.SetReadDeadline(time.Time{})
			if ctx.Err() != nil {
				// Done as the headers came: the watch's deadline may
				// have been cleared with the headers' one. (The body
				// is not closed: that would read it, with no
				// deadline; the connection is closed below.)
				err = context.Cause(ctx)
			}
		}
		if err == nil {
			p.sent = p.sent[1:]
			p.served++
			if resp.Close || !resp.ProtoAtLeast(1, 1) {
				// No more answers on this connection: the requests
				// behind this one go out again on another.
				p.sent, p.last = p.sent[:0], true
			}
			resp.Body = ctxBody{resp.Body, ctx}
			return resp, stop, nil
		}
		stop()
		if ctx.Err() != nil {
			p.close()
			return nil, nil, context.Cause(ctx)
		}
		// On a connection that has answered before, a request that
		// finds it closed, or finds bytes that are no answer (the end
		// of an overlong body before it), goes again on a fresh one,
		// once: a GET may be repeated, and net/http does the same.
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		again := p.served > 0 && attempt == 0 && !timeout // (a timeout is no answer, not a closed connection)
		addr := p.addr
		p.close()
		if !again {
			return nil, nil, fmt.Errorf("reading the response: %w", err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			// (ReadResponse reports a connection closed before the
			// status line as an unexpected EOF.)
			p.opts.conn(p.slot, false, "closed by the server with a request unanswered: it goes again on a fresh connection")
		} else {
			// As net/http reports junk on an idle connection (rget
			// get --debug shows it).
			p.junk = true
			log.Printf("no response where one was due on a kept-alive connection to %s (%v): the request goes again on a fresh connection", addr, err)
			p.opts.conn(p.slot, false, "no response where one was due: "+err.Error())
		}
	}
}

// close drops the pipe's connection and the requests waiting on it.
func (p *pipe) close() {
	if p.conn != nil {
		p.conn.Close()
	}
	p.conn, p.br, p.bw, p.addr, p.sent, p.served, p.last = nil, nil, nil, "", nil, 0, false
}

// ctxBody is a body read under a context whose end sets a deadline on the
// connection (pipe.receive): a read that fails once the context is done
// reports why it was done, as net/http's bodies do, not the deadline.
type ctxBody struct {
	io.ReadCloser
	ctx context.Context
}

func (b ctxBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		err = context.Cause(b.ctx)
	}
	return n, err
}
