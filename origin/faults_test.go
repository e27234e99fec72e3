package origin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestWithNoRange(t *testing.T) {
	t.Parallel()
	c := Content{Size: 3000, Seed: 2}
	_, srv := startOrigin(t, c, WithNoRange())
	for _, hdr := range [][]string{
		{"Range", "bytes=0-0"},
		{"Range", "bytes=100-"},
		{"Range", "bytes=100-199", "If-Range", c.ETag()},
	} {
		resp, body, err := get(t, newClient(t), srv.URL+"/file", hdr...)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%q: status %d, err %v; want 200", hdr, resp.StatusCode, err)
		}
		if !bytes.Equal(body, slice(c, 0, c.Size)) {
			t.Errorf("%q: body of %d bytes is not the full content", hdr, len(body))
		}
		if v, ok := resp.Header["Accept-Ranges"]; ok {
			t.Errorf("%q: Accept-Ranges %q, want none", hdr, v)
		}
		if v := resp.Header.Get("Content-Range"); v != "" {
			t.Errorf("%q: Content-Range %q, want none", hdr, v)
		}
	}
}

func TestWithFailFirst(t *testing.T) {
	t.Parallel()
	c := Content{Size: 100, Seed: 2}
	o, srv := startOrigin(t, c, WithFailFirst(2, http.StatusInternalServerError))
	cl := newClient(t)
	for i, want := range []int{500, 500, 206, 206} {
		resp, body, err := get(t, cl, srv.URL+"/file", "Range", "bytes=0-9")
		if err != nil || resp.StatusCode != want {
			t.Fatalf("request %d: status %d, err %v; want %d", i+1, resp.StatusCode, err, want)
		}
		if want == 206 && !bytes.Equal(body, slice(c, 0, 10)) {
			t.Errorf("request %d: body %x, want %x", i+1, body, slice(c, 0, 10))
		}
	}
	if got := o.Requests(); got != 4 {
		t.Errorf("Requests() = %d, want 4", got)
	}
	if got := o.BytesServed(); got != 20 {
		t.Errorf("BytesServed() = %d, want 20 (error bodies are not content)", got)
	}
}

func TestWithCutAfter(t *testing.T) {
	t.Parallel()
	c := Content{Size: 1 << 20, Seed: 4}
	tests := []struct {
		name     string
		cut      int64
		rng      string
		start    int64
		wantLen  int
		wantCut  bool
		wantCode int
	}{
		{"full body cut", 100_000, "", 0, 100_000, true, 200},
		{"range cut", 1000, "bytes=5000-9999", 5000, 1000, true, 206},
		{"cut at zero", 0, "bytes=5000-9999", 5000, 0, true, 206},
		{"short range not cut", 1000, "bytes=5000-5999", 5000, 1000, false, 206},
		{"shorter range not cut", 1000, "bytes=5000-5009", 5000, 10, false, 206},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, srv := startOrigin(t, c, WithCutAfter(tt.cut))
			resp, body, err := get(t, newClient(t), srv.URL+"/file", "Range", tt.rng)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if gotCut := errors.Is(err, io.ErrUnexpectedEOF); gotCut != tt.wantCut || (err != nil && !gotCut) {
				t.Errorf("reading body: %v; want cut %v", err, tt.wantCut)
			}
			if len(body) != tt.wantLen || !bytes.Equal(body, slice(c, tt.start, tt.start+int64(len(body)))) {
				t.Errorf("got %d bytes, want %d bytes of content from %d", len(body), tt.wantLen, tt.start)
			}
			if got := o.BytesServed(); got != int64(tt.wantLen) {
				t.Errorf("BytesServed() = %d, want %d", got, tt.wantLen)
			}
		})
	}
}

func TestLieContentRange(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"bytes 0-0/100", "bytes 1-1/100"},
		{"bytes 10-19/100", "bytes 11-20/100"},
		{"bytes 90-99/100", "bytes 89-98/100"},
		{"bytes 0-99/100", "bytes 0-98/100"},
		{"bytes 0-0/1", "bytes 0-0/2"},
		{"bytes */100", "octets */100"},
	}
	for _, tt := range tests {
		if got := lieContentRange(tt.in); got != tt.want {
			t.Errorf("lieContentRange(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWithLieContentRange(t *testing.T) {
	t.Parallel()
	c := Content{Size: 1000, Seed: 2}
	_, srv := startOrigin(t, c, WithLieContentRange())
	cl := newClient(t)
	for _, tt := range []struct {
		rng, honest string
		start, end  int64
	}{
		{"bytes=0-0", "bytes 0-0/1000", 0, 1},
		{"bytes=100-199", "bytes 100-199/1000", 100, 200},
		{"bytes=900-", "bytes 900-999/1000", 900, 1000},
	} {
		resp, body, err := get(t, cl, srv.URL+"/file", "Range", tt.rng)
		if err != nil || resp.StatusCode != 206 {
			t.Fatalf("Range %q: status %d, err %v; want 206", tt.rng, resp.StatusCode, err)
		}
		if got := resp.Header.Get("Content-Range"); got == tt.honest || got == "" {
			t.Errorf("Range %q: Content-Range %q, want a lie", tt.rng, got)
		}
		if !bytes.Equal(body, slice(c, tt.start, tt.end)) {
			t.Errorf("Range %q: body of %d bytes is not content [%d,%d)", tt.rng, len(body), tt.start, tt.end)
		}
	}
	// A 200 has no Content-Range to lie about.
	resp, body, err := get(t, cl, srv.URL+"/file")
	if err != nil || resp.StatusCode != 200 || len(body) != 1000 || resp.Header.Get("Content-Range") != "" {
		t.Errorf("no Range: status %d, %d bytes, Content-Range %q, err %v; want 200, 1000 bytes, none",
			resp.StatusCode, len(body), resp.Header.Get("Content-Range"), err)
	}
}

func TestWithChangeETagAfter(t *testing.T) {
	t.Parallel()
	c := Content{Size: 2000, Seed: 10}
	o, srv := startOrigin(t, c, WithChangeETagAfter(1))
	cl := newClient(t)
	changed := o.Changed()
	if changed.Size != c.Size || changed.Seed == c.Seed {
		t.Fatalf("Changed() = %+v, want size %d and another seed", changed, c.Size)
	}

	resp, body, err := get(t, cl, srv.URL+"/file", "Range", "bytes=0-0")
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, slice(c, 0, 1)) {
		t.Fatalf("request 1: status %d, err %v; want 206 of the original", resp.StatusCode, err)
	}
	oldTag, oldMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if oldTag != c.ETag() {
		t.Errorf("request 1: ETag %q, want %q", oldTag, c.ETag())
	}

	// The client pins the old validator: the range is refused, and the new
	// full content comes back with a new ETag.
	resp, body, err = get(t, cl, srv.URL+"/file", "Range", "bytes=100-199", "If-Range", oldTag)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request 2: status %d, err %v; want 200", resp.StatusCode, err)
	}
	if got := resp.Header.Get("ETag"); got != changed.ETag() || got == oldTag {
		t.Errorf("request 2: ETag %q, want %q (old %q)", got, changed.ETag(), oldTag)
	}
	if got := resp.Header.Get("Last-Modified"); got == oldMod {
		t.Errorf("request 2: Last-Modified %q unchanged", got)
	}
	if !bytes.Equal(body, slice(changed, 0, changed.Size)) {
		t.Errorf("request 2: body is not the changed content")
	}
	if bytes.Equal(body, slice(c, 0, c.Size)) {
		t.Errorf("request 2: body is still the original content")
	}

	// With the old Last-Modified as If-Range it is refused too.
	resp, _, err = get(t, cl, srv.URL+"/file", "Range", "bytes=100-199", "If-Range", oldMod)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("request 3 (If-Range date): status %d, err %v; want 200", resp.StatusCode, err)
	}
}

func TestWithLastModified(t *testing.T) {
	t.Parallel()
	mod := time.Date(2024, time.March, 5, 6, 7, 8, 0, time.UTC)
	for _, tt := range []struct {
		mod  time.Time
		want string
	}{
		{mod, "Tue, 05 Mar 2024 06:07:08 GMT"},
		{time.Time{}, ""},
	} {
		_, srv := startOrigin(t, Content{Size: 10}, WithLastModified(tt.mod))
		resp, _, err := get(t, newClient(t), srv.URL+"/file")
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		if got := resp.Header.Get("Last-Modified"); got != tt.want {
			t.Errorf("WithLastModified(%v): Last-Modified %q, want %q", tt.mod, got, tt.want)
		}
	}
}

func TestWithWeakETag(t *testing.T) {
	t.Parallel()
	c := Content{Size: 10, Seed: 3}
	_, srv := startOrigin(t, c, WithWeakETag())
	resp, _, err := get(t, newClient(t), srv.URL+"/file")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if got, want := resp.Header.Get("ETag"), "W/"+c.ETag(); got != want {
		t.Errorf("ETag %q, want %q", got, want)
	}
}

// TestWithHoldHonorsContext cancels a held request: the handler must
// return, or the server's Close (at cleanup) would hang.
func TestWithHoldHonorsContext(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	o, srv := startOrigin(t, Content{Size: 100}, WithHold(make(chan struct{})),
		WithOnRequest(func(*http.Request) { arrived <- struct{}{} }))
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/file", nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	if resp, err := (&http.Client{Transport: tr}).Do(req); !errors.Is(err, context.Canceled) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("held request: err %v, want context.Canceled", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := o.BytesServed(); got != 0 {
		t.Errorf("BytesServed() = %d, want 0", got)
	}
}

func TestWithLatency(t *testing.T) {
	t.Parallel()
	const d = 150 * time.Millisecond
	_, srv := startOrigin(t, Content{Size: 100}, WithLatency(d))
	start := time.Now()
	resp, _, err := get(t, newClient(t), srv.URL+"/file")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: status %d, err %v", resp.StatusCode, err)
	}
	if got := time.Since(start); got < d {
		t.Errorf("response after %v, want at least %v", got, d)
	}
}

// TestWithLatencyHonorsContext: a request delayed by an hour is cancelled;
// Close at cleanup must not wait for the hour.
func TestWithLatencyHonorsContext(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	_, srv := startOrigin(t, Content{Size: 100}, WithLatency(time.Hour),
		WithOnRequest(func(*http.Request) { arrived <- struct{}{} }))
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/file", nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	if resp, err := (&http.Client{Transport: tr}).Do(req); !errors.Is(err, context.Canceled) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("delayed request: err %v, want context.Canceled", err)
	}
}

// TestWithNoRangeAfter: ranges are honored for the first n requests, then
// every request gets 200 and the whole body, with the same ETag.
func TestWithNoRangeAfter(t *testing.T) {
	t.Parallel()
	c := Content{Size: 10_000, Seed: 3}
	_, srv := startOrigin(t, c, WithNoRangeAfter(2))
	client := newClient(t)
	for i, want := range []int{206, 206, 200, 200} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/file", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Range", "bytes=0-99")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != want || resp.Header.Get("ETag") != c.ETag() {
			t.Fatalf("request %d: %d, ETag %s, %v; want %d with ETag %s", i+1, resp.StatusCode, resp.Header.Get("ETag"), err, want, c.ETag())
		}
		if want == 200 && len(body) != int(c.Size) {
			t.Fatalf("request %d: 200 with %d bytes, want the whole %d", i+1, len(body), c.Size)
		}
	}
}
