package download

// This file runs a batch: many files under one connection budget.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"rget/segment"
)

// FileResult is one file of RunAll: its Result, or the error that stopped
// it.
type FileResult struct {
	Request Request
	Result  *Result
	Err     error
}

// RunAll downloads every request as Run does, several at once, with
// opts.Connections the number of requests in flight across the whole batch
// (probes included) and opts.Jobs the number of files in progress. Each
// file in progress holds at least one connection; a freed connection goes
// to the file with the most bytes left per connection it holds, and a small
// file takes no more than one connection per MiB. Each Request's Output,
// Dir, SHA256 and Header override or add to opts' (opts.Output and
// opts.SHA256 are not used: each file has its own). A file already
// downloaded by an earlier run is not fetched again: with a known digest it
// must match it, without one it must have the remote's size and no journal
// beside it (Result.AlreadyComplete); partial files resume from their
// journals. One file failing does not stop the others; every file's outcome
// is in the results, in the order of reqs, and in an EventFileDone as it
// ends.
func RunAll(ctx context.Context, reqs []Request, opts Options) []FileResult {
	opts.Output, opts.SHA256, opts.Mirrors = "", "", nil
	base := withDefaults(config{Options: opts})
	var urls []string
	for _, r := range reqs {
		urls = append(append(urls, r.URL), r.Mirrors...)
	}
	defer preloadRoots(base, urls...)()
	budget := segment.NewBudget(base.Connections)
	var client *http.Client
	if proxy, err := proxyFunc(base.Proxy, base.NoProxy); err == nil {
		// (A bad proxy setting is each file's error, from run.)
		shared := base
		shared.budget = budget
		client = newClient(shared, proxy, nil)
		defer client.CloseIdleConnections()
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = base.Connections
	}
	results := make([]FileResult, len(reqs))
	claims := newClaims()
	slots := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, req := range reqs {
		results[i].Request = req
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			results[i].Err = &StoppedError{Err: ctx.Err()}
			continue
		}
		cfg := base
		cfg.URL, cfg.mirrors, cfg.file, cfg.budget, cfg.skipExisting = req.URL, req.Mirrors, i, budget, true
		cfg.client = client
		cfg.claim = func(out string) error { return claims.claim(out, i) }
		cfg.Output = req.Output
		if req.Dir != "" {
			cfg.Dir = req.Dir
		}
		cfg.SHA256 = strings.ToLower(strings.TrimSpace(req.SHA256))
		if len(req.Header) > 0 {
			cfg.Header = base.Header.Clone()
			for k, vs := range req.Header {
				for _, v := range vs {
					cfg.Header.Add(k, v)
				}
			}
		}
		wg.Go(func() {
			defer func() { <-slots }()
			var res *Result
			var err error
			if cfg.SHA256 != "" && !isDigest(cfg.SHA256) {
				err = fmt.Errorf("expected SHA-256 %q of %s: not 64 hex digits", cfg.SHA256, Redact(cfg.URL))
			} else {
				res, err = run(ctx, cfg)
			}
			results[i].Result, results[i].Err = res, err
			cfg.emit(Event{Kind: EventFileDone, Result: res, Err: err})
		})
	}
	wg.Wait()
	return results
}

// claims are the outputs of a batch's files, so that two never write the
// same file.
type claims struct {
	mu  sync.Mutex
	out map[string]int // cleaned absolute path -> the file's index
}

func newClaims() *claims { return &claims{out: map[string]int{}} }

// claim reserves out for file i, or says which file has it.
func (c *claims) claim(out string, i int) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		abs = filepath.Clean(out)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if j, ok := c.out[abs]; ok && j != i {
		return fmt.Errorf("output %s is also file %d's of this batch; name one with out= (or download them apart)", out, j+1)
	}
	c.out[abs] = i
	return nil
}

// maxChecksumFile bounds a checksum file fetched by URL.
const maxChecksumFile = 16 << 20

// LoadChecksums reads a checksum file (ParseChecksums) from a path, or
// fetches it when src is an http(s) URL, with opts' TLS, proxy and header
// settings.
func LoadChecksums(ctx context.Context, src string, opts Options) (Checksums, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("checksum file: %w", err)
		}
		defer f.Close()
		sums, err := ParseChecksums(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		return sums, nil
	}
	cfg := withDefaults(config{Options: opts, URL: src})
	proxy, err := proxyFunc(cfg.Proxy, cfg.NoProxy)
	if err != nil {
		return nil, err
	}
	client := segment.NewClient(segment.ClientOptions{
		Connections: 1, Insecure: cfg.Insecure, AllowInsecureRedirect: cfg.AllowInsecureRedirect,
		RootCAs: cfg.RootCAs, Proxy: proxy, ConnectTimeout: cfg.ConnectTimeout,
	})
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("checksum file %s: %w", Redact(src), err)
	}
	req.Header = cfg.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("checksum file: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("checksum file: %w", &segment.StatusError{URL: Redact(src), Code: resp.StatusCode, Status: resp.Status})
	}
	sums, err := ParseChecksums(io.LimitReader(resp.Body, maxChecksumFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Redact(src), err)
	}
	return sums, nil
}
