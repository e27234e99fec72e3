package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"rget/origin"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTarget is a small content and its digest.
func testTarget(t *testing.T) (origin.Content, Target) {
	t.Helper()
	c := origin.Content{Size: 256<<10 + 5, Seed: 3}
	sum := c.SHA256()
	return c, Target{URL: "http://origin.invalid/file", Size: c.Size, SHA256: hex.EncodeToString(sum[:])}
}

// writeContent writes c into dir/out.bin, as a downloader would.
func writeContent(dir string, c origin.Content) (string, error) {
	b := make([]byte, c.Size)
	c.ReadAt(b, 0) //nolint:errcheck // a full read of the whole content returns io.EOF only past it
	path := filepath.Join(dir, "out.bin")
	return path, os.WriteFile(path, b, 0o644)
}

// recorder is a fake downloader that writes the content and logs its calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (rec *recorder) tool(name string, c origin.Content) Tool {
	return Tool{Name: name, Func: func(ctx context.Context, url, dir string, conns int) (Outcome, error) {
		rec.mu.Lock()
		rec.calls = append(rec.calls, fmt.Sprintf("%s@%d %s", name, conns, url))
		rec.mu.Unlock()
		path, err := writeContent(dir, c)
		return Outcome{Path: path, Bytes: c.Size, Tail: time.Millisecond}, err
	}}
}

func TestSweepInterleavesAndSummarizes(t *testing.T) {
	t.Parallel()
	c, target := testTarget(t)
	var rec recorder
	var steps []Step
	var runs []Run
	dir := t.TempDir()
	rep, err := Sweep(context.Background(), Config{
		Target: target, Conns: []int{1, 2}, Runs: 2, Dir: dir,
		Tools:   []Tool{rec.tool("a", c), rec.tool("b", c)},
		OnStart: func(s Step) { steps = append(steps, s) },
		OnRun:   func(r Run) { runs = append(runs, r) },
	})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	u := target.URL
	want := []string{"a@1 " + u, "b@1 " + u, "a@1 " + u, "b@1 " + u, "a@2 " + u, "b@2 " + u, "a@2 " + u, "b@2 " + u}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("calls = %q, want %q", rec.calls, want)
	}
	if len(steps) != 8 || steps[0].Index != 1 || steps[7].Index != 8 || steps[7].Total != 8 || steps[5].Round != 1 || steps[6].Round != 2 {
		t.Errorf("steps = %+v", steps)
	}
	if len(runs) != 8 || len(rep.Results) != 8 {
		t.Fatalf("%d runs reported, %d in the report; want 8", len(runs), len(rep.Results))
	}
	for _, r := range rep.Results {
		if !r.OK || r.Check != "sha256" || r.SHA256 != target.SHA256 || r.Bytes != c.Size || r.MBps <= 0 ||
			r.RSSScope == "" || r.TailSeconds != 0.001 || r.Error != "" {
			t.Errorf("run = %+v", r)
		}
	}
	if len(rep.Summary) != 4 {
		t.Fatalf("summary = %+v, want 4 entries", rep.Summary)
	}
	for _, s := range rep.Summary {
		if s.Runs != 2 || s.OK != 2 || s.MBps <= 0 || s.MinMBps > s.MBps || s.MaxMBps < s.MBps || s.VsRef <= 0 || s.Ideal != 0 {
			t.Errorf("stat = %+v", s)
		}
		if s.Tool == "a" && s.VsRef != 1 {
			t.Errorf("reference's own ratio = %v, want 1", s.VsRef)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("run directories left behind: %v %v", entries, err)
	}
}

// TestSweepChecks: every way a run can go wrong is recorded as a failed run
// with a reason, and the sweep goes on.
func TestSweepChecks(t *testing.T) {
	t.Parallel()
	c, target := testTarget(t)
	wrong := origin.Content{Size: c.Size, Seed: c.Seed + 1}
	short := origin.Content{Size: c.Size - 1, Seed: c.Seed}
	for _, tc := range []struct {
		name  string
		f     DownloadFunc
		ok    bool
		check string
		msg   string
	}{
		{"good", func(_ context.Context, _, dir string, _ int) (Outcome, error) {
			p, err := writeContent(dir, c)
			return Outcome{Path: p, Bytes: c.Size}, err
		}, true, "sha256", ""},
		{"wrong bytes", func(_ context.Context, _, dir string, _ int) (Outcome, error) {
			p, err := writeContent(dir, wrong)
			return Outcome{Path: p, Bytes: c.Size}, err
		}, false, "", "sha256 of"},
		{"short file", func(_ context.Context, _, dir string, _ int) (Outcome, error) {
			p, err := writeContent(dir, short)
			return Outcome{Path: p, Bytes: c.Size}, err
		}, false, "", "delivered"},
		{"missing file", func(_ context.Context, _, dir string, _ int) (Outcome, error) {
			return Outcome{Path: filepath.Join(dir, "nothing"), Bytes: c.Size}, nil
		}, false, "", "output"},
		{"error", func(context.Context, string, string, int) (Outcome, error) {
			return Outcome{}, errors.New("connection refused")
		}, false, "", "connection refused"},
		{"reported digest differs", func(_ context.Context, _, dir string, _ int) (Outcome, error) {
			p, err := writeContent(dir, c)
			return Outcome{Path: p, Bytes: c.Size, SHA256: strings.Repeat("0", 64)}, err
		}, false, "", "reported sha256"},
		{"discarded", func(context.Context, string, string, int) (Outcome, error) {
			return Outcome{Bytes: c.Size}, nil
		}, true, "size", ""},
		{"discarded short", func(context.Context, string, string, int) (Outcome, error) {
			return Outcome{Bytes: c.Size - 10}, nil
		}, false, "", "delivered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Sweep(context.Background(), Config{
				Target: target, Conns: []int{1, 3}, Runs: 1, Dir: t.TempDir(),
				Tools: []Tool{{Name: "x", Func: tc.f}},
			})
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			if len(rep.Results) != 2 {
				t.Fatalf("%d runs, want 2: the sweep must go on after a failure", len(rep.Results))
			}
			for _, r := range rep.Results {
				if r.OK != tc.ok || r.Check != tc.check && tc.ok || !strings.Contains(r.Error, tc.msg) {
					t.Errorf("run = %+v, want ok=%v check=%q error containing %q", r, tc.ok, tc.check, tc.msg)
				}
				if !tc.ok && r.MBps != 0 {
					t.Errorf("failed run has a rate: %+v", r)
				}
			}
			if s := rep.Summary[0]; (s.OK == 1) != tc.ok || s.Runs != 1 {
				t.Errorf("stat = %+v", s)
			}
		})
	}
}

func TestSweepUncappedFirst(t *testing.T) {
	t.Parallel()
	c, target := testTarget(t)
	uncapped := target
	uncapped.URL = "http://uncapped.invalid/file"
	var rec recorder
	rep, err := Sweep(context.Background(), Config{
		Target: target, Uncapped: &uncapped, RatePerConn: 1e6, Conns: []int{1, 4}, Runs: 1, Dir: t.TempDir(),
		Tools: []Tool{rec.tool("a", c), rec.tool("b", c)},
	})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	want := []string{"a@1 " + uncapped.URL, "a@4 " + uncapped.URL, "a@1 " + target.URL, "b@1 " + target.URL, "a@4 " + target.URL, "b@4 " + target.URL}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("calls = %q, want %q", rec.calls, want)
	}
	if !rep.Results[0].Uncapped || rep.Results[0].Round != 0 || rep.Results[2].Uncapped || rep.UncappedMBps <= 0 {
		t.Errorf("results = %+v, uncapped %v", rep.Results, rep.UncappedMBps)
	}
	for _, s := range rep.Summary {
		if s.Runs != 1 {
			t.Errorf("stat %+v counts the uncapped runs", s)
		}
	}
}

// TestIdeal: the ideal is N × the cap, bounded by the best uncapped rate.
func TestIdeal(t *testing.T) {
	t.Parallel()
	rep := &Report{
		RatePerConn: 25e6, Conns: []int{1, 4, 16}, Tools: []ToolInfo{{Name: "rget"}},
		Results: []Run{
			{Tool: "rget", Conns: 1, Uncapped: true, OK: true, MBps: 40},
			{Tool: "rget", Conns: 4, Uncapped: true, OK: true, MBps: 150},
			{Tool: "rget", Conns: 16, Uncapped: true, OK: false, MBps: 900},
			{Tool: "rget", Conns: 1, Round: 1, OK: true, MBps: 24},
			{Tool: "rget", Conns: 4, Round: 1, OK: true, MBps: 90},
			{Tool: "rget", Conns: 16, Round: 1, OK: true, MBps: 120},
		},
	}
	rep.summarize()
	if rep.UncappedMBps != 150 {
		t.Errorf("UncappedMBps = %v, want 150 (the best successful uncapped run)", rep.UncappedMBps)
	}
	for _, tc := range []struct {
		conns        int
		ideal, share float64
	}{{1, 25, 0.96}, {4, 100, 0.9}, {16, 150, 0.8}} {
		s, ok := rep.Stat("rget", tc.conns)
		if !ok || s.Ideal != tc.ideal || s.Share != tc.share {
			t.Errorf("Stat(rget, %d) = %+v, want ideal %v share %v", tc.conns, s, tc.ideal, tc.share)
		}
	}
}

func TestSweepStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	c, target := testTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	f := func(ctx context.Context, _, dir string, _ int) (Outcome, error) {
		calls++
		if calls == 2 {
			cancel()
			return Outcome{}, ctx.Err()
		}
		p, err := writeContent(dir, c)
		return Outcome{Path: p, Bytes: c.Size}, err
	}
	rep, err := Sweep(ctx, Config{Target: target, Conns: []int{1, 2, 4}, Runs: 3, Dir: t.TempDir(), Tools: []Tool{{Name: "x", Func: f}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sweep error = %v, want context.Canceled", err)
	}
	if calls != 2 || rep == nil || len(rep.Results) != 1 || !rep.Results[0].OK {
		t.Fatalf("after cancel: %d calls, report %+v; want 2 calls and the 1 finished run", calls, rep)
	}
}

func TestSweepRunTimeout(t *testing.T) {
	t.Parallel()
	_, target := testTarget(t)
	f := func(ctx context.Context, _, _ string, _ int) (Outcome, error) {
		<-ctx.Done()
		return Outcome{}, ctx.Err()
	}
	rep, err := Sweep(context.Background(), Config{
		Target: target, Conns: []int{1, 2}, Dir: t.TempDir(), RunTimeout: 20 * time.Millisecond,
		Tools: []Tool{{Name: "stuck", Func: f}},
	})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	for _, r := range rep.Results {
		if r.OK || !strings.Contains(r.Error, "timed out after 20ms") {
			t.Errorf("run = %+v, want a timeout", r)
		}
	}
}

func TestSweepSettleHonorsContext(t *testing.T) {
	t.Parallel()
	c, target := testTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	var rec recorder
	done := make(chan error, 1)
	go func() {
		_, err := Sweep(ctx, Config{Target: target, Conns: []int{1}, Settle: time.Hour, Dir: t.TempDir(), Tools: []Tool{rec.tool("a", c)}})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sweep = %v, want context.Canceled during the pause", err)
	}
	if len(rec.calls) != 0 {
		t.Errorf("ran %q during a cancelled pause", rec.calls)
	}
}

func TestSweepConfigErrors(t *testing.T) {
	t.Parallel()
	f := func(context.Context, string, string, int) (Outcome, error) { return Outcome{}, nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"no tools", Config{Conns: []int{1}}, "no tools"},
		{"no conns", Config{Tools: []Tool{{Name: "x", Func: f}}}, "no connection counts"},
		{"zero conns", Config{Conns: []int{0}, Tools: []Tool{{Name: "x", Func: f}}}, "less than 1"},
		{"neither", Config{Conns: []int{1}, Tools: []Tool{{Name: "x"}}}, "exactly one"},
		{"both", Config{Conns: []int{1}, Tools: []Tool{{Name: "x", Func: f, Command: &Command{Path: "x"}}}}, "exactly one"},
	} {
		if _, err := Sweep(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Sweep error = %v, want one containing %q", tc.name, err, tc.msg)
		}
	}
}

// TestSweepCommand runs external commands through the harness: a copy by
// the shell stands in for a downloader.
func TestSweepCommand(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	c, target := testTarget(t)
	src, err := writeContent(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	var gotArgs []string
	copyTool := Tool{Name: "cp", Command: &Command{Path: sh, Args: func(url, out string, conns int, size int64) []string {
		gotArgs = []string{url, filepath.Base(out), fmt.Sprint(conns), fmt.Sprint(size)}
		return []string{"-c", `cat "$1" > "$2"`, "sh", src, out}
	}}}
	failTool := Tool{Name: "fail", Command: &Command{Path: sh, Args: func(_, _ string, _ int, _ int64) []string {
		return []string{"-c", `echo "server said no" >&2; exit 3`}
	}}}
	rep, err := Sweep(context.Background(), Config{Target: target, Conns: []int{5}, Dir: t.TempDir(), Tools: []Tool{copyTool, failTool}})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if want := []string{target.URL, "out.bin", "5", fmt.Sprint(c.Size)}; !slices.Equal(gotArgs, want) {
		t.Errorf("Args called with %q, want %q", gotArgs, want)
	}
	ok, failed := rep.Results[0], rep.Results[1]
	if !ok.OK || ok.Check != "sha256" || !strings.HasPrefix(ok.RSSScope, RSSChild) || ok.Seconds <= 0 || ok.TailSeconds != 0 {
		t.Errorf("copy run = %+v", ok)
	}
	if runtime.GOOS == "linux" && ok.PeakRSS <= 0 {
		t.Errorf("copy run has no peak RSS: %+v", ok)
	}
	if failed.OK || !strings.Contains(failed.Error, "exit status 3") || !strings.Contains(failed.Error, "server said no") {
		t.Errorf("failing run = %+v, want its exit status and output", failed)
	}
}

func TestFileSHA256(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	data := []byte(strings.Repeat("rget", 300_000))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	got, err := fileSHA256(context.Background(), path)
	if err != nil || got != hex.EncodeToString(want[:]) {
		t.Fatalf("fileSHA256 = %s, %v, want %x", got, err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fileSHA256(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("fileSHA256 with a cancelled context = %v", err)
	}
}
