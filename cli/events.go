package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"rget/download"
	"rget/segment"
)

// events shows a download's events on the terminal: notices (unless -q),
// warnings, --debug request lines, and the progress view, which runs on a
// goroutine of its own from the fetch's start to its end.
type events struct {
	cfg    getConfig
	w      io.Writer
	begin  time.Time
	mu     sync.Mutex // one --debug line at a time
	view   view
	batch  *batchView // several files: their view instead of view
	log    *eventLog  // --events, --progress json
	stop   context.CancelFunc
	viewWG sync.WaitGroup
}

// startBatch shows the progress of a batch of files until close.
func (e *events) startBatch(files int) {
	if e.cfg.Quiet || e.cfg.JSONEvents {
		return
	}
	e.batch = newBatchView(e.w, files)
	e.runView(e.batch.run)
}

// runView runs a view's drawing loop on a goroutine until close (or the
// fetch's end) stops it and waits for it.
func (e *events) runView(run func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	e.viewWG.Add(1)
	go func() {
		defer e.viewWG.Done()
		run(ctx)
	}()
}

func newEvents(cfg getConfig, w io.Writer) *events {
	return &events{cfg: cfg, w: w, begin: time.Now()}
}

// handle is the download's OnEvent.
func (e *events) handle(ev download.Event) {
	if e.log != nil {
		e.log.write(ev)
	}
	if e.cfg.JSONEvents {
		return
	}
	switch ev.Kind {
	case download.EventNotice:
		if !e.cfg.Quiet {
			e.line("rget: " + e.about(ev) + ev.Message)
		}
	case download.EventWarning:
		e.line("rget: warning: " + e.about(ev) + ev.Message)
	case download.EventRetry:
		if !e.cfg.Quiet {
			e.line(retryLine(ev.Retry))
		}
	case download.EventScale:
		if e.cfg.Debug {
			e.line(fmt.Sprintf("rget: debug: %d connections: %s", ev.Conns, ev.Message))
		}
	case download.EventRequest:
		if e.cfg.Debug {
			e.debug(ev)
		}
	case download.EventFileDone:
		if e.batch != nil {
			e.batch.done(ev.File)
		}
		e.fileDone(ev)
	case download.EventFetchStart:
		p := ev.Progress
		if e.cfg.Batch {
			if e.batch != nil {
				e.batch.start(ev.File, batchName(p.Output), p.Ledger, p.Resumed)
			}
			return
		}
		e.view = newView(e.w, e.cfg.Quiet, viewName(e.cfg, p.Output), p.Ledger, p.Counters, p.Resumed)
		e.runView(e.view.run)
	case download.EventFetchEnd:
		if e.cfg.Batch {
			if e.batch != nil {
				e.batch.end(ev.File)
			}
			return
		}
		e.endView(ev.Err == nil)
	}
}

// endView draws the view's last frame and waits for its goroutine.
func (e *events) endView(ok bool) {
	if e.view == nil {
		return
	}
	e.view.finish(ok)
	e.stop()
	e.viewWG.Wait()
	e.view = nil
}

// close ends a view the download left running (it returned early), or
// the batch's.
func (e *events) close() {
	if e.batch != nil {
		e.stop()
		e.viewWG.Wait()
		e.batch.finish(true)
		e.batch = nil
		return
	}
	e.endView(false)
}

// about names the file an event is about, in a batch.
func (e *events) about(ev download.Event) string {
	if !e.cfg.Batch || ev.File >= len(e.cfg.Requests) {
		return ""
	}
	return download.Redact(e.cfg.Requests[ev.File].URL) + ": "
}

// line prints one line: above the bars when they are shown.
func (e *events) line(s string) {
	if e.batch != nil {
		fmt.Fprintln(e.batch, s)
		return
	}
	if w, ok := e.view.(io.Writer); ok {
		fmt.Fprintln(w, s)
		return
	}
	fmt.Fprintln(e.w, s)
}

// retryLine is "rget: retrying bytes 0-4194303 in 4s (3/8): 503 Service Unavailable".
func retryLine(r segment.Retry) string {
	max := ""
	if r.Max > 0 {
		max = fmt.Sprintf("/%d", r.Max)
	}
	return fmt.Sprintf("rget: retrying %s in %v (%d%s): %s", r.What, r.Delay.Round(100*time.Millisecond), r.Attempt, max, retryReason(r.Err))
}

// retryReason is the short reason of a retry: the status, or the error.
func retryReason(err error) string {
	var se *segment.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return oneLine(err)
}

// debug prints one --debug line for a request.
func (e *events) debug(ev download.Event) {
	t := ev.Trace
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.w, "rget: debug +%.3fs GET %s Range:%q -> %d, %d bytes in %v", t.Start.Sub(e.begin).Seconds(),
		download.Redact(t.URL), t.Range, t.Status, t.Bytes, t.Duration.Round(time.Microsecond))
	if t.Err != nil {
		fmt.Fprintf(e.w, ": %s", oneLine(t.Err))
	}
	if t.Conn < 0 && t.Kept {
		fmt.Fprint(e.w, " (its body is read on by the download)")
	}
	if t.Conn >= 0 {
		fmt.Fprintf(e.w, " [#%d", t.Conn+1)
		if t.Kept {
			fmt.Fprint(e.w, ", the probe's answer")
		} else if t.Fresh {
			fmt.Fprint(e.w, ", new connection")
		}
		if t.Ahead {
			fmt.Fprint(e.w, ", sent ahead")
		}
		fmt.Fprint(e.w, "]")
	}
	fmt.Fprintln(e.w)
}

// viewName is what the progress calls the download: the file's name, and
// the rate limit if there is one.
func viewName(cfg getConfig, output string) string {
	name := filepath.Base(output)
	if cfg.LimitRate > 0 {
		name += " (limit " + formatRate(float64(cfg.LimitRate)) + ")"
	}
	return name
}
