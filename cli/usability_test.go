package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rget/origin"
	"rget/segment"
)

// TestCommandLineUsability runs the built binary the way curl, wget and
// aria2c users write their first commands (issue 13), one row a defect.
func TestCommandLineUsability(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	c := origin.Content{Size: 3<<20 + 1, Seed: 13}
	srv, err := origin.Start(origin.New(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url := srv.URL + "/file"
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	sum := hexSum(c)
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.bin")
	if err := os.WriteFile(existing, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		exit       int
		stdout     []string // substrings
		stderr     []string
		notStderr  []string
		file       string // must exist afterwards with the content
		jsonStdout bool   // stdout is one JSON object
	}{
		{name: "flags before the URL (-c, -o, -q)", args: []string{"-c", "4", "-q", "-o", filepath.Join(dir, "a.bin"), url},
			stdout: []string{sum}, file: filepath.Join(dir, "a.bin")},
		{name: "-k before the URL", args: []string{"-k", "-q", "-o", filepath.Join(dir, "k.bin"), url}, file: filepath.Join(dir, "k.bin")},
		{name: "-q prints SHA256  FILE on stdout", args: []string{url, "-q", "-o", filepath.Join(dir, "q.bin")},
			stdout: []string{sum + "  " + filepath.Join(dir, "q.bin")}, notStderr: []string{sum}},
		{name: "no scheme means http", args: []string{"get", hostPort + "/file", "-q", "-o", filepath.Join(dir, "s.bin")},
			file: filepath.Join(dir, "s.bin")},
		{name: "--debug says the scheme was added", args: []string{hostPort + "/file", "-q", "--debug", "-o", filepath.Join(dir, "s2.bin")},
			stderr: []string{"the URL has no scheme: fetching http://" + hostPort + "/file"}},
		{name: "-d DIR is created", args: []string{url, "-q", "-d", filepath.Join(dir, "new", "sub")},
			file: filepath.Join(dir, "new", "sub", "file")},
		{name: "-o a directory suggests -d", args: []string{url, "-q", "-o", dir}, exit: exitFailure,
			stderr: []string{"is a directory", "-d DIR"}},
		{name: "huge -c is warned about and capped", args: []string{url, "-c", "100000", "-o", filepath.Join(dir, "c.bin"), "--json"},
			stderr: []string{"warning: 100000 connections"}, jsonStdout: true, file: filepath.Join(dir, "c.bin")},
		{name: "rget help", args: []string{"help"}, stdout: []string{"rget get URL"}},
		{name: "rget help get", args: []string{"help", "get"}, stdout: []string{"--connections"}},
		{name: "an unknown long flag keeps its dashes", args: []string{url, "--limit-rat", "1M"}, exit: exitUsage,
			stderr: []string{"unknown flag --limit-rat", "--help"}},
		{name: "verify without --sha256 prints the digest", args: []string{"verify", existing},
			stdout: []string{"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  " + existing}},
		{name: "status of a file with no journal is not called complete", args: []string{"status", existing},
			stdout: []string{"no download in progress", "the file exists"}},
		{name: "--json prints an object when the download fails", args: []string{srv.URL + "/status/404", "--json", "-o", filepath.Join(dir, "x")},
			exit: exitHTTPStatus, stdout: []string{`"exit_code": 4`, `"error"`}, jsonStdout: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdoutS, stderrS := runBin(t, bin, nil, tc.args...)
			stdout, stderr := bytes.NewBufferString(stdoutS), bytes.NewBufferString(stderrS)
			if code != tc.exit {
				t.Fatalf("rget %q: exit %d, want %d; stderr:\n%s", tc.args, code, tc.exit, stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("rget %q: stdout lacks %q:\n%s", tc.args, s, stdout.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("rget %q: stderr lacks %q:\n%s", tc.args, s, stderr.String())
				}
			}
			for _, s := range tc.notStderr {
				if strings.Contains(stderr.String(), s) {
					t.Errorf("rget %q: stderr has %q:\n%s", tc.args, s, stderr.String())
				}
			}
			if tc.jsonStdout {
				var v map[string]any
				if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
					t.Errorf("rget %q: stdout is not one JSON object: %v\n%s", tc.args, err, stdout.String())
				}
				if n, ok := v["connections"].(float64); ok && n > 200 {
					t.Errorf("rget %q: %v connections used for a 3 MiB file", tc.args, n)
				}
			}
			if tc.file != "" {
				if got := sha256File(t, tc.file); got != sum {
					t.Errorf("rget %q: %s has sha256 %s, want %s", tc.args, tc.file, got, sum)
				}
			}
		})
	}
}

// TestConnBarsLeaveRoomForTheTotal: in a short terminal the connection bars
// give way (a summary line replaces them), so the total never scrolls away.
func TestConnBarsLeaveRoomForTheTotal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ height, want int }{{0, maxConnBars}, {12, 9}, {3, 0}, {1, 0}, {100, maxConnBars}} {
		if got := connBars(tc.height); got != tc.want {
			t.Errorf("connBars(%d) = %d, want %d", tc.height, got, tc.want)
		}
	}
}

// TestPlural: "1 connection", "2 connections", "0 retries".
func TestPlural(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		word string
		want string
	}{{1, "connection", "1 connection"}, {2, "connection", "2 connections"}, {0, "retry", "0 retries"}, {1, "retry", "1 retry"}} {
		if got := plural(tc.n, tc.word); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.word, got, tc.want)
		}
	}
}

// TestRetriesAreShown: a server that answers 503 at first: each retry is a
// line on stderr (what, when, which attempt, why), not minutes of silence.
func TestRetriesAreShown(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	c := origin.Content{Size: 1 << 20, Seed: 14}
	srv, err := origin.Start(origin.New(c, origin.WithFailFirst(2, http.StatusServiceUnavailable)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "get", srv.URL+"/file", "-o", filepath.Join(t.TempDir(), "out"))
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rget: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"rget: retrying probe in ", "(1/8): 503 Service Unavailable", "(2/8): 503"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestInterruptSaysWhatWasSaved: stopped by SIGINT, a download from a
// server without ranges says that nothing was saved (it cannot resume),
// not "progress saved".
func TestInterruptSaysWhatWasSaved(t *testing.T) {
	if testing.Short() {
		t.Skip("interrupt test")
	}
	t.Parallel()
	bin := buildRget(t)
	o := origin.New(origin.Content{Size: 64 << 20, Seed: 15}, origin.WithNoRange(), origin.WithRatePerConn(4<<20))
	srv, err := origin.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cmd, stderr := startRget(t, bin, "get", srv.URL+"/file", "-o", filepath.Join(t.TempDir(), "out"))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, "the stream to start", 30*time.Second, func() bool { return o.BytesServed() > 1<<20 })
	cmd.Process.Signal(os.Interrupt)
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v, want exit 130; stderr:\n%s", werr, stderr)
	}
	if s := stderr.String(); !strings.Contains(s, "nothing saved") || strings.Contains(s, "progress saved") {
		t.Errorf("stderr after SIGINT does not say that nothing was saved:\n%s", s)
	}
}

// TestConventions: what curl, wget and aria2c users reach for: a User-Agent,
// a proxy (and hosts past it), a CA file, a time limit, the manual and
// completion, status of OUT.part.
func TestConventions(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	c := origin.Content{Size: 1<<20 + 3, Seed: 16}
	var ua atomic.Value
	o := origin.New(c, origin.WithOnRequest(func(r *http.Request) { ua.Store(r.Header.Get("User-Agent")) }))
	srv, err := origin.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	slow, err := origin.Start(origin.New(origin.Content{Size: 64 << 20, Seed: 17}, origin.WithRatePerConn(1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })
	tlsSrv := httptest.NewUnstartedServer(origin.New(c))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := hexSum(c)
	run := func(args ...string) (int, string, string) { return runBin(t, bin, nil, args...) }
	out := func(name string) string { return filepath.Join(dir, name) }

	if code, _, stderr := run(srv.URL+"/file", "-q", "-o", out("ua1")); code != 0 || ua.Load() != "rget/0.1.0-dev" {
		t.Errorf("default User-Agent %q (exit %d, %s), want rget/0.1.0-dev", ua.Load(), code, stderr)
	}
	if code, _, _ := run(srv.URL+"/file", "-q", "-A", "fetcher/2", "-o", out("ua2")); code != 0 || ua.Load() != "fetcher/2" {
		t.Errorf("-A fetcher/2 sent %q", ua.Load())
	}
	// The origin serves as a forward proxy too: a request for a host that
	// does not exist reaches it through --proxy.
	if code, _, stderr := run("http://no-such-host.invalid/file", "-q", "-x", srv.URL, "-o", out("px")); code != 0 || sha256File(t, out("px")) != sum {
		t.Errorf("--proxy: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run(srv.URL+"/file", "-q", "-x", "http://127.0.0.1:1", "--noproxy", "127.0.0.1", "-o", out("np")); code != 0 {
		t.Errorf("--noproxy 127.0.0.1 with a dead proxy: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run(tlsSrv.URL+"/file", "-q", "-o", out("tls0")); code != exitFailure || !strings.Contains(stderr, "certificate") {
		t.Errorf("https without --cacert: exit %d, want %d and a certificate error\n%s", code, exitFailure, stderr)
	}
	if code, _, stderr := run(tlsSrv.URL+"/file", "-q", "--cacert", caFile, "-o", out("tls1")); code != 0 || sha256File(t, out("tls1")) != sum {
		t.Errorf("--cacert: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run(slow.URL+"/file", "-q", "--max-time", "300ms", "-o", out("mt")); code != exitFailure || !strings.Contains(stderr, "--max-time 300ms reached") {
		t.Errorf("--max-time: exit %d, want %d\n%s", code, exitFailure, stderr)
	} else if code, stdout, _ := run("status", out("mt")+".part"); code != 0 || !strings.Contains(stdout, "download in progress") {
		t.Errorf("status of OUT.part after --max-time: exit %d\n%s", code, stdout)
	}
	// A rate limit can only slow a download: 1 MiB at 2 MiB/s over 4
	// connections takes at least the budget's time, less one burst.
	start := time.Now()
	if code, _, stderr := run(srv.URL+"/file", "-q", "-c", "4", "--limit-rate", "2M", "-o", out("lr")); code != 0 || sha256File(t, out("lr")) != sum {
		t.Errorf("--limit-rate: exit %d\n%s", code, stderr)
	} else if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("--limit-rate 2M fetched 1 MiB in %v, faster than the limit", el)
	}
	if code, stdout, _ := run("man"); code != 0 || !strings.Contains(stdout, ".SH") {
		t.Errorf("rget man: exit %d, no roff sections", code)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if code, stdout, _ := run("completion", sh); code != 0 || !strings.Contains(stdout, "rget") {
			t.Errorf("rget completion %s: exit %d", sh, code)
		}
	}
}

// TestHelpFits100Columns: the help of rget and of every command fits 100
// columns.
func TestHelpFits100Columns(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"get", "--help"}, {"status", "--help"}, {"verify", "--help"},
		{"bench", "--help"}, {"serve", "--help"}, {"man", "--help"}, {"completion", "--help"}, {"help", "get"},
		{"get", "-h"}, {"get", "-help"}, {"get", "--help=true"}} {
		code, stdout, stderr := rget(t, args...)
		if code != 0 || stdout == "" {
			t.Errorf("rget %v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		for _, line := range strings.Split(stdout, "\n") {
			if len(line) > helpWidth {
				t.Errorf("rget %v: a line of %d columns: %q", args, len(line), line)
			}
		}
	}
}

// TestManPageIsCurrent: docs/rget.1 is what `rget man` prints (regenerate
// with `go run . man > docs/rget.1`).
func TestManPageIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(filepath.Join("..", "docs", "rget.1"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := rget(t, "man")
	if code != 0 || stdout != string(want) {
		t.Errorf("docs/rget.1 is not what rget man prints: regenerate it with go run . man > docs/rget.1")
	}
}

// TestREADMEListsEveryFlag: README's flags table names every visible flag
// of rget get.
func TestREADMEListsEveryFlag(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range getCommand(nil, nil).Flags {
		if vf, ok := f.(interface{ IsVisible() bool }); ok && !vf.IsVisible() {
			continue
		}
		if name := "--" + f.Names()[0]; !strings.Contains(string(readme), "`"+name) && !strings.Contains(string(readme), ", "+name) {
			t.Errorf("README's flags table lacks %s", name)
		}
	}
}

// TestProgressNamesTheLimit: with --limit-rate the progress says so.
func TestProgressNamesTheLimit(t *testing.T) {
	t.Parallel()
	if got := viewName(getConfig{LimitRate: 2 << 20}, "/data/big.iso"); !strings.Contains(got, "big.iso (limit 2.1 MB/s)") {
		t.Errorf("viewName = %q, want the file and its limit", got)
	}
	if got := viewName(getConfig{}, "/data/big.iso"); got != "big.iso" {
		t.Errorf("viewName without a limit = %q", got)
	}
}

// TestSmallFileOneConnection: an 11-byte file is fetched, and reported,
// with one connection whatever -c says.
func TestSmallFileOneConnection(t *testing.T) {
	t.Parallel()
	_, base := startOrigin(t, 11)
	code, stdout, stderr := rget(t, base+"/file", "-c", "8", "--json", "-o", filepath.Join(t.TempDir(), "x"))
	if code != 0 || !strings.Contains(stdout, `"connections": 1,`) {
		t.Errorf("exit %d, stdout %s, stderr %s; want 1 connection", code, stdout, stderr)
	}
}

// TestResumedBytesAreNotSpeed: after a resume, the bytes already on disk
// count in the total but not in the speed (9.6 MB/s was shown for 5.3).
func TestResumedBytesAreNotSpeed(t *testing.T) {
	t.Parallel()
	const resumed = 50 << 20
	plan := segment.NewLedger(100<<20, []segment.Range{{Start: 0, End: 100 << 20, Done: resumed}}, segment.Policy{})
	var mu sync.Mutex
	var buf bytes.Buffer
	v := &lineView{w: lockedWriter{&mu, &buf}, name: "f", plan: plan, prog: segment.NewProgress(1), base: resumed, every: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if strings.Count(out, "\n") >= 2 || time.Now().After(deadline) {
			cancel()
			<-done
			if !strings.Contains(out, "50.0 MiB of 100.0 MiB (50%), 0.0 MB/s") {
				t.Errorf("progress after a resume with nothing new: %q, want 50%% and 0.0 MB/s", out)
			}
			return
		}
		runtime.Gosched()
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runBin runs the built binary with args (and env added to this process's)
// and returns its exit code, stdout and stderr.
func runBin(t *testing.T, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return code, out.String(), errw.String()
}

// TestBarViewInterruptedStartsAtLineStart: a view ended by an interrupt
// first returns to the line's start, so that the terminal's "^C" echo does
// not shift the last frame ("tmtm.bin ..." was seen in tmux).
func TestBarViewInterruptedStartsAtLineStart(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var buf bytes.Buffer
	w := lockedWriter{&mu, &buf}
	plan := segment.NewLedger(100, segment.Split(100, 10), segment.Policy{})
	v := newBarView(w, "file.bin", plan, segment.NewProgress(2), 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.run(ctx) }()
	v.finish(false)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "\r") {
		t.Errorf("interrupted view output has no carriage return: %q", buf.String())
	}
}
