package segment_test

import (
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
		res, err := fetch(t, srv.URL+"/file", conns, 512<<10, segment.Options{NoPipelining: off})
		srv.Close()
		if err != nil {
			t.Fatalf("NoPipelining %v: %v", off, err)
		}
		if res.sum != o.Content().SHA256() {
			t.Fatalf("NoPipelining %v: sha256 %x, want %x", off, res.sum, o.Content().SHA256())
		}
		n := res.prog.Pipelined.Load()
		t.Logf("NoPipelining %v: %d requests, %d sent ahead, %d TCP connections", off, o.Requests(), n, srv.Conns())
		if off && n != 0 {
			t.Fatalf("NoPipelining: %d requests sent ahead, want 0", n)
		}
		if !off {
			// Most requests but each connection's first follow another
			// on their connection (ranges may be joined: fewer than 24).
			if n < (o.Requests()-conns-1)/2 {
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
// requests go again on a fresh connection, and that costs no retry.
func TestPipeliningServerCloses(t *testing.T) {
	t.Parallel()
	const size = 12 << 20
	for _, tc := range []struct {
		name string
		say  bool
	}{{"Connection: close", true}, {"unannounced", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := origin.New(origin.Content{Size: size, Seed: 11}, origin.WithLatency(3*time.Millisecond))
			var n, closed atomic.Int64
			srv, err := origin.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1)%3 != 0 || r.Header.Get("Range") == "bytes=0-0" {
					o.ServeHTTP(w, r)
					return
				}
				closed.Add(1)
				if tc.say {
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
			res, err := fetch(t, srv.URL+"/file", 4, 512<<10, segment.Options{OnRetry: func(r segment.Retry) { t.Logf("retry: %v", r.Err) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.sum != o.Content().SHA256() {
				t.Fatalf("sha256 %x, want %x", res.sum, o.Content().SHA256())
			}
			t.Logf("%d requests, %d connections ended, %d sent ahead, %d retries", n.Load(), closed.Load(), res.prog.Pipelined.Load(), res.prog.Retries.Load())
			if res.prog.Pipelined.Load() == 0 || closed.Load() == 0 {
				t.Fatalf("%d requests sent ahead, %d connections ended: the case did not happen", res.prog.Pipelined.Load(), closed.Load())
			}
			if r := res.prog.Retries.Load(); r != 0 {
				t.Fatalf("%d retries, want none", r)
			}
		})
	}
}
