package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrStalled reports a response body that delivered nothing for the stall
// timeout. It is retried like a reset connection.
var ErrStalled = errors.New("connection stalled")

// watchdog cancels one request when its body makes no progress for d.
type watchdog struct {
	d      time.Duration
	t      *time.Timer
	cancel context.CancelCauseFunc
	ctx    context.Context
}

// watch returns a context for one request that is cancelled with
// ErrStalled when d passes without the watchdog being fed. d < 0 disables it.
func watch(ctx context.Context, d time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{d: d, cancel: cancel, ctx: ctx}
	if d > 0 {
		w.t = time.AfterFunc(d, func() {
			cancel(fmt.Errorf("%w: no data for %v", ErrStalled, d))
		})
	}
	return ctx, w
}

// reader feeds the watchdog on every read that returns data.
func (w *watchdog) reader(r io.Reader) io.Reader {
	if w.t == nil {
		return r
	}
	return stallReader{r, w}
}

type stallReader struct {
	r io.Reader
	w *watchdog
}

func (s stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.w.t.Reset(s.w.d)
	}
	return n, err
}

// cause replaces err by the stall when the watchdog fired.
func (w *watchdog) cause(err error) error {
	if c := context.Cause(w.ctx); errors.Is(c, ErrStalled) {
		return c
	}
	return err
}

// stop releases the request's context and timer.
func (w *watchdog) stop() {
	if w.t != nil {
		w.t.Stop()
	}
	w.cancel(nil)
}
