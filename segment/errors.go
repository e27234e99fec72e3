package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// ErrChanged reports that the remote resource no longer matches the version
// being fetched: its validator changed, so ranges of it must not be spliced
// into what was already written.
var ErrChanged = errors.New("remote file changed during the download")

// ErrRangeIgnored reports a server that answered a ranged request with the
// whole resource (200) although it had promised ranges.
var ErrRangeIgnored = errors.New("server ignored the Range request")

// StatusError is an HTTP error status answered by the server.
type StatusError struct {
	URL        string
	Code       int
	Status     string        // e.g. "404 Not Found"
	RetryAfter time.Duration // from Retry-After, zero when absent
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: server answered %s", e.URL, e.Status)
}

// RangeError reports a 206 response whose Content-Range or length is not
// what was asked for.
type RangeError struct {
	Asked  string // the Range header sent
	Got    string // what the server claimed, e.g. its Content-Range
	Reason string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("asked %s, server sent %s: %s", e.Asked, e.Got, e.Reason)
}

// statusError builds a StatusError from a response.
func statusError(resp *http.Response) *StatusError {
	e := &StatusError{URL: resp.Request.URL.Redacted(), Code: resp.StatusCode, Status: resp.Status}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

// retryable reports whether a failed request may succeed when tried again.
// Never when the context is done; yes for timeouts, resets, truncated bodies,
// 408, 429 and 5xx; no for other statuses, ignored ranges, mismatched
// Content-Range and changed validators.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusRequestTimeout || se.Code == http.StatusTooManyRequests || se.Code >= 500
	}
	var re *RangeError
	if errors.Is(err, ErrChanged) || errors.Is(err, ErrRangeIgnored) || errors.As(err, &re) {
		return false
	}
	if errors.Is(err, ErrStalled) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// workingProgress is how many bytes an attempt must deliver before it
// fails for the failure not to count against the retries: a connection that
// moved that much was working, and a long transfer over a flaky link must
// finish; one that delivers a trickle and stalls, again and again, must not
// be retried forever.
const workingProgress = 64 << 10

// retryDelay is how long to wait before attempt (1-based) after err.
func retryDelay(err error, attempt int, backoff func(int) time.Duration) time.Duration {
	d := backoff(attempt)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = min(se.RetryAfter, 5*time.Minute)
	}
	return d
}

// wait blocks for d or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
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
