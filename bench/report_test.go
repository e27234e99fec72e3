package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// sampleReport is a compare report with a cap, a failed run and a tool
// that never succeeded.
func sampleReport() *Report {
	r := &Report{
		Date:        time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC),
		Host:        Host{OS: "linux", Arch: "amd64", CPUs: 2, Go: "go1.26"},
		Command:     "rget bench --compare",
		Notes:       []string{"a note"},
		Target:      Target{URL: "http://127.0.0.1:1/synthetic.bin", Size: 1 << 30},
		RatePerConn: 25e6,
		Conns:       []int{1, 4},
		Runs:        2,
		Tools:       []ToolInfo{{Name: "rget", Version: "0.1"}, {Name: "<peer>", Version: "1.0"}, {Name: "axel"}},
	}
	add := func(tool string, conns, round int, ok bool, mbps float64) {
		run := Run{Tool: tool, Conns: conns, Round: round, OK: ok, Bytes: 1 << 30, MBps: mbps,
			UserCPU: 0.5, SysCPU: 0.5, PeakRSS: 20 << 20, RSSScope: RSSChild}
		if tool == "rget" {
			run.RSSScope, run.TailSeconds = RSSProcessPeak, 0.02
		}
		if !ok {
			run.MBps, run.Error = 0, "exit status 139"
		}
		r.Results = append(r.Results, run)
	}
	for _, c := range r.Conns {
		for round := 1; round <= 2; round++ {
			add("rget", c, round, true, 24*float64(c)+float64(round))
			add("<peer>", c, round, round == 1, 12*float64(c))
			add("axel", c, round, false, 0)
		}
	}
	r.summarize()
	return r
}

func TestSummary(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	if len(r.Summary) != 6 {
		t.Fatalf("summary has %d entries, want 6", len(r.Summary))
	}
	s, _ := r.Stat("rget", 4)
	if s.MBps != 97.5 || s.MinMBps != 97 || s.MaxMBps != 98 || s.OK != 2 || s.Runs != 2 || s.CPUPerGiB != 1 ||
		s.PeakRSS != 20<<20 || s.TailSeconds != 0.02 || s.Ideal != 100 || s.Share != 0.975 || s.VsRef != 1 {
		t.Errorf("Stat(rget, 4) = %+v", s)
	}
	p, _ := r.Stat("<peer>", 4)
	if p.OK != 1 || p.MBps != 48 || p.VsRef != 48/97.5 || p.TailSeconds != 0 {
		t.Errorf("Stat(<peer>, 4) = %+v", p)
	}
	if a, _ := r.Stat("axel", 1); a.OK != 0 || a.MBps != 0 || a.VsRef != 0 {
		t.Errorf("Stat(axel, 1) = %+v", a)
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1}, 3}, {[]float64{9, 1, 5}, 5}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(slices.Clone(tc.in)); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"2026-11-21 06:00 UTC", "command: rget bench --compare", "1.0 GiB", "cap: 25.0 MB/s per connection",
		"rget 0.1, <peer> 1.0, axel", "note: a note",
		"vs rget", "ideal", "share", "CPU s/GiB", "peak RSS", "tail s",
		"    4  rget      2/2      97.5       97.0-98.0    1.00    100.0    98%       1.00   20 MiB*   0.020",
		"    4  <peer>    1/2      48.0       48.0-48.0    0.49    100.0    48%       1.00    20 MiB     n/a",
		"    1  axel      0/2  FAIL",
		"failed: axel -c 4 round 2: exit status 139",
		"* the peak resident set could not be reset",
		"MB/s by connection count",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

// TestPartialReport: connection counts an interrupted sweep never reached
// say so, and have no bars.
func TestPartialReport(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	r.Conns = append(r.Conns, 16)
	r.summarize()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "   16  rget      0/0  not run") || strings.Contains(out, "c16") {
		t.Errorf("partial report:\n%s", out)
	}
}

func TestChart(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	sampleReport().writeChart(&b, 40)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 7 {
		t.Fatalf("chart has %d lines, want a title and 6 bars:\n%s", len(lines), b.String())
	}
	// The largest value (the ideal of 100 at c4) spans the width; rget's
	// 97.5 at c4 fills 39 cells, then a dot up to the ideal.
	c4 := lines[4]
	if !strings.HasPrefix(c4, "c4    rget   ") || !strings.Contains(c4, strings.Repeat("█", 39)+"·") || !strings.HasSuffix(c4, "97.5") {
		t.Errorf("c4 rget bar = %q", c4)
	}
	if w := utf8.RuneCountInString(lines[1]); w != utf8.RuneCountInString(lines[2]) {
		t.Errorf("bars of different widths:\n%s\n%s", lines[1], lines[2])
	}
}

func TestBarCells(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v, ideal float64
		want     string
	}{
		{0, 0, "     "},
		{2.5, 0, "██▌  "},
		{1, 4, "█··· "},
		{9, 9, "█████"},
		{-1, 0, "     "},
	} {
		if got := barCells(tc.v, tc.ideal, 5); got != tc.want {
			t.Errorf("barCells(%v, %v, 5) = %q, want %q", tc.v, tc.ideal, got, tc.want)
		}
	}
}

// TestWriteSVG: the chart is well-formed XML with a curve per tool that has
// data, the ideal, escaped names, and a legend.
func TestWriteSVG(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := sampleReport().WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var texts []string
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, b.String())
		}
		switch e := tok.(type) {
		case xml.StartElement:
			counts[e.Name.Local]++
		case xml.CharData:
			texts = append(texts, string(e))
		}
	}
	// rget and <peer> have a curve each (axel none), plus the ideal.
	if counts["svg"] != 1 || counts["polyline"] != 3 || counts["circle"] != 4 {
		t.Errorf("elements = %v", counts)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"|<peer>|", "|rget|", "|ideal|", "|axel|", "connections", "MB/s", "cap 25.0 MB/s"} {
		if !strings.Contains("|"+all+"|", want) {
			t.Errorf("SVG text lacks %q: %s", want, all)
		}
	}
}

func TestNiceStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {130, 200}} {
		if got := niceStep(tc.in); got != tc.want {
			t.Errorf("niceStep(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
