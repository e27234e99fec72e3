// Package origin is the HTTP origin that rget's tests and benchmarks
// download from: synthetic content with controllable speed and faults, and
// the directory handler of `rget serve`.
//
// The pieces:
//
//  1. Content: deterministic bytes of any size (up to and past 1 TiB), each
//     range computed on demand from (Size, Seed), with no period, so that a
//     range written at the wrong offset always changes the SHA-256.
//  2. Origin: an http.Handler that serves one Content through
//     http.ServeContent (206, 416, If-Range and multi-range as net/http does
//     them), with ETag and Last-Modified, and counts what it serves
//     (Requests, BytesServed, MaxConcurrent, Ranges). Options add latency,
//     holds, and faults: failed first requests, cut bodies, ignored Range, a
//     lying Content-Range, a resource that changes under the client.
//  3. Server: a real HTTP/1.1 server on 127.0.0.1 (or WithAddr's address)
//     that paces every TCP connection with its own token bucket
//     (WithRatePerConn), optionally one much slower connection
//     (WithSlowConn), and whose Close waits for every goroutine it started.
//
// Typical use in a test:
//
//	o := origin.New(origin.Content{Size: 64 << 20, Seed: 1}, origin.WithRatePerConn(8<<20))
//	srv, err := origin.Start(o)
//	if err != nil {
//		t.Fatal(err)
//	}
//	defer srv.Close()
//	url := srv.URL + "/file"
//
// Not guaranteed: pacing is measured at the server's writes into the socket,
// so the first burst (about 10 ms of data) and the kernel's socket buffers
// make very short transfers look faster than the cap. Server.Close waits for
// running handlers, which must therefore return once their request's context
// is done.
//
// origin imports no other package of rget.
package origin
