package segment_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"rget/segment"
)

// connCounter counts the connections a test server accepts and closes.
type connCounter struct {
	mu           sync.Mutex
	opened, shut int
}

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
	case http.StateClosed, http.StateHijacked:
		c.shut++
	}
}

func (c *connCounter) counts() (opened, shut int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.shut
}

func warmServer(t *testing.T) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := &connCounter{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

// getAtOnce GETs url n times at once and returns the responses, their
// bodies unread: each holds its connection until the caller reads it.
func getAtOnce(t *testing.T, client *http.Client, url string, n int) []*http.Response {
	t.Helper()
	var wg sync.WaitGroup
	var resps []*http.Response
	var mu sync.Mutex
	for range n {
		wg.Go(func() {
			resp, err := client.Get(url)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			resps = append(resps, resp)
			mu.Unlock()
		})
	}
	wg.Wait()
	return resps
}

// Connections dialed ahead are the ones the requests use: three requests
// at once after three warmed connections open no fourth.
func TestWarmerConnectionsAreUsed(t *testing.T) {
	t.Parallel()
	srv, cc := warmServer(t)
	w := segment.NewWarmer()
	defer w.Close()
	client := segment.NewClient(segment.ClientOptions{Connections: 4, Warm: w})
	defer client.CloseIdleConnections()
	w.Warm(context.Background(), srv.URL+"/f", 3)
	// The server accepting them is not enough: the warmer must hold them
	// before the requests ask (else the Transport dials a fourth).
	waitFor(t, func() bool { return segment.WarmReady(w) == 3 })
	// Hold each response open until all three are in flight, so that
	// none of them reuses another's connection.
	for _, r := range getAtOnce(t, client, srv.URL+"/f", 3) {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if o, _ := cc.counts(); o != 3 {
		t.Errorf("the server accepted %d connections; want the 3 dialed ahead", o)
	}
}

// Close closes the connections nobody took, and a client behind a proxy
// dials nothing ahead (its connections go to the proxy).
func TestWarmerCloseAndProxy(t *testing.T) {
	t.Parallel()
	srv, cc := warmServer(t)
	w := segment.NewWarmer()
	segment.NewClient(segment.ClientOptions{Connections: 4, Warm: w})
	w.Warm(context.Background(), srv.URL+"/f", 2)
	waitFor(t, func() bool { o, _ := cc.counts(); return o == 2 })
	w.Close()
	waitFor(t, func() bool { _, s := cc.counts(); return s == 2 })
	w.Warm(context.Background(), srv.URL+"/f", 2) // closed: nothing

	srv2, cc2 := warmServer(t)
	pw := segment.NewWarmer()
	defer pw.Close()
	proxy, _ := url.Parse(srv.URL)
	segment.NewClient(segment.ClientOptions{Connections: 4, Warm: pw, Proxy: http.ProxyURL(proxy)})
	pw.Warm(context.Background(), srv2.URL+"/f", 2)
	pw.Close()
	if o, _ := cc2.counts(); o != 0 {
		t.Errorf("through a proxy, %d connections were dialed ahead to the origin", o)
	}
	if o, _ := cc.counts(); o != 2 {
		t.Errorf("%d connections reached the proxy; want none after the first 2", o)
	}
}

// To an https server the connections dialed ahead are handshaken ahead,
// and the requests take them whole: three requests at once after three
// warmed connections open no fourth and run no fourth handshake.
func TestWarmerTLS(t *testing.T) {
	t.Parallel()
	cc := &connCounter{}
	var hellos atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = cc.hook
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		hellos.Add(1)
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	w := segment.NewWarmer()
	defer w.Close()
	client := segment.NewClient(segment.ClientOptions{Connections: 4, Warm: w, RootCAs: roots})
	defer client.CloseIdleConnections()
	w.Warm(context.Background(), srv.URL+"/f", 3)
	waitFor(t, func() bool { return segment.WarmReady(w) == 3 })
	if n := hellos.Load(); n != 3 {
		t.Fatalf("%d handshakes for 3 connections dialed ahead", n)
	}
	for _, r := range getAtOnce(t, client, srv.URL+"/f", 3) {
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			t.Errorf("an answer without its TLS state: %+v", r.TLS)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if o, _ := cc.counts(); o != 3 {
		t.Errorf("the server accepted %d connections; want the 3 dialed ahead", o)
	}
	if n := hellos.Load(); n != 3 {
		t.Errorf("%d handshakes; want the 3 done ahead", n)
	}
}
