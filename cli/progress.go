package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"rget/segment"
)

// maxConnBars is how many connections get a bar of their own; past it the
// view shows one summary line.
const maxConnBars = 16

// view shows a download's progress on stderr: mpb bars on a terminal, a
// plain status line every few seconds otherwise, nothing when quiet.
type view interface {
	run(ctx context.Context) // until ctx is done
	finish(ok bool)          // the download ended; call before ctx is done
}

func newView(w io.Writer, quiet bool, name string, plan *segment.Ledger, prog *segment.Progress, base int64) view {
	switch {
	case quiet:
		return nopView{}
	case isTerminal(w):
		return newBarView(w, name, plan, prog, base)
	default:
		return &lineView{w: w, name: name, plan: plan, prog: prog, base: base, every: 5 * time.Second}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type nopView struct{}

func (nopView) run(context.Context) {}
func (nopView) finish(bool)         {}

// lineView prints one status line every few seconds.
type lineView struct {
	w     io.Writer
	name  string
	plan  *segment.Ledger
	prog  *segment.Progress
	base  int64 // bytes already on disk from an earlier run
	every time.Duration
}

func (v *lineView) run(ctx context.Context) {
	t := time.NewTicker(v.every)
	defer t.Stop()
	start, last := time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			got := v.plan.Done() - v.base // this run's bytes, each counted once
			rate := float64(got-last) / v.every.Seconds()
			last = got
			fmt.Fprintf(v.w, "rget: %s %s%s, %s, %d active connections, %s elapsed\n",
				v.name, formatBytes(v.base+got), ofTotal(v.base+got, v.plan.Size()), formatRate(rate),
				v.prog.Active(), now.Sub(start).Round(time.Second))
		}
	}
}

func (v *lineView) finish(bool) {}

func ofTotal(got, size int64) string {
	if size <= 0 {
		return ""
	}
	return fmt.Sprintf(" of %s (%.0f%%)", formatBytes(size), 100*float64(got)/float64(size))
}

// barView draws mpb bars: the total with speed and ETA, and one bar per
// connection (or a summary past maxConnBars).
type barView struct {
	p     *mpb.Progress
	w     io.Writer // the terminal
	total *mpb.Bar
	conns []*connBar
	plan  *segment.Ledger
	prog  *segment.Progress
	base  int64 // bytes already on disk from an earlier run
	cap   context.CancelFunc
}

type connBar struct {
	bar  *mpb.Bar
	rate atomic.Int64 // bytes per second, for its decorator
	last int64
}

func newBarView(w io.Writer, name string, plan *segment.Ledger, prog *segment.Progress, base int64) *barView {
	ctx, cancel := context.WithCancel(context.Background())
	p := mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithWidth(48), mpb.WithRefreshRate(150*time.Millisecond))
	v := &barView{p: p, w: w, plan: plan, prog: prog, base: base, cap: cancel}
	size := plan.Size()
	v.total = p.New(max(size, 0), mpb.BarStyle(),
		mpb.PrependDecorators(
			decor.Name(name, decor.WC{W: min(len(name), 24) + 1, C: decor.DindentRight}),
			decor.CountersKibiByte("% .1f / % .1f"),
		),
		mpb.AppendDecorators(
			decor.EwmaSpeed(decor.SizeB1000(0), "% .1f", 30, decor.WC{W: 12}),
			decor.Name(" ETA "),
			decor.EwmaETA(decor.ET_STYLE_GO, 30),
		),
	)
	v.total.SetCurrent(base) // resumed bytes are not this run's speed
	if len(prog.Conns) > connBars(termHeight(w)) {
		v.total.SetPriority(0)
		summary := p.New(0, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			return fmt.Sprintf("  %d of %d connections active", prog.Active(), len(prog.Conns))
		})))
		v.conns = append(v.conns, &connBar{bar: summary})
		return v
	}
	for i := range prog.Conns {
		cb := &connBar{}
		cb.bar = p.New(0, mpb.BarStyle().Lbound(" ").Rbound(" ").Filler("=").Tip(">").Padding(" "),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
				c := &prog.Conns[i]
				if c.End.Load() == 0 {
					return fmt.Sprintf("  #%-3d idle", i+1)
				}
				// The range this connection fetches starts here.
				return fmt.Sprintf("  #%-3d from %s", i+1, formatBytes(c.Start.Load()))
			})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				return formatRate(float64(cb.rate.Load()))
			}, decor.WC{W: 12})),
		)
		v.conns = append(v.conns, cb)
	}
	return v
}

func (v *barView) run(ctx context.Context) {
	const every = 150 * time.Millisecond
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			v.update(now.Sub(last))
			last = now
		}
	}
}

func (v *barView) update(dt time.Duration) {
	// Bytes written, each counted once (a hedged range is received twice),
	// with those already on disk from an earlier run.
	got := v.plan.Done()
	if size := v.plan.Size(); size > 0 {
		// A bar made with a known total completes when current reaches it:
		// only finish may do that.
		got = min(got, size-1)
	}
	v.total.EwmaSetCurrent(got, dt)
	if len(v.conns) != len(v.prog.Conns) { // a summary line, not a bar each
		return
	}
	for i, cb := range v.conns {
		c := &v.prog.Conns[i]
		start, end, pos := c.Start.Load(), c.End.Load(), c.Pos.Load()
		if end > start {
			cb.bar.SetTotal(end-start, false)
			cb.bar.SetCurrent(pos - start)
		}
		got := c.Received.Load()
		cb.rate.Store(int64(float64(got-cb.last) / dt.Seconds()))
		cb.last = got
	}
}

// finish completes the total bar on success, drops the connection bars and
// stops mpb after its last frame.
func (v *barView) finish(ok bool) {
	if !ok {
		// A Ctrl-C is echoed as "^C" where the cursor stands, and mpb's
		// last frame would start two columns in ("tmtm.bin ..."): back to
		// the line's start first.
		fmt.Fprint(v.w, "\r")
	}
	if ok {
		v.update(150 * time.Millisecond)
		if size := v.plan.Size(); size > 0 {
			v.total.SetCurrent(size)
		} else {
			// Made with total 0 (size unknown): complete at the count.
			v.total.SetTotal(-1, true)
		}
	}
	// Abort is a no-op on a completed bar, and ends any other, so that Wait
	// cannot hang on a bar whose total was never reached.
	v.total.Abort(false)
	for _, cb := range v.conns {
		cb.bar.Abort(true)
	}
	// Shutdown, not Wait: Wait blocks until every bar has been rendered
	// complete, which need not happen once the bars stop being updated.
	v.p.Shutdown()
	v.cap()
}

// Write prints lines above the bars.
func (v *barView) Write(b []byte) (int, error) { return v.p.Write(b) }

// connBars is how many connection bars fit under the total in a terminal of
// height rows (0: unknown), so that the total line never scrolls away: the
// connection bars give way first.
func connBars(height int) int {
	if height <= 0 {
		return maxConnBars
	}
	return max(min(maxConnBars, height-3), 0)
}
