package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"rget/download"
	"rget/origin"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test at the deadline.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// interrupted runs `rget get` with args until the origin has served at least
// half the file, then cancels it as SIGINT would, and checks exit 130.
func interrupted(t *testing.T, o *origin.Origin, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"rget", "get"}, args...), &stdout, &stderr) }()
	half := o.Content().Size / 2
	waitFor(t, "half the file to be served", 60*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("download ended before it was interrupted: %v", err)
		default:
		}
		return o.BytesServed() >= half
	})
	cancel()
	err := <-done
	if code := exitCode(err); code != 130 || !strings.Contains(err.Error(), "rerun the same command") {
		t.Fatalf("interrupted run: exit %d, error %v; want 130 and advice to rerun", code, err)
	}
}

func getJSON(t *testing.T, args ...string) (download.Result, string) {
	t.Helper()
	code, stdout, stderr := rget(t, append([]string{"get", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var res download.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	return res, stderr
}

// TestResumeAfterInterrupt: an interrupted download leaves a journal that
// `rget status` reads, and the same command then fetches only the rest.
func TestResumeAfterInterrupt(t *testing.T) {
	t.Parallel()
	const size = 24 << 20
	o, base := startOrigin(t, size, origin.WithRatePerConn(8e6))
	out := filepath.Join(t.TempDir(), "out.bin")
	args := []string{base + "/file", "-o", out, "-c", "4", "-q"}
	interrupted(t, o, args...)

	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output exists after an interrupt: %v", err)
	}
	rep, err := status(out, time.Now())
	if err != nil || !rep.InProgress || rep.BytesDone <= 0 || rep.BytesDone >= size || rep.Size != size ||
		rep.SegmentsDone+rep.SegmentsPartial+rep.SegmentsPending == 0 || rep.URL != base+"/file" {
		t.Fatalf("status = %+v, %v", rep, err)
	}
	if code, stdout, _ := rget(t, "status", out); code != 0 || !strings.Contains(stdout, "in progress") {
		t.Fatalf("rget status: exit %d, %q", code, stdout)
	}

	servedBefore := o.BytesServed()
	res, _ := getJSON(t, args...)
	if res.Resumed < rep.BytesDone || res.Resumed+res.Fetched < size {
		t.Errorf("resumed %d + fetched %d, journal said %d done of %d", res.Resumed, res.Fetched, rep.BytesDone, size)
	}
	if again := o.BytesServed() - servedBefore; again > size-rep.BytesDone+4<<20 {
		t.Errorf("the rerun was served %d bytes; %d were missing", again, size-rep.BytesDone)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
	for _, leftover := range []string{out + ".part", out + ".rget"} {
		if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", leftover, err)
		}
	}
}

// TestResumeRemoteChanged: a new version of the remote file (same size, new
// ETag) is never spliced into the old bytes: the rerun starts over.
func TestResumeRemoteChanged(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	old, oldBase := startOrigin(t, size, origin.WithRatePerConn(8e6))
	out := filepath.Join(t.TempDir(), "out.bin")
	interrupted(t, old, oldBase+"/file", "-o", out, "-c", "4", "-q")

	changed := origin.New(origin.Content{Size: size, Seed: 99})
	srv, err := origin.Start(changed)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	code, _, stderr := rget(t, "get", srv.URL+"/file", "-o", out, "-c", "4")
	if code != 0 || !strings.Contains(stderr, "changed") {
		t.Fatalf("exit %d, stderr:\n%s\nwant 0 and a notice that the remote changed", code, stderr)
	}
	if got := sha256File(t, out); got != hexSum(changed.Content()) {
		t.Fatalf("sha256 %s, want the new content's %s", got, hexSum(changed.Content()))
	}
}

func TestRestartIgnoresJournal(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	o, base := startOrigin(t, size, origin.WithRatePerConn(8e6))
	out := filepath.Join(t.TempDir(), "out.bin")
	interrupted(t, o, base+"/file", "-o", out, "-c", "4", "-q")
	res, _ := getJSON(t, base+"/file", "-o", out, "-c", "8", "-q", "--restart")
	if res.Resumed != 0 || res.Fetched < size {
		t.Fatalf("--restart resumed %d and fetched %d bytes, want 0 and %d", res.Resumed, res.Fetched, size)
	}
}

// TestMismatchThenRightDigest: a wrong --sha256 publishes nothing but keeps
// the data; the rerun with the right digest publishes without fetching, and
// a further rerun finds the file complete.
func TestMismatchThenRightDigest(t *testing.T) {
	t.Parallel()
	const size = 3<<20 + 1
	o, base := startOrigin(t, size)
	out := filepath.Join(t.TempDir(), "out.bin")
	code, _, stderr := rget(t, "get", base+"/file", "-o", out, "--sha256", strings.Repeat("ab", 32))
	if code != 3 || !strings.Contains(stderr, hexSum(o.Content())) {
		t.Fatalf("wrong digest: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output exists after a mismatch: %v", err)
	}
	res, _ := getJSON(t, base+"/file", "-o", out, "--sha256", hexSum(o.Content()))
	if res.Fetched != 0 || res.Resumed != size || res.SHA256 != hexSum(o.Content()) {
		t.Fatalf("rerun fetched %d, resumed %d, sha %s", res.Fetched, res.Resumed, res.SHA256)
	}
	requests := o.Requests()
	res, _ = getJSON(t, base+"/file", "-o", out, "--sha256", hexSum(o.Content()))
	if !res.AlreadyComplete || o.Requests() != requests {
		t.Fatalf("third run: already_complete=%v, %d new requests", res.AlreadyComplete, o.Requests()-requests)
	}
}

// TestSecondProcessRefused: a second download into the same output while
// the first runs is refused and leaves the first's files alone.
func TestSecondProcessRefused(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	o, base := startOrigin(t, size, origin.WithRatePerConn(4e6))
	out := filepath.Join(t.TempDir(), "out.bin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"rget", "get", base + "/file", "-o", out, "-c", "2", "-q"}, &stdout, &stderr)
	}()
	waitFor(t, "the first download to start", 30*time.Second, func() bool { return o.BytesServed() > 1<<20 })
	code, _, errOut := rget(t, "get", base+"/file", "-o", out, "-c", "2", "-q")
	if code != 1 || !strings.Contains(errOut, "another rget process") {
		t.Fatalf("second download: exit %d, stderr %q; want 1, in use", code, errOut)
	}
	cancel()
	if err := <-done; exitCode(err) != 130 {
		t.Fatalf("first download: %v", err)
	}
	if rep, err := status(out, time.Now()); err != nil || rep.BytesDone <= 0 {
		t.Fatalf("the first download's journal: %+v, %v", rep, err)
	}
}

// TestAlreadyCompleteInDir: with -d, the complete file is found in DIR, by
// -o name or by the server's name, without fetching it again.
func TestAlreadyCompleteInDir(t *testing.T) {
	t.Parallel()
	o, base := startOrigin(t, 100_000)
	dir := t.TempDir()
	sum := hexSum(o.Content())
	if code, _, stderr := rget(t, "get", base+"/name.bin", "-d", dir, "-q"); code != 0 {
		t.Fatalf("first download: exit %d, %s", code, stderr)
	}
	served := o.BytesServed()
	for _, args := range [][]string{
		{base + "/name.bin", "-d", dir, "--sha256", sum},
		{base + "/name.bin", "-d", dir, "-o", "name.bin", "--sha256", sum},
	} {
		res, _ := getJSON(t, args...)
		if !res.AlreadyComplete || res.Output != filepath.Join(dir, "name.bin") {
			t.Errorf("%q: already_complete=%v output=%q", args, res.AlreadyComplete, res.Output)
		}
	}
	// Without -o the name comes from the server: one probe, one byte.
	if more := o.BytesServed() - served; more > 1 {
		t.Errorf("%d more bytes served for a complete file", more)
	}
}
