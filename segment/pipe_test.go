package segment_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"rget/origin"
	"rget/segment"
)

// TestPipelining: 3 ms away (requests are then sent ahead), each
// connection sends its next request before its answer ends, on the one
// TCP connection it keeps; the file lands byte for byte with no retry. With
// NoPipelining none is sent ahead.
func TestPipelining(t *testing.T) {
	t.Parallel()
	const size, conns = 12 << 20, 4
	for _, off := range []bool{false, true} {
		o := origin.New(origin.Content{Size: size, Seed: 9}, origin.WithLatency(3*time.Millisecond))
		srv, err := origin.Start(o, origin.WithRatePerConn(16<<20))
		if err != nil {
			t.Fatal(err)
		}
		var traced atomic.Int64 // requests traced as sent ahead
		res, err := fetchUnjoined(t, srv.URL+"/file", conns, segment.Options{NoPipelining: off, Trace: func(tr segment.Trace) {
			if tr.Ahead && tr.Err == nil {
				traced.Add(1)
			}
		}})
		srv.Close()
		if err != nil {
			t.Fatalf("NoPipelining %v: %v", off, err)
		}
		if res.sum != o.Content().SHA256() {
			t.Fatalf("NoPipelining %v: sha256 %x, want %x", off, res.sum, o.Content().SHA256())
		}
		n := res.prog.Pipelined.Load()
		t.Logf("NoPipelining %v: %d requests, %d sent ahead, %d TCP connections", off, o.Requests(), n, srv.Conns())
		if off && (n != 0 || traced.Load() != 0) {
			t.Fatalf("NoPipelining: %d requests sent ahead (%d traced so), want 0", n, traced.Load())
		}
		if !off && (traced.Load() == 0 || traced.Load() > n) {
			t.Fatalf("%d requests traced as sent ahead, of %d sent ahead", traced.Load(), n)
		}
		if !off {
			// 24 ranges of 512 KiB over 4 connections: 20 follow
			// another on their connection, most of them sent ahead
			// (not those whose connection's rate was not known yet).
			if n < 10 {
				t.Fatalf("%d of %d requests sent ahead, want most", n, o.Requests())
			}
			if r := res.prog.Retries.Load(); r != 0 {
				t.Fatalf("%d retries, want none", r)
			}
			// Each worker keeps its connection: one more only for the
			// probe's and for each answer cut short (a split range).
			moved := int64(res.plan.Splits()) + res.prog.Recycled.Load()
			if c := srv.Conns(); c > conns+1+moved {
				t.Fatalf("%d TCP connections for %d workers, the probe and %d ranges moved", c, conns, moved)
			}
		}
	}
}

// TestPipeliningServerCloses: a server that ends a connection after some
// answers, with requests already sent behind them, either saying so
// (Connection: close) or not (its keep-alive limit, or a restart): those
// requests go again on a fresh connection, and that costs no retry. One
// that sends junk after an answer (an overlong body) gets the same, and no
// more requests ahead: it, or something on the way, does not pipeline.
func TestPipeliningServerCloses(t *testing.T) {
	t.Parallel()
	const size, conns = 12 << 20, 4
	for _, mode := range []string{"Connection: close", "unannounced", "junk"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			o := origin.New(origin.Content{Size: size, Seed: 11}, origin.WithLatency(3*time.Millisecond))
			var n, closed, firstJunk atomic.Int64
			srv, err := origin.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				k := n.Add(1)
				if k%3 != 0 || r.Header.Get("Range") == "bytes=0-0" {
					o.ServeHTTP(w, r)
					return
				}
				closed.Add(1)
				if mode == "Connection: close" {
					w.Header().Set("Connection", "close")
					o.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				o.ServeHTTP(rec, r)
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				resp := rec.Result()
				resp.Close = false // unannounced: it looks kept alive
				if err := resp.Write(conn); err != nil {
					return
				}
				if mode == "junk" {
					firstJunk.CompareAndSwap(0, k)
					io.WriteString(conn, "after the body, bytes that are no answer\r\n\r\n")
				}
				// Close as servers do, after the client's side: the
				// request sent ahead is read away, not reset.
				if cw, ok := conn.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				io.Copy(io.Discard, conn)
			}), origin.WithRatePerConn(16<<20))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			res, err := fetchUnjoined(t, srv.URL+"/file", conns, segment.Options{OnRetry: func(r segment.Retry) { t.Logf("retry: %v", r.Err) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.sum != o.Content().SHA256() {
				t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
			}
			ahead := res.prog.Pipelined.Load()
			t.Logf("%d requests, %d connections ended, %d sent ahead, %d retries", n.Load(), closed.Load(), ahead, res.prog.Retries.Load())
			// (Junk on a connection where no request was ahead yet
			// stops them all before the first.)
			if ahead == 0 && mode != "junk" || closed.Load() == 0 {
				t.Fatalf("%d requests sent ahead, %d connections ended: the case did not happen", ahead, closed.Load())
			}
			if r := res.prog.Retries.Load(); r != 0 {
				t.Fatalf("%d retries, want none", r)
			}
			// After the first junk, at most one more ahead per
			// connection (those on the way then).
			if j := firstJunk.Load(); j > 0 && ahead > j+conns {
				t.Fatalf("%d requests sent ahead, the first junk after request %d: sending ahead went on", ahead, j)
			}
		})
	}
}

// fetchUnjoined fetches url in requests of 512 KiB each (no joining), so
// that each connection makes several, one after another.
func fetchUnjoined(t *testing.T, url string, conns int, opts segment.Options) (*result, error) {
	t.Helper()
	return fetchWith(t, url, conns, 512<<10, segment.Policy{NoJoin: true}, opts)
}

// TestPipeRedirected: a server that redirects the ranged requests after
// the probe (a balancer moving clients elsewhere) gets them through the
// client, which follows redirects, as without pipelining.
func TestPipeRedirected(t *testing.T) {
	t.Parallel()
	o := origin.New(origin.Content{Size: 6 << 20, Seed: 12}, origin.WithLatency(3*time.Millisecond))
	var n atomic.Int64
	srv, err := origin.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/file" && n.Add(1) > 1 {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		o.ServeHTTP(w, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	res, err := fetchUnjoined(t, srv.URL+"/file", 4, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
	}
	if r := res.prog.Retries.Load(); r != 0 {
		t.Fatalf("%d retries, want none", r)
	}
}

// TestPipeliningUnderABudget: two fetches sharing a budget of 4 slots (a
// batch), 3 ms away, go through the client's pool, whose connections move
// with the slots between the files: no request is sent ahead, no more than
// 4 are answered at once, and every slot is back when both are done.
func TestPipeliningUnderABudget(t *testing.T) {
	t.Parallel()
	var gauge origin.Gauge
	b := segment.NewBudget(4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: 4})
	defer client.CloseIdleConnections()
	type out struct {
		res *result
		err error
		sum [32]byte
	}
	done := make(chan out, 2)
	for i := range 2 {
		content := origin.Content{Size: 6<<20 + int64(i), Seed: uint64(i) + 21}
		// The probe asks another origin of the same content (here,
		// unlike in a batch, probes hold no slot).
		o := origin.New(content, origin.WithGauge(&gauge), origin.WithLatency(3*time.Millisecond))
		r := serveProbed(ctx, t, client, o, origin.WithRatePerConn(16<<20))
		go func() {
			res, err := fetchPolicy(ctx, t, client, r, 4, 512<<10, segment.Policy{NoJoin: true}, segment.Options{Budget: b})
			done <- out{res, err, content.SHA256()}
		}()
	}
	var ahead int64
	for range 2 {
		o := <-done
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.res.sum != o.sum {
			t.Fatalf("sha256 %x, want %x", o.res.sum, o.sum)
		}
		ahead += o.res.prog.Pipelined.Load()
	}
	t.Logf("%d requests sent ahead, peak %d answered at once", ahead, gauge.Max())
	if ahead != 0 {
		t.Errorf("%d requests sent ahead under a budget", ahead)
	}
	if p := gauge.Max(); p > 4 {
		t.Errorf("peak requests answered at once %d, want at most 4", p)
	}
	if n := b.InFlight(); n != 0 {
		t.Errorf("%d budget slots still held after both fetches", n)
	}
}
