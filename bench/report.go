package bench

// This file holds the report of a sweep: the raw runs, the summary per tool
// and connection count (medians, min-max, ideal, share), and its text form,
// a table and a bar chart for the terminal.

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"rget/download"
)

// Report is the result of a sweep; it encodes to JSON as is.
type Report struct {
	Date time.Time `json:"date"`
	Host Host      `json:"host"`
	// Command and Notes are the caller's: the command line that made the
	// report, and remarks printed under its header.
	Command     string     `json:"command,omitempty"`
	Notes       []string   `json:"notes,omitempty"`
	Target      Target     `json:"target"`
	RatePerConn int64      `json:"rate_per_conn,omitempty"` // bytes per second
	Conns       []int      `json:"conns"`
	Runs        int        `json:"runs"` // rounds per connection count
	Settle      float64    `json:"settle_s,omitempty"`
	Tools       []ToolInfo `json:"tools"`
	// UncappedMBps is the best rate of the uncapped measurement; 0 if none.
	UncappedMBps float64 `json:"uncapped_mb_per_s,omitempty"`
	Results      []Run   `json:"results"`
	Summary      []Stat  `json:"summary"`
}

// Host describes the machine a report was made on.
type Host struct {
	OS   string `json:"os"`
	Arch string `json:"arch"`
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
}

// ToolInfo names a tool of a report.
type ToolInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Stat summarizes the runs of one tool at one connection count. Rates are
// in MB/s (1e6 bytes per second); medians are over the successful runs.
type Stat struct {
	Tool      string  `json:"tool"`
	Conns     int     `json:"conns"`
	Runs      int     `json:"runs"`
	OK        int     `json:"ok"`
	MBps      float64 `json:"mb_per_s"`
	MinMBps   float64 `json:"min_mb_per_s"`
	MaxMBps   float64 `json:"max_mb_per_s"`
	CPUPerGiB float64 `json:"cpu_s_per_gib"`
	PeakRSS   int64   `json:"peak_rss_bytes"` // median of the runs' peaks
	RSSScope  string  `json:"rss_scope,omitempty"`
	// TailSeconds is the median time from the last byte to the verified
	// file; 0 if the tool does not report it.
	TailSeconds float64 `json:"tail_s,omitempty"`
	// Ideal is Conns × the cap per connection, bounded by the uncapped
	// rate; 0 without a cap. Share is MBps / Ideal.
	Ideal float64 `json:"ideal_mb_per_s,omitempty"`
	Share float64 `json:"share_of_ideal,omitempty"`
	// VsRef is MBps divided by the reference tool's (Tools[0]) at the same
	// connection count; 0 if either has no successful run.
	VsRef float64 `json:"vs_ref,omitempty"`
}

func newReport(cfg Config, rounds int) *Report {
	r := &Report{
		Date:        time.Now().UTC().Truncate(time.Second),
		Host:        Host{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()},
		Target:      cfg.Target,
		RatePerConn: cfg.RatePerConn,
		Conns:       slices.Clone(cfg.Conns),
		Runs:        rounds,
		Settle:      cfg.Settle.Seconds(),
		Results:     []Run{},
	}
	for _, t := range cfg.Tools {
		r.Tools = append(r.Tools, ToolInfo{Name: t.Name, Version: t.Version})
	}
	return r
}

// summarize fills UncappedMBps and Summary from Results.
func (r *Report) summarize() {
	r.UncappedMBps = 0
	for _, run := range r.Results {
		if run.Uncapped && run.OK {
			r.UncappedMBps = max(r.UncappedMBps, run.MBps)
		}
	}
	r.Summary = r.Summary[:0]
	for _, c := range r.Conns {
		for _, t := range r.Tools {
			r.Summary = append(r.Summary, r.stat(t.Name, c))
		}
	}
	for i := range r.Summary {
		s := &r.Summary[i]
		if ref, ok := r.Stat(r.Tools[0].Name, s.Conns); ok && ref.MBps > 0 && s.MBps > 0 {
			s.VsRef = s.MBps / ref.MBps
		}
	}
}

// stat summarizes the sweep runs of tool at conns.
func (r *Report) stat(tool string, conns int) Stat {
	s := Stat{Tool: tool, Conns: conns}
	var rates, cpus, rss, tails []float64
	for _, run := range r.Results {
		if run.Tool != tool || run.Conns != conns || run.Uncapped {
			continue
		}
		s.Runs++
		if !run.OK {
			continue
		}
		s.OK++
		rates = append(rates, run.MBps)
		cpus = append(cpus, run.CPUPerGiB())
		rss = append(rss, float64(run.PeakRSS))
		if run.TailSeconds > 0 {
			tails = append(tails, run.TailSeconds)
		}
		s.RSSScope = run.RSSScope
	}
	if len(rates) > 0 {
		s.MBps, s.MinMBps, s.MaxMBps = median(rates), slices.Min(rates), slices.Max(rates)
		s.CPUPerGiB = median(cpus)
		s.PeakRSS = int64(median(rss))
		s.TailSeconds = median(tails)
	}
	if r.RatePerConn > 0 {
		s.Ideal = float64(conns) * float64(r.RatePerConn) / 1e6
		if r.UncappedMBps > 0 {
			s.Ideal = min(s.Ideal, r.UncappedMBps)
		}
		s.Share = s.MBps / s.Ideal
	}
	return s
}

// Stat returns the summary of tool at conns.
func (r *Report) Stat(tool string, conns int) (Stat, bool) {
	for _, s := range r.Summary {
		if s.Tool == tool && s.Conns == conns {
			return s, true
		}
	}
	return Stat{}, false
}

// median returns the median of v (the mean of the middle two for an even
// count), 0 for none. It sorts v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// WriteText writes the report for a person: a header, the table, the
// failed runs, and a bar chart of MB/s per connection count.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	r.writeHeader(&b)
	b.WriteString("\n")
	r.writeTable(&b)
	r.writeFailures(&b)
	b.WriteString("\n")
	r.writeChart(&b, 48)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeHeader(b *strings.Builder) {
	fmt.Fprintf(b, "rget bench, %s, %s/%s, %d CPUs, %s\n", r.Date.Format("2006-01-02 15:04 UTC"),
		r.Host.OS, r.Host.Arch, r.Host.CPUs, r.Host.Go)
	if r.Command != "" {
		fmt.Fprintf(b, "command: %s\n", r.Command)
	}
	size := "size unknown"
	if r.Target.Size > 0 {
		size = download.FormatSize(r.Target.Size)
	}
	fmt.Fprintf(b, "target: %s, %s; %d run(s) per point", r.Target.URL, size, r.Runs)
	if r.Settle > 0 {
		fmt.Fprintf(b, ", %.1f s pause before each", r.Settle)
	}
	b.WriteString("\n")
	if r.RatePerConn > 0 {
		fmt.Fprintf(b, "cap: %.1f MB/s per connection", float64(r.RatePerConn)/1e6)
		if r.UncappedMBps > 0 {
			fmt.Fprintf(b, "; uncapped: %.1f MB/s (best of one %s run at each count; bounds the ideal)",
				r.UncappedMBps, r.Tools[0].Name)
		}
		b.WriteString("\n")
	}
	var tools []string
	for _, t := range r.Tools {
		s := t.Name
		if t.Version != "" {
			s += " " + t.Version
		}
		tools = append(tools, s)
	}
	fmt.Fprintf(b, "tools: %s\n", strings.Join(tools, ", "))
	for _, n := range r.Notes {
		fmt.Fprintf(b, "note: %s\n", n)
	}
}

func (r *Report) writeTable(b *strings.Builder) {
	ref := r.Tools[0].Name
	multi := len(r.Tools) > 1
	capped := r.RatePerConn > 0
	head := fmt.Sprintf("%5s  %-7s %5s %9s %15s", "conns", "tool", "ok", "MB/s", "min-max")
	if multi {
		head += fmt.Sprintf(" %7s", "vs "+ref)
	}
	if capped {
		head += fmt.Sprintf(" %8s %6s", "ideal", "share")
	}
	head += fmt.Sprintf(" %10s %9s %7s", "CPU s/GiB", "peak RSS", "tail s")
	b.WriteString(head + "\n")
	for _, s := range r.Summary {
		line := fmt.Sprintf("%5d  %-7s %5s", s.Conns, s.Tool, fmt.Sprintf("%d/%d", s.OK, s.Runs))
		if s.Runs == 0 {
			b.WriteString(line + "  not run\n")
			continue
		}
		if s.OK == 0 {
			b.WriteString(line + "  FAIL\n")
			continue
		}
		line += fmt.Sprintf(" %9.1f %15s", s.MBps, fmt.Sprintf("%.1f-%.1f", s.MinMBps, s.MaxMBps))
		if multi {
			line += fmt.Sprintf(" %7s", ratioText(s.VsRef))
		}
		if capped {
			line += fmt.Sprintf(" %8.1f %5.0f%%", s.Ideal, 100*s.Share)
		}
		rss := fmt.Sprintf("%.0f MiB", float64(s.PeakRSS)/(1<<20))
		switch s.RSSScope {
		case RSSProcessPeak:
			rss += "*"
		case RSSChildRusage:
			rss += "+"
		}
		tail := "n/a"
		if s.TailSeconds > 0 {
			tail = fmt.Sprintf("%.3f", s.TailSeconds)
		}
		line += fmt.Sprintf(" %10.2f %9s %7s", s.CPUPerGiB, rss, tail)
		b.WriteString(line + "\n")
	}
	var inProcess, processPeak, rusage bool
	for _, s := range r.Summary {
		inProcess = inProcess || s.RSSScope == RSSProcessRun || s.RSSScope == RSSProcessPeak
		processPeak = processPeak || s.RSSScope == RSSProcessPeak
		rusage = rusage || s.RSSScope == RSSChildRusage
	}
	if inProcess {
		b.WriteString("CPU and peak RSS of in-process runs are the whole bench process's (runner included).\n")
	}
	if processPeak {
		b.WriteString("* the peak resident set could not be reset between runs: it is the process's peak so far.\n")
	}
	if rusage {
		b.WriteString("+ ru_maxrss, which includes the bench process's resident set at the child's start.\n")
	}
	b.WriteString("tail s: from the last byte received to the verified file, as the tool reports it.\n")
}

func ratioText(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func (r *Report) writeFailures(b *strings.Builder) {
	for _, run := range r.Results {
		if run.OK {
			continue
		}
		what := fmt.Sprintf("round %d", run.Round)
		if run.Uncapped {
			what = "uncapped"
		}
		fmt.Fprintf(b, "failed: %s -c %d %s: %s\n", run.Tool, run.Conns, what, run.Error)
	}
}

// writeChart draws a horizontal bar per tool and connection count, width
// cells for the largest rate (or ideal): █ up to the median, · on to the
// ideal.
func (r *Report) writeChart(b *strings.Builder, width int) {
	top := 0.0
	for _, s := range r.Summary {
		top = max(top, s.MBps, s.Ideal)
	}
	if top <= 0 {
		return
	}
	b.WriteString("MB/s by connection count (█ median")
	if r.RatePerConn > 0 {
		b.WriteString(", · up to the ideal")
	}
	b.WriteString(")\n")
	nameW := 0
	for _, t := range r.Tools {
		nameW = max(nameW, len(t.Name))
	}
	for _, c := range r.Conns {
		label := fmt.Sprintf("c%d", c)
		for _, t := range r.Tools {
			s, _ := r.Stat(t.Name, c)
			if s.Runs == 0 {
				continue
			}
			bar := barCells(s.MBps/top*float64(width), s.Ideal/top*float64(width), width)
			fmt.Fprintf(b, "%-5s %-*s %s %7.1f\n", label, nameW, t.Name, bar, s.MBps)
			label = ""
		}
	}
}

// eighths are the partial block characters, from one eighth to seven.
var eighths = []rune("▏▎▍▌▋▊▉")

// barCells renders a bar filled to v cells (with eighths) and dotted on to
// ideal cells, padded to width.
func barCells(v, ideal float64, width int) string {
	v = math.Max(0, math.Min(v, float64(width)))
	var b strings.Builder
	full := int(v)
	b.WriteString(strings.Repeat("█", full))
	n := full
	if e := int((v - float64(full)) * 8); e > 0 && n < width {
		b.WriteRune(eighths[e-1])
		n++
	}
	for ; n < width; n++ {
		if float64(n) < math.Round(ideal) {
			b.WriteRune('·')
		} else {
			b.WriteRune(' ')
		}
	}
	return b.String()
}
