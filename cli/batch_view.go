package cli

// This file shows a batch's progress: one line for the whole batch (files
// done of all, bytes, speed, ETA) and, on a terminal, a bar for each file
// in progress below it.

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"rget/segment"
)

// batchView is the progress of a batch; its methods are safe to call from
// the download's event callback while run draws.
type batchView struct {
	w     io.Writer
	bars  bool
	p     *mpb.Progress // nil unless bars
	total *mpb.Bar
	stop  context.CancelFunc

	files int
	ended atomic.Int64
	every time.Duration // between status lines without bars

	// mu guards what follows; no mpb call is made holding it (mpb's
	// render calls the decorators, which must not wait for it).
	mu        sync.Mutex
	active    map[int]*batchFile
	endBytes  int64 // bytes written of the files that ended
	endSize   int64 // and their sizes
	lastBytes int64
}

type batchFile struct {
	name string
	led  *segment.Ledger
	base int64 // bytes on disk before this run
	bar  *mpb.Bar
}

// maxFileBars is how many files in progress get a bar of their own.
const maxFileBars = 12

func newBatchView(w io.Writer, files int) *batchView {
	v := &batchView{w: w, files: files, active: map[int]*batchFile{}, bars: isTerminal(w), every: 5 * time.Second}
	if !v.bars {
		return v
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.stop = cancel
	v.p = mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	v.total = v.p.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(
			decor.Any(func(decor.Statistics) string { return v.filesDone() }, decor.WC{W: 14, C: decor.DindentRight}),
			decor.CountersKibiByte("% .1f / % .1f"),
		),
		mpb.AppendDecorators(
			decor.EwmaSpeed(decor.SizeB1000(0), "% .1f", 30, decor.WC{W: 12}),
			decor.Name(" ETA "),
			decor.EwmaETA(decor.ET_STYLE_GO, 30),
		),
	)
	return v
}

// filesDone is "3/12 files".
func (v *batchView) filesDone() string {
	return fmt.Sprintf("%d/%d files", v.ended.Load(), v.files)
}

// start shows file i's fetch.
func (v *batchView) start(i int, name string, led *segment.Ledger, base int64) {
	f := &batchFile{name: name, led: led, base: base}
	v.mu.Lock()
	v.active[i] = f
	shown := len(v.active) <= maxFileBars
	v.mu.Unlock()
	if v.p != nil && shown {
		bar := v.p.New(max(led.Size(), 0), mpb.BarStyle().Lbound(" ").Rbound(" "),
			mpb.PrependDecorators(decor.Name("  "+name, decor.WC{W: min(len(name), 28) + 3, C: decor.DindentRight})),
			mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5})),
		)
		bar.SetCurrent(min(led.Done(), max(led.Size()-1, 0)))
		v.mu.Lock()
		f.bar = bar
		v.mu.Unlock()
	}
}

// end records that file i's fetch ended.
func (v *batchView) end(i int) {
	v.mu.Lock()
	f, ok := v.active[i]
	if ok {
		delete(v.active, i)
		v.endBytes += f.led.Done() - f.base
		v.endSize += max(f.led.Size(), 0)
	}
	v.mu.Unlock()
	if ok && f.bar != nil {
		f.bar.Abort(true)
	}
}

// done records that file i ended, fetched or not.
func (v *batchView) done(i int) {
	v.end(i)
	v.ended.Add(1)
}

// totals are the bytes written this run and the sizes known so far.
func (v *batchView) totals() (got, size int64) {
	v.mu.Lock()
	got, size = v.endBytes, v.endSize
	var bars []*batchFile
	for _, f := range v.active {
		got += f.led.Done() - f.base
		size += max(f.led.Size(), 0)
		if f.bar != nil {
			bars = append(bars, f)
		}
	}
	v.mu.Unlock()
	for _, f := range bars {
		f.bar.SetCurrent(min(f.led.Done(), max(f.led.Size()-1, 0)))
	}
	return got, size
}

func (v *batchView) run(ctx context.Context) {
	every := 150 * time.Millisecond
	if !v.bars {
		every = v.every
	}
	t := time.NewTicker(every)
	defer t.Stop()
	start, last := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			got, size := v.totals()
			if v.bars {
				v.total.SetTotal(max(size, got+1), false)
				v.total.EwmaSetCurrent(got, now.Sub(last))
			} else {
				v.mu.Lock()
				active := len(v.active)
				v.mu.Unlock()
				fmt.Fprintf(v.w, "rget: %s, %s%s, %s, %d in progress, %s elapsed\n", v.filesDone(), formatBytes(got),
					ofTotal(got, size), formatRate(float64(got-v.lastBytes)/now.Sub(last).Seconds()), active,
					now.Sub(start).Round(time.Second))
				v.lastBytes = got
			}
			last = now
		}
	}
}

// finish draws the last frame and stops the bars.
func (v *batchView) finish(ok bool) {
	if v.p == nil {
		return
	}
	if !ok {
		fmt.Fprint(v.w, "\r")
	}
	got, _ := v.totals()
	v.total.SetTotal(got, true)
	v.total.Abort(false)
	v.mu.Lock()
	var bars []*mpb.Bar
	for _, f := range v.active {
		if f.bar != nil {
			bars = append(bars, f.bar)
		}
	}
	v.mu.Unlock()
	for _, b := range bars {
		b.Abort(true)
	}
	v.p.Shutdown()
	v.stop()
}

// Write prints lines above the bars.
func (v *batchView) Write(b []byte) (int, error) {
	if v.p == nil {
		return v.w.Write(b)
	}
	return v.p.Write(b)
}
