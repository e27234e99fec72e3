package cli

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"rget/origin"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildRget builds the rget binary for subprocess tests.
func buildRget(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rget")
	cmd := exec.Command("go", "build", "-o", bin, "rget") // the command, from the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashOrigin is the origin of the crash tests: 256 MiB over 8 connections
// at 8 MB/s each, so one download takes about 4 s.
func crashOrigin(t *testing.T) (*origin.Origin, string) {
	t.Helper()
	return startOrigin(t, 256<<20, origin.WithRatePerConn(8e6))
}

// startRget starts the binary on args; the test owns the process.
func startRget(t *testing.T, bin string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &stderr
}

// TestCrashResume kills the binary with SIGKILL at 10 seeded random points
// of the download, reruns the same command each time, and checks the final
// SHA-256 and how much the crashes cost in bytes fetched again.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes several seconds")
	}
	t.Parallel()
	bin := buildRget(t)
	o, base := crashOrigin(t)
	size := o.Content().Size
	out := filepath.Join(t.TempDir(), "big.bin")
	args := []string{"get", base + "/file", "-o", out, "-c", "8", "-q"}

	const kills = 10
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RGET_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RGET_CRASH_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("kill points seeded with %d (replay: RGET_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	// Kill points in bytes served, spread over the file: the i-th falls in
	// the i-th of kills+1 slices of it, at a random place.
	points := make([]int64, kills)
	for i := range points {
		slice := size / (kills + 1)
		points[i] = int64(i)*slice + rng.Int64N(slice) + 1
	}
	slices.Sort(points)
	for i, p := range points {
		cmd, stderr := startRget(t, bin, args...)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		waitFor(t, "the kill point", 60*time.Second, func() bool {
			select {
			case err := <-exited:
				t.Fatalf("run %d ended before its kill point %d: %v\n%s", i, p, err, stderr)
			default:
			}
			return o.BytesServed() >= p
		})
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
	servedBeforeLast := o.BytesServed()
	cmd, stderr := startRget(t, bin, append(args, "--json")...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s", err, stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 after %d crashes %s, want %s", kills, got, hexSum(o.Content()))
	}
	served := o.BytesServed()
	extra := float64(served-size) / float64(size) / kills
	t.Logf("%d crashes: served %d bytes for %d (last run %d): %.2f%% of the file re-fetched per crash",
		kills, served, size, served-servedBeforeLast, 100*extra)
	if extra > 0.03 {
		t.Errorf("each crash cost %.2f%% of the file, want at most 3%%", 100*extra)
	}
}

// TestInterruptResume: SIGINT stops the binary within 2 s with exit 130 and
// advice; the rerun finishes the file.
func TestInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("interrupt test takes several seconds")
	}
	t.Parallel()
	bin := buildRget(t)
	o, base := crashOrigin(t)
	size := o.Content().Size
	out := filepath.Join(t.TempDir(), "big.bin")
	args := []string{"get", base + "/file", "-o", out, "-c", "8"}
	cmd, stderr := startRget(t, bin, args...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, "a third of the file", 60*time.Second, func() bool { return o.BytesServed() >= size/3 })
	cmd.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-exited:
	case <-time.After(2 * time.Second):
		t.Fatalf("still running 2 s after SIGINT\n%s", stderr)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(stderr.String(), "rerun the same command") {
		t.Fatalf("after SIGINT: %v, stderr:\n%s\nwant exit 130 and advice to rerun", err, stderr)
	}
	servedAtStop := o.BytesServed()
	rep, err := status(out, time.Now())
	if err != nil || rep.BytesDone <= 0 {
		t.Fatalf("journal after SIGINT: %+v, %v", rep, err)
	}
	cmd, stderr = startRget(t, bin, args...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "resuming") {
		t.Errorf("rerun did not say it resumed:\n%s", stderr)
	}
	if got := sha256File(t, out); got != hexSum(o.Content()) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(o.Content()))
	}
	// What the journal recorded at the stop is never fetched again. (What
	// was in flight at the stop, in socket buffers, is lost: up to a few MB
	// per connection on a loaded machine.)
	missing := size - rep.BytesDone
	if again := o.BytesServed() - servedAtStop; again > missing+size/100 {
		t.Errorf("the rerun was served %d bytes; %d were missing", again, missing)
	}
	if served := o.BytesServed(); served > size+size/10 {
		t.Errorf("served %d bytes in all for %d", served, size)
	}
}
