package cli

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"rget/origin"
)

// streamGet runs `rget get URL -o - ARGS` and returns the digest of what it
// wrote on stdout, its stderr and its error.
func streamGet(t *testing.T, bin, url string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"get", url, "-o", "-"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	h := sha256.New()
	cmd.Stdout = h
	err := cmd.Run()
	return hex.EncodeToString(h.Sum(nil)), stderr.String(), err
}

// TestStreamToStdout: `rget URL -o - -c 8 | sha256sum` is the file's digest
// for sizes 0, 1, odd and 64 MiB, with a connection that stalls and with
// responses that drop every MiB.
func TestStreamToStdout(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	for _, tc := range []struct {
		name string
		size int64
		opts []origin.Option
		args []string
	}{
		{name: "empty", size: 0},
		{name: "one byte", size: 1},
		{name: "odd", size: 3<<20 + 17},
		{name: "64 MiB", size: 64 << 20, opts: []origin.Option{origin.WithRatePerConn(32 << 20)}},
		{name: "a stalled connection", size: 16<<20 + 5, opts: []origin.Option{origin.WithSlowConnAt(2, 1)}},
		{name: "responses dropped every MiB", size: 16<<20 + 9, opts: []origin.Option{origin.WithCutAfter(1 << 20)},
			args: []string{"--retries", "100"}},
		{name: "a window of 256 KiB", size: 8<<20 + 1, args: []string{"--buffer", "256KiB"}},
		{name: "a server without ranges", size: 5<<20 + 3, opts: []origin.Option{origin.WithNoRange()}, args: []string{"--buffer", "1MiB"}},
		{name: "-c auto", size: 24<<20 + 1, opts: []origin.Option{origin.WithRatePerConn(16 << 20)}, args: []string{"-c", "auto"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := origin.Content{Size: tc.size, Seed: uint64(tc.size)}
			srv, err := origin.Start(origin.New(c, tc.opts...), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			sum, stderr, err := streamGet(t, bin, srv.URL+"/f.bin", append([]string{"-c", "8"}, tc.args...)...)
			if err != nil {
				t.Fatalf("rget -o -: %v\n%s", err, stderr)
			}
			if sum != hexSum(c) {
				t.Fatalf("stdout's sha256 %s, want %s\n%s", sum, hexSum(c), stderr)
			}
			if !strings.Contains(stderr, "sha256 "+sum) {
				t.Errorf("stderr does not give the digest:\n%s", stderr)
			}
		})
	}
}

// TestStreamSlowReader: a reader that pauses 5 s holds the download back
// without a timeout firing; rget's peak RSS stays within the window plus
// 32 MiB, and the download then finishes right.
func TestStreamSlowReader(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses 5 s")
	}
	t.Parallel()
	bin := buildRget(t)
	c := origin.Content{Size: 256 << 20, Seed: 3}
	srv, err := origin.Start(origin.New(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	const window = 32 << 20
	cmd := exec.Command(bin, "get", srv.URL+"/f.bin", "-o", "-", "-c", "8", "--buffer", "32MiB", "--stall-timeout", "2s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, out, 1<<20); err != nil {
		t.Fatal(err)
	}
	// The pause under test: nothing read for 5 s, while the peak RSS is
	// sampled.
	var peak int64
	pause := time.NewTimer(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-pause.C:
			break wait
		case <-tick.C:
			peak = max(peak, vmHWM(cmd.Process.Pid))
		}
	}
	served := srv.Conns()
	if _, err := io.Copy(h, out); err != nil {
		t.Fatal(err)
	}
	peak = max(peak, vmHWM(cmd.Process.Pid))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rget: %v\n%s", err, stderr.String())
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hexSum(c) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(c))
	}
	t.Logf("peak RSS %d MiB with a %d MiB window; %d connections accepted by the pause", peak>>20, window>>20, served)
	if peak > window+32<<20 {
		t.Errorf("peak RSS %d MiB, want at most the window (%d MiB) + 32 MiB", peak>>20, window>>20)
	}
	if strings.Contains(stderr.String(), "retrying") {
		t.Errorf("the pause made requests fail:\n%s", stderr.String())
	}
}

// vmHWM is a process's peak resident set in bytes, 0 when unknown.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
