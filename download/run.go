package download

// This file drives one download through the packages: probe (segment),
// resume or start (journal), fetch with the hash cursor and checkpoints
// running beside it (segment, merge, journal), finalize (merge). See doc.go.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"rget/internal/directio"
	"rget/journal"
	"rget/merge"
	"rget/segment"
)

// durableEvery is how often a checkpoint is durable (data and journal
// synced); the others, every config.Checkpoint, are cheap (no fsync,
// trusted after a process crash on the same boot).
const durableEvery = 3 * time.Second

// defaultCheckpoint is the default interval of cheap checkpoints.
const defaultCheckpoint = 100 * time.Millisecond

// job is one download's local state: where it goes and what is on disk.
type job struct {
	out, part, jpath string
	f                *os.File
	// dio writes the part file's whole blocks around the page cache, and
	// reads them back so (nil: all through f). See openDirect.
	dio    *directio.File
	direct bool // Options.DirectIO
	// The writeback and fdatasync behind the hash (flushBehind): in
	// flight (syncing, syncs waits for it); the hashed offset, how far
	// the writeback was started, and where the last sync began.
	syncs                   sync.WaitGroup
	syncMu                  sync.Mutex
	syncing                 bool
	hashed, flushed, synced int64
	// wb starts the writeback of a range of f (nil where the system has
	// no such hint): behind the hash, and ahead of it near the end
	// (writeTail).
	wb func(off, n int64)

	j       *journal.Journal // nil when the download cannot resume
	plan    *segment.Ledger
	cursor  *merge.Cursor
	policy  segment.Policy
	base    journal.State // what is recorded besides the plan and hash
	resumed int64         // bytes already on disk when this run began
	// syncData and commit are the two steps of a checkpoint (see
	// checkpoint): fdatasync of the part file, and the journal's Commit.
	// Tests replace them to see their order and to make them fail.
	syncData func() error
	commit   func(st journal.State, durable bool) error
	wrap     func(func(journal.State, bool) error) func(journal.State, bool) error
	sink     *sink // a download to a writer: no part file, journal nor cursor
	writer   *serialWriter
	// onCheckpoint, if set, is told of each record written.
	onCheckpoint func(bytes int64, durable bool)
	// dec decompresses (Options.Decompress); to a file, into dtmp, which
	// becomes dout.
	dec        *decoder
	dout, dtmp string
	dfile      *os.File
	// lead bounds how far ahead of the hash the fetch runs; the bound
	// moves in steps of leadStep (see hashLead).
	lead, leadStep int64
}

// useJournal makes j the download's journal, and sets the checkpoint's
// steps.
func (jb *job) useJournal(j *journal.Journal) {
	jb.j = j
	jb.syncData = func() error { return datasync(jb.f) }
	jb.commit = j.Commit
	if jb.wrap != nil {
		jb.commit = jb.wrap(jb.commit)
	}
}

// config is Options with the defaults filled in, and the URL.
type config struct {
	Options
	URL string
	// wrapCommit, if set, wraps the journal's Commit: the seam through
	// which tests make a checkpoint fail in the middle of a download.
	wrapCommit func(commit func(journal.State, bool) error) func(journal.State, bool) error
	// emitMu makes the calls of OnEvent one at a time.
	emitMu *sync.Mutex
	// Set by RunAll: the request's index (Event.File), the connections
	// shared with the other files, and whether an existing complete
	// output is skipped rather than refused.
	file         int
	budget       *segment.Budget
	skipExisting bool
	// client, set by RunAll, is the batch's HTTP client: its files share
	// the idle connections to a host, as aria2c's do, instead of each
	// opening its own (200 files of 256 KiB over 16 connections made 200
	// TCP connections, aria2c 17).
	client  *http.Client
	mirrors []string
	// claim, set by RunAll, reserves an output for this file: two files
	// of a batch never write the same one.
	claim func(out string) error
}

// Run downloads rawURL as opts say: it probes the server, resumes what an
// interrupted run left (or starts), fetches the ranges over many
// connections while hashing the completed prefix and recording progress in
// the journal, then verifies and publishes the file. It returns when the
// file is published, or with the first error; an interrupted download
// (ctx done) leaves its journal for the next Run to resume.
func Run(ctx context.Context, rawURL string, opts Options) (*Result, error) {
	cfg := withDefaults(config{Options: opts, URL: rawURL, mirrors: opts.Mirrors})
	if cfg.SHA256 != "" && !isDigest(cfg.SHA256) {
		return nil, fmt.Errorf("expected SHA-256 %q: not 64 hex digits", opts.SHA256)
	}
	defer preloadRoots(cfg, append([]string{rawURL}, cfg.mirrors...)...)()
	cfg.emit(Event{Kind: EventStart, Message: Redact(rawURL)})
	res, err := run(ctx, cfg)
	cfg.emit(Event{Kind: EventDone, Result: res, Err: err})
	return res, err
}

// withDefaults fills in the zero fields of cfg's Options.
func withDefaults(cfg config) config {
	switch {
	case cfg.Connections <= 0 && cfg.AutoConnections:
		cfg.Connections = 64
	case cfg.Connections <= 0:
		cfg.Connections = 8
	}
	if cfg.Checkpoint == 0 {
		cfg.Checkpoint = defaultCheckpoint
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 20 * time.Second
	}
	if cfg.Header == nil {
		cfg.Header = http.Header{}
	}
	cfg.SHA256 = strings.ToLower(strings.TrimSpace(cfg.SHA256))
	cfg.emitMu = new(sync.Mutex)
	return cfg
}

// emit sends e to the caller's OnEvent, if any.
func (cfg config) emit(e Event) {
	e.File = cfg.file
	if cfg.OnEvent != nil {
		cfg.emitMu.Lock()
		defer cfg.emitMu.Unlock()
		cfg.OnEvent(e)
	}
}

// notice reports a line of information.
func (cfg config) notice(format string, args ...any) {
	cfg.emit(Event{Kind: EventNotice, Message: fmt.Sprintf(format, args...)})
}

// maxWarm bounds the connections dialed during the probe: the count asked
// for may be far more than the file will use (it is known after the
// probe), and more than the process may open.
const maxWarm = 64

// newClient is the HTTP client of a download as cfg says, through proxy,
// dialing ahead with warm (nil: no dials ahead).
func newClient(cfg config, proxy func(*http.Request) (*url.URL, error), warm *segment.Warmer) *http.Client {
	return segment.NewClient(segment.ClientOptions{
		Connections: perHost(cfg), Insecure: cfg.Insecure, AllowInsecureRedirect: cfg.AllowInsecureRedirect,
		RootCAs: cfg.RootCAs, Proxy: proxy, ConnectTimeout: cfg.ConnectTimeout, Warm: warm,
	})
}

// run probes, plans, fetches, verifies and publishes.
func run(ctx context.Context, cfg config) (*Result, error) {
	start := time.Now()
	if cfg.Output != "" {
		cfg.SHA256 = expected(cfg, inDir(cfg, cfg.Output), false)
	}
	if res, err := alreadyComplete(ctx, cfg, inDir(cfg, cfg.Output), start); res != nil || err != nil {
		return res, err
	}
	proxy, err := proxyFunc(cfg.Proxy, cfg.NoProxy)
	if err != nil {
		return nil, err
	}
	client := cfg.client // a batch's, shared by its files
	if client == nil {
		warm := segment.NewWarmer()
		defer warm.Close()
		client = newClient(cfg, proxy, warm)
		defer client.CloseIdleConnections()
		if cfg.budget == nil {
			// The connections after the probe's are dialed while it
			// is in flight.
			n := min(cfg.Connections, maxWarm)
			if cfg.AutoConnections {
				n = min(n, segment.AutoStart)
			}
			warm.Warm(ctx, cfg.URL, n-1)
		}
	}
	if cfg.Insecure {
		cfg.emit(Event{Kind: EventWarning, Message: "--insecure: TLS certificates are not verified; anyone on the path can read and change the download"})
	}
	var limiter *rate.Limiter
	if cfg.LimitRate > 0 {
		// Reads draw at most 1/20 s of the budget at a time: smooth, and
		// never more than a buffer.
		limiter = rate.NewLimiter(rate.Limit(cfg.LimitRate), int(min(max(cfg.LimitRate/20, 1024), 256<<10)))
	}
	trace := func(t segment.Trace) { cfg.emit(Event{Kind: EventRequest, Trace: t}) }
	onRetry := func(r segment.Retry) { cfg.emit(Event{Kind: EventRetry, Retry: r}) }
	srcs, release, err := probeSources(ctx, cfg, client, segment.Options{
		Header: cfg.Header, Retries: cfg.Retries, StallTimeout: cfg.StallTimeout, Trace: trace, KeepStream: true,
		OnRetry: onRetry, FirstRange: firstRange(cfg),
	})
	if err != nil {
		return nil, err
	}
	defer release()
	remote := srcs[0]
	defer remote.Discard()
	cfg.emit(Event{Kind: EventProbe, Probe: &ProbeInfo{FinalURL: Redact(remote.FinalURL), Size: remote.Size, Ranges: remote.Ranges,
		ETag: remote.ETag, LastModified: remote.LastModified, Sources: len(srcs)}})
	out := outputName(cfg, remote)
	if cfg.Writer != nil {
		out = "-"
	} else if cfg.Decompress && cfg.Output == "" {
		out = filepath.Join(filepath.Dir(out), decompressedName(filepath.Base(out)))
	}
	if cfg.claim != nil && cfg.Writer == nil {
		if err := cfg.claim(out); err != nil {
			return nil, err
		}
	}
	cfg.SHA256 = expected(cfg, out, true)
	if remote.KeptFirst() && outputThere(cfg, out) {
		// Named by the server, not the URL: resumed or found complete,
		// the first range is not read (and a batch's slot goes back).
		remote.Discard()
	}
	if len(srcs) > 1 && cfg.SHA256 == "" {
		cfg.notice("%d sources and no expected SHA-256 (--sha256, --checksums): the mirrors cannot be cross-checked", len(srcs))
	}
	if cfg.Decompress {
		// The digest is of the file as served: out cannot be checked
		// against it (existing checks what it can).
	} else if res, err := alreadyComplete(ctx, cfg, out, start); res != nil || err != nil {
		return res, err
	}
	if res, err := existing(ctx, cfg, out, remote, start); res != nil || err != nil {
		return res, err
	}
	if err := checkOutput(cfg, out); err != nil {
		return nil, err
	}
	if cfg.Dir != "" && !cfg.Discard && cfg.Writer == nil {
		// As aria2c does: the directory asked for is made.
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("create directory: %w", err)
		}
	}
	conns := cfg.Connections
	switch {
	case !remote.Ranges && remote.Size == 0:
		conns = 1 // an empty file: nothing to split
	case !remote.Ranges:
		conns = 1
		cfg.notice("%s does not serve byte ranges; downloading it as one stream", remote.FinalURL)
	default:
		// No more connections than the file has ranges to give them
		// (segment.Policy's smallest range): the rest would only wait.
		conns = int(min(int64(conns), max((remote.Size+segment.MinPiece-1)/segment.MinPiece, 1)))
		if cfg.budget != nil {
			// In a batch a small file takes one connection per MiB: the
			// others serve the files that gain more from them.
			conns = int(min(int64(conns), int64(cfg.budget.Size()), max(remote.Size>>20, 1)))
		}
	}
	var jb *job
	if cfg.Writer != nil {
		jb = prepareSink(ctx, cfg, remote, conns)
	} else if cfg.Decompress {
		if jb, err = prepare(cfg, remote, out+".z", conns); err != nil {
			return nil, err
		}
		if err := jb.decompressTo(cfg, out); err != nil {
			jb.abandon(err)
			return nil, err
		}
	} else if jb, err = prepare(cfg, remote, out, conns); err != nil {
		return nil, err
	}
	prog := segment.NewProgress(conns)
	prog.Sources = make([]atomic.Int64, len(srcs))
	jb.onCheckpoint = func(bytes int64, durable bool) {
		cfg.emit(Event{Kind: EventCheckpoint, Bytes: bytes, Durable: durable})
	}
	var refused atomic.Bool
	var scaleNote atomic.Value
	fetchStart := time.Now()
	cpu0 := segment.SampleCPU()
	ferr := fetchWithCompanions(ctx, cfg, jb, prog, func(ctx context.Context) error {
		opts := segment.Options{
			Connections: conns, Retries: cfg.Retries, Header: cfg.Header, Progress: prog,
			StallTimeout: cfg.StallTimeout, Trace: trace, OnRetry: onRetry, Limiter: limiter,
			NoPipelining: cfg.NoPipelining,
			OnDrop:       func(u string, err error) { cfg.notice("dropped the mirror %s: %v", Redact(u), err) },
			OnConn: func(slot int, open bool, reason string) {
				cfg.emit(Event{Kind: EventConnection, Conns: slot, Open: open, Message: reason})
			},
			OnStart: func(t segment.Trace) { cfg.emit(Event{Kind: EventRangeStart, Trace: t}) },
		}
		opts.OnRetry = func(r segment.Retry) {
			var se *segment.StatusError
			if errors.As(r.Err, &se) && (se.Code == 429 || se.Code == 503) {
				refused.Store(true)
			}
			onRetry(r)
		}
		if remote.Ranges {
			opts.Budget = cfg.budget // a stream holds the probe's slot
		}
		if cfg.AutoConnections && cfg.budget == nil {
			opts.Auto = true
			opts.OnScale = func(n int, reason string) {
				scaleNote.Store(reason)
				cfg.emit(Event{Kind: EventScale, Conns: n, Message: reason})
			}
		}
		return segment.FetchFrom(ctx, client, srcs, jb.dst(), jb.plan, opts)
	})
	lastByte := time.Now()
	cpu1 := segment.SampleCPU()
	if ferr != nil {
		return nil, jb.abandon(ferr)
	}
	sum, err := jb.finalize(ctx, cfg)
	if err != nil {
		return nil, err
	}
	done := time.Now()
	cfg.emit(Event{Kind: EventVerify, Message: sum, Seconds: done.Sub(lastByte).Seconds()})
	note, _ := scaleNote.Load().(string)
	vd := verdict(measures{
		prog: prog, wall: lastByte.Sub(fetchStart), cpu: segment.BusyShare(cpu0, cpu1), writeBusy: jb.writeBusy(),
		hashLag: done.Sub(lastByte), refused: refused.Load() || strings.Contains(note, "refused"),
		auto: cfg.AutoConnections && cfg.budget == nil, autoNote: note,
	})
	fetched := prog.Received.Load()
	var dres *Decompressed
	if jb.dec != nil {
		dres = jb.dec.result()
	}
	return &Result{
		Decompressed: dres,
		URL:          Redact(cfg.URL), FinalURL: Redact(remote.FinalURL), Output: out, Size: jb.plan.Size(),
		SHA256: sum, Verified: cfg.SHA256 != "",
		Seconds: done.Sub(start).Seconds(), BytesPerSecond: float64(fetched) / max(done.Sub(start).Seconds(), 1e-9),
		Connections: usedConns(prog), Segments: len(jb.plan.Snapshot()), Splits: jb.plan.Splits(),
		Retries: prog.Retries.Load(), Pipelined: prog.Pipelined.Load(), Ranges: remote.Ranges,
		DirectBytes: jb.directBytes(),
		Resumed:     jb.resumed, Fetched: fetched, VerifySeconds: done.Sub(lastByte).Seconds(),
		StartupSeconds: fetchStart.Sub(start).Seconds(), Sources: sourceResults(srcs, prog), Verdict: vd,
	}, nil
}

// firstRangeMin is the least first range: a single file of 256 KiB, 30 ms
// away, took 132 ms over 16 connections with 64 KiB in the probe's answer
// (the rest asked over the others, a round trip later), 96 ms with all of
// it (curl 89, aria2c 124).
const firstRangeMin = 256 << 10

// firstRange is the probe's segment.Options.FirstRange for cfg: the share
// of each connection in the least planned range (segment.MinSplit), which
// a batch gives all to one connection (in a batch, a file takes one
// connection per MiB), but at least firstRangeMin; so a file of at most
// that size takes one request, and a larger one's first range is about
// what its first connection would take of it (a longer one would be
// split, and its connection lost). None when the output the URL names is
// there (outputThere); no more than a --segment-size asked for, nor than
// the ranges of a stream to a writer (prepareSink).
func firstRange(cfg config) int64 {
	out := cfg.Output
	if out == "" {
		out = segment.FileName(&segment.Remote{URL: cfg.URL, FinalURL: cfg.URL})
		if cfg.Decompress {
			out = decompressedName(out)
		}
	}
	if outputThere(cfg, inDir(cfg, out)) {
		return 0
	}
	n := int64(1)
	switch {
	case cfg.budget != nil:
	case cfg.AutoConnections:
		n = int64(min(cfg.Connections, segment.AutoStart))
	default:
		n = int64(max(cfg.Connections, 1))
	}
	first := max(segment.MinSplit/n&^(segment.Block-1), firstRangeMin)
	if cfg.SegmentSize > 0 {
		first = min(first, cfg.SegmentSize)
	}
	if cfg.Writer != nil {
		win := cfg.Window
		if win <= 0 {
			win = defaultWindow
		}
		first = min(first, max(max(win, minWindow)/(2*n), segment.MinPiece))
	}
	return first
}

// outputThere reports whether out, cfg's output, or its journal is there:
// a resumed download has the first bytes, and a complete file is not
// fetched again (nor, without --force, replaced), so a first range in the
// probe's answer would only be cut off.
func outputThere(cfg config, out string) bool {
	if cfg.Writer != nil || cfg.Discard {
		return false
	}
	journal := out + ".rget"
	if cfg.Decompress {
		journal = out + ".z.rget"
	}
	if _, err := os.Lstat(journal); err == nil {
		return true
	}
	replaced := cfg.Force && cfg.SHA256 == "" && cfg.Checksums == nil && !cfg.skipExisting
	_, err := os.Lstat(out)
	return err == nil && !replaced
}

// sourceResults is the bytes each source sent, when there were several.
func sourceResults(srcs []*segment.Remote, prog *segment.Progress) []SourceResult {
	if len(srcs) < 2 {
		return nil
	}
	rs := make([]SourceResult, len(srcs))
	for i, r := range srcs {
		rs[i] = SourceResult{URL: Redact(r.URL), Bytes: prog.Sources[i].Load()}
	}
	return rs
}

// perHost is how many connections the client keeps to one host.
func perHost(cfg config) int {
	if cfg.budget != nil {
		return min(cfg.Connections, cfg.budget.Size())
	}
	return cfg.Connections
}

// expected is the digest out must have: the one asked for, else the
// checksum file's line for its name (or the URL's file name), else none,
// which a notice says when tell is set.
func expected(cfg config, out string, tell bool) string {
	if cfg.SHA256 != "" || cfg.Checksums == nil || out == "" {
		return cfg.SHA256
	}
	name := out
	if cfg.Dir != "" {
		if rel, err := filepath.Rel(cfg.Dir, out); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
	}
	if sum, ok := cfg.Checksums.Lookup(filepath.ToSlash(name)); ok {
		return sum
	}
	if u, err := url.Parse(cfg.URL); err == nil && path.Base(u.Path) != "/" {
		if sum, ok := cfg.Checksums.Lookup(path.Base(u.Path)); ok {
			return sum
		}
	}
	if !tell {
		return ""
	}
	cfg.notice("%s is not in the checksum file: it is not verified", name)
	return ""
}

// existing reports a file of a batch already downloaded by an earlier run
// (its output there, of the remote's size, and no journal beside it) as
// complete, with its digest. Only RunAll skips such files: with an
// expected digest alreadyComplete has compared it.
func existing(ctx context.Context, cfg config, out string, r *segment.Remote, start time.Time) (*Result, error) {
	if !cfg.skipExisting || cfg.Force || cfg.Discard || cfg.Writer != nil || r.Size < 0 {
		return nil, nil
	}
	if cfg.SHA256 != "" && !cfg.Decompress {
		return nil, nil // alreadyComplete compared the digest
	}
	fi, err := os.Stat(out)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, nil
	}
	// A decompressed output has no size to compare: published, it is
	// whole (its compressed part and journal are gone).
	journal := out + ".rget"
	if cfg.Decompress {
		journal = out + ".z.rget"
	} else if fi.Size() != r.Size {
		return nil, nil
	}
	if _, err := os.Stat(journal); err == nil {
		return nil, nil
	}
	sum, size, err := merge.HashFile(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", out, err)
	}
	res := &Result{
		URL: Redact(cfg.URL), FinalURL: Redact(r.FinalURL), Output: out, Size: size,
		SHA256: hex.EncodeToString(sum[:]), Seconds: time.Since(start).Seconds(), AlreadyComplete: true,
	}
	if cfg.Decompress {
		// The file as served is gone: what is known is the output's.
		res.Size, res.SHA256 = r.Size, ""
		res.Decompressed = &Decompressed{Size: size, SHA256: hex.EncodeToString(sum[:])}
	}
	return res, nil
}

// Redact removes the password from a URL, for display and reports.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// alreadyComplete reports a result without downloading when out already
// holds a file with the expected digest.
func alreadyComplete(ctx context.Context, cfg config, out string, start time.Time) (*Result, error) {
	if out == "" || cfg.SHA256 == "" || cfg.Discard || cfg.Writer != nil {
		return nil, nil
	}
	fi, err := os.Stat(out)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, nil
	}
	sum, size, err := merge.HashFile(ctx, out)
	if err != nil || hex.EncodeToString(sum[:]) != cfg.SHA256 {
		return nil, nil
	}
	return &Result{
		URL: Redact(cfg.URL), Output: out, Size: size, SHA256: cfg.SHA256, Verified: true,
		Seconds: time.Since(start).Seconds(), AlreadyComplete: true,
	}, nil
}

// outputName decides where the file goes.
func outputName(cfg config, r *segment.Remote) string {
	out := cfg.Output
	if out == "" {
		out = segment.FileName(r)
	}
	return inDir(cfg, out)
}

// inDir puts a relative name in --dir; "" stays "".
func inDir(cfg config, name string) string {
	if name == "" || cfg.Dir == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(cfg.Dir, name)
}

// checkOutput refuses to clobber an existing file without --force.
func checkOutput(cfg config, out string) error {
	if cfg.Discard || cfg.Writer != nil {
		return nil
	}
	fi, err := os.Stat(out)
	switch {
	case err != nil:
		return nil
	case fi.IsDir():
		return fmt.Errorf("output %s: %w", out, ErrOutputIsDir)
	case !cfg.Force:
		return fmt.Errorf("output %s already exists; use --force to replace it", out)
	}
	return nil
}

// prepare resumes from the journal when it matches the remote, or starts
// over: the journal is created before the part file is truncated, so that a
// crash in between never leaves a journal describing bytes that are gone.
func prepare(cfg config, r *segment.Remote, out string, conns int) (*job, error) {
	jb := &job{out: out, part: out + ".part", jpath: out + ".rget", policy: policy(cfg), wrap: cfg.wrapCommit,
		direct: cfg.DirectIO}
	jb.base = journal.State{
		URL: journal.RedactURL(cfg.URL), Size: r.Size, ETag: r.ETag, LastModified: r.LastModified, SHA256: cfg.SHA256,
	}
	planned := conns
	if cfg.AutoConnections && cfg.budget == nil {
		// Planned for the count -c auto usually settles at on a fast
		// link; more connections split what they need.
		planned = min(conns, 16)
		// A count that settles lower joins them (Policy.Planned): at
		// 8 connections on loopback, the 4 MiB ranges of 1 GiB took
		// 4-7% longer than -c 8's 8 MiB ones.
		jb.policy.Planned = planned
	}
	segSize := cfg.SegmentSize
	if segSize == 0 {
		segSize = segment.SegmentSize(r.Size, planned)
	}
	if cfg.Discard {
		jb.plan = segment.NewLedger(r.Size, segment.Split(r.Size, segSize), jb.policy)
		return jb, nil
	}
	jb.lead, jb.leadStep = leadFor(planned, segSize)
	f, err := openPart(jb.part)
	if err != nil {
		return nil, err
	}
	jb.f = f
	canResume := r.Ranges && r.Size > 0 && cfg.Checkpoint >= 0
	if canResume && !cfg.Restart {
		ok, err := jb.resume(r, cfg)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return jb, nil
		}
	}
	if err := jb.start(r, segment.Split(r.Size, segSize), canResume); err != nil {
		f.Close()
		return nil, err
	}
	return jb, nil
}

// start sets up a fresh download of rs: a new journal when it can resume
// (none otherwise), then the part file emptied and sized.
func (jb *job) start(r *segment.Remote, rs []segment.Range, canResume bool) error {
	if canResume {
		st := jb.base
		st.Parts = toJournal(rs)
		j, err := journal.Create(jb.jpath, st)
		if err != nil {
			return fmt.Errorf("create journal: %w", err)
		}
		jb.useJournal(j)
	} else if err := journal.Remove(jb.jpath); err != nil {
		return err
	}
	if err := sizePart(jb.f, jb.part, r.Size); err != nil {
		jb.closeJournal()
		return err
	}
	jb.plan = segment.NewLedger(r.Size, rs, jb.policy)
	jb.openDirect(r.Size)
	jb.cursor = merge.NewCursor(jb.readBack())
	jb.wb = writeback(jb.f)
	jb.cursor.Flush = jb.flushBehind(jb.plan.Size(), jb.wb)
	return nil
}

// openDirect sets the part file up for direct I/O (internal/directio), if
// asked to, unless the file is too small to gain from it or the file
// system cannot do it: else it is written and read through the page cache.
func (jb *job) openDirect(size int64) {
	if !jb.direct || size < minDirect {
		return
	}
	if d, err := directio.Open(jb.part, jb.f, pageCached{jb.f}); err == nil {
		jb.dio = d
	}
}

// minDirect is the least size of a part file written direct: below it the
// page cache costs little, and the file is likely read soon after.
const minDirect = 8 << 20

// readBack is what the hash cursor reads the part file through.
func (jb *job) readBack() io.ReaderAt {
	if jb.dio != nil {
		return jb.dio
	}
	return jb.f
}

// directBytes is how many bytes went to the part file direct.
func (jb *job) directBytes() int64 {
	if jb.dio == nil {
		return 0
	}
	return jb.dio.Direct()
}

// flushBehind returns the hash cursor's Flush. It only notes how far the
// hash got; a goroutine of the job's (one at a time: waitSyncs waits for
// it) starts the writeback of what was hashed, wb, every wbStep bytes, and
// every syncEvery bytes an fdatasync of the part file. A sync is the
// disk's flush, and its cost grows with what was written since the last:
// on this VM the one before the file was published took 0.15-0.62 s after
// the hash had ended (the hash itself 0-6 ms). The writeback ran on the
// hash's goroutine until session 14, and sync_file_range waits while the
// disk is busy: with 256 connections it held the hash 0.4-0.5 s of 2.
func (jb *job) flushBehind(size int64, wb func(off, n int64)) func(off, n int64) {
	return func(off, n int64) {
		jb.syncMu.Lock()
		defer jb.syncMu.Unlock()
		jb.hashed = max(jb.hashed, off+n)
		if jb.syncing || jb.hashed < jb.flushed+wbStep {
			return
		}
		jb.syncing = true
		jb.syncs.Go(func() { jb.flushLoop(size, wb) })
	}
}

// flushLoop starts the writeback of the bytes hashed since the last, and
// syncs when syncEvery more were hashed since the last sync began (in the
// last syncEvery bytes of a file of size bytes, syncNearEnd more), until
// less than wbStep is left to write back.
func (jb *job) flushLoop(size int64, wb func(off, n int64)) {
	for {
		jb.syncMu.Lock()
		from, to := jb.flushed, jb.hashed
		if to < from+wbStep {
			jb.syncing = false
			jb.syncMu.Unlock()
			return
		}
		sync := to >= jb.synced+syncEvery ||
			to >= jb.synced+syncNearEnd && size-to < syncEvery
		jb.flushed = to
		if sync {
			jb.synced = to
		}
		jb.syncMu.Unlock()
		if wb != nil {
			wb(from, to-from)
		}
		if sync {
			_ = datasync(jb.f) // a hint: the sync before publishing reports failures
		}
	}
}

// syncEvery and wbStep: see flushBehind. In the last syncEvery bytes of
// the file it syncs every syncNearEnd bytes, so that the sync before
// publishing has little left to do: on /paced/ c16, verify_seconds (the
// hash of the rest and that sync) 0.035-0.047 s after syncs every 128
// MiB, 0.004-0.020 with these (4 pairs). A sync every 16 MiB all along cost
// /fast/ c16 about 3%.
const (
	syncEvery   = 128 << 20
	syncNearEnd = 16 << 20
	wbStep      = 4 << 20
)

// writeTail starts, near the end of the fetch, the writeback of the bytes
// written ahead of the hash, so that the sync before publishing finds
// little left. Behind the hash (flushBehind) the writeback of the file's
// last ranges could start only once the last of them was in: the taper
// makes them finish together, the hash's prefix then jumps over tens of
// MiB at once, and the final sync wrote them back after the last byte
// (on /paced/ c16, verify_seconds 0.013-0.049 s, median 0.025, over 6
// runs; with this 0.007-0.016, median 0.013). Once fewer than tailSpan
// bytes are left to fetch, at every change of the ledger that completed
// another wbStep bytes, it starts the writeback of the written spans from
// where the writeback behind the hash got to (tailSpans) that it has not
// started before (spansLess), unless the hash itself is far behind
// (hashBehind), until ctx is done.
func (jb *job) writeTail(ctx context.Context, wb func(off, n int64)) {
	size := jb.plan.Size()
	var last int64
	var started [][2]int64
	// Until the tail, a look every tailPoll; waiting on every change of
	// the ledger would wake it, under the ledger's lock, at each of the
	// 2,600 ranges of 256 connections.
	t := time.NewTicker(tailPoll)
	defer t.Stop()
	for {
		var changed <-chan struct{}
		if jb.plan.Done() >= size-tailSpan {
			changed = jb.plan.Changed() // before Done below: no change missed
		}
		jb.syncMu.Lock()
		from, hashed := jb.flushed, jb.hashed
		jb.syncMu.Unlock()
		if done := jb.plan.Done(); done >= size-tailSpan && done >= last+wbStep && !hashBehind(jb.plan.Prefix(), hashed) {
			last = done
			spans := tailSpans(jb.plan.Snapshot(), from)
			for _, sp := range spansLess(spans, started) {
				wb(sp[0], sp[1]-sp[0])
			}
			started = spans
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// hashBehind reports whether the hash, at hashed, trails the completed
// prefix by more than tailSpan: then the cores, not the network, are the
// limit (256 connections on loopback), the final sync runs beside the long
// hash of the rest on the core the fetch leaves free, and a writeback
// started ahead would take its time from the fetch instead (c256: 1.98 ->
// 2.08 s median over 22 pairs; held back like this, 1.96 -> 1.94 over 8).
func hashBehind(prefix, hashed int64) bool { return prefix-hashed > tailSpan }

// tailSpans returns the spans [start, end) of rs written from offset from
// on, adjacent ones joined. A range still being written gives its bytes
// but the last tailGuard of them, rounded down to a whole tailGuard: the
// folio its writer is filling would be written back twice.
func tailSpans(rs []segment.Range, from int64) [][2]int64 {
	var out [][2]int64
	for _, r := range rs {
		end := r.Start + r.Done
		if end < r.End {
			end = (end - tailGuard) &^ (tailGuard - 1)
		}
		start := max(r.Start, from)
		if end <= start {
			continue
		}
		if n := len(out); n > 0 && out[n-1][1] == start {
			out[n-1][1] = end
			continue
		}
		out = append(out, [2]int64{start, end})
	}
	return out
}

// spansLess returns the parts of spans outside every span of minus; both
// are sorted and disjoint.
func spansLess(spans, minus [][2]int64) [][2]int64 {
	var out [][2]int64
	j := 0
	for _, sp := range spans {
		start := sp[0]
		for ; j < len(minus) && minus[j][1] <= start; j++ {
		}
		for k := j; k < len(minus) && minus[k][0] < sp[1]; k++ {
			if minus[k][0] > start {
				out = append(out, [2]int64{start, minus[k][0]})
			}
			start = max(start, minus[k][1])
		}
		if start < sp[1] {
			out = append(out, [2]int64{start, sp[1]})
		}
	}
	return out
}

// tailSpan and tailGuard: see writeTail and tailSpans. Writes are at most
// writeChunk (32 KiB), and so are the page-cache folios they fill.
const (
	tailSpan  = 64 << 20
	tailGuard = 64 << 10
	tailPoll  = 20 * time.Millisecond
)

// waitSyncs waits for the sync behind the hash in flight, if any.
func (jb *job) waitSyncs() { jb.syncs.Wait() }

// closePart closes the part file's descriptors.
func (jb *job) closePart() {
	jb.waitSyncs()
	if jb.dio != nil {
		jb.dio.Close()
	}
	jb.f.Close()
}

// resume opens the journal and part file of an earlier run if they describe
// this very resource. It reports false (start over) when there is nothing
// usable, saying why when something was there.
func (jb *job) resume(r *segment.Remote, cfg config) (bool, error) {
	j, st, err := journal.Open(jb.jpath)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if IsDiskError(err) {
		// The journal may be fine and the disk is not (full, read-only):
		// starting over would throw away what it records.
		return false, fmt.Errorf("resume: %w", err)
	}
	if err != nil {
		cfg.notice("ignoring the journal %s (%v); starting over", jb.jpath, err)
		return false, nil
	}
	fail := func(format string, args ...any) (bool, error) {
		cfg.notice(format+"; starting over", args...)
		return false, j.Close()
	}
	if err := st.CheckRemote(r.Size, r.ETag, r.LastModified); err != nil {
		return fail("the remote file changed since the interrupted download (%v)", err)
	}
	f := jb.f
	if fi, err := f.Stat(); err != nil || fi.Size() != st.Size {
		if st.BytesDone() == 0 {
			// Nothing was written (its space could not be reserved): a
			// fresh start loses nothing, and is no news.
			return false, j.Close()
		}
		return fail("%s is not the size the journal says", jb.part)
	}
	jb.openDirect(st.Size)
	cursor := merge.NewCursor(jb.readBack())
	if st.HashState != nil && !cfg.Decompress {
		// (A decompressor starts over from the first byte: the cursor
		// with it, reading the part file.)
		if c, err := merge.Resume(jb.readBack(), st.HashOffset, st.HashState); err == nil {
			cursor = c
		}
	}
	jb.useJournal(j)
	jb.cursor = cursor
	jb.wb = writeback(f)
	jb.cursor.Flush = jb.flushBehind(st.Size, jb.wb)
	jb.plan = segment.NewLedger(st.Size, toSegment(st.Parts), jb.policy)
	jb.resumed = st.BytesDone()
	cfg.notice("resuming %s: %s of %s already on disk", jb.out, FormatSize(jb.resumed), FormatSize(st.Size))
	return true, nil
}

func toJournal(rs []segment.Range) []journal.Part {
	ps := make([]journal.Part, len(rs))
	for i, r := range rs {
		ps[i] = journal.Part{Start: r.Start, End: r.End, Done: r.Done}
	}
	return ps
}

func toSegment(ps []journal.Part) []segment.Range {
	rs := make([]segment.Range, len(ps))
	for i, p := range ps {
		rs[i] = segment.Range{Start: p.Start, End: p.End, Done: p.Done}
	}
	return rs
}

// dst is where the fetched bytes go.
func (jb *job) dst() io.WriterAt {
	if jb.sink != nil {
		return jb.sink.win
	}
	if jb.f == nil {
		return discard{}
	}
	if jb.dio != nil {
		jb.writer = &serialWriter{w: jb.dio, parallel: true}
	} else {
		jb.writer = &serialWriter{w: pageCached{jb.f}}
	}
	return jb.writer
}

// writeBusy is how long the part file's writer was held.
func (jb *job) writeBusy() time.Duration {
	if jb.writer == nil {
		return 0
	}
	return time.Duration(jb.writer.busy.Load())
}

// leadFor is how far ahead of the hash a download over conns connections
// of segSize ranges may fetch: twice what the connections hold at
// once, and at least minLead. The bound moves in whole ranges, so that
// the ranges handed out at it are not cut into crumbs.
func leadFor(conns int, segSize int64) (lead, step int64) {
	step = max(segSize, segment.MinPiece)
	return max(minLead, 2*int64(max(conns, 1))*step), step
}

// minLead: see leadFor.
const minLead = 64 << 20

// hashLead keeps the fetch within jb.lead bytes of the hash cursor. The
// hash follows the completed prefix, so a range at the front that lags
// (a connection starved of CPU or throttled by the server) would otherwise
// leave it idle while the others run to the end, and then every byte is
// hashed after the last one arrived (on loopback at 1.7 GB/s: 0.4-0.8 s).
// On a long path the bound grows to twice what the connections ask for in
// a round (Window.Elastic), so that it never cuts their requests short.
// With the bound reached, idle connections wait while the hash is behind
// (on a fast link it is the slowest lane, and it never has more than the
// lead to do at the end); while the hash waits on a lagging range at the
// front, they split or hedge it, or else go on past the bound (the
// policy's window rules; a file's window is soft).
func (jb *job) hashLead() {
	if jb.lead <= 0 || jb.sink != nil {
		return
	}
	c, plan := jb.cursor, jb.plan
	w := segment.Window{Consumed: c.Offset, Size: jb.lead, Step: jb.leadStep, Elastic: true, Rate: c.Rate, Peak: c.Peak}
	plan.SetWindow(w)
	flush := c.Flush
	c.Flush = func(off, n int64) {
		if flush != nil {
			flush(off, n)
		}
		plan.ConsumerAt(off + n)
	}
}

// serialWriter lets one WriteAt at a time through. A buffered write to a
// file holds the file's inode lock for its whole copy, so concurrent writers
// gain nothing; in the kernel they spin waiting for the lock (6% of the CPU
// on 16 connections when new pages are slow to fill), while here a waiting
// worker parks and leaves the core to the hash and the network.
// Direct writes go in parallel (internal/directio bounds them): the disk
// takes several at once faster than one (4 writers of 256 KiB: 1.5 GB/s
// here, 1 writer: 1.0). Then busy is the time any write was under way, not
// their sum, so that it stays a share of the wall time (the verdict's).
type serialWriter struct {
	mu       sync.Mutex
	w        io.WriterAt
	parallel bool
	busy     atomic.Int64 // nanoseconds held
	// With parallel: the writes under way, since when.
	inflight int
	since    time.Time
}

func (s *serialWriter) WriteAt(p []byte, off int64) (int, error) {
	if s.parallel {
		s.enter()
		defer s.leave()
		return s.w.WriteAt(p, off)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	defer func() { s.busy.Add(int64(time.Since(start))) }()
	return s.w.WriteAt(p, off)
}

func (s *serialWriter) enter() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == 0 {
		s.since = time.Now()
	}
	s.inflight++
}

func (s *serialWriter) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight--; s.inflight == 0 {
		s.busy.Add(int64(time.Since(s.since)))
	}
}

// pageCached writes to a file through the page cache in pieces of at most
// writeChunk.
type pageCached struct{ w io.WriterAt }

func (c pageCached) WriteAt(p []byte, off int64) (int, error) {
	return inChunks(p, func(b []byte, at int) (int, error) { return c.w.WriteAt(b, off+int64(at)) })
}

// inChunks passes p to write in pieces of at most writeChunk, each with
// its offset in p, until all is written or write fails.
func inChunks(p []byte, write func(b []byte, at int) (int, error)) (int, error) {
	var n int
	for n < len(p) {
		k, err := write(p[n:min(len(p), n+writeChunk)], n)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeChunk is the most one write to the file carries. The kernel gives
// a write a page-cache folio as large as the write (ext4, Linux 6.x): on
// this VM, 1 GiB written in 256 KiB writes took 0.23-1.57 s of system time
// (median 1.28 s over 5 runs), in 32 KiB writes 0.29-0.40 s (dd, fresh
// file each time): fresh large folios are slow and unsteady to get.
const writeChunk = 32 << 10

// discard is an io.WriterAt that keeps nothing (rget bench --discard).
type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// checkpoint records the plan and the hash cursor in the journal. The
// cursor's offset is read before the plan, so it never claims more than the
// completed prefix; a durable checkpoint syncs the data first, so the
// journal never leads the data.
func (jb *job) checkpoint(durable bool) error {
	if jb.commit == nil {
		return nil // no journal
	}
	st := jb.base
	if off, hs, err := jb.cursor.State(); err == nil && off > 0 {
		st.HashOffset, st.HashState = off, hs
	}
	st.Parts = toJournal(jb.plan.Snapshot())
	if durable {
		if err := jb.syncData(); err != nil {
			return fmt.Errorf("sync %s: %w", jb.part, err)
		}
	}
	if err := jb.commit(st, durable); err != nil {
		return fmt.Errorf("checkpoint %s: %w", jb.jpath, err)
	}
	if jb.onCheckpoint != nil {
		jb.onCheckpoint(st.BytesDone(), durable)
	}
	return nil
}

// checkpoints commits cheap records often and durable ones every few
// seconds until ctx is done.
func (jb *job) checkpoints(ctx context.Context, every time.Duration) error {
	if jb.j == nil {
		return nil
	}
	if every <= 0 {
		every = defaultCheckpoint
	}
	cheap := time.NewTicker(every)
	defer cheap.Stop()
	lastDurable := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-cheap.C:
			durable := now.Sub(lastDurable) >= durableEvery
			if err := jb.checkpoint(durable); err != nil {
				return err
			}
			if durable {
				lastDurable = now
			}
		}
	}
}

// abandon saves what was fetched so that a rerun resumes, and returns err.
func (jb *job) abandon(err error) error {
	jb.dropDecompressed(err)
	if jb.sink != nil {
		jb.sink.win.free()
		return &StoppedError{Err: err, Output: jb.out}
	}
	if jb.f == nil {
		return err
	}
	saved := jb.j != nil
	if cerr := jb.checkpoint(true); cerr != nil {
		err = fmt.Errorf("%w (and saving progress failed: %v)", err, cerr)
		saved = false
	}
	jb.closeJournal()
	jb.closePart()
	if jb.j == nil {
		// Nothing can resume from it.
		os.Remove(jb.part)
	}
	return &StoppedError{Err: err, Output: jb.out, Saved: saved}
}

func (jb *job) closeJournal() {
	if jb.j != nil {
		jb.j.Close()
	}
}

// finalize verifies and publishes the part file, then drops the journal. On
// a mismatch the part file and journal stay, so a rerun with the right
// digest publishes without downloading again.
func (jb *job) finalize(ctx context.Context, cfg config) (string, error) {
	if jb.sink != nil {
		defer jb.sink.win.free()
		sum, err := jb.sink.finish(ctx, cfg.SHA256)
		if err == nil && jb.dec != nil {
			if err = jb.dec.Close(); err != nil {
				err = fmt.Errorf("%w (the data written to the output is not whole)", err)
			}
		} else if jb.dec != nil {
			jb.dec.Abort(err)
		}
		return sum, err
	}
	if jb.f == nil {
		return "", nil
	}
	// A cheap record: every range is done. Syncing the data here would
	// wait for its writeback before the hash of the rest could start;
	// Finalize syncs it after hashing, and a crash before that resumes from
	// this record (same boot) or the last durable one.
	if err := jb.checkpoint(false); err != nil {
		jb.closeJournal()
		jb.closePart()
		jb.dropDecompressed(err)
		return "", err
	}
	sum, err := merge.Finalize(ctx, jb.f, jb.cursor, merge.Options{
		Part: jb.part, Final: jb.out, Size: jb.plan.Size(), Want: cfg.SHA256, Replace: cfg.Force, Keep: jb.dec != nil,
	})
	jb.closePart() // (Finalize closed f)
	if err == nil && jb.dec != nil {
		err = jb.publishDecompressed(cfg)
	}
	if err != nil {
		jb.closeJournal()
		jb.dropDecompressed(err)
		return hex.EncodeToString(sum[:]), err
	}
	if jb.j != nil {
		if err := jb.j.Close(); err != nil {
			return "", err
		}
	}
	if err := journal.Remove(jb.jpath); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}

// fetchWithCompanions runs fetch while the hash cursor follows the completed
// prefix and the journal records progress, all in one errgroup: the first
// failure anywhere (a checkpoint that cannot be written, a hash read that
// fails) stops the fetch at once. The companions stop when the fetch ends.
// The caller's view polls the Progress sent with EventFetchStart.
func fetchWithCompanions(ctx context.Context, cfg config, jb *job, prog *segment.Progress,
	fetch func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	companions, stop := context.WithCancel(gctx)
	defer stop()
	if jb.cursor != nil {
		jb.hashLead()
		g.Go(func() error {
			return merge.Follow(companions, jb.cursor, jb.plan.Prefix, jb.plan.Changed, 20*time.Millisecond)
		})
	}
	if jb.sink != nil {
		// A failure anywhere wakes writes waiting for room in the
		// window, which the drain, gone, would never make.
		defer context.AfterFunc(gctx, jb.sink.win.abort)()
		g.Go(func() error { return jb.sink.drainTo(companions, jb.plan.Size) })
	}
	g.Go(func() error { return jb.checkpoints(companions, cfg.Checkpoint) })
	if jb.wb != nil && jb.dio == nil && jb.sink == nil {
		g.Go(func() error { jb.writeTail(companions, jb.wb); return nil })
	}
	if cfg.OnEvent != nil {
		g.Go(func() error { ticks(companions, cfg, jb.plan, prog); return nil })
	}
	cfg.emit(Event{Kind: EventFetchStart, Progress: &Progress{
		Output: jb.out, Ledger: jb.plan, Counters: prog, Resumed: jb.resumed,
	}})
	g.Go(func() error {
		defer stop()
		return fetch(gctx)
	})
	err := g.Wait()
	cfg.emit(Event{Kind: EventFetchEnd, Err: err})
	return err
}

// openPart opens (or creates) the part file and locks it, so that two rget
// processes never download into the same file.
func openPart(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create part file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// sizePart empties the part file and reserves size bytes for it where the
// filesystem allows, so that a full disk shows up now.
func sizePart(f *os.File, path string, size int64) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if size > 0 {
		if err := preallocate(f, size); err != nil {
			return fmt.Errorf("reserve %s for %s: %w", FormatSize(size), path, err)
		}
	}
	return nil
}

// policy is the scheduler's policy for cfg: a --segment-size the user chose
// bounds every request.
func policy(cfg config) segment.Policy {
	return segment.Policy{NoJoin: cfg.SegmentSize > 0}
}

// usedConns is how many connections received anything.
func usedConns(prog *segment.Progress) int {
	n := 0
	for i := range prog.Conns {
		if prog.Conns[i].Received.Load() > 0 {
			n++
		}
	}
	return max(n, 1)
}

// proxyFunc is the proxy chooser for Options.Proxy and NoProxy: nil (the
// environment's) when Proxy is empty. NoProxy names hosts, or domains
// (".example.com" or "example.com" also covers its subdomains), reached
// directly; "*" is every host.
func proxyFunc(proxy, noProxy string) (func(*http.Request) (*url.URL, error), error) {
	if proxy == "" {
		return nil, nil
	}
	if !strings.Contains(proxy, "://") {
		proxy = "http://" + proxy
	}
	pu, err := url.Parse(proxy)
	if err != nil || pu.Host == "" {
		return nil, fmt.Errorf("proxy %q: not a URL", proxy)
	}
	var skip []string
	for _, h := range strings.Split(noProxy, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			skip = append(skip, strings.TrimPrefix(h, "."))
		}
	}
	return func(r *http.Request) (*url.URL, error) {
		host := strings.ToLower(r.URL.Hostname())
		for _, h := range skip {
			if h == "*" || host == h || strings.HasSuffix(host, "."+h) {
				return nil, nil
			}
		}
		return pu, nil
	}, nil
}
