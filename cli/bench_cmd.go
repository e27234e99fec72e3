package cli

// This file holds `rget bench`: a throughput sweep over connection counts,
// against the embedded origin or a real URL, through the very download path
// of `rget get`, optionally side by side with other downloaders.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"rget/bench"
	"rget/download"
)

// syntheticSeed is the seed of the content `rget bench` and `rget serve
// --synthetic` serve, so that both agree on its SHA-256.
const syntheticSeed = 1

// benchConfig is everything `rget bench` was asked to do.
type benchConfig struct {
	URL          string // "" benchmarks the embedded origin
	Size         int64
	Conns        []int
	Runs         int
	RatePerConn  int64 // bytes per second; 0 = no cap
	Latency      time.Duration
	Settle       time.Duration
	JSON         bool
	Compare      bool
	Peers        []string
	Discard      bool
	Plot         string
	Dir          string
	InlineOrigin bool
}

func benchCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure download throughput over 1, 4, 16, 64 connections (embedded origin, or URL)",
		ArgsUsage: "[URL]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "size", Value: "1GiB", Usage: "`SIZE` of the synthetic file"},
			&cli.StringFlag{Name: "connections", Aliases: []string{"c"}, Value: "1,4,16,64", Usage: "connection counts to sweep, `N,N,...`"},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "`N` runs at each connection count"},
			&cli.StringFlag{Name: "rate-per-conn", Usage: "cap every connection of the origin at `RATE` bytes/s (e.g. 25MB)"},
			&cli.DurationFlag{Name: "latency", Usage: "delay the origin's answer to every request by `D` (e.g. 20ms)"},
			&cli.BoolFlag{Name: "json", Usage: "print every run's raw figures as one JSON object on stdout (the table goes to stderr)"},
			&cli.BoolFlag{Name: "compare", Usage: "run the other downloaders found on PATH too, interleaved"},
			&cli.StringFlag{Name: "peers", Value: strings.Join(bench.PeerNames, ","), Usage: "downloaders for --compare, `NAME,...`"},
			&cli.BoolFlag{Name: "discard", Usage: "rget throws the bytes away instead of writing the file (default with URL)"},
			&cli.StringFlag{Name: "plot", Usage: "write the chart as SVG to `FILE`"},
			&cli.DurationFlag{Name: "settle", Usage: "pause `D` before each run, so each starts from the same state (e.g. 3s on VMs that return freed memory to the host)"},
			&cli.StringFlag{Name: "dir", Usage: "download into `DIR` (default: a temporary directory, removed afterwards)"},
			&cli.BoolFlag{Name: "inline-origin", Usage: "serve the synthetic file from this process rather than a child rget serve process (its CPU then counts as rget's)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := benchConfigFrom(c)
			if err != nil {
				return err
			}
			return runBench(c.Context, cfg, stdout, stderr)
		},
	}
}

// benchConfigFrom validates the command line of `rget bench`.
func benchConfigFrom(c *cli.Context) (benchConfig, error) {
	cfg := benchConfig{
		Runs:         c.Int("runs"),
		Latency:      c.Duration("latency"),
		Settle:       c.Duration("settle"),
		JSON:         c.Bool("json"),
		Compare:      c.Bool("compare") || c.IsSet("peers"),
		Discard:      c.Bool("discard"),
		Plot:         c.String("plot"),
		Dir:          c.String("dir"),
		InlineOrigin: c.Bool("inline-origin"),
	}
	switch c.NArg() {
	case 0:
	case 1:
		cfg.URL = c.Args().First()
		if err := checkURL(cfg.URL); err != nil {
			return cfg, err
		}
		for _, f := range []string{"size", "rate-per-conn", "latency", "inline-origin"} {
			if c.IsSet(f) {
				return cfg, usagef("bench: --%s applies to the embedded origin, not to a URL", f)
			}
		}
		if !c.IsSet("discard") {
			cfg.Discard = true
		}
	default:
		return cfg, usagef("bench: at most one URL (got %d arguments)", c.NArg())
	}
	var err error
	if cfg.Size, err = parseSize(c.String("size")); err != nil || cfg.Size < 1 {
		return cfg, usagef("bench: --size: want a size of at least 1 byte, not %q", c.String("size"))
	}
	if cfg.Conns, err = parseConns(c.String("connections")); err != nil {
		return cfg, usagef("bench: --connections: %v", err)
	}
	if cfg.Runs < 1 {
		return cfg, usagef("bench: --runs must be at least 1, not %d", cfg.Runs)
	}
	if s := c.String("rate-per-conn"); s != "" {
		if cfg.RatePerConn, err = parseSize(s); err != nil || cfg.RatePerConn < 1 {
			return cfg, usagef("bench: --rate-per-conn: want a rate of at least 1 byte/s, not %q", s)
		}
	}
	if cfg.Latency < 0 || cfg.Settle < 0 {
		return cfg, usagef("bench: --latency and --settle must not be negative")
	}
	if cfg.Compare {
		for _, p := range strings.Split(c.String("peers"), ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !slices.Contains(bench.PeerNames, p) {
				return cfg, usagef("bench: --peers: unknown downloader %q (known: %s)", p, strings.Join(bench.PeerNames, ", "))
			}
			cfg.Peers = append(cfg.Peers, p)
		}
	}
	return cfg, nil
}

// parseConns parses a list of connection counts such as "1,4,16,64".
func parseConns(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a connection count of at least 1", strings.TrimSpace(f))
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%d is listed twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// runBench sets up the origin and the tools, runs the sweep with a progress
// display, and writes the report.
func runBench(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	setup, err := benchSetup(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer setup.stop()
	tools := []bench.Tool{bench.Rget(version, cfg.Discard, setup.target.SHA256)}
	if cfg.Compare {
		for _, name := range cfg.Peers {
			t, err := bench.Peer(ctx, name)
			if err != nil {
				fmt.Fprintf(stderr, "rget: bench: %s skipped: %v\n", name, err)
				continue
			}
			tools = append(tools, t)
		}
	}
	view := newBenchView(stderr)
	rep, err := bench.Sweep(ctx, bench.Config{
		Target: setup.target, Uncapped: setup.uncapped, RatePerConn: cfg.RatePerConn,
		Conns: cfg.Conns, Runs: cfg.Runs, Tools: tools, Dir: cfg.Dir, RunTimeout: runTimeout(cfg), Settle: cfg.Settle,
		OnStart: view.start, OnRun: view.done,
	})
	view.finish()
	if rep == nil {
		return err
	}
	rep.Command = benchCommandLine(cfg)
	rep.Target.URL = download.Redact(rep.Target.URL)
	rep.Notes = append(setup.notes, toolNotes(cfg, tools)...)
	if err != nil {
		if ctx.Err() != nil {
			if len(rep.Results) > 0 {
				fmt.Fprintln(stderr, "rget: bench: interrupted; the runs done so far:")
				rep.WriteText(stderr) //nolint:errcheck // best effort on the way out
			}
			return fmt.Errorf("%w: bench stopped", errInterrupted)
		}
		return err
	}
	return writeBenchReport(rep, cfg, stdout, stderr)
}

// writeBenchReport writes the table and chart (stdout, or stderr with
// --json), the JSON and the SVG, and fails if any rget run failed.
func writeBenchReport(rep *bench.Report, cfg benchConfig, stdout, stderr io.Writer) error {
	text := stdout
	if cfg.JSON {
		text = stderr
	}
	if err := rep.WriteText(text); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("bench: write JSON: %w", err)
		}
	}
	if cfg.Plot != "" {
		if err := writePlot(rep, cfg.Plot); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "rget: bench: chart written to %s\n", cfg.Plot)
	}
	var failed []bench.Run
	for _, r := range rep.Results {
		if r.Tool == rep.Tools[0].Name && !r.OK {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("bench: %d rget run(s) failed; first, with %d connections: %s", len(failed), failed[0].Conns, failed[0].Error)
	}
	return nil
}

func writePlot(rep *bench.Report, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --plot: %w", err)
	}
	werr := rep.WriteSVG(f)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("bench: --plot: %w", werr)
	}
	return nil
}

// runTimeout bounds one run of the embedded origin's sweep: three times the
// time of one connection at the cap (or at 20 MB/s), plus a minute. Runs
// against a URL are not bounded.
func runTimeout(cfg benchConfig) time.Duration {
	if cfg.URL != "" {
		return 0
	}
	rate := float64(cfg.RatePerConn)
	if rate == 0 {
		rate = 20e6
	}
	return time.Duration(3*float64(cfg.Size)/rate*float64(time.Second)) + time.Minute
}

// benchCommandLine is the command that reproduces the sweep.
func benchCommandLine(cfg benchConfig) string {
	conns := make([]string, len(cfg.Conns))
	for i, c := range cfg.Conns {
		conns[i] = strconv.Itoa(c)
	}
	s := "rget bench"
	if cfg.URL != "" {
		s += " " + download.Redact(cfg.URL)
	} else {
		s += " --size " + compactSize(cfg.Size)
		if cfg.RatePerConn > 0 {
			s += " --rate-per-conn " + compactSize(cfg.RatePerConn)
		}
		if cfg.Latency > 0 {
			s += " --latency " + cfg.Latency.String()
		}
	}
	s += " -c " + strings.Join(conns, ",") + " --runs " + strconv.Itoa(cfg.Runs)
	if cfg.Settle > 0 {
		s += " --settle " + cfg.Settle.String()
	}
	if cfg.Compare {
		s += " --compare"
	}
	if cfg.Discard {
		s += " --discard"
	}
	return s
}

// compactSize formats n as parseSize reads it: "1GiB", "32MiB", "25MB",
// "1000".
func compactSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// toolNotes explains what the tools did with the bytes.
func toolNotes(cfg benchConfig, tools []bench.Tool) []string {
	var notes []string
	if cfg.Discard {
		n := "rget discarded the bytes (no file, no hash; checked by size)"
		if len(tools) > 1 {
			n += "; the other tools wrote files"
		}
		notes = append(notes, n)
	}
	if cfg.Compare && len(tools) == 1 {
		notes = append(notes, "--compare: none of "+strings.Join(cfg.Peers, ", ")+" found on PATH")
	}
	if slices.ContainsFunc(tools, func(t bench.Tool) bool { return t.Name == "curl" || t.Name == "wget2" }) {
		notes = append(notes, "curl uses one connection whatever the count; wget2 1.99 fetches its chunks over one connection")
	}
	if slices.ContainsFunc(tools, func(t bench.Tool) bool { return t.Name == "aria2c" }) && slices.Max(cfg.Conns) > 16 {
		notes = append(notes, "aria2c opens at most 16 connections to one server")
	}
	return notes
}
