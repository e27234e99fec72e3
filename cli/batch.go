package cli

// This file runs `rget get` on several files (several URLs, --input-file):
// download.RunAll, a line per file as it ends, the batch's progress, and
// one result for all.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"rget/download"
)

// fileReport is one file in the --json of a batch.
type fileReport struct {
	download.Result
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code"`
}

// batchReport is the --json of a batch.
type batchReport struct {
	Files          []fileReport `json:"files"`
	Total          int          `json:"total_files"`
	Saved          int          `json:"saved_files"` // downloaded or already complete
	Failed         int          `json:"failed_files"`
	Bytes          int64        `json:"bytes"`         // size of the files saved
	Fetched        int64        `json:"fetched_bytes"` // received this run
	Seconds        float64      `json:"seconds"`
	BytesPerSecond float64      `json:"bytes_per_second"`
	ExitCode       int          `json:"exit_code"`
}

// codedError is an error whose exit code was decided already: the worst of
// a batch's files.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// worse reports whether exit code a is worse than b for a batch: an
// integrity failure (3) over an HTTP status (4) over any other failure (1).
func worse(a, b int) bool {
	rank := func(c int) int {
		switch c {
		case exitOK:
			return 0
		case exitIntegrity:
			return 3
		case exitHTTPStatus:
			return 2
		}
		return 1
	}
	return rank(a) > rank(b)
}

// getBatch downloads cfg.Requests and reports them.
func getBatch(ctx, runCtx context.Context, cfg getConfig, opts download.Options, ev *events, stdout, stderr io.Writer) error {
	start := time.Now()
	ev.startBatch(len(cfg.Requests))
	results := download.RunAll(runCtx, cfg.Requests, opts)
	ev.close()
	rep := batchReport{Total: len(results), Seconds: time.Since(start).Seconds()}
	worst := exitOK
	var first error
	for _, r := range results {
		fr := fileReport{}
		if r.Result != nil {
			fr.Result = *r.Result
			rep.Saved++
			rep.Bytes += r.Result.Size
			rep.Fetched += r.Result.Fetched
		} else {
			err := fileError(ctx, runCtx, cfg, r)
			fr.Result.URL = download.Redact(r.Request.URL)
			fr.Error, fr.ExitCode = oneLine(err), exitCode(err)
			rep.Failed++
			if worse(fr.ExitCode, worst) {
				worst = fr.ExitCode
			}
			if first == nil {
				first = err
			}
		}
		rep.Files = append(rep.Files, fr)
	}
	rep.BytesPerSecond = float64(rep.Fetched) / max(rep.Seconds, 1e-9)
	var err error
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("%w: %d of %d files saved; the others stopped, their progress saved: rerun the same command to resume", errInterrupted, rep.Saved, rep.Total)
		worst = exitInterrupted
	case rep.Failed == 1:
		err = &codedError{code: worst, err: first}
	case rep.Failed > 1:
		err = &codedError{code: worst, err: fmt.Errorf("%d of %d files failed (first: %s)", rep.Failed, rep.Total, oneLine(first))}
	}
	rep.ExitCode = worst
	if cfg.JSON {
		if werr := writeJSON(stdout, rep); werr != nil && err == nil {
			return werr
		}
	} else if cfg.Quiet {
		for _, f := range rep.Files {
			if f.Error == "" {
				fmt.Fprintf(stdout, "%s  %s\n", f.SHA256, f.Output) // as sha256sum prints them
			}
		}
	} else if err == nil {
		skipped := ""
		if n := rep.Saved - fetchedFiles(results); n > 0 {
			skipped = fmt.Sprintf(" (%d already complete)", n)
		}
		fmt.Fprintf(stderr, "rget: %d files saved%s: %s in %.2f s, %s\n", rep.Saved, skipped, formatBytes(rep.Bytes),
			rep.Seconds, formatRate(rep.BytesPerSecond))
	}
	return err
}

// fetchedFiles is how many files this run downloaded (not already
// complete).
func fetchedFiles(results []download.FileResult) int {
	n := 0
	for _, r := range results {
		if r.Result != nil && !r.Result.AlreadyComplete {
			n++
		}
	}
	return n
}

// fileError is the error of one file of a batch, as a single download
// would report it.
func fileError(ctx, runCtx context.Context, cfg getConfig, r download.FileResult) error {
	one := cfg
	one.URL = r.Request.URL
	switch {
	case ctx.Err() == nil && runCtx.Err() != nil:
		return fmt.Errorf("--max-time %v reached (%w); rerun the same command to resume", cfg.MaxTime, r.Err)
	case ctx.Err() != nil:
		return stopped(one, r.Err)
	}
	return withURL(r.Request.URL, advise(r.Err))
}

// withURL names the file's URL in err, unless err already does.
func withURL(u string, err error) error {
	if strings.Contains(err.Error(), download.Redact(u)) {
		return err
	}
	return fmt.Errorf("%s: %w", download.Redact(u), err)
}

// fileDone prints the line of one file of a batch as it ends.
func (e *events) fileDone(ev download.Event) {
	if e.cfg.Quiet {
		return
	}
	res := ev.Result
	switch {
	case ev.Err != nil && errors.Is(ev.Err, context.Canceled):
	case ev.Err != nil:
		e.line("rget: failed: " + oneLine(withURL(e.cfg.Requests[ev.File].URL, advise(ev.Err))))
	case res.AlreadyComplete:
		e.line(fmt.Sprintf("rget: %s is already complete; skipped", res.Output))
	default:
		e.line(fmt.Sprintf("rget: saved %s: %s in %.2f s, %s", res.Output, formatBytes(res.Size), res.Seconds, formatRate(res.BytesPerSecond)))
	}
}

// batchName is what the progress calls a file of a batch.
func batchName(output string) string { return filepath.Base(output) }
