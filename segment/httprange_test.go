package segment

import (
	"errors"
	"fmt"
	"testing"
)

func TestFormatRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		start, end int64
		want       string
	}{
		{0, 1, "bytes=0-0"},
		{0, 100, "bytes=0-99"},
		{1 << 40, 1<<40 + 1, "bytes=1099511627776-1099511627776"},
	} {
		if got := formatRange(tc.start, tc.end); got != tc.want {
			t.Errorf("formatRange(%d, %d) = %q, want %q", tc.start, tc.end, got, tc.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want contentRange
		ok   bool
	}{
		{"bytes 0-0/1", contentRange{0, 1, 1}, true},
		{"bytes 0-99/100", contentRange{0, 100, 100}, true},
		{"bytes 10-19/*", contentRange{10, 20, -1}, true},
		{"BYTES 5-5/6", contentRange{5, 6, 6}, true},
		{"bytes */0", contentRange{0, 0, 0}, true},
		{"bytes */1000", contentRange{0, 0, 1000}, true},
		{"bytes  1-2/3", contentRange{1, 3, 3}, true},
		{"", contentRange{}, false},
		{"bytes", contentRange{}, false},
		{"bytes 0-99", contentRange{}, false},
		{"bytes 0-100/100", contentRange{}, false}, // last past the end
		{"bytes 10-9/100", contentRange{}, false},  // reversed
		{"bytes -1-9/100", contentRange{}, false},
		{"bytes +1-9/100", contentRange{}, false},
		{"bytes 1-+9/100", contentRange{}, false},
		{"bytes 0-9/-100", contentRange{}, false},
		{"bytes */*", contentRange{}, false},
		{"items 0-9/100", contentRange{}, false},
		{"bytes 0-9223372036854775807/*", contentRange{}, false},
		{"bytes 0-99999999999999999999/*", contentRange{}, false},
		{"bytes 0 - 9/100", contentRange{}, false},
	} {
		got, err := parseContentRange(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("parseContentRange(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
		}
		if !tc.ok && (err == nil || !errors.Is(err, errBadContentRange)) {
			t.Errorf("parseContentRange(%q) = %+v, %v, want errBadContentRange", tc.in, got, err)
		}
	}
}

// FuzzContentRange checks that whatever parses is a consistent range, and
// that a formatted range parses back to itself.
func FuzzContentRange(f *testing.F) {
	f.Add("bytes 0-0/1")
	f.Add("bytes 100-199/1000")
	f.Add("bytes */0")
	f.Add("bytes 5-9/*")
	f.Fuzz(func(t *testing.T, s string) {
		cr, err := parseContentRange(s)
		if err != nil {
			return
		}
		if cr.start < 0 || cr.end < cr.start || cr.total < -1 || (cr.total >= 0 && cr.end > cr.total) {
			t.Fatalf("parseContentRange(%q) = %+v: inconsistent", s, cr)
		}
		if cr.end == cr.start {
			return // "*/total"
		}
		// The Range we would have asked for this span, echoed back as a
		// Content-Range, parses to the same span.
		rng := formatRange(cr.start, cr.end)
		echo := fmt.Sprintf("bytes %s/%d", rng[len("bytes="):], cr.total)
		if cr.total < 0 {
			echo = fmt.Sprintf("bytes %s/*", rng[len("bytes="):])
		}
		back, err := parseContentRange(echo)
		if err != nil || back != cr {
			t.Fatalf("round trip of %q via %q = %+v, %v, want %+v", s, echo, back, err, cr)
		}
	})
}
