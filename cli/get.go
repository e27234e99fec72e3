package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"rget/download"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// getConfig is everything `rget get` was asked to do.
type getConfig struct {
	URL         string
	Output      string // "" derives it from the server's answer
	Dir         string // where a derived name goes; "" is the current directory
	Connections int
	SHA256      string // expected digest, lower-case hex, or ""
	Force       bool
	Restart     bool // ignore a journal left by an earlier run
	Debug       bool // one line per request on stderr
	// Checkpoint is the interval of cheap journal records: if zero,
	// defaultCheckpoint; negative disables the journal (no resume).
	Checkpoint  time.Duration
	Stall       time.Duration
	Quiet       bool
	JSON        bool
	Retries     int
	SegmentSize int64 // 0 picks one from the size and connection count
	Header      http.Header
	Insecure    bool
	AllowHTTP   bool // https -> http redirects
	// Discard throws the bytes away instead of writing a file (for
	// benchmarks): no part file, no journal, no hash, nothing published.
	Discard bool
}

func getCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "download URL with many connections, verify and publish it",
		ArgsUsage: "URL",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (default: the server's file name, in the current directory)"},
			&cli.StringFlag{Name: "dir", Aliases: []string{"d"}, Usage: "put the file in `DIR` (with -o: relative to it)"},
			&cli.IntFlag{Name: "connections", Aliases: []string{"c"}, Value: 8, Usage: "number of connections at once", EnvVars: []string{"RGET_CONNECTIONS"}},
			&cli.StringFlag{Name: "sha256", Usage: "expected SHA-256 of the file, in `HEX`; a mismatch exits 3 and publishes nothing"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "replace an existing output file"},
			&cli.BoolFlag{Name: "restart", Usage: "start over, ignoring what an interrupted earlier run left"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress display"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object describing the result on stdout"},
			&cli.IntFlag{Name: "retries", Value: 8, Usage: "retries of one range after a transient failure (0: none)"},
			&cli.DurationFlag{Name: "stall-timeout", Value: 20 * time.Second, Usage: "drop and retry a connection that delivers nothing for this long"},
			&cli.DurationFlag{Name: "checkpoint-every", Value: 100 * time.Millisecond, Usage: "journal checkpoint interval (durable every 3 s); 0 disables the journal and resume"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile to `FILE`"},
			&cli.BoolFlag{Name: "debug", Usage: "print every request (Range, status, bytes, duration) on stderr"},
			&cli.StringFlag{Name: "segment-size", Usage: "size of the ranges handed out, e.g. 16MiB (default: about 4 per connection, 1-64 MiB)"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "extra request header `\"Name: value\"` (repeatable)"},
			&cli.BoolFlag{Name: "insecure", Aliases: []string{"k"}, Usage: "do not verify TLS certificates (unsafe)"},
			&cli.BoolFlag{Name: "allow-insecure-redirect", Usage: "follow redirects from https to http"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := getConfigFrom(c)
			if err != nil {
				return err
			}
			if path := c.String("cpuprofile"); path != "" {
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			return get(c.Context, cfg, stdout, stderr)
		},
	}
}

// getConfigFrom validates the command line of `rget get`.
func getConfigFrom(c *cli.Context) (getConfig, error) {
	if c.NArg() != 1 {
		if c.NArg() == 0 {
			return getConfig{}, usagef("get: missing URL (usage: rget get URL [-o OUT] [-c N])")
		}
		return getConfig{}, usagef("get: one URL at a time (got %d arguments)", c.NArg())
	}
	cfg := getConfig{
		URL:         c.Args().First(),
		Output:      c.String("output"),
		Dir:         c.String("dir"),
		Connections: c.Int("connections"),
		SHA256:      strings.ToLower(strings.TrimSpace(c.String("sha256"))),
		Force:       c.Bool("force"),
		Restart:     c.Bool("restart"),
		Debug:       c.Bool("debug"),
		Checkpoint:  c.Duration("checkpoint-every"),
		Stall:       c.Duration("stall-timeout"),
		Quiet:       c.Bool("quiet"),
		JSON:        c.Bool("json"),
		Retries:     c.Int("retries"),
		Insecure:    c.Bool("insecure"),
		AllowHTTP:   c.Bool("allow-insecure-redirect"),
		Header:      http.Header{},
	}
	if err := checkURL(cfg.URL); err != nil {
		return cfg, err
	}
	if cfg.Connections < 1 {
		return cfg, usagef("get: --connections must be at least 1, not %d", cfg.Connections)
	}
	if cfg.SHA256 != "" {
		if b, err := hex.DecodeString(cfg.SHA256); err != nil || len(b) != 32 {
			return cfg, usagef("get: --sha256 must be 64 hex digits, not %q", cfg.SHA256)
		}
	}
	switch {
	case cfg.Checkpoint < 0:
		return cfg, usagef("get: --checkpoint-every must not be negative")
	case cfg.Checkpoint == 0:
		cfg.Checkpoint = -1 // the flag's 0: no journal
	}
	if cfg.Stall <= 0 {
		return cfg, usagef("get: --stall-timeout must be positive, not %v", cfg.Stall)
	}
	if cfg.Retries == 0 {
		cfg.Retries = -1 // segment.Options: negative means none
	}
	if s := c.String("segment-size"); s != "" {
		n, err := parseSize(s)
		if err != nil || n < 1 {
			return cfg, usagef("get: --segment-size: %v", err)
		}
		cfg.SegmentSize = n
	}
	for _, h := range c.StringSlice("header") {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return cfg, usagef("get: --header %q is not \"Name: value\"", h)
		}
		cfg.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return cfg, nil
}

// checkURL rejects what cannot be downloaded before any connection is made.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return usageError{fmt.Errorf("bad URL: %w", err)}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return usagef("bad URL %q: only http and https are supported", u.Redacted())
	}
	if u.Host == "" {
		return usagef("bad URL %q: no host", u.Redacted())
	}
	return nil
}

// options turns the command line into the library's options; the events
// go to the terminal through ev.
func (cfg getConfig) options(ev *events) download.Options {
	return download.Options{
		Output: cfg.Output, Dir: cfg.Dir, Connections: cfg.Connections, SHA256: cfg.SHA256,
		Force: cfg.Force, Restart: cfg.Restart, Checkpoint: cfg.Checkpoint, StallTimeout: cfg.Stall,
		Retries: cfg.Retries, SegmentSize: cfg.SegmentSize, Header: cfg.Header, Insecure: cfg.Insecure,
		AllowInsecureRedirect: cfg.AllowHTTP, Discard: cfg.Discard, OnEvent: ev.handle,
	}
}

// get runs one download and reports it.
func get(ctx context.Context, cfg getConfig, stdout, stderr io.Writer) error {
	ev := newEvents(cfg, stderr)
	if cfg.Debug {
		// What the standard library logs (net/http's reports of junk on
		// an idle connection) is shown with the requests.
		log.SetFlags(0)
		log.SetPrefix("rget: debug: ")
		log.SetOutput(stderr)
	}
	res, err := download.Run(ctx, cfg.URL, cfg.options(ev))
	ev.close()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: download of %s stopped, progress saved; rerun the same command to resume", errInterrupted, redact(cfg.URL))
		}
		return advise(err)
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	if cfg.Quiet {
		fmt.Fprintf(stderr, "%s  %s\n", res.SHA256, res.Output)
		return nil
	}
	if res.AlreadyComplete {
		fmt.Fprintf(stderr, "rget: %s is already complete (sha256 %s matches); nothing to download\n", res.Output, res.SHA256)
		return nil
	}
	fmt.Fprintf(stderr, "rget: saved %s: %s in %.2f s, %s, %d connections, %d retries\nsha256 %s\n",
		res.Output, formatBytes(res.Size), res.Seconds, formatRate(res.BytesPerSecond),
		res.Connections, res.Retries, res.SHA256)
	return nil
}

// redact removes credentials from a URL for display and reports.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// startCPUProfile profiles the process into path until the returned func.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
