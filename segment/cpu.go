package segment

// This file samples the machine's CPU time, so that -c auto and the
// verdict can tell whether the machine ran out of it.

import (
	"os"
	"strconv"
	"strings"
)

// CPUSample is the machine's CPU time so far (Linux /proc/stat, in clock
// ticks); OK is false where it cannot be read.
type CPUSample struct {
	Busy, Total float64
	OK          bool
}

// SampleCPU reads the machine's CPU time.
func SampleCPU() CPUSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return CPUSample{}
	}
	var s CPUSample
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return CPUSample{}
		}
		s.Total += n
		if i != 3 && i != 4 { // idle, iowait
			s.Busy += n
		}
	}
	s.OK = true
	return s
}

// BusyShare is the share of the machine's CPU time used between a and b,
// -1 when unknown.
func BusyShare(a, b CPUSample) float64 {
	if !a.OK || !b.OK || b.Total <= a.Total {
		return -1
	}
	return (b.Busy - a.Busy) / (b.Total - a.Total)
}
