package segment

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errBadContentRange reports a Content-Range header that does not parse.
var errBadContentRange = errors.New("malformed Content-Range")

// formatRange formats the Range header value asking for [start, end).
// end must be greater than start.
func formatRange(start, end int64) string {
	return "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end-1, 10)
}

// contentRange is a parsed Content-Range: the half-open [start, end) of the
// body, and the complete length (-1 when the server sent "*").
type contentRange struct {
	start, end, total int64
}

// parseContentRange parses a Content-Range header value of the form
// "bytes first-last/complete" (RFC 9110, section 14.4), or "bytes */complete"
// as sent with a 416, returning start == end == 0 for the latter.
func parseContentRange(s string) (contentRange, error) {
	bad := fmt.Errorf("%w: %q", errBadContentRange, s)
	unit, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return contentRange{}, bad
	}
	rest = strings.TrimLeft(rest, " ")
	span, complete, ok := strings.Cut(rest, "/")
	if !ok {
		return contentRange{}, bad
	}
	cr := contentRange{total: -1}
	if complete != "*" {
		n, err := parseDigits(complete)
		if err != nil {
			return contentRange{}, bad
		}
		cr.total = n
	}
	if span == "*" {
		if cr.total < 0 {
			return contentRange{}, bad
		}
		return cr, nil
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return contentRange{}, bad
	}
	a, err1 := parseDigits(first)
	b, err2 := parseDigits(last)
	if err1 != nil || err2 != nil || b < a || b == 1<<63-1 {
		return contentRange{}, bad
	}
	if cr.total >= 0 && b >= cr.total {
		return contentRange{}, bad
	}
	cr.start, cr.end = a, b+1
	return cr, nil
}

// parseDigits parses a non-empty run of ASCII digits as a non-negative int64,
// rejecting signs, spaces and overflow (strconv.ParseInt accepts a sign).
func parseDigits(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
