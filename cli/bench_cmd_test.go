package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"rget/download"
	"rget/origin"
	"slices"
	"strings"
	"testing"

	"rget/bench"
)

// TestBenchJSON is the issue's CI check: `rget bench --size 32MiB -c 1,4
// --runs 1 --json` end to end, its JSON checked.
func TestBenchJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := rget(t, "bench", "--inline-origin", "--size", "32MiB", "-c", "1,4", "--runs", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range []string{"date", "host", "command", "target", "conns", "runs", "tools", "results", "summary"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	want := hexSum(origin.Content{Size: 32 << 20, Seed: syntheticSeed})
	if rep.Target.Size != 32<<20 || rep.Target.SHA256 != want || !slices.Equal(rep.Conns, []int{1, 4}) || rep.Runs != 1 ||
		len(rep.Tools) != 1 || rep.Tools[0].Name != "rget" {
		t.Errorf("report header = %+v", rep)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d runs, want 2: %+v", len(rep.Results), rep.Results)
	}
	for i, r := range rep.Results {
		if r.Tool != "rget" || r.Conns != []int{1, 4}[i] || !r.OK || r.Check != "sha256" || r.SHA256 != want ||
			r.Bytes != 32<<20 || r.MBps <= 0 || r.Seconds <= 0 || r.PeakRSS <= 0 || r.RSSScope == "" || r.TailSeconds <= 0 {
			t.Errorf("run %d = %+v", i, r)
		}
	}
	for _, s := range rep.Summary {
		if s.OK != 1 || s.MBps <= 0 || s.CPUPerGiB < 0 {
			t.Errorf("summary = %+v", s)
		}
	}
	// The table goes to stderr with --json, after a line per run.
	for _, w := range []string{"rget: bench: rget -c 4 run 1:", "sha256 ok", "conns  tool", "MB/s by connection count"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

// TestBenchCappedDiscardPlot: a capped sweep measures the uncapped rate
// first and reports the ideal; --discard checks sizes; --plot writes SVG.
func TestBenchCappedDiscardPlot(t *testing.T) {
	t.Parallel()
	plot := filepath.Join(t.TempDir(), "chart.svg")
	code, stdout, stderr := rget(t, "bench", "--inline-origin", "--size", "2MiB", "-c", "2", "--runs", "1",
		"--rate-per-conn", "50MB", "--discard", "--plot", plot, "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, w := range []string{"cap: 50.0 MB/s per connection; uncapped:", "ideal", "share", "rget discarded the bytes",
		"command: rget bench --size 2MiB --rate-per-conn 50MB -c 2 --runs 1 --discard"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	if !strings.Contains(stderr, "rget -c 2 uncapped:") || !strings.Contains(stderr, "size ok") {
		t.Errorf("progress lines:\n%s", stderr)
	}
	b, err := os.ReadFile(plot)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("--plot wrote malformed SVG: %v", err)
		}
	}
}

// TestBenchURL: `rget bench URL` sweeps a real server, discarding.
func TestBenchURL(t *testing.T) {
	t.Parallel()
	o, base := startOrigin(t, 3<<20+1)
	code, stdout, stderr := rget(t, "bench", base+"/file", "-c", "1,3", "--runs", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Target.Size != o.Content().Size || rep.Target.SHA256 != "" || len(rep.Results) != 4 {
		t.Fatalf("report = %+v", rep)
	}
	for _, r := range rep.Results {
		if !r.OK || r.Check != "size" || r.Bytes != o.Content().Size {
			t.Errorf("run = %+v", r)
		}
	}
	if !strings.Contains(stderr, "rget discarded the bytes") {
		t.Errorf("no note on discarding:\n%s", stderr)
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-c", "0"}, "connection count"},
		{[]string{"-c", "1,x"}, "connection count"},
		{[]string{"-c", "4,4"}, "twice"},
		{[]string{"--runs", "0"}, "--runs"},
		{[]string{"--size", "lots"}, "--size"},
		{[]string{"--size", "0"}, "--size"},
		{[]string{"--rate-per-conn", "fast"}, "--rate-per-conn"},
		{[]string{"--latency", "-1s"}, "negative"},
		{[]string{"--compare", "--peers", "netscape"}, "unknown downloader"},
		{[]string{"http://127.0.0.1:1/f", "--rate-per-conn", "1MB"}, "embedded origin"},
		{[]string{"http://127.0.0.1:1/f", "--size", "1MiB"}, "embedded origin"},
		{[]string{"ftp://x/f"}, "only http and https"},
		{[]string{"http://a/1", "http://a/2"}, "at most one URL"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	} {
		code, _, stderr := rget(t, append([]string{"bench"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.msg) {
			t.Errorf("rget bench %q: exit %d, stderr %q; want %d mentioning %q", tc.args, code, stderr, exitUsage, tc.msg)
		}
	}
}

// TestBenchFailureExits1: a URL that fails makes the sweep exit 1 (here
// already at the probe).
func TestBenchFailureExits(t *testing.T) {
	t.Parallel()
	_, base := startOrigin(t, 1000)
	if code, _, stderr := rget(t, "bench", base+"/status/404", "-c", "1", "--runs", "1"); code != exitHTTPStatus {
		t.Errorf("bench of a 404: exit %d, stderr %q", code, stderr)
	}
}

// TestBenchView drives the terminal display into a buffer: it draws the
// bar and the finished runs' lines, and ends.
func TestBenchView(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	v := &benchView{w: &buf, term: true}
	v.start(bench.Step{Index: 1, Total: 2, Tool: "rget", Conns: 4, Round: 1})
	v.done(bench.Run{Tool: "rget", Conns: 4, Round: 1, OK: true, Check: "sha256", Bytes: 1 << 20, Seconds: 0.5, MBps: 2.1})
	v.start(bench.Step{Index: 2, Total: 2, Tool: "curl", Conns: 4, Round: 1})
	v.done(bench.Run{Tool: "curl", Conns: 4, Round: 1, Error: "exit status 7"})
	v.finish()
	out := buf.String()
	for _, w := range []string{"rget -c 4 run 1: 1.0 MiB in 0.50 s, 2.1 MB/s", "sha256 ok", "curl -c 4 run 1: FAILED: exit status 7", "curl -c 4 run 1  "} {
		if !strings.Contains(out, w) {
			t.Errorf("display lacks %q:\n%s", w, out)
		}
	}
}

func TestParseConns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []int
	}{{"1,4,16,64", []int{1, 4, 16, 64}}, {" 8 ", []int{8}}, {"2, 1", []int{2, 1}}, {"", nil}, {"1,,2", nil}, {"-1", nil}, {"3,3", nil}} {
		got, err := parseConns(tc.in)
		if !slices.Equal(got, tc.want) || (err == nil) != (tc.want != nil) {
			t.Errorf("parseConns(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCompactSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   int64
		want string
	}{{1 << 30, "1GiB"}, {32 << 20, "32MiB"}, {3 << 40, "3TiB"}, {1536 << 20, "1536MiB"}, {1000, "1000"}, {4096, "4KiB"}, {25e6, "25MB"}, {3e9, "3GB"}, {1e6 + 1, "1000001"}} {
		if got := compactSize(tc.in); got != tc.want {
			t.Errorf("compactSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
		if n, err := parseSize(compactSize(tc.in)); err != nil || n != tc.in {
			t.Errorf("parseSize(compactSize(%d)) = %d, %v", tc.in, n, err)
		}
	}
}

// BenchmarkGet measures the download path of `rget get` (probe, plan,
// fetch, journal, hash, publish) against the embedded origin on loopback.
func BenchmarkGet(b *testing.B) {
	const size = 64 << 20
	c := origin.Content{Size: size, Seed: 7}
	srv, err := origin.Start(origin.New(c))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	want := hexSum(c)
	for _, conns := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(size)
			for b.Loop() {
				res, err := download.Run(context.Background(), srv.URL+"/file", download.Options{
					// No SHA256: with one, a complete output would be
					// recognized and not downloaded again.
					Dir: dir, Output: "out.bin", Connections: conns, Force: true,
				})
				if err != nil {
					b.Fatal(err)
				}
				if res.Size != size || res.SHA256 != want {
					b.Fatalf("downloaded %d bytes, sha256 %s; want %d, %s", res.Size, res.SHA256, size, want)
				}
			}
		})
	}
}

// TestBenchChildOrigin runs the built binary's `rget bench`, whose origin is
// a child `rget serve` process (in-process tests use --inline-origin: a
// test binary cannot serve as `rget serve`).
func TestBenchChildOrigin(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "bench", "--size", "2MiB", "-c", "2", "--runs", "1", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rget bench: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "child `rget serve` process") {
		t.Errorf("the report does not say the origin ran in a child process:\n%s", stdout.String())
	}
}
