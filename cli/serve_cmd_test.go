package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"rget/origin"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in
// different goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `rget serve args...` until the test ends and returns the
// URL it printed.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"rget", "serve", "--addr", "127.0.0.1:0"}, args...), pw, &stderr)
		pw.CloseWithError(fmt.Errorf("serve returned %v", err))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
		if !strings.Contains(stderr.String(), "Ctrl-C to stop") {
			t.Errorf("stderr = %q", stderr.String())
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed %q then: %v; stderr %q", line, err, stderr.String())
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // nothing more is expected; keep the writer unblocked
	return strings.TrimSpace(line)
}

// fetch makes one request with the given headers on a client of its own.
func fetch(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestServeDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := make([]byte, 100_003)
	origin.Content{Size: int64(len(data)), Seed: 5}.ReadAt(data, 0) //nolint:errcheck // fills all of data
	if err := os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, dir)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/") {
		t.Fatalf("URL = %q", base)
	}
	url := base + "data.bin"

	resp, body := fetch(t, url)
	etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || !strings.HasPrefix(etag, `"`) || lastMod == "" ||
		resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("GET: %d, %d bytes, headers %v", resp.StatusCode, len(body), resp.Header)
	}
	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
		want   []byte
		cr     string
	}{
		{"range", []string{"Range", "bytes=10-19"}, 206, data[10:20], "bytes 10-19/100003"},
		{"last byte", []string{"Range", "bytes=100002-"}, 206, data[100002:], "bytes 100002-100002/100003"},
		{"suffix", []string{"Range", "bytes=-5"}, 206, data[100003-5:], "bytes 99998-100002/100003"},
		{"if-range etag", []string{"Range", "bytes=0-0", "If-Range", etag}, 206, data[:1], "bytes 0-0/100003"},
		{"if-range date", []string{"Range", "bytes=0-0", "If-Range", lastMod}, 206, data[:1], "bytes 0-0/100003"},
		{"if-range stale", []string{"Range", "bytes=0-0", "If-Range", `"other"`}, 200, data, ""},
		{"unsatisfiable", []string{"Range", "bytes=100003-"}, 416, nil, "bytes */100003"},
	} {
		resp, body := fetch(t, url, tc.hdr...)
		if resp.StatusCode != tc.status || tc.want != nil && !bytes.Equal(body, tc.want) || resp.Header.Get("Content-Range") != tc.cr {
			t.Errorf("%s: %d, %d bytes, Content-Range %q; want %d, %d bytes, %q",
				tc.name, resp.StatusCode, len(body), resp.Header.Get("Content-Range"), tc.status, len(tc.want), tc.cr)
		}
	}
	if resp, body := fetch(t, base+"escape"); resp.StatusCode == 200 || bytes.Contains(body, []byte("secret")) {
		t.Errorf("a symbolic link out of DIR was followed: %d %q", resp.StatusCode, body)
	}
	if resp, _ := fetch(t, base+"../../etc/passwd"); resp.StatusCode != 404 {
		t.Errorf("../../etc/passwd: %d, want 404", resp.StatusCode)
	}

	// And rget itself downloads from it.
	out := filepath.Join(t.TempDir(), "got.bin")
	if code, _, stderr := rget(t, url, "-o", out, "-c", "3", "--segment-size", "16KiB", "-q"); code != 0 {
		t.Fatalf("rget get from serve: exit %d, %s", code, stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Errorf("rget get from serve wrote %d bytes, not the file", len(got))
	}
}

func TestServeSynthetic(t *testing.T) {
	t.Parallel()
	url := startServe(t, "--synthetic", "1MiB", "--seed", "9", "--rate-per-conn", "100MB")
	if !strings.HasSuffix(url, syntheticPath) {
		t.Errorf("URL = %q", url)
	}
	c := origin.Content{Size: 1 << 20, Seed: 9}
	want := make([]byte, 100)
	c.ReadAt(want, 1<<20-100) //nolint:errcheck // io.EOF at the very end
	resp, body := fetch(t, url, "Range", "bytes=-100")
	if resp.StatusCode != 206 || !bytes.Equal(body, want) || resp.Header.Get("ETag") != c.ETag() {
		t.Errorf("suffix range: %d, %d bytes, ETag %q; want 206, the last 100 bytes, %s", resp.StatusCode, len(body), resp.Header.Get("ETag"), c.ETag())
	}
}

func TestServeUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "missing DIR"},
		{[]string{dir, "--synthetic", "1MiB"}, exitUsage, "not both"},
		{[]string{dir, dir}, exitUsage, "one DIR"},
		{[]string{"--synthetic", "huge"}, exitUsage, "--synthetic"},
		{[]string{dir, "--rate-per-conn", "0"}, exitUsage, "--rate-per-conn"},
		{[]string{dir, "--latency", "-1s"}, exitUsage, "negative"},
		{[]string{filepath.Join(dir, "missing")}, exitFailure, "missing"},
		{[]string{dir, "--addr", "256.0.0.1:1"}, exitFailure, "256.0.0.1"},
	} {
		code, _, stderr := rget(t, append([]string{"serve"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("rget serve %q: exit %d, stderr %q; want %d mentioning %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
}

func TestDisplayURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"http://[::]:80", "http://127.0.0.1:80"},
		{"http://[::1]:80", "http://[::1]:80"},
	} {
		if got := displayURL(tc.in); got != tc.want {
			t.Errorf("displayURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
