package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"rget/download"
	"rget/origin"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"rget/merge"
	"rget/segment"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("disk full"), 1},
		{fmt.Errorf("write: %w", os.ErrPermission), 1},
		{usagef("bad flag"), 2},
		{fmt.Errorf("get: %w", usagef("bad URL")), 2},
		{&merge.ChecksumError{Want: "a", Got: "b"}, 3},
		{fmt.Errorf("finalize: %w", &merge.SizeError{Want: 1, Got: 2}), 3},
		{&segment.StatusError{Code: 404}, 4},
		{fmt.Errorf("range [0,10): %w", &segment.StatusError{Code: 503}), 4},
		{fmt.Errorf("%w: stopped", errInterrupted), 130},
		{fmt.Errorf("probe: %w", segment.ErrChanged), 1},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestNormalizeArgs(t *testing.T) {
	t.Parallel()
	app := newApp(nil, nil)
	for _, tc := range []struct{ in, want []string }{
		{[]string{"rget"}, []string{"rget"}},
		{[]string{"rget", "--version"}, []string{"rget", "--version"}},
		{[]string{"rget", "http://h/f"}, []string{"rget", "get", "--", "http://h/f"}},
		{[]string{"rget", "http://h/f", "-o", "x", "-q"}, []string{"rget", "get", "-o", "x", "-q", "--", "http://h/f"}},
		{[]string{"rget", "get", "http://h/f", "-c", "16", "--json"}, []string{"rget", "get", "-c", "16", "--json", "--", "http://h/f"}},
		{[]string{"rget", "get", "-o=x", "http://h/f"}, []string{"rget", "get", "-o=x", "--", "http://h/f"}},
		{[]string{"rget", "get", "--", "-weird"}, []string{"rget", "get", "--", "-weird"}},
		{[]string{"rget", "verify", "f", "--sha256", "ab"}, []string{"rget", "verify", "--sha256", "ab", "--", "f"}},
	} {
		if got := normalizeArgs(app, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"64KiB", 64 << 10, true}, {"1GiB", 1 << 30, true},
		{"1G", 1 << 30, true}, {"25MB", 25e6, true}, {"1.5M", 3 << 19, true}, {"2 MiB", 2 << 20, true},
		{"", 0, false}, {"-1", 0, false}, {"12XB", 0, false}, {"MiB", 0, false}, {"1e30", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v, want %d (ok=%v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// origin starts an embedded origin for an end-to-end test.
func startOrigin(t *testing.T, size int64, opts ...origin.Option) (*origin.Origin, string) {
	t.Helper()
	o := origin.New(origin.Content{Size: size, Seed: 42}, opts...)
	srv, err := origin.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return o, srv.URL
}

// rget runs the command line args and returns its exit code and output.
func rget(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errw bytes.Buffer
	err := run(ctx, append([]string{"rget"}, args...), &out, &errw)
	if err != nil {
		errw.WriteString("rget: " + oneLine(err) + "\n")
	}
	return exitCode(err), out.String(), errw.String()
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hexSum(c origin.Content) string {
	s := c.SHA256()
	return hex.EncodeToString(s[:])
}

func TestGetEndToEnd(t *testing.T) {
	t.Parallel()
	const size = 5<<20 + 11
	o, base := startOrigin(t, size)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.bin")
	want := hexSum(o.Content())
	code, stdout, stderr := rget(t, base+"/file", "-o", out, "-c", "4", "--segment-size", "1MiB", "--json", "--sha256", want)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if got := sha256File(t, out); got != want {
		t.Fatalf("published sha256 %s, want %s", got, want)
	}
	var res download.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if res.Size != size || res.SHA256 != want || !res.Verified || res.Connections != 4 || res.Segments < 6 ||
		res.Output != out || res.URL != base+"/file" || res.Seconds <= 0 || res.BytesPerSecond <= 0 {
		t.Errorf("--json = %+v", res)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not report the sha256:\n%s", stderr)
	}
	if _, err := os.Stat(out + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("part file left behind: %v", err)
	}
}

// TestGetShorthandAndName: "rget URL" is "rget get URL", and the name comes
// from Content-Disposition, sanitized, inside --dir.
func TestGetShorthandAndName(t *testing.T) {
	t.Parallel()
	o, base := startOrigin(t, 3000)
	dir := t.TempDir()
	code, stdout, stderr := rget(t, base+"/cd/..%2F..%2F.evil%0Aname.bin", "-d", dir, "-q")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "evilname.bin" {
		t.Fatalf("dir holds %v, want just evilname.bin", entries)
	}
	if got := sha256File(t, filepath.Join(dir, "evilname.bin")); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
	if !strings.Contains(stdout, hexSum(o.Content())) {
		t.Errorf("-q output (stdout) does not report the sha256: %q", stdout)
	}
}

func TestGetNoRange(t *testing.T) {
	t.Parallel()
	o, base := startOrigin(t, 1<<20+3, origin.WithNoRange())
	out := filepath.Join(t.TempDir(), "f")
	code, _, stderr := rget(t, "get", base+"/file", "-o", out, "-c", "8")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "does not serve byte ranges") {
		t.Errorf("no notice about the missing Range support:\n%s", stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
}

// TestGetFailures: each failure has its exit code, a one-line message, and
// leaves nothing under the output name.
func TestGetFailures(t *testing.T) {
	t.Parallel()
	o, base := startOrigin(t, 2<<20)
	unwritable := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(unwritable, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		message string
	}{
		{"404", []string{base + "/status/404"}, 4, "404"},
		{"500", []string{base + "/status/500", "--retries", "1"}, 4, "500"},
		{"wrong sha256", []string{base + "/file", "--sha256", strings.Repeat("0", 64)}, 3, hexSum(o.Content())},
		{"bad sha256", []string{base + "/file", "--sha256", "xyz"}, 2, "64 hex digits"},
		{"bad URL", []string{"ftp://example.com/x"}, 2, "only http and https"},
		{"no host", []string{"http:///x"}, 2, "no host"},
		{"unknown flag", []string{base + "/file", "--no-such-flag"}, 2, "no-such-flag"},
		{"no URL", []string{"get"}, 2, "missing URL"},
		{"zero connections", []string{base + "/file", "-c", "0"}, 2, "at least 1"},
		{"unreachable", []string{"http://127.0.0.1:1/file"}, 1, "127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := rget(t, append(tc.args, "-o", out, "-q")...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.message) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.message)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output exists after a failure: %v", err)
			}
		})
	}
	t.Run("unwritable dir", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() == 0 {
			t.Skip("root writes anywhere")
		}
		code, _, stderr := rget(t, base+"/file", "-o", filepath.Join(unwritable, "out"), "-q")
		if code != 1 || !strings.Contains(stderr, "ro/out") {
			t.Fatalf("exit %d, stderr %q; want 1 naming the file", code, stderr)
		}
	})
}

func TestGetRefusesToClobber(t *testing.T) {
	t.Parallel()
	o, base := startOrigin(t, 4096)
	out := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(out, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := rget(t, base+"/file", "-o", out, "-q")
	if code != 1 || !strings.Contains(stderr, "--force") {
		t.Fatalf("exit %d, stderr %q; want 1 suggesting --force", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatalf("existing file changed to %d bytes", len(b))
	}
	if code, _, stderr = rget(t, base+"/file", "-o", out, "-q", "--force"); code != 0 {
		t.Fatalf("--force: exit %d, stderr %q", code, stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := sha256.Sum256([]byte("hello"))
	if code, stdout, stderr := rget(t, "verify", path, "--sha256", hex.EncodeToString(good[:])); code != 0 || !strings.Contains(stdout, "OK") {
		t.Fatalf("verify good: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, _ := rget(t, "verify", path, "--sha256", strings.Repeat("1", 64)); code != 3 {
		t.Fatalf("verify bad: exit %d, want 3", code)
	}
	if code, _, _ := rget(t, "verify", path+".missing", "--sha256", strings.Repeat("1", 64)); code != 1 {
		t.Fatalf("verify missing: exit %d, want 1", code)
	}
}

// TestBarView drives the terminal view into a buffer: it draws and ends.
func TestBarView(t *testing.T) {
	t.Parallel()
	for _, conns := range []int{3, maxConnBars + 1} {
		var buf bytes.Buffer
		plan := segment.NewLedger(100, segment.Split(100, 10), segment.Policy{})
		prog := segment.NewProgress(conns)
		prog.Received.Store(50)
		prog.Conns[0].Start.Store(10)
		prog.Conns[0].End.Store(20)
		prog.Conns[0].Pos.Store(15)
		v := newBarView(&buf, "file.bin", plan, prog, 0)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); v.run(ctx) }()
		v.update(100 * time.Millisecond)
		v.finish(true)
		cancel()
		<-done
		if !strings.Contains(buf.String(), "file.bin") {
			t.Errorf("conns=%d: view output lacks the name: %q", conns, buf.String())
		}
	}
}

// TestInterruptedCommandsExit130: every command stopped by a signal (its
// context done) exits 130, verify and status included.
func TestInterruptedCommandsExit130(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startOrigin(t, 1<<20)
	for _, args := range [][]string{
		{"verify", file, "--sha256", strings.Repeat("0", 64)},
		{"get", base + "/file", "-o", filepath.Join(t.TempDir(), "out"), "-q"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := run(ctx, append([]string{"rget"}, args...), io.Discard, io.Discard)
		if got := exitCode(err); got != 130 {
			t.Errorf("rget %v interrupted: exit %d (%v), want 130", args, got, err)
		}
	}
}
