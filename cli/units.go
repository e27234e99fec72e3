package cli

import (
	"fmt"
	"rget/download"
	"strconv"
	"strings"
)

// parseSize parses a byte count such as "1048576", "64KiB", "1GiB", "25MB"
// or "1.5G" (a bare K, M, G, T is binary, as in curl and aria2).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("bad size %q: unknown unit %q", s, unit)
	}
	f := v * float64(mult)
	if f >= 1<<63 {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return int64(f), nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// formatBytes formats n bytes in binary units: "512 B", "1.5 MiB".
func formatBytes(n int64) string { return download.FormatSize(n) }

// formatRate formats a rate in decimal megabytes per second, the unit
// downloaders and benchmarks quote.
func formatRate(bytesPerSec float64) string {
	return fmt.Sprintf("%.1f MB/s", bytesPerSec/1e6)
}
