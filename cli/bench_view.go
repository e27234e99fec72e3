package cli

// This file holds the progress display of `rget bench`.

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"rget/bench"
)

// benchView shows the sweep's progress on stderr: on a terminal, an mpb bar
// of runs done with the run under way, and a line per finished run above
// it; otherwise just the lines.
type benchView struct {
	w     io.Writer
	term  bool
	p     *mpb.Progress
	bar   *mpb.Bar
	mu    sync.Mutex
	label string    // the run under way; guarded by mu
	since time.Time // its start; guarded by mu
}

func newBenchView(w io.Writer) *benchView {
	return &benchView{w: w, term: isTerminal(w)}
}

func (v *benchView) start(s bench.Step) {
	label := fmt.Sprintf("%s -c %d", s.Tool, s.Conns)
	if s.Uncapped {
		label += " uncapped"
	} else {
		label += fmt.Sprintf(" run %d", s.Round)
	}
	if !v.term {
		return
	}
	v.mu.Lock()
	v.label, v.since = label, time.Now()
	v.mu.Unlock()
	if v.p == nil {
		v.p = mpb.New(mpb.WithOutput(v.w), mpb.WithAutoRefresh(), mpb.WithWidth(32), mpb.WithRefreshRate(200*time.Millisecond))
		v.bar = v.p.New(int64(s.Total), mpb.BarStyle(),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
				v.mu.Lock()
				defer v.mu.Unlock()
				return fmt.Sprintf("%-24s %5.1fs", v.label, time.Since(v.since).Seconds())
			})),
			mpb.AppendDecorators(decor.CountersNoUnit("%d/%d runs")),
		)
	}
}

func (v *benchView) done(r bench.Run) {
	line := runLine(r)
	if v.p == nil {
		fmt.Fprintln(v.w, line)
		return
	}
	fmt.Fprintln(v.p, line)
	v.bar.Increment()
}

// finish ends the display: Abort ends a bar the sweep did not complete (an
// interrupt), and Shutdown renders a last frame without waiting for bars.
func (v *benchView) finish() {
	if v.p == nil {
		return
	}
	v.bar.Abort(false)
	v.p.Shutdown()
}

// runLine describes one finished run in a line.
func runLine(r bench.Run) string {
	what := fmt.Sprintf("run %d", r.Round)
	if r.Uncapped {
		what = "uncapped"
	}
	head := fmt.Sprintf("rget: bench: %s -c %d %s:", r.Tool, r.Conns, what)
	if !r.OK {
		return head + " FAILED: " + r.Error
	}
	check := "size ok"
	if r.Check == "sha256" {
		check = "sha256 ok"
	}
	return fmt.Sprintf("%s %s in %.2f s, %s, CPU %.2f s, peak RSS %s, %s", head,
		formatBytes(r.Bytes), r.Seconds, formatRate(r.MBps*1e6), r.UserCPU+r.SysCPU, formatBytes(r.PeakRSS), check)
}
