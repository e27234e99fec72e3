//go:build unix

package bench

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

func TestSelfUsage(t *testing.T) {
	// Not parallel: it measures the whole process.
	user0, sys0 := selfCPU()
	buf := make([]byte, 8<<20)
	for range 4 {
		sha256.Sum256(buf)
	}
	user1, sys1 := selfCPU()
	if user1+sys1 <= user0+sys0 {
		t.Errorf("CPU time did not grow over 32 MiB of hashing: %v+%v then %v+%v", user0, sys0, user1, sys1)
	}
	if peak := selfPeakRSS(); peak < 8<<20 {
		t.Errorf("selfPeakRSS() = %d, want at least the 8 MiB buffer", peak)
	}
	if runtime.GOOS == "linux" && !resetPeakRSS() {
		t.Log("/proc/self/clear_refs is not writable here: peaks are the process's since start")
	}
	runtime.KeepAlive(buf)
}

func TestMaxrssBytes(t *testing.T) {
	t.Parallel()
	want := int64(3 << 10)
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		want = 3
	}
	if got := maxrssBytes(3); got != want {
		t.Errorf("maxrssBytes(3) = %d, want %d", got, want)
	}
}

func TestWatchPeakRSS(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is in Linux's /proc")
	}
	w := watchPeakRSS(os.Getpid())
	if peak := w.stop(); peak <= 0 {
		t.Errorf("own VmHWM sampled as %d", peak)
	}
	if peak := watchPeakRSS(1 << 30).stop(); peak != 0 {
		t.Errorf("VmHWM of a process that does not exist = %d, want 0", peak)
	}
}

// TestCommandPeakRSSIsTheChilds: a small child of this big process is
// measured small (ru_maxrss would say this process's size).
func TestCommandPeakRSSIsTheChilds(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is in Linux's /proc")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	big := make([]byte, 128<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	busy := Command{Path: sh, Args: func(_, out string, _ int, _ int64) []string {
		// About 50 ms of shell work, so that the watcher sees it alive.
		return []string{"-c", `i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; : > "$1"`, "sh", out}
	}}
	_, u, err := runCommand(context.Background(), &busy, Target{}, t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if u.scope != RSSChild || u.peakRSS <= 0 || u.peakRSS > 32<<20 {
		t.Errorf("shell peak RSS = %d (%s), want a few MiB from its VmHWM", u.peakRSS, u.scope)
	}
	runtime.KeepAlive(big)
}
