package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"rget/merge"
	"rget/segment"
)

// getConfig is everything `rget get` was asked to do.
type getConfig struct {
	URL         string
	Output      string // "" derives it from the server's answer
	Dir         string // where a derived name goes; "" is the current directory
	Connections int
	SHA256      string // expected digest, lower-case hex, or ""
	Force       bool
	Quiet       bool
	JSON        bool
	Retries     int
	SegmentSize int64 // 0 picks one from the size and connection count
	Header      http.Header
	Insecure    bool
	AllowHTTP   bool // https -> http redirects
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
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress display"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object describing the result on stdout"},
			&cli.IntFlag{Name: "retries", Value: 8, Usage: "retries of one range after a transient failure (0: none)"},
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

// getResult is what one download did; --json prints it.
type getResult struct {
	URL            string  `json:"url"`
	FinalURL       string  `json:"final_url"`
	Output         string  `json:"output"`
	Size           int64   `json:"size"`
	SHA256         string  `json:"sha256"`
	Verified       bool    `json:"verified"` // compared with --sha256
	Seconds        float64 `json:"seconds"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	Connections    int     `json:"connections"`
	Segments       int     `json:"segments"`
	Splits         int     `json:"splits"`
	Retries        int64   `json:"retries"`
	Ranges         bool    `json:"ranges"`
}

// get runs one download and reports it.
func get(ctx context.Context, cfg getConfig, stdout, stderr io.Writer) error {
	res, err := download(ctx, cfg, stderr)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: download of %s stopped", errInterrupted, cfg.URL)
		}
		return err
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
	fmt.Fprintf(stderr, "rget: saved %s: %s in %.2f s, %s, %d connections, %d retries\nsha256 %s\n",
		res.Output, formatBytes(res.Size), res.Seconds, formatRate(res.BytesPerSecond),
		res.Connections, res.Retries, res.SHA256)
	return nil
}

// download probes, plans, fetches, verifies and publishes.
func download(ctx context.Context, cfg getConfig, stderr io.Writer) (*getResult, error) {
	start := time.Now()
	client := segment.NewClient(segment.ClientOptions{
		Connections: cfg.Connections, Insecure: cfg.Insecure, AllowInsecureRedirect: cfg.AllowHTTP,
	})
	defer client.CloseIdleConnections()
	remote, err := segment.Probe(ctx, client, cfg.URL, segment.Options{Header: cfg.Header, Retries: cfg.Retries})
	if err != nil {
		return nil, err
	}
	out, err := outputPath(cfg, remote)
	if err != nil {
		return nil, err
	}
	if !remote.Ranges && !cfg.Quiet {
		fmt.Fprintf(stderr, "rget: %s does not serve byte ranges; downloading it as one stream\n", remote.FinalURL)
	}
	conns := cfg.Connections
	if !remote.Ranges {
		conns = 1
	}
	part := out + ".part"
	f, err := createPart(part, remote.Size)
	if err != nil {
		return nil, err
	}
	segSize := cfg.SegmentSize
	if segSize == 0 {
		segSize = segment.SegmentSize(remote.Size, conns)
	}
	plan := segment.NewPlan(remote.Size, segment.Split(remote.Size, segSize), 0)
	prog := segment.NewProgress(conns)
	cursor := merge.NewCursor(f)
	ferr := fetchWithCompanions(ctx, cfg, stderr, func(ctx context.Context) error {
		return segment.Fetch(ctx, client, remote, f, plan, segment.Options{
			Connections: conns, Retries: cfg.Retries, Header: cfg.Header, Progress: prog,
		})
	}, cursor, plan, prog, filepath.Base(out))
	if ferr != nil {
		f.Close()
		return nil, ferr
	}
	size := plan.Size()
	sum, err := merge.Finalize(ctx, f, cursor, merge.Options{
		Part: part, Final: out, Size: size, Want: cfg.SHA256, Replace: cfg.Force,
	})
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	return &getResult{
		URL: redact(cfg.URL), FinalURL: redact(remote.FinalURL), Output: out, Size: size,
		SHA256: hex.EncodeToString(sum[:]), Verified: cfg.SHA256 != "",
		Seconds: secs, BytesPerSecond: float64(size) / max(secs, 1e-9),
		Connections: conns, Segments: len(plan.Snapshot()), Splits: plan.Splits(),
		Retries: prog.Retries.Load(), Ranges: remote.Ranges,
	}, nil
}

// fetchWithCompanions runs fetch while the hash cursor follows the completed
// prefix and the progress view shows it; both stop when fetch returns.
func fetchWithCompanions(ctx context.Context, cfg getConfig, stderr io.Writer, fetch func(context.Context) error,
	cursor *merge.Cursor, plan *segment.Plan, prog *segment.Progress, name string) error {
	bg, stop := context.WithCancel(ctx)
	var g errgroup.Group
	g.Go(func() error { return merge.Follow(bg, cursor, plan.Prefix, 20*time.Millisecond) })
	v := newView(stderr, cfg.Quiet, name, plan, prog)
	g.Go(func() error { v.run(bg); return nil })
	err := fetch(ctx)
	v.finish(err == nil)
	stop()
	if werr := g.Wait(); err == nil {
		err = werr
	}
	return err
}

// outputPath decides where the file goes and refuses to clobber one.
func outputPath(cfg getConfig, r *segment.Remote) (string, error) {
	out := cfg.Output
	if out == "" {
		out = segment.FileName(r)
	}
	if cfg.Dir != "" && !filepath.IsAbs(out) {
		out = filepath.Join(cfg.Dir, out)
	}
	if fi, err := os.Stat(out); err == nil {
		if fi.IsDir() {
			return "", fmt.Errorf("output %s is a directory", out)
		}
		if !cfg.Force {
			return "", fmt.Errorf("output %s already exists; use --force to replace it", out)
		}
	}
	return out, nil
}

// createPart creates (or truncates) the part file and reserves size bytes
// for it where the filesystem allows, so that a full disk shows up now.
func createPart(path string, size int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create part file: %w", err)
	}
	if size > 0 {
		if err := preallocate(f, size); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("reserve %s for %s: %w", formatBytes(size), path, err)
		}
	}
	return f, nil
}

// redact removes credentials from a URL for display and reports.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
