//go:build linux

package cli

// End-to-end faults (issue 5): rget against servers, networks and disks
// that misbehave ends with the right file or a clear one-line error and the
// documented exit code; never a corrupt file, a hang or a panic. Each run
// is bounded by the deadline of rget() in main_test.go. Linux only: full
// disks are tmpfs mounts, holes are punched with fallocate and "permission
// denied" runs the binary as nobody.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"rget/origin"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"rget/journal"
)

// probeRange is the Range header of rget's probe: its first MiB.
const probeRange = "bytes=0-1048575"

// serveHandler serves h on loopback for the test and returns its base URL.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv, err := origin.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL
}

// errorLine returns the last line of stderr, where rget() puts the error,
// and checks that it names each of want.
func errorLine(t *testing.T, stderr string, want ...string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "rget: ") {
		t.Fatalf("stderr does not end with an error line:\n%s", stderr)
	}
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("error line %q does not mention %q", last, w)
		}
	}
	return last
}

// failRanges serves o, but answers code to every range request (not the
// probe) while fail reports true.
func failRanges(o *origin.Origin, code int, fail func(r *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != probeRange && fail(r) {
			http.Error(w, http.StatusText(code), code)
			return
		}
		o.ServeHTTP(w, r)
	})
}

// TestFaultPermanentStatus: 403, 404 and 410, to the probe or to a range in
// the middle of the download, stop at once with exit 4, no retry, and a
// line naming the URL (and the range).
func TestFaultPermanentStatus(t *testing.T) {
	t.Parallel()
	for _, code := range []int{403, 404, 410} {
		t.Run(fmt.Sprint("probe/", code), func(t *testing.T) {
			t.Parallel()
			o, base := startOrigin(t, 1<<20)
			out := filepath.Join(t.TempDir(), "out")
			url := fmt.Sprintf("%s/status/%d", base, code)
			exit, _, stderr := rget(t, url, "-o", out, "-q", "--retries", "5")
			if exit != 4 {
				t.Fatalf("exit %d, want 4; stderr:\n%s", exit, stderr)
			}
			errorLine(t, stderr, url, strconv.Itoa(code), "check the URL")
			if n := o.Requests(); n != 1 {
				t.Errorf("%d requests, want 1: a %d is not retried", n, code)
			}
		})
		t.Run(fmt.Sprint("range/", code), func(t *testing.T) {
			t.Parallel()
			o := origin.New(origin.Content{Size: 3 << 20, Seed: 1})
			var requests, probes atomic.Int64
			fail := failRanges(o, code, func(*http.Request) bool { requests.Add(1); return true })
			base := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Range") == probeRange {
					probes.Add(1)
				}
				fail.ServeHTTP(w, r)
			}))
			out := filepath.Join(t.TempDir(), "out")
			exit, _, stderr := rget(t, base+"/file", "-o", out, "-q", "-c", "1", "--segment-size", "1MiB", "--retries", "5")
			if exit != 4 {
				t.Fatalf("exit %d, want 4; stderr:\n%s", exit, stderr)
			}
			// (The probe brought the first MiB.)
			errorLine(t, stderr, "range [1048576,2097152)", base+"/file", strconv.Itoa(code)+" "+http.StatusText(code))
			if n := requests.Load(); n != 1 {
				t.Errorf("%d range requests, want 1: a %d is not retried", n, code)
			}
			if n := probes.Load(); n != 1 {
				t.Errorf("the first MiB asked for %d times, want once: the probe's answer is its range", n)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output exists after a failure: %v", err)
			}
		})
	}
}

// stallFirst serves o, but the first n range requests send their headers
// and then nothing until the client is gone.
func stallFirst(o *origin.Origin, n int64) http.Handler {
	var count atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != probeRange && count.Add(1) <= n {
			w = stallBody{w, r}
		}
		o.ServeHTTP(w, r)
	})
}

// stallBody sends the headers of a response, then nothing: its first body
// write blocks until the client is gone.
type stallBody struct {
	http.ResponseWriter
	r *http.Request
}

func (s stallBody) Write([]byte) (int, error) {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
	<-s.r.Context().Done()
	return 0, s.r.Context().Err()
}

// TestFaultStallTimeout: --stall-timeout drops a connection that sends
// nothing after its headers, the range is fetched again, and --debug shows
// the stall.
func TestFaultStallTimeout(t *testing.T) {
	t.Parallel()
	o := origin.New(origin.Content{Size: 2 << 20, Seed: 8})
	base := serveHandler(t, stallFirst(o, 1))
	out := filepath.Join(t.TempDir(), "out")
	// One connection: no other can take the stalled range over first.
	exit, _, stderr := rget(t, base+"/file", "-o", out, "-q", "-c", "1", "--stall-timeout", "200ms", "--debug")
	if exit != 0 {
		t.Fatalf("exit %d; stderr:\n%s", exit, stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
	if !strings.Contains(stderr, "connection stalled: no data for 200ms") {
		t.Errorf("--debug does not show the stall:\n%s", stderr)
	}
}

// TestFaultRangeDropped: a server that stops honoring Range in the middle
// of a download: the download fails with exit 1 and a clear line, nothing
// is published, the journal stays valid with what was fetched; the rerun
// finds a server without ranges and fetches the file as one stream.
func TestFaultRangeDropped(t *testing.T) {
	t.Parallel()
	o := origin.New(origin.Content{Size: 4 << 20, Seed: 6}, origin.WithNoRangeAfter(2)) // the probe (the first MiB) and a range
	base := serveHandler(t, o)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{base + "/file", "-o", out, "-q", "-c", "1", "--segment-size", "1MiB", "--sha256", hexSum(o.Content())}
	exit, _, stderr := rget(t, args...)
	if exit != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", exit, stderr)
	}
	errorLine(t, stderr, "range [2097152,3145728)", base+"/file", "rerun the same command")
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output published after a failure: %v", err)
	}
	st, err := journal.Load(out + ".rget")
	if err != nil {
		t.Fatalf("journal after the failure: %v", err)
	}
	if got := st.BytesDone(); got != 2<<20 {
		t.Errorf("journal records %d bytes, want the 2 MiB fetched", got)
	}
	exit, _, stderr = rget(t, args...)
	if exit != 0 {
		t.Fatalf("rerun: exit %d; stderr:\n%s", exit, stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
}

// TestFaultContentEncoding: a server that sends the file gzip- or
// zstd-encoded although identity was asked: rget decodes it, and the file
// and its SHA-256 (checked with --sha256) are those of the decoded bytes.
func TestFaultContentEncoding(t *testing.T) {
	t.Parallel()
	c := origin.Content{Size: 1<<20 + 333, Seed: 12}
	plain := make([]byte, c.Size)
	if _, err := c.ReadAt(plain, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	for _, enc := range []string{"gzip", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			var z bytes.Buffer
			if enc == "gzip" {
				zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
				zw.Write(plain)
				zw.Close()
			} else {
				zw, _ := zstd.NewWriter(&z)
				zw.Write(plain)
				zw.Close()
			}
			base := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", enc)
				w.Header().Set("Content-Length", strconv.Itoa(z.Len()))
				w.Write(z.Bytes())
			}))
			dir := t.TempDir()
			res, stderr := getJSON(t, base+"/data.bin", "-d", dir, "-q", "--sha256", hexSum(c))
			if res.Size != c.Size || !res.Verified || res.SHA256 != hexSum(c) {
				t.Fatalf("result %+v, want %d decoded bytes verified; stderr:\n%s", res, c.Size, stderr)
			}
			if got := sha256File(t, filepath.Join(dir, "data.bin")); got != hexSum(c) {
				t.Fatalf("file sha256 %s, want %s", got, hexSum(c))
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory for the test,
// or skips the test when it cannot (not root, no mount).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", path, err)
			}
			return
		}
	}
}

// TestFaultDiskFull: ENOSPC for real, on a small tmpfs. Up front (the part
// file cannot be reserved) and in the middle of a download (writing into a
// part file whose free tail was given back), rget exits 1 with one line
// naming the file and the lack of space, the journal stays valid, and once
// space is freed the same command resumes and finishes.
func TestFaultDiskFull(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	t.Run("up front", func(t *testing.T) {
		t.Parallel()
		dir := mountTmpfs(t, 4<<20)
		o, base := startOrigin(t, size)
		out := filepath.Join(dir, "out.bin")
		args := []string{base + "/file", "-o", out, "-q"}
		exit, _, stderr := rget(t, args...)
		if exit != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", exit, stderr)
		}
		errorLine(t, stderr, out+".part", "no space left on device", "free some space")
		if _, err := journal.Load(out + ".rget"); err != nil {
			t.Fatalf("journal after ENOSPC: %v", err)
		}
		if out, err := exec.Command("mount", "-o", "remount,size=16m", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v %s", err, out)
		}
		if exit, _, stderr = rget(t, args...); exit != 0 {
			t.Fatalf("rerun: exit %d; stderr:\n%s", exit, stderr)
		}
		if got := sha256File(t, out); got != hexSum(o.Content()) {
			t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
		}
	})
	t.Run("mid-download", func(t *testing.T) {
		t.Parallel()
		dir := mountTmpfs(t, 12<<20)
		o := origin.New(origin.Content{Size: size, Seed: 77})
		var halfOnly atomic.Bool
		halfOnly.Store(true)
		base := serveHandler(t, failRanges(o, http.StatusForbidden, func(r *http.Request) bool {
			return halfOnly.Load() && !strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") &&
				!strings.HasPrefix(r.Header.Get("Range"), "bytes=1048576-") &&
				!strings.HasPrefix(r.Header.Get("Range"), "bytes=2097152-") &&
				!strings.HasPrefix(r.Header.Get("Range"), "bytes=3145728-")
		}))
		out := filepath.Join(dir, "out.bin")
		args := []string{base + "/file", "-o", out, "-c", "1", "--segment-size", "1MiB"}

		// 1. Half the file lands, then the server refuses the rest.
		if exit, _, stderr := rget(t, append(args, "-q")...); exit != 4 {
			t.Fatalf("first run: exit %d, want 4; stderr:\n%s", exit, stderr)
		}
		halfOnly.Store(false)
		// 2. The unwritten half of the part file is given back and the
		// disk filled, but for a little room for the journal.
		punchHole(t, out+".part", 4<<20, 4<<20)
		reserve := filepath.Join(dir, "reserve")
		if err := os.WriteFile(reserve, make([]byte, 256<<10), 0o644); err != nil {
			t.Fatal(err)
		}
		fillDisk(t, filepath.Join(dir, "filler"))
		if err := os.Remove(reserve); err != nil {
			t.Fatal(err)
		}
		exit, _, stderr := rget(t, append(args, "-q")...)
		if exit != 1 {
			t.Fatalf("full disk: exit %d, want 1; stderr:\n%s", exit, stderr)
		}
		errorLine(t, stderr, out+".part", "no space left on device", "free some space")
		st, err := journal.Load(out + ".rget")
		if err != nil {
			t.Fatalf("journal after ENOSPC: %v", err)
		}
		if got := st.BytesDone(); got < 4<<20 {
			t.Fatalf("journal records %d bytes, want at least the 4 MiB of the first run", got)
		}
		// 3. Space is freed: the same command resumes.
		if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
			t.Fatal(err)
		}
		res, stderr := getJSON(t, append(args, "-q")...)
		if res.Resumed < 4<<20 || res.Fetched > size-res.Resumed+(1<<20) {
			t.Errorf("resumed %d bytes and fetched %d, want at least 4 MiB resumed and only the rest fetched; stderr:\n%s",
				res.Resumed, res.Fetched, stderr)
		}
		if got := sha256File(t, out); got != hexSum(o.Content()) {
			t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
		}
	})
	t.Run("full at rerun", func(t *testing.T) {
		t.Parallel()
		dir := mountTmpfs(t, 12<<20)
		o := origin.New(origin.Content{Size: size, Seed: 78})
		var fail atomic.Bool
		fail.Store(true)
		base := serveHandler(t, failRanges(o, http.StatusForbidden, func(r *http.Request) bool {
			return fail.Load() && r.Header.Get("Range") != "bytes=0-1048575"
		}))
		out := filepath.Join(dir, "out.bin")
		args := []string{base + "/file", "-o", out, "-q", "-c", "1", "--segment-size", "1MiB"}
		if exit, _, stderr := rget(t, args...); exit != 4 {
			t.Fatalf("first run: exit %d, want 4; stderr:\n%s", exit, stderr)
		}
		fail.Store(false)
		before, err := os.ReadFile(out + ".rget")
		if err != nil {
			t.Fatal(err)
		}
		fillDisk(t, filepath.Join(dir, "filler"))
		// Not even the journal can be rewritten: rget must not start over
		// (which would truncate the part file), but stop and say why.
		exit, _, stderr := rget(t, args...)
		if exit != 1 {
			t.Fatalf("full disk: exit %d, want 1; stderr:\n%s", exit, stderr)
		}
		errorLine(t, stderr, "resume: journal "+out+".rget", "no space left on device", "free some space")
		if after, err := os.ReadFile(out + ".rget"); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("journal changed on a full disk (%v)", err)
		}
		if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
			t.Fatal(err)
		}
		res, stderr := getJSON(t, args...)
		if res.Resumed != 1<<20 {
			t.Errorf("resumed %d bytes, want the 1 MiB of the first run; stderr:\n%s", res.Resumed, stderr)
		}
		if got := sha256File(t, out); got != hexSum(o.Content()) {
			t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
		}
	})
}

// punchHole gives the blocks of [off, off+n) of the file at path back to
// the filesystem, as if they had never been written (the size stays).
func punchHole(t *testing.T, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err != nil {
		t.Skipf("punching a hole: %v", err)
	}
}

// TestFaultPermissionDenied: an output directory rget may not write to
// fails with exit 1 and a line naming the path. As root (which may write
// anywhere) the built binary runs as nobody.
func TestFaultPermissionDenied(t *testing.T) {
	t.Parallel()
	o, base := startOrigin(t, 1<<20)
	_ = o
	parent := t.TempDir()
	ro := filepath.Join(parent, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(ro, "out")
	if os.Geteuid() != 0 {
		exit, _, stderr := rget(t, base+"/file", "-o", out, "-q")
		if exit != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", exit, stderr)
		}
		errorLine(t, stderr, out, "permission denied", "check the permissions")
		return
	}
	bin := buildRget(t)
	for _, d := range []string{parent, filepath.Dir(parent), filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, base+"/file", "-o", out, "-q")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("run as nobody: %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	errorLine(t, stderr.String(), out, "permission denied", "check the permissions")
}

// headerLog records the values of one request header, per request.
type headerLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *headerLog) record(r *http.Request, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, r.Header.Get(name))
}

func (l *headerLog) values() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// TestFaultJournalHasNoCredentials: the journal of an interrupted download
// holds neither the userinfo of the URL nor credential headers, although
// they were sent.
func TestFaultJournalHasNoCredentials(t *testing.T) {
	t.Parallel()
	var auth, cookie headerLog
	o := origin.New(origin.Content{Size: 3 << 20, Seed: 5}, origin.WithOnRequest(func(r *http.Request) {
		auth.record(r, "Authorization")
		cookie.record(r, "Cookie")
	}))
	base := serveHandler(t, failRanges(o, http.StatusForbidden, func(r *http.Request) bool {
		return r.Header.Get("Range") != "bytes=0-1048575"
	}))
	for _, tc := range []struct {
		name   string
		url    string
		header string
		secret string
	}{
		{"userinfo", strings.Replace(base, "http://", "http://alice:pa55w0rd@", 1) + "/file", "Cookie: session=C00KIE", "pa55w0rd"},
		{"header", base + "/file", "Authorization: Bearer T0KEN", "T0KEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			exit, _, stderr := rget(t, tc.url, "-H", tc.header, "-o", out, "-q", "-c", "1", "--segment-size", "1MiB")
			if exit != 4 {
				t.Fatalf("exit %d, want 4; stderr:\n%s", exit, stderr)
			}
			if strings.Contains(stderr, tc.secret) {
				t.Errorf("stderr shows the secret %q:\n%s", tc.secret, stderr)
			}
			b, err := os.ReadFile(out + ".rget")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{tc.secret, "alice", "C00KIE", "Bearer"} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("journal holds %q", s)
				}
			}
			if st, err := journal.Load(out + ".rget"); err != nil || st.URL != base+"/file" {
				t.Errorf("journal URL %q (%v), want %q", st.URL, err, base+"/file")
			}
		})
	}
	// The credentials were sent: Basic from the userinfo, then the header.
	if a := auth.values(); len(a) == 0 || !strings.HasPrefix(a[0], "Basic ") || !strings.Contains(strings.Join(a, " "), "Bearer T0KEN") {
		t.Errorf("Authorization seen by the server: %q", a)
	}
	if c := cookie.values(); !strings.Contains(strings.Join(c, " "), "C00KIE") {
		t.Errorf("Cookie seen by the server: %q", c)
	}
}

// TestFaultCredentialsStayOnHost: credentials given for one host are not
// sent to another one a redirect leads to, neither by the probe nor by the
// range requests that go straight to the final URL; after a redirect on the
// same host they are.
func TestFaultCredentialsStayOnHost(t *testing.T) {
	t.Parallel()
	var other headerLog
	o := origin.New(origin.Content{Size: 3 << 20, Seed: 4}, origin.WithOnRequest(func(r *http.Request) {
		other.record(r, "Authorization")
		other.record(r, "Cookie")
	}))
	otherURL := serveHandler(t, o)
	otherURL = strings.Replace(otherURL, "127.0.0.1", "localhost", 1) // another host name
	var first headerLog
	base := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.record(r, "Authorization")
		http.Redirect(w, r, otherURL+"/file", http.StatusFound)
	}))
	for _, url := range []string{base + "/file", strings.Replace(base, "http://", "http://alice:pa55w0rd@", 1) + "/file"} {
		out := filepath.Join(t.TempDir(), "out")
		exit, _, stderr := rget(t, url, "-H", "Cookie: session=C00KIE", "-H", "X-Trace: 1",
			"-o", out, "-q", "-c", "3", "--segment-size", "1MiB")
		if exit != 0 {
			t.Fatalf("exit %d; stderr:\n%s", exit, stderr)
		}
		if got := sha256File(t, out); got != hexSum(o.Content()) {
			t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
		}
	}
	if f := first.values(); len(f) != 2 || f[0] != "" || !strings.HasPrefix(f[1], "Basic ") {
		t.Errorf("Authorization seen by the first host: %q, want none and then Basic", f)
	}
	seen := other.values()
	if len(seen) < 2*4 {
		t.Fatalf("the other host saw %d header values, want the probe and 3 ranges per run", len(seen))
	}
	for _, v := range seen {
		if v != "" {
			t.Errorf("the other host received a credential: %q", v)
		}
	}

	// The same host: the ranges carry the credentials.
	var same headerLog
	o2 := origin.New(origin.Content{Size: 2 << 20, Seed: 4}, origin.WithOnRequest(func(r *http.Request) { same.record(r, "Authorization") }))
	base2 := serveHandler(t, o2)
	out := filepath.Join(t.TempDir(), "out")
	if exit, _, stderr := rget(t, base2+"/redirect/2/file", "-H", "Authorization: Bearer T0KEN", "-o", out, "-q", "-c", "2", "--segment-size", "1MiB"); exit != 0 {
		t.Fatalf("same host: exit %d; stderr:\n%s", exit, stderr)
	}
	for _, v := range same.values() {
		if v != "Bearer T0KEN" {
			t.Errorf("same host: a request carried Authorization %q, want the token", v)
		}
	}
}

// tlsServer serves h over TLS with httptest's self-signed certificate.
func tlsServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestFaultTLS: certificates are verified by default (exit 1 naming the
// certificate problem); --insecure downloads with a warning.
func TestFaultTLS(t *testing.T) {
	t.Parallel()
	o := origin.New(origin.Content{Size: 1 << 20, Seed: 3})
	base := tlsServer(t, o)
	out := filepath.Join(t.TempDir(), "out")
	exit, _, stderr := rget(t, base+"/file", "-o", out, "-q")
	if exit != 1 {
		t.Fatalf("self-signed: exit %d, want 1; stderr:\n%s", exit, stderr)
	}
	errorLine(t, stderr, base, "certificate", "--insecure")
	if n := o.Requests(); n != 0 {
		t.Errorf("%d requests reached the server through an untrusted connection", n)
	}
	exit, _, stderr = rget(t, base+"/file", "-o", out, "-q", "--insecure")
	if exit != 0 {
		t.Fatalf("--insecure: exit %d; stderr:\n%s", exit, stderr)
	}
	if !strings.Contains(stderr, "warning: --insecure: TLS certificates are not verified") {
		t.Errorf("--insecure without a warning:\n%s", stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
}

// TestFaultInsecureRedirect: a redirect from https to http is refused
// unless --allow-insecure-redirect; when allowed, credentials still do not
// travel in clear text.
func TestFaultInsecureRedirect(t *testing.T) {
	t.Parallel()
	var plain headerLog
	o := origin.New(origin.Content{Size: 1 << 20, Seed: 2}, origin.WithOnRequest(func(r *http.Request) { plain.record(r, "Authorization") }))
	httpURL := serveHandler(t, o)
	base := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, httpURL+"/file", http.StatusFound)
	}))
	out := filepath.Join(t.TempDir(), "out")
	args := []string{base + "/file", "-o", out, "-q", "--insecure", "-H", "Authorization: Bearer T0KEN"}
	exit, _, stderr := rget(t, args...)
	if exit != 1 {
		t.Fatalf("https->http: exit %d, want 1; stderr:\n%s", exit, stderr)
	}
	errorLine(t, stderr, "refusing redirect from https to http", "--allow-insecure-redirect")
	if n := o.Requests(); n != 0 {
		t.Fatalf("the http server got %d requests", n)
	}
	exit, _, stderr = rget(t, append(args, "--allow-insecure-redirect")...)
	if exit != 0 {
		t.Fatalf("--allow-insecure-redirect: exit %d; stderr:\n%s", exit, stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
	for _, v := range plain.values() {
		if v != "" {
			t.Errorf("Authorization %q sent over plain http", v)
		}
	}
}

// TestFaultDispositionNoOverwrite: a Content-Disposition name, even one
// that tries to climb out of the directory, never replaces an existing file.
func TestFaultDispositionNoOverwrite(t *testing.T) {
	t.Parallel()
	_, base := startOrigin(t, 4096)
	parent := t.TempDir()
	dir := filepath.Join(parent, "dl")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "report.pdf"), filepath.Join(parent, "report.pdf")} {
		if err := os.WriteFile(p, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"report.pdf", "..%2Freport.pdf", "..%2F..%2F.report.pdf"} {
		exit, _, stderr := rget(t, base+"/cd/"+name, "-d", dir, "-q")
		if exit != 1 {
			t.Fatalf("%s: exit %d, want 1; stderr:\n%s", name, exit, stderr)
		}
		errorLine(t, stderr, filepath.Join(dir, "report.pdf"), "already exists", "--force")
	}
	for _, p := range []string{filepath.Join(dir, "report.pdf"), filepath.Join(parent, "report.pdf")} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "keep me" {
			t.Errorf("%s: %q, %v; want it untouched", p, b, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %v, want only report.pdf", entries)
	}
}

// debugLine is one --debug line: method, URL, Range, status, bytes,
// duration.
var debugLine = regexp.MustCompile(`^rget: debug \+[0-9.]+s GET (\S+) Range:"([^"]*)" -> (\d+), (\d+) bytes in (\S+?)( \(its body is read on by the download\))?(?: \[#\d+(?:, new connection|(, the probe's answer))?(?:, sent ahead)?\])?$`)

// TestFaultDebug: --debug prints one line per request, the probe included,
// with its method, Range, status, bytes and duration.
func TestFaultDebug(t *testing.T) {
	t.Parallel()
	type req struct {
		rng          string
		status       int
		bytes        int64
		withDuration bool
		kept         bool // the probe's answer, read on by the download
	}
	for _, tc := range []struct {
		name string
		opts []origin.Option
		want []req
	}{
		{"ranges", nil, []req{
			{"bytes=0-1048575", 206, 0, true, true},
			{"bytes=0-1048575", 206, 1 << 20, true, true},
			{"bytes=1048576-2097151", 206, 1 << 20, true, false},
			{"bytes=2097152-2097159", 206, 8, true, false},
		}},
		{"no ranges", []origin.Option{origin.WithNoRange()}, []req{
			{"bytes=0-1048575", 200, 0, true, true},
			{"", 200, 2<<20 + 8, true, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := startOrigin(t, 2<<20+8, tc.opts...)
			out := filepath.Join(t.TempDir(), "out")
			exit, _, stderr := rget(t, base+"/file", "-o", out, "-q", "-c", "1", "--segment-size", "1MiB", "--debug")
			if exit != 0 {
				t.Fatalf("exit %d; stderr:\n%s", exit, stderr)
			}
			var got []req
			for _, line := range strings.Split(stderr, "\n") {
				if !strings.HasPrefix(line, "rget: debug") {
					continue
				}
				m := debugLine.FindStringSubmatch(line)
				if m == nil || m[1] != base+"/file" {
					t.Fatalf("debug line %q does not match %v", line, debugLine)
				}
				status, _ := strconv.Atoi(m[3])
				n, _ := strconv.ParseInt(m[4], 10, 64)
				d, err := time.ParseDuration(m[5])
				got = append(got, req{m[2], status, n, err == nil && d > 0, m[6] != "" || m[7] != ""})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("debug lines %v, want %v; stderr:\n%s", got, tc.want, stderr)
			}
		})
	}
}

// TestFaultOverlongBody runs the binary against a server that sends junk
// after some bodies: the download succeeds, and nothing but rget's own
// lines reach stderr (net/http logs the junk it finds on an idle
// connection through the log package, and so does a pipe that reads it
// where an answer was due); --debug shows it.
func TestFaultOverlongBody(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	c := origin.Content{Size: 3 << 20, Seed: 45}
	srv, err := origin.StartOverlong(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, debug := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"get", srv.URL, "-o", out, "-c", "4", "--segment-size", "256KiB", "-q"}
		if debug {
			args = append(args, "--debug")
		}
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("rget %v: %v; stderr:\n%s", args, err, stderr.String())
		}
		if got := sha256File(t, out); got != hexSum(c) {
			t.Fatalf("sha256 %s, want %s", got, hexSum(c))
		}
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if line != "" && !strings.HasPrefix(line, "rget: debug") && !strings.HasPrefix(line, hexSum(c)+"  ") {
				t.Errorf("--debug=%v: stderr line %q is not rget's", debug, line)
			}
		}
		// (net/http's report of junk on an idle connection, or rget's
		// own where it pipelines requests and reads the junk as an
		// answer.)
		reported := strings.Contains(stderr.String(), "Unsolicited response") ||
			strings.Contains(stderr.String(), "no response where one was due")
		if debug != reported {
			t.Errorf("--debug=%v: the transport's report is shown: %v, want %v; stderr:\n%s",
				debug, !debug, debug, stderr.String())
		}
	}
}
