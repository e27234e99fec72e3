package origin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// startOrigin serves c with opts on a fresh Server closed at cleanup.
func startOrigin(t *testing.T, c Content, opts ...Option) (*Origin, *Server) {
	t.Helper()
	o := New(c, opts...)
	srv, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return o, srv
}

// newClient returns a client with its own transport, whose idle connections
// are closed at cleanup, and which does not follow redirects.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get sends a GET with headers given as name, value pairs and reads the whole
// body; the body's read error is returned, not fatal.
func get(t *testing.T, cl *http.Client, url string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	resp, body, err := fetch(t.Context(), cl, url, hdr...)
	if resp == nil {
		t.Fatalf("GET %s %q: %v", url, hdr, err)
	}
	return resp, body, err
}

// fetch is get for goroutines other than the test's: a nil response means
// the request failed.
func fetch(ctx context.Context, cl *http.Client, url string, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// slice returns bytes [start, end) of c.
func slice(c Content, start, end int64) []byte {
	b := make([]byte, end-start)
	c.ReadAt(b, start)
	return b
}

func TestOriginRange(t *testing.T) {
	t.Parallel()
	c := Content{Size: 10000, Seed: 5}
	_, srv := startOrigin(t, c)
	cl := newClient(t)
	tests := []struct {
		name       string
		rng        string
		wantStatus int
		wantCR     string
		start, end int64 // expected body, when the status is 200 or 206
	}{
		{"no range", "", 200, "", 0, 10000},
		{"first byte", "bytes=0-0", 206, "bytes 0-0/10000", 0, 1},
		{"last byte", "bytes=9999-9999", 206, "bytes 9999-9999/10000", 9999, 10000},
		{"middle", "bytes=1234-5677", 206, "bytes 1234-5677/10000", 1234, 5678},
		{"open end", "bytes=9000-", 206, "bytes 9000-9999/10000", 9000, 10000},
		{"suffix", "bytes=-100", 206, "bytes 9900-9999/10000", 9900, 10000},
		{"end clamped", "bytes=9990-20000", 206, "bytes 9990-9999/10000", 9990, 10000},
		{"beyond end", "bytes=10000-", 416, "bytes */10000", 0, 0},
		{"far beyond end", "bytes=50000-60000", 416, "bytes */10000", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body, err := get(t, cl, srv.URL+"/file", "Range", tt.rng)
			if err != nil {
				t.Fatalf("Range %q: reading body: %v", tt.rng, err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("Range %q: status %d, want %d", tt.rng, resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.wantCR {
				t.Errorf("Range %q: Content-Range %q, want %q", tt.rng, got, tt.wantCR)
			}
			if tt.wantStatus == 416 {
				return
			}
			if want := slice(c, tt.start, tt.end); !bytes.Equal(body, want) {
				t.Errorf("Range %q: body of %d bytes differs from content [%d,%d)", tt.rng, len(body), tt.start, tt.end)
			}
			if got := resp.Header.Get("Accept-Ranges"); got != "bytes" {
				t.Errorf("Range %q: Accept-Ranges %q, want bytes", tt.rng, got)
			}
			if got := resp.Header.Get("ETag"); got != c.ETag() {
				t.Errorf("Range %q: ETag %q, want %q", tt.rng, got, c.ETag())
			}
			if got := resp.Header.Get("Last-Modified"); got != "Thu, 01 Jan 2026 00:00:00 GMT" {
				t.Errorf("Range %q: Last-Modified %q, want Thu, 01 Jan 2026 00:00:00 GMT", tt.rng, got)
			}
		})
	}
}

func TestOriginMultiRange(t *testing.T) {
	t.Parallel()
	c := Content{Size: 1000, Seed: 5}
	_, srv := startOrigin(t, c)
	resp, body, err := get(t, newClient(t), srv.URL+"/file", "Range", "bytes=0-9,500-519")
	if err != nil || resp.StatusCode != 206 {
		t.Fatalf("multi-range: status %d, err %v; want 206", resp.StatusCode, err)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][2]int64{{0, 10}, {500, 520}} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part [%d,%d): %v", want[0], want[1], err)
		}
		got, _ := io.ReadAll(part)
		if !bytes.Equal(got, slice(c, want[0], want[1])) {
			t.Errorf("part %q differs from content [%d,%d)", part.Header.Get("Content-Range"), want[0], want[1])
		}
	}
}

func TestOriginIfRange(t *testing.T) {
	t.Parallel()
	c := Content{Size: 5000, Seed: 8}
	const lastMod = "Thu, 01 Jan 2026 00:00:00 GMT"
	tests := []struct {
		name       string
		opts       []Option
		ifRange    string
		wantStatus int
	}{
		{"etag match", nil, c.ETag(), 206},
		{"etag mismatch", nil, Content{Size: 5000, Seed: 9}.ETag(), 200},
		{"date match", nil, lastMod, 206},
		{"date mismatch", nil, "Fri, 02 Jan 2026 00:00:00 GMT", 200},
		{"weak etag never matches", []Option{WithWeakETag()}, "W/" + c.ETag(), 200},
		{"weak etag, date match", []Option{WithWeakETag()}, lastMod, 206},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, srv := startOrigin(t, c, tt.opts...)
			resp, body, err := get(t, newClient(t), srv.URL+"/file", "Range", "bytes=100-199", "If-Range", tt.ifRange)
			if err != nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("If-Range %s: status %d, err %v; want %d", tt.ifRange, resp.StatusCode, err, tt.wantStatus)
			}
			want := slice(c, 0, c.Size)
			if tt.wantStatus == 206 {
				want = slice(c, 100, 200)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("If-Range %s: body of %d bytes, want %d bytes of content", tt.ifRange, len(body), len(want))
			}
		})
	}
}

func TestOriginRoutes(t *testing.T) {
	t.Parallel()
	c := Content{Size: 300, Seed: 1}
	_, srv := startOrigin(t, c)
	cl := newClient(t)
	tests := []struct {
		path         string
		wantStatus   int
		wantLocation string
		wantCD       string
		wantContent  bool
	}{
		{"/file", 200, "", "", true},
		{"/", 200, "", "", true},
		{"/some/dir/name.bin", 200, "", "", true},
		{"/redirect/3/dir/name.bin?x=1", 302, "/redirect/2/dir/name.bin?x=1", "", false},
		{"/redirect/1/name.bin", 302, "/name.bin", "", false},
		{"/redirect/1/cd/a%2Fb", 302, "/cd/a%2Fb", "", false},
		{"/redirect/x/name.bin", 400, "", "", false},
		{"/absredirect/2/name.bin", 302, srv.URL + "/absredirect/1/name.bin", "", false},
		{"/absredirect/1/name.bin", 302, srv.URL + "/name.bin", "", false},
		{"/status/404", 404, "", "", false},
		{"/status/503", 503, "", "", false},
		{"/status/abc", 400, "", "", false},
		{"/cd/report.pdf", 200, "", `attachment; filename="report.pdf"`, true},
		{"/cd/..%2F..%2Fetc%2Fpasswd", 200, "", `attachment; filename="../../etc/passwd"`, true},
		{"/cd/a%22b%5Cc", 200, "", `attachment; filename="a\"b\\c"`, true},
		{"/cd/na%C3%AFve%0A.bin", 200, "", `attachment; filename="na__ve_.bin"; filename*=UTF-8''na%C3%AFve%0A.bin`, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			resp, body, err := get(t, cl, srv.URL+tt.path)
			if err != nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s: status %d, err %v; want %d", tt.path, resp.StatusCode, err, tt.wantStatus)
			}
			if got := resp.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("GET %s: Location %q, want %q", tt.path, got, tt.wantLocation)
			}
			if got := resp.Header.Get("Content-Disposition"); got != tt.wantCD {
				t.Errorf("GET %s: Content-Disposition %q, want %q", tt.path, got, tt.wantCD)
			}
			if tt.wantContent && !bytes.Equal(body, slice(c, 0, c.Size)) {
				t.Errorf("GET %s: body of %d bytes is not the content", tt.path, len(body))
			}
		})
	}
}

func TestOriginRedirectChainFollowed(t *testing.T) {
	t.Parallel()
	c := Content{Size: 100, Seed: 1}
	o, srv := startOrigin(t, c)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cl := &http.Client{Transport: tr} // follows redirects
	resp, body, err := get(t, cl, srv.URL+"/redirect/3/x/name.bin")
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, slice(c, 0, c.Size)) {
		t.Fatalf("GET /redirect/3/x/name.bin: status %d, err %v, %d bytes; want 200 and the content", resp.StatusCode, err, len(body))
	}
	if got, want := resp.Request.URL.Path, "/x/name.bin"; got != want {
		t.Errorf("final path %q, want %q", got, want)
	}
	if got := o.Requests(); got != 4 {
		t.Errorf("Requests() = %d, want 4", got)
	}
}

func TestOriginHeadAndMethods(t *testing.T) {
	t.Parallel()
	c := Content{Size: 12345, Seed: 1}
	_, srv := startOrigin(t, c)
	cl := newClient(t)
	resp, err := cl.Head(srv.URL + "/file")
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != c.Size {
		t.Errorf("HEAD: status %d, length %d; want 200, %d", resp.StatusCode, resp.ContentLength, c.Size)
	}
	resp, err = cl.Post(srv.URL+"/file", "text/plain", nil)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp.StatusCode)
	}
}

func TestOriginCounters(t *testing.T) {
	t.Parallel()
	c := Content{Size: 1000, Seed: 1}
	o, srv := startOrigin(t, c)
	cl := newClient(t)
	rngs := []string{"bytes=0-0", "", "bytes=10-19", "bytes=-5"}
	var want int64
	for _, r := range rngs {
		_, body, err := get(t, cl, srv.URL+"/file", "Range", r)
		if err != nil {
			t.Fatalf("Range %q: %v", r, err)
		}
		want += int64(len(body))
	}
	if got := o.Requests(); got != int64(len(rngs)) {
		t.Errorf("Requests() = %d, want %d", got, len(rngs))
	}
	if got := o.BytesServed(); got != want {
		t.Errorf("BytesServed() = %d, want %d", got, want)
	}
	if got := o.MaxConcurrent(); got != 1 {
		t.Errorf("MaxConcurrent() = %d after sequential requests, want 1", got)
	}
	got := o.Ranges()
	if len(got) != len(rngs) {
		t.Fatalf("Ranges() = %q, want %q", got, rngs)
	}
	for i := range rngs {
		if got[i] != rngs[i] {
			t.Errorf("Ranges() = %q, want %q", got, rngs)
		}
	}
	if o.Content() != c {
		t.Errorf("Content() = %+v, want %+v", o.Content(), c)
	}
	if got := srv.Conns(); got != 1 {
		t.Errorf("Conns() = %d after sequential keep-alive requests, want 1", got)
	}
}

// TestOriginMaxConcurrent gathers n requests with WithHold and WithOnRequest
// and releases them together.
func TestOriginMaxConcurrent(t *testing.T) {
	t.Parallel()
	const n = 5
	c := Content{Size: 4096, Seed: 1}
	release := make(chan struct{})
	arrived := make(chan struct{})
	o, srv := startOrigin(t, c, WithHold(release), WithOnRequest(func(*http.Request) { arrived <- struct{}{} }))
	cl := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			resp, body, err := fetch(t.Context(), cl, srv.URL+"/file", "Range", "bytes="+strconv.Itoa(i*100)+"-"+strconv.Itoa(i*100+99))
			if err == nil && (resp.StatusCode != 206 || !bytes.Equal(body, slice(c, int64(i*100), int64(i*100+100)))) {
				err = errors.New("wrong response " + resp.Status)
			}
			errs <- err
		})
	}
	for range n {
		<-arrived
	}
	if got := o.MaxConcurrent(); got != n {
		t.Errorf("MaxConcurrent() = %d with %d requests held, want %d", got, n, n)
	}
	if got := o.BytesServed(); got != 0 {
		t.Errorf("BytesServed() = %d while held, want 0", got)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := o.Requests(); got != n {
		t.Errorf("Requests() = %d, want %d", got, n)
	}
	if got := o.BytesServed(); got != n*100 {
		t.Errorf("BytesServed() = %d, want %d", got, n*100)
	}
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"a.bin", `attachment; filename="a.bin"`},
		{`q"uote\`, `attachment; filename="q\"uote\\"`},
		{"é", `attachment; filename="__"; filename*=UTF-8''%C3%A9`},
		{"a b", `attachment; filename="a b"`},
		{"tab\t", `attachment; filename="tab_"; filename*=UTF-8''tab%09`},
	}
	for _, tt := range tests {
		if got := contentDisposition(tt.name); got != tt.want {
			t.Errorf("contentDisposition(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if _, params, err := mime.ParseMediaType(contentDisposition(tt.name)); err != nil || params["filename"] != tt.name {
			t.Errorf("ParseMediaType(contentDisposition(%q)) = %q, %v; want filename %q", tt.name, params["filename"], err, tt.name)
		}
	}
}
