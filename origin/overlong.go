package origin

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Overlong is a broken HTTP/1.1 server for fault tests: it serves one
// Content, with ranges and keep-alive, but every Nth response carries junk
// after the bytes its Content-Length announces, as a broken server or proxy
// might. The junk lands on the client's idle connection.
type Overlong struct {
	URL   string // of the resource: http://127.0.0.1:PORT/file
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	count atomic.Int64
}

// StartOverlong serves c with junk after every nth response (n >= 1)
// until Close.
func StartOverlong(c Content, n int) (*Overlong, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	s := &Overlong{URL: "http://" + ln.Addr().String() + "/file", ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				s.serve(conn, c, int64(max(n, 1)))
			}()
		}
	}()
	return s, nil
}

// Requests is how many requests were answered.
func (s *Overlong) Requests() int64 { return s.count.Load() }

// Close stops the server and waits for its goroutines.
func (s *Overlong) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// serve answers the requests of one connection until it closes.
func (s *Overlong) serve(conn net.Conn, c Content, n int64) {
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		from, to := int64(0), c.Size-1
		status := "200 OK"
		if rg := req.Header.Get("Range"); rg != "" {
			if _, err := fmt.Sscanf(rg, "bytes=%d-%d", &from, &to); err != nil {
				return
			}
			status = "206 Partial Content"
		}
		size := to - from + 1
		fmt.Fprintf(bw, "HTTP/1.1 %s\r\nContent-Length: %d\r\nETag: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n",
			status, size, c.ETag(), from, to, c.Size)
		if _, err := io.Copy(bw, io.NewSectionReader(c, from, size)); err != nil {
			return
		}
		if s.count.Add(1)%n == 0 {
			bw.WriteString("\x00\x01junk after the body\x02" + strings.Repeat("\xff", 100))
		}
		if bw.Flush() != nil {
			return
		}
	}
}
