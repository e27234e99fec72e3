package segment_test

// Real sockets on slow links and misbehaving servers: what the simulator
// proves under virtual time, checked once over TCP.

import (
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"rget/origin"
	"sync/atomic"
	"testing"
	"time"

	"rget/segment"
)

// TestSlowLinkFinishes: 8 MiB at 400 KB/s per connection over 8
// connections finishes near the ideal 2.6 s, and the origin sends the
// file about once (the old scheduler asked the same ranges again and
// again and never finished).
func TestSlowLinkFinishes(t *testing.T) {
	t.Parallel()
	const (
		size = 8 << 20
		rate = 400e3
		conn = 8
	)
	o, url := serve(t, size, origin.WithRatePerConn(rate))
	start := time.Now()
	res, err := fetch(t, url, conn, 0, segment.Options{})
	el := time.Since(start)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
	}
	ideal := time.Duration(float64(size) / (conn * rate) * float64(time.Second))
	// The wall clock is only an upper bound here: the pacing, not the
	// CPU, sets the pace, and a loaded machine only slows the client.
	if el > ideal*115/100 {
		t.Errorf("took %v, ideal %v: %.2f x", el, ideal, el.Seconds()/ideal.Seconds())
	}
	if served := o.BytesServed(); float64(served) > 1.05*size {
		t.Errorf("origin sent %d bytes for %d: %.3f x", served, size, float64(served)/size)
	}
	if got := res.plan.Done(); got != size {
		t.Errorf("Done() = %d, want %d: a byte counted twice or not at all", got, size)
	}
	t.Logf("%v (ideal %v), sent %.4f x, %d requests, %d splits", el, ideal,
		float64(o.BytesServed())/size, o.Requests(), res.plan.Splits())
}

// TestStalledFirstResponse: one connection's first response stalls right
// after its headers while the others trickle at 1 MiB/s. Its range is
// taken from it long before the stall timeout, the file is right, it is
// fetched about once, and the progress never passes 100%.
func TestStalledFirstResponse(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	o := origin.New(origin.Content{Size: size, Seed: 33})
	srv, err := origin.Start(stallHandler(o, 1, false, true), origin.WithRatePerConn(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d, err := fetchKeep(deadline(t), t, srv.URL+"/file", 8, 0, segment.Options{StallTimeout: time.Minute})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	checkWritten(t, d, o.Content())
	if got := d.plan.Done(); got != size {
		t.Errorf("Done() = %d, want %d", got, size)
	}
	// The stalled response sent nothing; hedges may ask a little twice.
	if served := o.BytesServed(); float64(served) > 1.05*size {
		t.Errorf("origin sent %d bytes for %d: %.3f x", served, size, float64(served)/size)
	}
}

// TestOverlongBody: a server that sends more body bytes than its
// Content-Length on some responses: the connection with the junk is
// dropped, its range retried on a fresh one, and the file is right.
func TestOverlongBody(t *testing.T) {
	t.Parallel()
	const size = 3 << 20
	c := origin.Content{Size: size, Seed: 44}
	srv, err := origin.StartOverlong(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d, err := fetchKeep(deadline(t), t, srv.URL, 4, 256<<10, segment.Options{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	checkWritten(t, d, c)
}

// TestProbeBodyIsTheStream: a server that answers the ranged probe with a
// 200, chunked, with no length: the probe's response is read to the end
// as the download, not dropped and asked again.
func TestProbeBodyIsTheStream(t *testing.T) {
	t.Parallel()
	c := origin.Content{Size: 5<<20 + 3, Seed: 46}
	var requests, served atomic.Int64
	url := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		buf := make([]byte, 64<<10)
		for off := int64(0); off < c.Size; off += int64(len(buf)) {
			n, _ := c.ReadAt(buf, off)
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			served.Add(int64(n))
			http.NewResponseController(w).Flush() // chunked: no length
		}
	})) + "/file"
	ctx := deadline(t)
	client := segment.NewClient(segment.ClientOptions{Connections: 1})
	defer client.CloseIdleConnections()
	r, err := segment.Probe(ctx, client, url, segment.Options{KeepStream: true})
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer r.Discard()
	if r.Ranges || r.Size != -1 {
		t.Fatalf("probe: ranges %v, size %d; want no ranges, unknown size", r.Ranges, r.Size)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	led := segment.NewLedger(r.Size, nil, segment.Policy{})
	if err := segment.Fetch(ctx, client, r, f, led, segment.Options{Connections: 1}); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != c.SHA256() {
		t.Fatal("the file is not the content served")
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1: the probe's body was dropped and asked again", n)
	}
	if n := served.Load(); n != c.Size {
		t.Errorf("served %d bytes for %d", n, c.Size)
	}
}
