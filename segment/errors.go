package segment

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
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

// LocalError is a failure on this side that no retry can fix: writing the
// destination failed (a full disk, an I/O error).
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }

// permanentError marks a failure that cannot change on a retry.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// retryable reports whether a failed request may succeed when tried again.
// A failure is permanent when what caused it cannot change on a retry:
// the context is done, the server answered 4xx other than 408 and 429, the
// resource changed, a Range was answered with the whole resource or with
// other bytes, the certificate is not trusted, the URL or a redirect is
// refused, the destination cannot be written. Everything else (resets,
// timeouts, stalls, truncated bodies, protocol errors and garbage on a
// connection, 408, 429, 5xx) is transient: the transport drops a connection
// that failed, so the retry goes out on a fresh one.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusRequestTimeout || se.Code == http.StatusTooManyRequests || se.Code >= 500
	}
	var (
		re  *RangeError
		le  *LocalError
		pe  permanentError
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		rhe tls.RecordHeaderError
		fse *fs.PathError
	)
	switch {
	case errors.Is(err, ErrChanged), errors.Is(err, ErrRangeIgnored), errors.Is(err, context.Canceled),
		errors.As(err, &re), errors.As(err, &le), errors.As(err, &pe),
		errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie),
		errors.As(err, &rhe), errors.As(err, &fse):
		return false
	}
	return true
}

// refusal reports whether err is a server's refusal of the request: 429
// Too Many Requests or 503 Service Unavailable (the connection waits out
// the retry delay, and -c auto takes one away).
func refusal(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable)
}

// mayRetry reports whether a request that failed with err, the failures-th
// failure in a row, is tried again.
func (o *Options) mayRetry(ctx context.Context, err error, failures int) bool {
	return o.Retries >= 0 && failures <= o.Retries && retryable(ctx, err)
}

// retry is the one retry loop of requests that are not ranges of a ledger
// (the probe, a single stream): it runs do until it succeeds or fails for
// good, waiting between attempts. do reports whether its attempt moved
// enough bytes to count as working (then only failures in a row count).
func (o *Options) retry(ctx context.Context, what string, do func() (working bool, err error)) error {
	for failures := 1; ; failures++ {
		working, err := do()
		if err == nil {
			return nil
		}
		if working {
			failures = 1
		}
		if !o.mayRetry(ctx, err, failures) {
			return err
		}
		delay := retryDelay(err, failures, o.Backoff)
		o.retrying(Retry{What: what, Attempt: failures, Max: o.Retries, Delay: delay, Err: err})
		if werr := wait(ctx, delay); werr != nil {
			return err
		}
	}
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

// retrying counts a retry and tells OnRetry of it.
func (o *Options) retrying(r Retry) {
	if o.Progress != nil {
		o.Progress.Retries.Add(1)
	}
	if o.OnRetry != nil {
		o.OnRetry(r)
	}
}
