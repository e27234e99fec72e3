package download

import (
	"crypto/x509"
	"io"
	"net/http"
	"time"

	"rget/merge"
	"rget/segment"
)

// Options configures Run. The zero value downloads with 8 connections into
// the server's name for the file in the current directory, with a journal
// for resume and no expected digest.
type Options struct {
	// Output is the file to publish. If empty, the name is derived as
	// `rget get` does: the Content-Disposition filename, else the last
	// element of the URL path, sanitized (no directories, no "..").
	Output string
	// Dir is the directory a derived or relative Output goes in. If empty,
	// the current directory.
	Dir string
	// Connections is the number of connections at once. If zero, 8. A
	// small file uses fewer: no more than it has 16 KiB ranges.
	Connections int
	// AutoConnections finds the connection count by measuring (rget get
	// -c auto): a few connections first, more while each addition raises
	// the total rate, fewer on 429/503 answers, resets and stalls
	// (segment.Scaler); Connections is then the most (if zero, 64). Not
	// used by RunAll, whose Connections is the batch's budget.
	AutoConnections bool
	// SHA256 is the expected digest in hex. If empty, the digest is
	// computed and returned but not compared. A mismatch is a
	// *ChecksumError, and nothing is published.
	SHA256 string
	// Force replaces an existing Output. If false, an existing file is an
	// error (unless it already has the expected SHA256: then nothing is
	// downloaded).
	Force bool
	// Restart ignores the journal an interrupted earlier run left.
	Restart bool
	// Checkpoint is the interval of cheap journal records (durable ones
	// are every 3 s). If zero, 100 ms; negative disables the journal, so
	// an interrupted download cannot resume.
	Checkpoint time.Duration
	// StallTimeout drops a request whose body delivers nothing for this
	// long. If zero, 20 s.
	StallTimeout time.Duration
	// Retries is how many failures in a row one range may have before the
	// download fails. If zero, 8; negative means none.
	Retries int
	// SegmentSize is the size of the planned ranges, and the most one
	// request asks for. If zero, picked from the size and connections.
	SegmentSize int64
	// NoPipelining sends each range request only once the answer before
	// it on its connection has arrived (segment.Options.NoPipelining).
	NoPipelining bool
	// DirectIO writes a file of 8 MiB or more around the page cache and
	// reads it back so for its hash (O_DIRECT, where the file system
	// supports it and the disk keeps up), in whole aligned blocks; see
	// internal/directio. By default the file goes through the page cache:
	// on the machine rget is measured on that is faster (README, "Direct
	// I/O").
	DirectIO bool
	// Header holds extra request headers. Credentials in it (Authorization,
	// Cookie) are sent only to the host asked, never after a redirect to
	// another host nor from https to http.
	Header http.Header
	// Insecure skips TLS certificate verification.
	Insecure bool
	// AllowInsecureRedirect follows a redirect from https to http. If
	// false, such a redirect fails.
	AllowInsecureRedirect bool
	// RootCAs are the certificate authorities trusted for TLS. If nil, the
	// system's (and SSL_CERT_FILE).
	RootCAs *x509.CertPool
	// Proxy is the proxy URL for every request. If empty, the environment
	// decides (HTTP_PROXY, HTTPS_PROXY, NO_PROXY).
	Proxy string
	// NoProxy lists hosts (comma-separated, as NO_PROXY) reached without
	// the proxy. If empty, the environment's NO_PROXY.
	NoProxy string
	// ConnectTimeout bounds dialing and the TLS handshake of each
	// connection. If zero, 30 s.
	ConnectTimeout time.Duration
	// LimitRate caps the download at this many bytes per second, over all
	// connections together. If zero, no cap.
	LimitRate int64
	// Discard throws the bytes away instead of writing a file (for
	// benchmarks): no part file, no journal, no hash, nothing published.
	Discard bool
	// Writer, if set, receives the file in order instead of Output (rget
	// get -o -): the ranges are fetched in parallel into a reorder window
	// of Window bytes, and its completed prefix is written out as it
	// grows; no part file, no journal (an interrupted download cannot
	// resume), nothing published. A slow Writer holds the fetch back
	// (no range is asked past the window). The SHA-256 is of the bytes
	// written; with SHA256 set, a mismatch is a *ChecksumError after they
	// were all written.
	Writer io.Writer
	// Window is the reorder window of a download to Writer, in bytes. If
	// zero, 64 MiB.
	Window int64
	// Decompress decompresses the file while it arrives (gzip, zstd, xz,
	// bzip2, chosen by its first bytes; other data is passed through with
	// a notice). To a file: the file as served downloads (and resumes)
	// as OUT.z.part beside OUT, whose name drops the compression suffix
	// unless Output is set; the decompressor starts over from the local
	// bytes on resume, and OUT is published once the download is verified
	// and decompressed, the compressed bytes then removed. To Writer: the
	// decompressed bytes are written. SHA256 is the digest of the file as
	// served; Result.Decompressed has the output's.
	Decompress bool
	// HashDecompressed computes the SHA-256 of the decompressed output
	// too (Result.Decompressed.SHA256): a second hash of more bytes, on
	// the core that decompresses.
	HashDecompressed bool
	// Mirrors are other sources of the same file (Run; RunAll takes them
	// from each Request). Each is probed and must have the same size and
	// serve byte ranges, else it is dropped with a notice; ranges go to
	// connections by their measured rate, so a fast mirror carries most
	// of the file, and a source that fails for good is dropped without
	// failing the download.
	Mirrors []string
	// Checksums are expected digests by file name (a SHA256SUMS file,
	// ParseChecksums), for a file without SHA256: its name relative to
	// Dir is looked up. A file not listed is not verified (with a notice).
	Checksums Checksums
	// Jobs is, for RunAll, how many files are downloaded at once. If zero,
	// as many as Connections: each file in progress holds at least one.
	Jobs int
	// OnEvent, if set, receives the download's events (notices, each
	// request, the start and end of the fetch), one call at a time (a
	// request's event comes from the goroutine of its connection, which
	// waits for the call: it must not block for long).
	OnEvent func(Event)
}

// SourceResult is what one source of a file sent.
type SourceResult struct {
	URL   string `json:"url"`
	Bytes int64  `json:"bytes"`
}

// Result is what one download did.
type Result struct {
	URL            string  `json:"url"`
	FinalURL       string  `json:"final_url"`
	Output         string  `json:"output"`
	Size           int64   `json:"size"`
	SHA256         string  `json:"sha256"`
	Verified       bool    `json:"verified"` // compared with Options.SHA256
	Seconds        float64 `json:"seconds"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	Connections    int     `json:"connections"` // that received bytes
	Segments       int     `json:"segments"`
	Splits         int     `json:"splits"`
	Retries        int64   `json:"retries"`
	// Pipelined is how many range requests went out before the answer
	// ahead of them on their connection had ended (HTTP/1.1 pipelining).
	Pipelined int64 `json:"pipelined"`
	// DirectBytes is how many bytes were written around the page cache
	// (Options.DirectIO).
	DirectBytes int64 `json:"direct_bytes"`
	Ranges      bool  `json:"ranges"`
	// Resumed is how many bytes were already on disk from an earlier run;
	// Fetched is how many this run received (BytesPerSecond is over those).
	Resumed int64 `json:"resumed_bytes"`
	Fetched int64 `json:"fetched_bytes"`
	// VerifySeconds is the time from the last byte received to the file
	// verified and published.
	VerifySeconds float64 `json:"verify_seconds"`
	// StartupSeconds is the time from the start to the first range
	// request: probe, journal, part file.
	StartupSeconds float64 `json:"startup_seconds"`
	// AlreadyComplete: the output existed with the expected digest and
	// nothing was downloaded.
	AlreadyComplete bool `json:"already_complete,omitempty"`
	// Decompressed describes the output of Options.Decompress.
	Decompressed *Decompressed `json:"decompressed,omitempty"`
	// Verdict says what limited the download and what each connection
	// did; nil for a download too short or not fetched.
	Verdict *Verdict `json:"verdict,omitempty"`
	// Sources are the bytes each source sent, when there were mirrors.
	Sources []SourceResult `json:"sources,omitempty"`
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventNotice is a line of information (resuming, starting over, a
	// server without ranges): Message.
	EventNotice EventKind = iota
	// EventWarning is a line the user must see even when quiet: Message.
	EventWarning
	// EventRequest is one finished HTTP request: Trace.
	EventRequest
	// EventRetry is a failed request that will be tried again: Retry.
	EventRetry
	// EventFetchStart: the fetch begins; Progress can be read until
	// EventFetchEnd.
	EventFetchStart
	// EventFetchEnd: the fetch ended; Err is why it failed, nil when every
	// byte arrived (verification and publishing follow).
	EventFetchEnd
	// EventFileDone (RunAll): one file ended, with Result or Err.
	EventFileDone
	// EventScale (AutoConnections): the connection count is now Conns,
	// for the reason in Message.
	EventScale
	// EventStart: Run begins; Message is the URL (its password removed).
	EventStart
	// EventProbe: the server answered the probe: Probe.
	EventProbe
	// EventConnection: connection slot Conns opened a TCP connection
	// (Open) or closed one, for the reason in Message.
	EventConnection
	// EventRangeStart: a ranged request was sent: Trace (URL, Range,
	// Conn, Start); its EventRequest tells of its end.
	EventRangeStart
	// EventCheckpoint: the journal recorded Bytes written (Durable: the
	// data was synced first).
	EventCheckpoint
	// EventTick: twice a second while the fetch runs: Tick.
	EventTick
	// EventVerify: the file's digest is known (Message) and checked
	// against the expected one, if any; Seconds since the last byte.
	EventVerify
	// EventDone (Run): the download ended with Result, or Err.
	EventDone
)

// ProbeInfo is what the probe found.
type ProbeInfo struct {
	FinalURL     string `json:"final_url"`
	Size         int64  `json:"size"` // -1 unknown
	Ranges       bool   `json:"ranges"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Sources      int    `json:"sources"` // with the mirrors that agree
}

// Tick is a running fetch's state, twice a second.
type Tick struct {
	Bytes       int64   `json:"bytes"` // written, resumed ones included
	Size        int64   `json:"size"`
	Rate        float64 `json:"bytes_per_second"` // over the last tick
	ETA         float64 `json:"eta_seconds"`      // -1 unknown
	Connections int     `json:"connections"`      // fetching now
}

// Event is one thing a download reports to Options.OnEvent.
type Event struct {
	Kind EventKind
	// File is the index in RunAll's requests of the file the event is
	// about; 0 for Run.
	File     int
	Result   *Result // EventFileDone, EventDone
	Conns    int     // EventScale: the count; EventConnection: the slot (0-based)
	Open     bool    // EventConnection
	Probe    *ProbeInfo
	Bytes    int64 // EventCheckpoint
	Durable  bool  // EventCheckpoint
	Tick     *Tick
	Seconds  float64 // EventVerify
	Message  string
	Trace    segment.Trace
	Retry    segment.Retry
	Progress *Progress
	Err      error
}

// Progress is a running fetch's state, for a view to poll between
// EventFetchStart and EventFetchEnd: every field is safe to read at any
// time.
type Progress struct {
	// Output is the file being downloaded.
	Output string
	// Ledger is the byte accounting: Size, Done (each byte once, resumed
	// bytes included), Prefix.
	Ledger *segment.Ledger
	// Counters are the bytes received in total and by each connection,
	// and what each connection is fetching.
	Counters *segment.Progress
	// Resumed is how many bytes were on disk before this run.
	Resumed int64
}

// ChecksumError is a file whose SHA-256 is not the one expected.
type ChecksumError = merge.ChecksumError

// SizeError is a file whose size is not the one announced.
type SizeError = merge.SizeError

// StatusError is an HTTP error status answered by the server.
type StatusError = segment.StatusError
