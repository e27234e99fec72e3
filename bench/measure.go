package bench

// This file runs one download and measures what it cost: wall time, user
// and system CPU, peak resident memory. A DownloadFunc is measured from
// inside this process, a Command from its child's rusage.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// usage is what one run cost.
type usage struct {
	wall, user, sys time.Duration
	peakRSS         int64 // bytes
	scope           string
}

// runFunc runs f in this process and measures it: CPU from getrusage deltas
// (the whole process: anything else running in it counts too), peak RSS
// from the high-water mark, reset before the run where the kernel allows.
func runFunc(ctx context.Context, f DownloadFunc, url, dir string, conns int) (Outcome, usage, error) {
	runtime.GC()
	debug.FreeOSMemory() // start each run from the smallest resident set
	reset := resetPeakRSS()
	user0, sys0 := selfCPU()
	start := time.Now()
	out, err := f(ctx, url, dir, conns)
	u := usage{wall: time.Since(start)}
	user1, sys1 := selfCPU()
	u.user, u.sys = user1-user0, sys1-sys0
	u.peakRSS = selfPeakRSS()
	u.scope = RSSProcessPeak
	if reset {
		u.scope = RSSProcessRun
	}
	return out, u, err
}

// runCommand runs c as a child process writing to dir/out.bin; its output
// goes to dir/log, whose end is quoted in the error if it fails.
//
// The child's peak RSS is its VmHWM, sampled while it runs: the rusage of
// a child of a Go program is no good for that, because Go starts children
// with vfork semantics (the child shares this process's memory until it
// execs) and Linux folds the high-water mark of the memory an exec leaves
// into ru_maxrss, so /bin/true would "peak" at this process's resident set.
// ru_maxrss is the fallback where /proc has no VmHWM.
func runCommand(ctx context.Context, c *Command, target Target, dir string, conns int) (Outcome, usage, error) {
	out := filepath.Join(dir, "out.bin")
	logPath := filepath.Join(dir, "log")
	logf, err := os.Create(logPath)
	if err != nil {
		return Outcome{}, usage{}, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, c.Path, c.Args(target.URL, out, conns, target.Size)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err = cmd.Start(); err != nil {
		return Outcome{}, usage{}, err
	}
	w := watchPeakRSS(cmd.Process.Pid)
	err = cmd.Wait()
	u := usage{wall: time.Since(start)}
	u.peakRSS, u.scope = w.stop(), RSSChild
	if ps := cmd.ProcessState; ps != nil {
		u.user, u.sys = ps.UserTime(), ps.SystemTime()
		if u.peakRSS == 0 {
			u.peakRSS, u.scope = childPeakRSS(ps), RSSChildRusage
		}
	}
	if err != nil {
		return Outcome{}, u, fmt.Errorf("%s: %w%s", filepath.Base(c.Path), err, logTail(logPath))
	}
	return Outcome{Path: out}, u, nil
}

// logTail returns the last line or so of a command's log, for an error
// message: ": text", or "" if the log is empty.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = "..." + s[len(s)-300:]
	}
	if s == "" {
		return ""
	}
	return ": " + strings.Join(strings.Fields(s), " ")
}
