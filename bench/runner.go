package bench

// This file holds the runner: a sweep of downloads over connection counts and
// rounds, by rget itself (a function called in this process) and by other
// downloaders (external commands), each run timed, measured (CPU, peak
// memory) and checked against the content's SHA-256.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// DownloadFunc downloads url into the directory dir (which exists and is
// empty) with conns connections, in this process, and returns once the file
// is complete (or the bytes were discarded).
type DownloadFunc func(ctx context.Context, url, dir string, conns int) (Outcome, error)

// Outcome is what a DownloadFunc reports about one download.
type Outcome struct {
	// Path is the file written; "" if the bytes were discarded.
	Path string
	// Bytes is the number of bytes delivered.
	Bytes int64
	// SHA256 is the digest the downloader computed itself, in lower-case
	// hex; "" if it computed none.
	SHA256 string
	// Tail is the time from the last byte received to the verified,
	// published file. Zero means the downloader does not report it.
	Tail time.Duration
}

// Tool is one downloader under test: a function run in this process, or an
// external command. Exactly one of Func and Command is set.
type Tool struct {
	Name    string
	Version string // "" if unknown
	Func    DownloadFunc
	Command *Command
}

// Command is an external downloader, run once per download as a child
// process whose own CPU time and peak RSS are measured.
type Command struct {
	// Path is the executable.
	Path string
	// Args returns the arguments that download url into the file out with
	// conns connections; size is the content's size, 0 if unknown.
	Args func(url, out string, conns int, size int64) []string
}

// Target is the resource a sweep downloads.
type Target struct {
	URL string `json:"url"`
	// Size in bytes; 0 if unknown (each run's delivered bytes count then).
	Size int64 `json:"size"`
	// SHA256 is the expected digest, lower-case hex; "" skips the digest
	// check (sizes are still compared).
	SHA256 string `json:"sha256,omitempty"`
}

// Config describes a sweep. Tools[0] is the reference the others are
// compared with (rget).
type Config struct {
	Target Target
	// Uncapped, if set, is the same content without the per-connection cap:
	// Tools[0] downloads it once at each connection count before the sweep,
	// and the best rate bounds the ideal (see Stat.Ideal).
	Uncapped *Target
	// RatePerConn is the origin's cap per connection in bytes per second;
	// 0 means none (and no ideal).
	RatePerConn int64
	// Conns are the connection counts, in the order they are run.
	Conns []int
	// Runs is the number of rounds at each connection count. If zero, 1.
	Runs int
	// Tools are the downloaders; Tools[0] is the reference.
	Tools []Tool
	// Dir is where downloads are written, each run in a subdirectory of its
	// own that is removed after the run. If empty, a temporary directory,
	// removed at the end.
	Dir string
	// RunTimeout bounds each run. If zero, runs are not limited.
	RunTimeout time.Duration
	// Settle is a pause before each run, so that every run starts from the
	// same state of the machine (pages freed by the previous run returned,
	// on VMs that return free pages to the host). If zero, none.
	Settle time.Duration
	// OnStart, if set, is called before each run, and OnRun after it, from
	// the goroutine that called Sweep.
	OnStart func(Step)
	OnRun   func(Run)
}

// Step identifies a run about to start.
type Step struct {
	Index    int // 1-based
	Total    int
	Tool     string
	Conns    int
	Round    int // 1-based; 0 for the uncapped measurement
	Uncapped bool
}

// Run holds the raw figures of one download.
type Run struct {
	Tool     string `json:"tool"`
	Conns    int    `json:"conns"`
	Round    int    `json:"round"`
	Uncapped bool   `json:"uncapped,omitempty"`
	OK       bool   `json:"ok"`
	// Check says how the output was checked: "sha256" (digest compared),
	// "size" (bytes discarded, or no digest known: size compared).
	Check   string  `json:"check,omitempty"`
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	MBps    float64 `json:"mb_per_s"` // 1e6 bytes per second
	UserCPU float64 `json:"user_cpu_s"`
	SysCPU  float64 `json:"sys_cpu_s"`
	PeakRSS int64   `json:"peak_rss_bytes"`
	// RSSScope says whose peak PeakRSS is: RSSChild, RSSProcessRun or
	// RSSProcessPeak.
	RSSScope    string  `json:"rss_scope"`
	TailSeconds float64 `json:"tail_s,omitempty"` // 0: not reported
	SHA256      string  `json:"sha256,omitempty"`
}

// Values of Run.RSSScope.
const (
	// RSSChild is the external command's own peak resident set (its VmHWM,
	// sampled every few milliseconds while it runs).
	RSSChild = "child"
	// RSSChildRusage is the external command's ru_maxrss, which includes
	// this process's resident set when the command was started.
	RSSChildRusage = "child, with this process's at start"
	// RSSProcessRun is this process's peak during the run (VmHWM, reset
	// before the run).
	RSSProcessRun = "process, reset per run"
	// RSSProcessPeak is this process's peak since it started: the high-water
	// mark could not be reset, so it may come from an earlier run.
	RSSProcessPeak = "process, since start"
)

// CPUPerGiB returns the run's user+system CPU seconds per GiB delivered.
func (r Run) CPUPerGiB() float64 {
	if r.Bytes <= 0 {
		return 0
	}
	return (r.UserCPU + r.SysCPU) / (float64(r.Bytes) / (1 << 30))
}

// Sweep runs cfg: first the uncapped measurement (if cfg.Uncapped is set),
// then for each connection count, cfg.Runs rounds of every tool in turn
// (A B C A B C ...). A run that fails is recorded and the sweep goes on.
// Sweep returns an error only when it cannot start or ctx ends; the report
// then holds the runs done so far.
func Sweep(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	rounds := max(cfg.Runs, 1)
	rep := newReport(cfg, rounds)
	base := cfg.Dir
	if base == "" {
		tmp, err := os.MkdirTemp("", "rget-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(tmp)
		base = tmp
	}
	total := len(cfg.Conns) * rounds * len(cfg.Tools)
	if cfg.Uncapped != nil {
		total += len(cfg.Conns)
	}
	step := 0
	do := func(t Tool, target Target, conns, round int) error {
		step++
		if cfg.OnStart != nil {
			cfg.OnStart(Step{Index: step, Total: total, Tool: t.Name, Conns: conns, Round: round, Uncapped: round == 0})
		}
		if err := pause(ctx, cfg.Settle); err != nil {
			return err
		}
		r := runOne(ctx, cfg, base, t, target, conns)
		r.Round, r.Uncapped = round, round == 0
		if err := ctx.Err(); err != nil {
			return err // the run was cut short: not a measurement
		}
		rep.Results = append(rep.Results, r)
		if cfg.OnRun != nil {
			cfg.OnRun(r)
		}
		return nil
	}
	var err error
	if cfg.Uncapped != nil {
		for _, c := range cfg.Conns {
			if err = do(cfg.Tools[0], *cfg.Uncapped, c, 0); err != nil {
				break
			}
		}
	}
sweep:
	for _, c := range cfg.Conns {
		for round := 1; round <= rounds && err == nil; round++ {
			for _, t := range cfg.Tools {
				if err = do(t, cfg.Target, c, round); err != nil {
					break sweep
				}
			}
		}
	}
	rep.summarize()
	return rep, err
}

// pause waits for d, or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (cfg Config) check() error {
	if len(cfg.Tools) == 0 {
		return errors.New("bench: no tools to run")
	}
	if len(cfg.Conns) == 0 {
		return errors.New("bench: no connection counts")
	}
	for _, c := range cfg.Conns {
		if c < 1 {
			return fmt.Errorf("bench: connection count %d is less than 1", c)
		}
	}
	for _, t := range cfg.Tools {
		if (t.Func == nil) == (t.Command == nil) {
			return fmt.Errorf("bench: tool %q needs exactly one of Func and Command", t.Name)
		}
	}
	return nil
}

// runOne downloads target once with t into a fresh subdirectory of base,
// and checks the result.
func runOne(ctx context.Context, cfg Config, base string, t Tool, target Target, conns int) Run {
	r := Run{Tool: t.Name, Conns: conns}
	dir, err := os.MkdirTemp(base, "run-")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer os.RemoveAll(dir)
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.RunTimeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, cfg.RunTimeout)
	}
	defer cancel()
	var (
		out Outcome
		u   usage
	)
	if t.Func != nil {
		out, u, err = runFunc(rctx, t.Func, target.URL, dir, conns)
	} else {
		out, u, err = runCommand(rctx, t.Command, target, dir, conns)
	}
	r.Seconds = u.wall.Seconds()
	r.UserCPU, r.SysCPU = u.user.Seconds(), u.sys.Seconds()
	r.PeakRSS, r.RSSScope = u.peakRSS, u.scope
	r.TailSeconds = out.Tail.Seconds()
	if err != nil {
		if errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %v: %w", cfg.RunTimeout, err)
		}
		r.Error = err.Error()
		return r
	}
	r.Bytes = out.Bytes
	if err := verify(ctx, &r, out, target); err != nil {
		r.Error = err.Error()
		return r
	}
	if r.Seconds > 0 {
		r.MBps = float64(r.Bytes) / r.Seconds / 1e6
	}
	r.OK = true
	return r
}

// verify checks what a run delivered against target and fills r's Check,
// SHA256 and Bytes.
func verify(ctx context.Context, r *Run, out Outcome, target Target) error {
	want := target.SHA256
	if out.SHA256 != "" && want != "" && out.SHA256 != want {
		return fmt.Errorf("%s reported sha256 %s, want %s", r.Tool, out.SHA256, want)
	}
	r.SHA256 = out.SHA256
	if out.Path != "" {
		fi, err := os.Stat(out.Path)
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
		r.Bytes = fi.Size()
	}
	if target.Size > 0 && r.Bytes != target.Size {
		return fmt.Errorf("%s delivered %d bytes, want %d", r.Tool, r.Bytes, target.Size)
	}
	r.Check = "size"
	if out.Path == "" {
		return nil
	}
	got, err := fileSHA256(ctx, out.Path)
	if err != nil {
		return err
	}
	r.SHA256 = got
	if want == "" {
		return nil
	}
	if got != want {
		return fmt.Errorf("sha256 of %s's output is %s, want %s", r.Tool, got, want)
	}
	r.Check = "sha256"
	return nil
}

// fileSHA256 hashes the file at path, stopping early if ctx ends.
func fileSHA256(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash output: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hash output: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
