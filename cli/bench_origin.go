package cli

// This file sets up what `rget bench` downloads: a probed URL, or the
// synthetic file served by a child `rget serve` process (or, in tests, from
// this process), capped and uncapped.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"rget/origin"
	"slices"
	"strconv"
	"strings"
	"time"

	"rget/bench"
	"rget/segment"
)

// benchTarget is what a sweep downloads, and how to stop serving it.
type benchTarget struct {
	target   bench.Target
	uncapped *bench.Target
	notes    []string
	stops    []func()
}

func (t *benchTarget) stop() {
	for _, f := range slices.Backward(t.stops) {
		f()
	}
}

// benchSetup probes the URL, or starts the origin (capped and, with a cap,
// uncapped) and computes the synthetic content's SHA-256.
func benchSetup(ctx context.Context, cfg benchConfig, stderr io.Writer) (*benchTarget, error) {
	t := &benchTarget{}
	if cfg.URL != "" {
		client := segment.NewClient(segment.ClientOptions{Connections: 1})
		defer client.CloseIdleConnections()
		remote, err := segment.Probe(ctx, client, cfg.URL, segment.Options{Header: http.Header{}})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		t.target = bench.Target{URL: cfg.URL, Size: max(remote.Size, 0)}
		if !remote.Ranges {
			t.notes = append(t.notes, "the server does not serve byte ranges: every download is one stream")
		}
		t.notes = append(t.notes, "the content's SHA-256 is not known: outputs are checked by size only")
		return t, nil
	}
	content := origin.Content{Size: cfg.Size, Seed: syntheticSeed}
	start := time.Now()
	sum := content.SHA256()
	if d := time.Since(start); d > 2*time.Second {
		fmt.Fprintf(stderr, "rget: bench: SHA-256 of the synthetic content computed in %.1f s\n", d.Seconds())
	}
	inline := cfg.InlineOrigin
	url, stop, err := startSynthetic(content, cfg.RatePerConn, cfg.Latency, inline)
	if err != nil {
		return nil, err
	}
	t.stops = append(t.stops, stop)
	t.target = bench.Target{URL: url, Size: content.Size, SHA256: hex.EncodeToString(sum[:])}
	if cfg.RatePerConn > 0 {
		url, stop, err := startSynthetic(content, 0, cfg.Latency, inline)
		if err != nil {
			t.stop()
			return nil, err
		}
		t.stops = append(t.stops, stop)
		t.uncapped = &bench.Target{URL: url, Size: content.Size, SHA256: t.target.SHA256}
	}
	source := "synthetic content served by a child `rget serve` process (not counted in rget's CPU and memory)"
	if inline {
		source = "synthetic content served from this process: rget's CPU figures include the origin's"
	}
	if cfg.Latency > 0 {
		source += fmt.Sprintf(", %v latency per request", cfg.Latency)
	}
	t.notes = append(t.notes, source)
	if cfg.RatePerConn == 0 {
		t.notes = append(t.notes, "no per-connection cap: on loopback one connection can be as fast as many, and more connections only share the same CPU and disk; many connections pay off where each is capped (CDNs, object stores): model that with --rate-per-conn 25MB")
	}
	return t, nil
}

// startSynthetic serves content, in this process or in a child `rget serve`,
// and returns its URL and the function that stops it.
func startSynthetic(content origin.Content, rate int64, latency time.Duration, inline bool) (string, func(), error) {
	if inline {
		srv, err := origin.Start(origin.New(content, origin.WithLatency(latency)), origin.WithRatePerConn(rate))
		if err != nil {
			return "", nil, fmt.Errorf("bench: start origin: %w", err)
		}
		return srv.URL + syntheticPath, func() { srv.Close() }, nil
	}
	return startChildOrigin(content, rate, latency)
}

// startChildOrigin runs `rget serve --synthetic` as a child process, so
// that serving costs the measured process nothing, and reads its URL from
// the first line of its output. Stopping it sends SIGINT, then SIGKILL
// after 5 s.
func startChildOrigin(content origin.Content, rate int64, latency time.Duration) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("bench: start origin: %w", err)
	}
	args := []string{"serve", "--synthetic", strconv.FormatInt(content.Size, 10),
		"--seed", strconv.FormatUint(content.Seed, 10), "--addr", "127.0.0.1:0"}
	if rate > 0 {
		args = append(args, "--rate-per-conn", strconv.FormatInt(rate, 10))
	}
	if latency > 0 {
		args = append(args, "--latency", latency.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return "", nil, fmt.Errorf("bench: start origin: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, fmt.Errorf("bench: start origin: %w", err)
	}
	stop := func() {
		cancel()
		cmd.Wait() //nolint:errcheck // it was told to stop; how it ended does not matter
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	url := strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(url, "http://") {
		stop()
		return "", nil, fmt.Errorf("bench: start origin (%s %s): no URL on its output: %q %s", exe, strings.Join(args, " "), line, strings.TrimSpace(errOut.String()))
	}
	return url, stop, nil
}
