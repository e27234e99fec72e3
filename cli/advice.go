package cli

// This file adds to a failed download's one-line message what the user can
// do about it, when the kind of failure makes that clear.

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"syscall"

	"rget/download"
	"rget/segment"
)

// advisedError is an error with advice appended to its message; it wraps
// the error unchanged, so exitCode sees through it.
type advisedError struct {
	err    error
	advice string
}

func (e *advisedError) Error() string { return e.err.Error() + "; " + e.advice }
func (e *advisedError) Unwrap() error { return e.err }

// advise returns err with advice for the user, or err itself when there is
// nothing useful to add.
func advise(err error) error {
	if a := adviceFor(err); a != "" {
		return &advisedError{err: err, advice: a}
	}
	return err
}

func adviceFor(err error) string {
	var (
		se  *segment.StatusError
		cve *tls.CertificateVerificationError
		ne  net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "free some space, then rerun the same command to resume"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return "check the permissions there, or choose another place with -o or --dir"
	case errors.Is(err, download.ErrOutputIsDir):
		return "to put the file in that directory, use -d DIR"
	case errors.As(err, &cve):
		return "the server's certificate is not trusted; --insecure skips the check (unsafe)"
	case errors.Is(err, segment.ErrChanged):
		return "rerun the same command to download the new version"
	case errors.Is(err, segment.ErrRangeIgnored):
		return "the server stopped serving byte ranges; rerun the same command to fetch it again"
	case errors.As(err, &se):
		switch {
		case se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden:
			return "check the URL and the credentials (-H)"
		case se.Code == http.StatusNotFound || se.Code == http.StatusGone:
			return "check the URL"
		case se.Code >= 500 || se.Code == http.StatusTooManyRequests:
			return "the server is failing; rerun the same command later"
		}
	case errors.Is(err, segment.ErrStalled), errors.As(err, &ne) && ne.Timeout():
		return "the connection kept stalling; rerun the same command later, or raise --stall-timeout"
	}
	return ""
}
