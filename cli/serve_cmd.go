package cli

// This file holds `rget serve`: a Range-capable HTTP server for a real
// directory or for the synthetic file of `rget bench`, with an optional cap
// per connection, to test rget (or any downloader) against.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"rget/origin"
	"time"

	"github.com/urfave/cli/v2"
)

// syntheticPath is the path the synthetic file is announced at (the origin
// serves it at any path but its few special routes).
const syntheticPath = "/synthetic.bin"

// serveConfig is everything `rget serve` was asked to do.
type serveConfig struct {
	Dir         string // "" with Synthetic
	Synthetic   int64  // size of the synthetic file; 0 serves Dir
	Seed        uint64
	Addr        string
	RatePerConn int64 // bytes per second; 0 = no cap
	SlowConn    int64 // the first connection's cap in bytes per second; 0 = none
	Latency     time.Duration
}

func serveCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "serve a directory (or --synthetic SIZE) over HTTP, with ranges, until interrupted",
		ArgsUsage: "DIR",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen on `HOST:PORT` (port 0: any free one)"},
			&cli.StringFlag{Name: "rate-per-conn", Usage: "cap every connection at `RATE` bytes/s (e.g. 25MB)"},
			&cli.StringFlag{Name: "synthetic", Usage: "serve deterministic synthetic content of `SIZE` (e.g. 10GiB) instead of a directory"},
			&cli.Uint64Flag{Name: "seed", Value: syntheticSeed, Usage: "seed of the synthetic content"},
			&cli.StringFlag{Name: "slow-conn", Usage: "cap the first connection accepted at `RATE` bytes/s: one connection much slower than the others"},
			&cli.DurationFlag{Name: "latency", Usage: "delay the answer to every request by `D`"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := serveConfigFrom(c)
			if err != nil {
				return err
			}
			return serve(c.Context, cfg, stdout, stderr)
		},
	}
}

// serveConfigFrom validates the command line of `rget serve`.
func serveConfigFrom(c *cli.Context) (serveConfig, error) {
	cfg := serveConfig{Addr: c.String("addr"), Seed: c.Uint64("seed"), Latency: c.Duration("latency")}
	if s := c.String("synthetic"); s != "" {
		n, err := parseSize(s)
		if err != nil || n < 1 {
			return cfg, usagef("serve: --synthetic: want a size of at least 1 byte, not %q", s)
		}
		cfg.Synthetic = n
	}
	switch {
	case c.NArg() > 1:
		return cfg, usagef("serve: one DIR at a time (got %d arguments)", c.NArg())
	case c.NArg() == 1 && cfg.Synthetic > 0:
		return cfg, usagef("serve: DIR or --synthetic SIZE, not both")
	case c.NArg() == 0 && cfg.Synthetic == 0:
		return cfg, usagef("serve: missing DIR (usage: rget serve DIR, or rget serve --synthetic SIZE)")
	case c.NArg() == 1:
		cfg.Dir = c.Args().First()
	}
	if s := c.String("rate-per-conn"); s != "" {
		n, err := parseSize(s)
		if err != nil || n < 1 {
			return cfg, usagef("serve: --rate-per-conn: want a rate of at least 1 byte/s, not %q", s)
		}
		cfg.RatePerConn = n
	}
	if s := c.String("slow-conn"); s != "" {
		n, err := parseSize(s)
		if err != nil || n < 1 {
			return cfg, usagef("serve: --slow-conn: want a rate of at least 1 byte/s, not %q", s)
		}
		cfg.SlowConn = n
	}
	if cfg.Latency < 0 {
		return cfg, usagef("serve: --latency must not be negative")
	}
	return cfg, nil
}

// serve serves until ctx is done, then closes every connection. It prints
// the URL alone on a line on stdout (for scripts, and for `rget bench`,
// which reads it), and a description on stderr.
func serve(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) error {
	var (
		h     http.Handler
		what  string
		route = syntheticPath
	)
	if cfg.Dir != "" {
		root, err := os.OpenRoot(cfg.Dir)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer root.Close()
		h, what, route = origin.Delayed(origin.Dir(root), cfg.Latency), cfg.Dir, "/"
	} else {
		content := origin.Content{Size: cfg.Synthetic, Seed: cfg.Seed}
		h = origin.New(content, origin.WithLatency(cfg.Latency))
		what = fmt.Sprintf("synthetic content, %s (seed %d, ETag %s)", formatBytes(cfg.Synthetic), cfg.Seed, content.ETag())
	}
	srv, err := origin.Start(h, origin.WithAddr(cfg.Addr), origin.WithRatePerConn(cfg.RatePerConn), origin.WithSlowConn(cfg.SlowConn))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	u := displayURL(srv.URL) + route
	fmt.Fprintln(stdout, u)
	limits := ""
	if cfg.RatePerConn > 0 {
		limits += ", " + formatRate(float64(cfg.RatePerConn)) + " per connection"
	}
	if cfg.Latency > 0 {
		limits += fmt.Sprintf(", %v latency per request", cfg.Latency)
	}
	fmt.Fprintf(stderr, "rget: serving %s at %s%s; Ctrl-C to stop\n", what, u, limits)
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// displayURL replaces an unspecified listen address (0.0.0.0, ::) in base
// with 127.0.0.1, which a client can connect to.
func displayURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		u.Host = net.JoinHostPort("127.0.0.1", u.Port())
	}
	return u.String()
}
