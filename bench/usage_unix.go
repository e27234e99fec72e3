//go:build unix

package bench

// This file measures CPU time and peak memory on Unix: getrusage for this
// process, wait4's rusage for a child, and Linux's VmHWM high-water mark,
// which writing "5" to /proc/self/clear_refs resets.

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rssSampleEvery is how often watchPeakRSS reads a child's VmHWM.
const rssSampleEvery = 5 * time.Millisecond

// rssWatch samples a child process's VmHWM until stopped.
type rssWatch struct {
	done chan struct{}
	peak chan int64
}

// watchPeakRSS starts sampling the VmHWM of process pid once it runs its
// own program (before its exec, /proc shows this process's). VmHWM only grows
// while the process lives, so the last sample is within rssSampleEvery of
// its peak; sampling ends when the process is a zombie (no VmHWM) or stop
// is called.
func watchPeakRSS(pid int) *rssWatch {
	w := &rssWatch{done: make(chan struct{}), peak: make(chan int64, 1)}
	dir := "/proc/" + strconv.Itoa(pid)
	self, _ := os.Readlink("/proc/self/exe")
	child := pid != os.Getpid()
	go func() {
		var peak int64
		t := time.NewTicker(rssSampleEvery)
		defer t.Stop()
		started := procStart(dir)
		for {
			// A sample counts only while the process is the one watched
			// (once it is reaped its PID may be another's) and, for a
			// child, once it runs its own program (before its exec it
			// shares this process's memory, and its VmHWM is ours).
			if procStart(dir) != started || started == "" {
				break
			}
			n, ok := procHWM(dir + "/status")
			if !ok {
				break
			}
			if exe, err := os.Readlink(dir + "/exe"); !child || (err == nil && exe != self) {
				peak = max(peak, n)
			}
			select {
			case <-t.C:
				continue
			case <-w.done:
			}
			break
		}
		w.peak <- peak
	}()
	return w
}

// stop ends the sampling and returns the peak seen, in bytes; 0 if none
// could be read. Call it once the process has exited.
func (w *rssWatch) stop() int64 {
	close(w.done)
	return <-w.peak
}

// selfCPU returns the user and system CPU time this process has used.
func selfCPU() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// resetPeakRSS resets this process's resident-set high-water mark to its
// current resident set, and reports whether it could (Linux 4.0 and later,
// where /proc is writable).
func resetPeakRSS() bool {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, werr := f.WriteString("5")
	cerr := f.Close()
	return werr == nil && cerr == nil
}

// selfPeakRSS returns this process's peak resident set in bytes: VmHWM
// where /proc has it, else getrusage's maximum (since the process started).
func selfPeakRSS() int64 {
	if n, ok := vmHWM(); ok {
		return n
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return maxrssBytes(int64(ru.Maxrss))
}

// vmHWM reads VmHWM from /proc/self/status, in bytes.
func vmHWM() (int64, bool) { return procHWM("/proc/self/status") }

// procHWM reads VmHWM from a /proc/PID/status file, in bytes. A zombie's
// has none.
func procHWM(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, false
		}
		return kib << 10, true
	}
	return 0, false
}

// childPeakRSS returns a finished child's peak resident set in bytes.
func childPeakRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	return maxrssBytes(int64(ru.Maxrss))
}

// maxrssBytes converts ru_maxrss to bytes: it is in bytes on Darwin and in
// KiB elsewhere.
func maxrssBytes(v int64) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return v
	}
	return v << 10
}

// procStart returns the start time of the process whose /proc directory is
// dir (field 22 of its stat), "" if it cannot be read: with the PID, it
// names one process for its whole life.
func procStart(dir string) string {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22: fields after the name start at field 3
}
