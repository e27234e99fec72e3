package segment

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"rget/origin"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// sendingConn returns a client connection, wrapped for low-water marks (nil
// where there are none), to a server that sends n bytes and closes; done
// reports the server's end.
func sendingConn(t *testing.T, n int) (*lowConn, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err == nil {
			_, err = s.Write(make([]byte, n))
			s.Close()
		}
		done <- err
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	c, _ := withLowat(raw).(*lowConn)
	return c, done
}

// TestNextMark: the mark never exceeds the bytes expected less the last
// step (which may wait for the reader's acknowledgement) nor what the
// connection delivers in lowatSpan, and stays at the default until the rate
// is known.
func TestNextMark(t *testing.T) {
	t.Parallel()
	const MB = 1_000_000
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name   string
		expect int64
		got    int64
		el     time.Duration
		want   int64
	}{
		{"unarmed", -readBufferSize, 0, time.Second, 0},
		{"just armed", 4 << 20, 0, 0, 0},
		{"rate not known yet", 4 << 20, lowatStep - 1, time.Millisecond, 0},
		{"fast: the maximum", 4 << 20, 10 * MB, 100 * time.Millisecond, lowatMax},
		{"25 MB/s: 10 ms of it, in steps", 4 << 20, 25 * MB, time.Second, 3 * lowatStep},
		{"2 MB/s: below a step", 4 << 20, 2 * MB, time.Second, 0},
		{"near the end: what is left but the last step", 2*lowatStep + 100, 10 * MB, 10 * time.Millisecond, lowatStep},
		{"the last segment may wait for the reader's acknowledgement", 2*lowatStep - 1, 10 * MB, 10 * time.Millisecond, 0},
		{"last bytes: default", lowatStep - 1, 10 * MB, 10 * time.Millisecond, 0},
		{"past the body: default", -5, 10 * MB, 10 * time.Millisecond, 0},
		{"clock went back", 4 << 20, 10 * MB, -time.Millisecond, 0},
	} {
		c := &lowConn{}
		c.expect.Store(tc.expect)
		c.got.Store(tc.got)
		c.since.Store(t0.UnixNano())
		if got := c.nextMark(t0.Add(tc.el)); got != tc.want {
			t.Errorf("%s: nextMark = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestLowConnArm: arming leaves room for the body bytes the Transport's
// reader may already hold, and reads count down what is expected.
func TestLowConnArm(t *testing.T) {
	t.Parallel()
	c, done := sendingConn(t, 3000)
	if c == nil {
		t.Skipf("no low-water marks on %s", runtime.GOOS)
	}
	c.arm(1 << 20)
	if got, want := c.expect.Load(), int64(1<<20-readBufferSize); got != want {
		t.Fatalf("expect after arm(1 MiB) = %d, want %d", got, want)
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != 3000 {
		t.Fatalf("read %d bytes, %v; want 3000", n, err)
	}
	if got, want := c.expect.Load(), int64(1<<20-readBufferSize-3000); got != want {
		t.Errorf("expect after 3000 bytes = %d, want %d", got, want)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLowatDownloads: with marks really set (Linux), ranges whose lengths
// sit at the edges of the rules land byte for byte on reused connections,
// with the stall watchdog off: a mark above what the server still sends
// would hang the download until the test's deadline.
// Over HTTPS the marks stay within the body less what the TLS connection
// may have read ahead.
func TestLowatDownloads(t *testing.T) {
	t.Parallel()
	const size = 6<<20 + 12345
	type lcase struct {
		seg int64
		tls bool
	}
	var cases []lcase
	for _, seg := range []int64{
		lowatMax + readBufferSize - 1, lowatMax + readBufferSize, lowatMax + readBufferSize + 1,
		2*lowatStep + readBufferSize + 1, 1<<20 + 1,
	} {
		cases = append(cases, lcase{seg, false})
	}
	for _, seg := range []int64{
		tlsReadAhead + lowatStep + readBufferSize - 1, tlsReadAhead + lowatStep + readBufferSize,
		tlsReadAhead + lowatStep + readBufferSize + 1, 1<<20 + 1,
	} {
		cases = append(cases, lcase{seg, true})
	}
	for _, tc := range cases {
		seg := tc.seg
		t.Run(fmt.Sprintf("seg=%d,tls=%v", seg, tc.tls), func(t *testing.T) {
			t.Parallel()
			content := origin.Content{Size: size, Seed: uint64(seg)}
			var url string
			opts := ClientOptions{Connections: 3}
			if tc.tls {
				srv := httptest.NewUnstartedServer(origin.New(content))
				srv.StartTLS()
				defer srv.Close()
				url = srv.URL
				opts.RootCAs = x509.NewCertPool()
				opts.RootCAs.AddCert(srv.Certificate())
			} else {
				srv, err := origin.Start(origin.New(content))
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				url = srv.URL
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			conns := opts.Connections
			client := NewClient(opts)
			defer client.CloseIdleConnections()
			tr := client.Transport.(*http.Transport)
			dial := tr.DialContext
			var marks, dials atomic.Int64
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dial(ctx, network, addr)
				dials.Add(1)
				if c, ok := conn.(*lowConn); ok {
					set := c.set
					c.set = func(v int) error {
						if v > 1 {
							marks.Add(1)
						}
						return set(v)
					}
				}
				return conn, err
			}
			r, err := Probe(ctx, client, url+"/file", Options{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			plan := NewLedger(size, Split(size, seg), Policy{})
			if err := Fetch(ctx, client, r, f, plan, Options{Connections: conns, StallTimeout: -1}); err != nil {
				t.Fatalf("fetch: %v", err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
				t.Fatal(err)
			}
			if got, want := [32]byte(h.Sum(nil)), content.SHA256(); got != want {
				t.Fatalf("sha256 %x, want %x", got, want)
			}
			ranges := int64(len(Split(size, seg)))
			if n := dials.Load(); n >= ranges {
				t.Errorf("%d dials for %d ranges: connections were not reused", n, ranges)
			}
			if runtime.GOOS == "linux" && seg >= lowatMax && marks.Load() == 0 {
				t.Errorf("no mark above one byte was set")
			}
		})
	}
}

// TestQuickackAtTheEnd: a connection acknowledges at once only what it
// reads near the end of a response (and outside one), never in the middle
// of a long body, where it would cost a system call per read.
func TestQuickackAtTheEnd(t *testing.T) {
	t.Parallel()
	const body = 4 << 20
	c, done := sendingConn(t, body)
	if c == nil || c.quick == nil {
		t.Skipf("no TCP_QUICKACK on %s", runtime.GOOS)
	}
	var acks int
	quick := c.quick
	c.quick = func() error { acks++; return quick() }
	c.arm(body + readBufferSize) // as if the whole body were still in the socket
	buf := make([]byte, 32<<10)
	var read, near, far int64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			read += int64(n)
			if body-read < quickackBelow {
				near++
			} else {
				far++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if read != body || int64(acks) != near || far == 0 {
		t.Fatalf("read %d bytes; %d quick acknowledgements, want one for each of the %d reads near the end (and none for the %d before)", read, acks, near, far)
	}
	if c.noack.Load() {
		t.Fatal("setting TCP_QUICKACK failed")
	}
}
