package cli

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"rget/download"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// getConfig is everything `rget get` was asked to do.
type getConfig struct {
	URL         string
	Output      string // "" derives it from the server's answer
	Dir         string // where a derived name goes; "" is the current directory
	Connections int    // with Auto, the most
	Auto        bool   // -c auto
	SHA256      string // expected digest, lower-case hex, or ""
	Force       bool
	Restart     bool // ignore a journal left by an earlier run
	Debug       bool // one line per request on stderr
	// Checkpoint is the interval of cheap journal records: if zero,
	// defaultCheckpoint; negative disables the journal (no resume).
	Checkpoint   time.Duration
	Stall        time.Duration
	Quiet        bool
	JSON         bool
	Retries      int
	SegmentSize  int64 // 0 picks one from the size and connection count
	NoPipelining bool
	DirectIO     bool
	Header       http.Header
	Insecure     bool
	AllowHTTP    bool // https -> http redirects
	// Discard throws the bytes away instead of writing a file (for
	// benchmarks): no part file, no journal, no hash, nothing published.
	Discard        bool
	Proxy, NoProxy string
	RootCAs        *x509.CertPool
	ConnectTimeout time.Duration
	MaxTime        time.Duration // 0: no limit
	LimitRate      int64         // bytes per second; 0: none
	NoScheme       bool          // the URL had none: http:// was put before it
	// Several files (more than one URL, or --input-file): Requests, and
	// Batch is set; one file: URL, with Mirrors.
	Requests   []download.Request
	Batch      bool
	Mirrors    []string
	Checksums  string // --checksums: a path or URL
	Jobs       int    // files at once; 0: as many as connections
	Warnings   []string
	Window     int64 // --buffer: the reorder window of -o -; 0 the default
	Decompress bool
	Events     string // --events FILE
	JSONEvents bool   // --progress json: stderr carries the events as JSON lines, nothing else
}

// toStdout reports whether the file goes to stdout (-o -).
func (cfg getConfig) toStdout() bool { return cfg.Output == "-" }

func getCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "download URL with many connections, verify and publish it",
		ArgsUsage: "URL...",
		Flags: withEnv([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (default: the server's file name, in the current directory); - is stdout, in order"},
			&cli.BoolFlag{Name: "decompress", Aliases: []string{"z"}, Usage: "decompress gzip, zstd, xz or bzip2 while downloading (chosen by the data); the output drops the suffix"},
			&cli.StringFlag{Name: "events", Usage: "write the download's events to `FILE` as JSON lines (schema in README)"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "progress on stderr: auto (bars on a terminal, else a line every 5 s), json (events as JSON lines), none"},
			&cli.StringFlag{Name: "buffer", Usage: "with -o -: the reorder window, `SIZE` bytes held at most (default 64MiB)"},
			&cli.StringFlag{Name: "dir", Aliases: []string{"d"}, Usage: "put the file in `DIR` (with -o: relative to it)"},
			&cli.StringFlag{Name: "connections", Aliases: []string{"c"}, Value: "auto", Usage: "number of connections at once, `N`, or auto: found by measuring, up to --max-connections (a batch without -c: 8 in all)", EnvVars: []string{"RGET_CONNECTIONS"}},
			&cli.IntFlag{Name: "max-connections", Value: 64, Usage: "with -c auto: never more than `N` connections"},
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
			&cli.BoolFlag{Name: "direct-io", Usage: "write a file of 8 MiB or more around the page cache and read it back so for its hash (O_DIRECT), where the file system allows and while the disk takes direct writes at 150 MB/s or more (default: through the page cache)"},
			&cli.BoolFlag{Name: "no-direct-io", Hidden: true, Usage: "the default (the page cache); accepted for scripts written when direct I/O was"},
			&cli.BoolFlag{Name: "no-pipelining", Usage: "send a connection's next range request only once its answer before has ended (default: on a path with 2 ms or more of latency, a little before, HTTP/1.1 pipelining; not in a batch)"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "extra request `HEADER` \"Name: value\" (repeatable)"},
			&cli.BoolFlag{Name: "insecure", Aliases: []string{"k"}, Usage: "do not verify TLS certificates (unsafe)"},
			&cli.BoolFlag{Name: "allow-insecure-redirect", Usage: "follow redirects from https to http"},
			&cli.StringFlag{Name: "user-agent", Aliases: []string{"A"}, Usage: "send `UA` as the User-Agent (default rget/VERSION)"},
			&cli.StringFlag{Name: "proxy", Aliases: []string{"x"}, Usage: "use the proxy at `URL` (default: HTTP_PROXY, HTTPS_PROXY from the environment)", EnvVars: []string{"RGET_PROXY"}},
			&cli.StringFlag{Name: "noproxy", Usage: "reach the comma-separated `HOSTS` without --proxy (subdomains included)"},
			&cli.StringFlag{Name: "cacert", Usage: "trust the certificate authorities in PEM `FILE` instead of the system's"},
			&cli.DurationFlag{Name: "connect-timeout", Value: 30 * time.Second, Usage: "give up a connection attempt (TCP and TLS) after this long"},
			&cli.DurationFlag{Name: "max-time", Usage: "give up the whole download after this long (0: never); progress is saved for a rerun"},
			&cli.BoolFlag{Name: "netrc", Usage: "log in with the ~/.netrc entry of the URL's host (sent to that host only)"},
			&cli.StringFlag{Name: "netrc-file", Usage: "as --netrc, with the .netrc at `FILE`"},
			&cli.StringFlag{Name: "input-file", Aliases: []string{"i"}, Usage: "download the URLs listed in `FILE` (- for stdin; aria2c's format, see README)"},
			&cli.StringSliceFlag{Name: "mirror", Usage: "another source `URL` of the same file (repeatable); ranges go to the fastest"},
			&cli.StringFlag{Name: "checksums", Usage: "verify each file against its line in the sha256sum-format `FILE` or URL (SHA256SUMS)"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Usage: "download at most `N` files at once (default: as many as connections)"},
			&cli.StringFlag{Name: "limit-rate", Usage: "download at most `RATE` bytes per second over all connections, e.g. 500K, 10M (binary units)"},
		}),
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
	reqs, warnings, err := requestsFrom(c)
	if err != nil {
		return getConfig{}, err
	}
	cfg := getConfig{
		Requests:     reqs,
		Warnings:     warnings,
		Batch:        len(reqs) > 1 || c.String("input-file") != "",
		Mirrors:      reqs[0].Mirrors,
		Checksums:    c.String("checksums"),
		Jobs:         c.Int("jobs"),
		Decompress:   c.Bool("decompress"),
		Events:       c.String("events"),
		URL:          reqs[0].URL,
		NoScheme:     c.NArg() > 0 && !strings.Contains(c.Args().First(), "://"),
		Output:       c.String("output"),
		Dir:          c.String("dir"),
		SHA256:       strings.ToLower(strings.TrimSpace(c.String("sha256"))),
		Force:        c.Bool("force"),
		Restart:      c.Bool("restart"),
		Debug:        c.Bool("debug"),
		Checkpoint:   c.Duration("checkpoint-every"),
		Stall:        c.Duration("stall-timeout"),
		Quiet:        c.Bool("quiet"),
		JSON:         c.Bool("json"),
		Retries:      c.Int("retries"),
		Insecure:     c.Bool("insecure"),
		NoPipelining: c.Bool("no-pipelining"),
		DirectIO:     c.Bool("direct-io") && !c.Bool("no-direct-io"),
		AllowHTTP:    c.Bool("allow-insecure-redirect"),
		Header:       http.Header{},
	}
	if cfg.Batch && (cfg.Output != "" || cfg.SHA256 != "") {
		return cfg, usagef("get: -o and --sha256 name one file; with several, use -d, and out= or sha256= in an --input-file, or --checksums")
	}
	if s := c.String("buffer"); s != "" {
		n, err := parseSize(s)
		if err != nil || n < 256<<10 {
			return cfg, usagef("get: --buffer %q: want a size of at least 256KiB, such as 64MiB", s)
		}
		cfg.Window = n
	}
	switch p := c.String("progress"); p {
	case "auto", "":
	case "none":
		cfg.Quiet = true
	case "json":
		cfg.JSONEvents = true
	default:
		return cfg, usagef("get: --progress %q: want auto, json or none", p)
	}
	if cfg.toStdout() && cfg.JSON {
		return cfg, usagef("get: --json prints on stdout, where -o - writes the file")
	}
	if cfg.Jobs < 0 {
		return cfg, usagef("get: --jobs must not be negative")
	}
	ua := c.String("user-agent")
	if ua == "" {
		ua = "rget/" + version
	}
	cfg.Header.Set("User-Agent", ua)
	cfg.Proxy, cfg.NoProxy = c.String("proxy"), c.String("noproxy")
	cfg.ConnectTimeout, cfg.MaxTime = c.Duration("connect-timeout"), c.Duration("max-time")
	if cfg.ConnectTimeout <= 0 || cfg.MaxTime < 0 {
		return cfg, usagef("get: --connect-timeout must be positive and --max-time not negative")
	}
	if s := c.String("limit-rate"); s != "" {
		n, err := parseSize(s)
		if err != nil || n < 1 {
			return cfg, usagef("get: --limit-rate %q: want a rate such as 500K or 10M", s)
		}
		cfg.LimitRate = n
	}
	if path := c.String("cacert"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return cfg, usagef("get: --cacert: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return cfg, usagef("get: --cacert %s: no PEM certificate in it", path)
		}
	}
	if s := strings.TrimSpace(c.String("connections")); s == "auto" && cfg.Batch && !c.IsSet("connections") {
		cfg.Connections = batchConnections
	} else if s == "auto" {
		cfg.Auto, cfg.Connections = true, c.Int("max-connections")
		if cfg.Connections < 1 {
			return cfg, usagef("get: --max-connections must be at least 1, not %d", cfg.Connections)
		}
	} else if n, err := strconv.Atoi(s); err != nil || n < 1 {
		return cfg, usagef("get: --connections must be a number at least 1, or auto, not %q", s)
	} else {
		cfg.Connections = n
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
	// After -H: an Authorization given there wins over .netrc.
	if c.Bool("netrc") || c.String("netrc-file") != "" {
		for i := range cfg.Requests {
			r := &cfg.Requests[i]
			auth, err := netrcAuth(c.String("netrc-file"), r.URL)
			if err != nil {
				return cfg, usagef("get: %v", err)
			}
			if auth != "" && cfg.Header.Get("Authorization") == "" && r.Header.Get("Authorization") == "" {
				if r.Header == nil {
					r.Header = http.Header{}
				}
				r.Header.Set("Authorization", auth)
			}
		}
		if !cfg.Batch {
			if a := cfg.Requests[0].Header.Get("Authorization"); a != "" {
				cfg.Header.Set("Authorization", a)
			}
		}
	}
	return cfg, nil
}

// stopped is the error of a download stopped by a signal: it says
// whether the progress was saved for a rerun, and why not.
func stopped(cfg getConfig, err error) error {
	var se *download.StoppedError
	switch {
	case cfg.toStdout():
		return fmt.Errorf("%w: download of %s to stdout stopped; nothing saved (a download to stdout cannot resume)", errInterrupted, download.Redact(cfg.URL))
	case errors.As(err, &se) && se.Saved:
		return fmt.Errorf("%w: download of %s stopped, progress saved; rerun the same command to resume", errInterrupted, download.Redact(cfg.URL))
	case errors.As(err, &se) && cfg.Checkpoint < 0:
		return fmt.Errorf("%w: download of %s stopped; nothing saved (--checkpoint-every 0 keeps no journal)", errInterrupted, download.Redact(cfg.URL))
	case errors.As(err, &se):
		return fmt.Errorf("%w: download of %s stopped; nothing saved (the server does not serve byte ranges, so it cannot resume)", errInterrupted, download.Redact(cfg.URL))
	}
	return fmt.Errorf("%w: download of %s stopped before it began; nothing saved", errInterrupted, download.Redact(cfg.URL))
}

// failure is what --json prints when a download fails.
type failure struct {
	URL      string `json:"url"`
	Error    string `json:"error"`
	ExitCode int    `json:"exit_code"`
}

// writeJSON prints v as one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// withScheme defaults a URL without a scheme to http, as curl and wget do:
// "127.0.0.1:8080/x" is "http://127.0.0.1:8080/x".
func withScheme(raw string) string {
	if raw == "" || strings.Contains(raw, "://") {
		return raw
	}
	return "http://" + raw
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
		Output: cfg.Output, Dir: cfg.Dir, Connections: cfg.Connections, AutoConnections: cfg.Auto, SHA256: cfg.SHA256,
		Force: cfg.Force, Restart: cfg.Restart, Checkpoint: cfg.Checkpoint, StallTimeout: cfg.Stall,
		Retries: cfg.Retries, SegmentSize: cfg.SegmentSize, NoPipelining: cfg.NoPipelining, DirectIO: cfg.DirectIO, Header: cfg.Header, Insecure: cfg.Insecure,
		AllowInsecureRedirect: cfg.AllowHTTP, Discard: cfg.Discard, OnEvent: ev.handle,
		Proxy: cfg.Proxy, NoProxy: cfg.NoProxy, RootCAs: cfg.RootCAs, ConnectTimeout: cfg.ConnectTimeout,
		LimitRate: cfg.LimitRate, Mirrors: cfg.Mirrors, Jobs: cfg.Jobs, Window: cfg.Window, Decompress: cfg.Decompress,
		HashDecompressed: cfg.Decompress && cfg.JSON,
	}
}

// get runs one download and reports it.
func get(ctx context.Context, cfg getConfig, stdout, stderr io.Writer) error {
	if cfg.Connections > saneConnections && !cfg.Quiet && !cfg.Auto {
		fmt.Fprintf(stderr, "rget: warning: %d connections: servers often refuse or throttle more than a few dozen from one client (rget opens no more than the file has 16 KiB ranges)\n", cfg.Connections)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "rget: warning: %s\n", w)
	}
	ev := newEvents(cfg, stderr)
	if cfg.JSONEvents {
		ev.log = newEventLog(stderr, cfg.Batch)
	}
	if cfg.Events != "" {
		f, err := os.Create(cfg.Events)
		if err != nil {
			return fmt.Errorf("--events: %w", err)
		}
		defer f.Close()
		ev.log = newEventLog(f, cfg.Batch)
	}
	if cfg.Debug && cfg.NoScheme {
		fmt.Fprintf(stderr, "rget: debug: the URL has no scheme: fetching %s\n", download.Redact(cfg.URL))
	}
	if cfg.Debug {
		// What the standard library logs (net/http's reports of junk on
		// an idle connection) is shown with the requests.
		log.SetFlags(0)
		log.SetPrefix("rget: debug: ")
		log.SetOutput(stderr)
	}
	runCtx := ctx
	if cfg.MaxTime > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.MaxTime)
		defer cancel()
	}
	opts := cfg.options(ev)
	if cfg.Checksums != "" {
		sums, err := download.LoadChecksums(runCtx, cfg.Checksums, opts)
		if err != nil {
			return err
		}
		opts.Checksums = sums
	}
	if cfg.Batch {
		return getBatch(ctx, runCtx, cfg, opts, ev, stdout, stderr)
	}
	if cfg.toStdout() {
		opts.Output, opts.Writer = "", stdout
	}
	res, err := download.Run(runCtx, cfg.URL, opts)
	ev.close()
	if err != nil {
		switch {
		case ctx.Err() == nil && runCtx.Err() != nil:
			err = fmt.Errorf("--max-time %v reached (%w); rerun the same command to resume", cfg.MaxTime, err)
		case ctx.Err() != nil:
			err = stopped(cfg, err)
		default:
			err = advise(err)
		}
		if cfg.JSON {
			writeJSON(stdout, failure{URL: download.Redact(cfg.URL), Error: oneLine(err), ExitCode: exitCode(err)})
		}
		return err
	}
	if cfg.JSON {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	}
	if cfg.JSONEvents {
		return nil // the done event said it all
	}
	if cfg.Quiet {
		if !cfg.JSON && !cfg.toStdout() {
			fmt.Fprintf(stdout, "%s  %s\n", res.SHA256, res.Output) // as sha256sum prints it
		}
		return nil
	}
	if res.AlreadyComplete {
		fmt.Fprintf(stderr, "rget: %s is already complete (sha256 %s matches); nothing to download\n", res.Output, res.SHA256)
		return nil
	}
	if cfg.toStdout() {
		fmt.Fprintf(stderr, "rget: wrote %s to stdout in %.2f s, %s, %s, %s\nsha256 %s\n", formatBytes(res.Size), res.Seconds,
			formatRate(res.BytesPerSecond), plural(res.Connections, "connection"), plural(int(res.Retries), "retry"), res.SHA256)
		return nil
	}
	size := formatBytes(res.Size)
	if res.Resumed > 0 {
		size += fmt.Sprintf(" (%s of it this run)", formatBytes(res.Size-res.Resumed))
	}
	fmt.Fprintf(stderr, "rget: saved %s: %s in %.2f s, %s, %s, %s\nsha256 %s\n",
		res.Output, size, res.Seconds, formatRate(res.BytesPerSecond),
		plural(res.Connections, "connection"), plural(int(res.Retries), "retry"), res.SHA256)
	if d := res.Decompressed; d != nil {
		fmt.Fprintf(stderr, "decompressed (%s): %s\n", d.Format, formatBytes(d.Size))
	}
	if v := res.Verdict; v != nil && v.Limit != "" {
		fmt.Fprintf(stderr, "limited by %s\n", v.Summary)
	}
	return nil
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

// plural is "1 connection", "2 connections", "0 retries".
func plural(n int, word string) string {
	switch {
	case n == 1:
		return "1 " + word
	case strings.HasSuffix(word, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// batchConnections is a batch's budget of connections when -c is not
// given (-c auto, the default, finds the count for one file; a batch shares
// its budget among its files instead).
const batchConnections = 8

// saneConnections is the count above which -c gets a warning.
const saneConnections = 64

// requestsFrom gathers the files to download: the URLs on the command line,
// then those of --input-file; --mirror adds sources to a single file.
func requestsFrom(c *cli.Context) (reqs []download.Request, warnings []string, err error) {
	for _, a := range c.Args().Slice() {
		reqs = append(reqs, download.Request{URL: withScheme(a)})
	}
	if path := c.String("input-file"); path != "" {
		list, warns, err := readInputList(path)
		if err != nil {
			return nil, nil, err
		}
		warnings = warns
		reqs = append(reqs, list...)
	}
	if len(reqs) == 0 {
		return nil, nil, usagef("get: missing URL (usage: rget get URL... [-o OUT] [-c N], or -i FILE)")
	}
	if ms := c.StringSlice("mirror"); len(ms) > 0 {
		if len(reqs) != 1 {
			return nil, nil, usagef("get: --mirror adds sources to one file; in an --input-file, put a file's sources on its line, separated by tabs")
		}
		for _, m := range ms {
			reqs[0].Mirrors = append(reqs[0].Mirrors, withScheme(m))
		}
	}
	for _, r := range reqs {
		for _, u := range append([]string{r.URL}, r.Mirrors...) {
			if err := checkURL(u); err != nil {
				return nil, nil, err
			}
		}
	}
	return reqs, warnings, nil
}

// readInputList reads --input-file (- is stdin).
func readInputList(path string) ([]download.Request, []string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, usagef("get: --input-file: %v", err)
		}
		defer f.Close()
		r = f
	}
	list, warnings, err := download.ParseInputList(r)
	if err != nil {
		return nil, nil, usagef("get: --input-file %s: %v", path, err)
	}
	if len(list) == 0 {
		return nil, nil, usagef("get: --input-file %s: no URL in it", path)
	}
	for i, w := range warnings {
		warnings[i] = fmt.Sprintf("--input-file %s: %s", path, w)
	}
	for i := range list {
		list[i].URL = withScheme(list[i].URL)
		for j, m := range list[i].Mirrors {
			list[i].Mirrors[j] = withScheme(m)
		}
	}
	return list, warnings, nil
}
