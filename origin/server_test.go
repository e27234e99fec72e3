package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// timedGet fetches url with a client of its own (so on a connection of its
// own) and returns how long the whole body took.
func timedGet(t *testing.T, url string) (time.Duration, []byte) {
	t.Helper()
	start := time.Now()
	resp, body, err := get(t, newClient(t), url)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d, err %v", url, resp.StatusCode, err)
	}
	return time.Since(start), body
}

// TestWithRatePerConnAccuracy measures a 1.5 s transfer at 8 MB/s over one
// connection: the rate must be within 10% of the cap. The body is hashed as
// it arrives, with large reads, so that the client (slow under -race) is
// rarely what limits the rate. No transfer may beat the cap; a loaded
// machine can only slow one down (CI runs the packages' race tests side by
// side on two cores), so up to three transfers are made and the fastest must
// reach the cap's lower bound.
func TestWithRatePerConnAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("1.5 s rate measurement skipped in -short mode")
	}
	t.Parallel()
	const rate = 8_000_000
	c := Content{Size: 12_000_000, Seed: 1}
	_, srv := startOrigin(t, c, WithRatePerConn(rate))
	best := 0.0
	for attempt := 1; attempt <= 3 && best < 0.9*rate; attempt++ {
		got := timedRate(t, srv.URL+"/file", c)
		t.Logf("attempt %d: %d bytes at %.0f B/s", attempt, c.Size, got)
		if got > 1.1*rate {
			t.Fatalf("%d bytes at %.0f B/s, over the cap %d B/s + 10%%", c.Size, got, rate)
		}
		best = max(best, got)
	}
	if best < 0.9*rate {
		t.Errorf("fastest of 3 transfers %.0f B/s, want %d B/s ± 10%%", best, rate)
	}
}

// timedRate fetches url, checks the body is c, and returns its rate in B/s.
func timedRate(t *testing.T, url string, c Content) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	n, sum, err := drain(resp.Body)
	took := time.Since(start)
	if err != nil || n != c.Size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, c.Size)
	}
	if want := c.SHA256(); sum != want {
		t.Fatalf("body SHA-256 %x, want %x", sum, want)
	}
	return float64(c.Size) / took.Seconds()
}

// drain reads r to its end with large reads, hashing it.
func drain(r io.Reader) (int64, [32]byte, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, struct{ io.Reader }{r}, make([]byte, 1<<20))
	return n, [32]byte(h.Sum(nil)), err
}

// TestWithRatePerConnIsPerConnection: every connection has a clock of its
// own: booking a second's worth of bytes on one leaves the other free, and
// the server gives each accepted connection its own pacer. (Checked on the
// pacers' clocks, not on wall time, which a loaded machine stretches.)
func TestWithRatePerConnIsPerConnection(t *testing.T) {
	t.Parallel()
	const rate = 4_000_000
	a := newPacedConn(drainedPipe(t), rate)
	b := newPacedConn(drainedPipe(t), rate)
	// After both are made: a pacer's clock starts when it is made, and b,
	// made 14 ms after an earlier now under a loaded -race run, looked
	// as if it waited on a's booking.
	now := time.Now()
	if wait := a.reserve(rate, now); wait < time.Second-a.burst || wait > time.Second+10*time.Millisecond {
		t.Fatalf("a second of bytes on a: wait %v, want 1s less at most the burst (%v)", wait, a.burst)
	}
	if wait := b.reserve(b.piece, now); wait > b.due(b.piece)+time.Millisecond {
		t.Fatalf("b waits %v for its first piece after a booked a second: the clock is shared", wait)
	}
	if wait := a.reserve(a.piece, now); wait < 900*time.Millisecond-a.burst {
		t.Fatalf("a's next piece waits %v: its clock did not advance", wait)
	}
	// End to end: two connections to one origin are two pacers.
	c := Content{Size: 200_000, Seed: 1}
	_, srv := startOrigin(t, c, WithRatePerConn(rate))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		wg.Go(func() {
			errs <- drainURL(t.Context(), &http.Client{Transport: tr}, srv.URL+"/file", c)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Conns(); got != 2 {
		t.Errorf("Conns() = %d, want 2", got)
	}
}

// drainURL fetches url and checks that its body is c.
func drainURL(ctx context.Context, cl *http.Client, url string, c Content) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, sum, err := drain(resp.Body)
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	if n != c.Size || sum != c.SHA256() {
		return fmt.Errorf("GET %s: %d bytes, SHA-256 %x; want %d bytes of %+v", url, n, sum, c.Size, c)
	}
	return nil
}

func TestWithSlowConn(t *testing.T) {
	t.Parallel()
	// The slow connection's time has a floor (its pacing); the other's
	// has none but the machine's load, which under the whole suite held
	// a 160 KB answer 288 ms: it is held to half the floor, with room.
	const slowRate = 100_000
	c := Content{Size: 160_000, Seed: 1}
	paced := time.Duration(float64(c.Size) / slowRate * float64(time.Second)) // 1.6 s
	_, srv := startOrigin(t, c, WithSlowConn(slowRate))
	slow, _ := timedGet(t, srv.URL+"/file") // the first connection
	fast, body := timedGet(t, srv.URL+"/file")
	if !bytes.Equal(body, slice(c, 0, c.Size)) {
		t.Fatalf("body of %d bytes is not the content", len(body))
	}
	if want := paced * 3 / 4; slow < want {
		t.Errorf("first connection took %v, want at least %v", slow, want)
	}
	if fast > paced/2 {
		t.Errorf("second connection took %v, want under half the %v a paced one takes", fast, paced)
	}
}

// TestStartOptions: Start's own options apply to any handler and override
// an Origin's.
func TestStartOptions(t *testing.T) {
	t.Parallel()
	c := Content{Size: 100_000, Seed: 1}
	srv, err := Start(New(c, WithRatePerConn(1000)), WithRatePerConn(0))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want http://127.0.0.1:PORT", srv.URL)
	}
	if took, _ := timedGet(t, srv.URL+"/file"); took > 10*time.Second {
		t.Errorf("unlimited transfer took %v", took)
	}

	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 50_000))
	})
	srv2, err := Start(plain, WithRatePerConn(200_000))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv2.Close() })
	if took, _ := timedGet(t, srv2.URL+"/"); took < 150*time.Millisecond { // 250 ms at the rate
		t.Errorf("50 kB at 200 kB/s took %v, want about 250ms", took)
	}
}

func TestServerCloseIdempotent(t *testing.T) {
	t.Parallel()
	srv, err := Start(New(Content{Size: 10}))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_, _, _ = get(t, newClient(t), srv.URL+"/file")
	for i := range 2 {
		if err := srv.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://")); err == nil {
		t.Errorf("Dial after Close succeeded")
	}
}

// TestServerCloseDuringSlowTransfer: Close interrupts a response paced at
// 1 kB/s instead of waiting for it.
func TestServerCloseDuringSlowTransfer(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	o := New(Content{Size: 1 << 20}, WithRatePerConn(1000),
		WithOnRequest(func(*http.Request) { arrived <- struct{}{} }))
	srv, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	done := make(chan error, 1)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	go func() {
		_, _, err := fetch(t.Context(), &http.Client{Transport: tr}, srv.URL+"/file")
		done <- err
	}()
	<-arrived
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Errorf("transfer of 1 MiB at 1 kB/s completed despite Close")
	}
}

// drainedPipe returns the server end of a net.Pipe whose client end is read
// and discarded until closed.
func drainedPipe(t *testing.T) net.Conn {
	server, client := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(io.Discard, client)
	}()
	t.Cleanup(func() {
		client.Close()
		<-done
	})
	return server
}

func TestPacedConnAbortAndClose(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		stop func(*pacedConn)
		want []error
	}{
		{"abort", (*pacedConn).abort, []error{errAborted}},
		{"close", func(c *pacedConn) { c.Close() }, []error{net.ErrClosed, io.ErrClosedPipe}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newPacedConn(drainedPipe(t), 1) // 1 B/s: the second piece is due in minutes
			defer c.Close()
			done := make(chan struct{})
			var n int
			var err error
			go func() {
				defer close(done)
				n, err = c.Write(make([]byte, 10_000))
			}()
			tt.stop(c)
			<-done
			if n >= 10_000 || !slicesAny(tt.want, err) {
				t.Errorf("Write = %d, %v; want fewer bytes and one of %v", n, err, tt.want)
			}
		})
	}
}

func slicesAny(targets []error, err error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func TestPacedConnUnlimited(t *testing.T) {
	t.Parallel()
	c := newPacedConn(drainedPipe(t), 0)
	defer c.Close()
	if n, err := c.Write(make([]byte, 1<<20)); n != 1<<20 || err != nil {
		t.Errorf("Write(1 MiB) = %d, %v; want 1048576, nil", n, err)
	}
}

func BenchmarkOriginUnlimited(b *testing.B) {
	c := Content{Size: 64 << 20, Seed: 1}
	srv, err := Start(New(c))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	buf := make([]byte, 1<<20)
	b.SetBytes(c.Size)
	for b.Loop() {
		resp, err := cl.Get(srv.URL + "/file")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
		resp.Body.Close()
		if err != nil || n != c.Size {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
}
