package bench

// This file holds the other downloaders rget is compared with, invoked as
// shared/bench/peers/*.sh invoke them, so that figures from this runner and
// from that harness can be set side by side.

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// PeerNames are the external downloaders Peer knows, in report order.
var PeerNames = []string{"aria2c", "curl", "axel", "wget2"}

// peerArgs builds each peer's command line.
var peerArgs = map[string]func(url, out string, conns int, size int64) []string{
	// aria2c caps -x (connections per server) at 16 and refuses more; -s
	// asks for conns splits and -k 1M lets idle connections take over the
	// tail.
	"aria2c": func(url, out string, conns int, _ int64) []string {
		return []string{"--no-conf", "--quiet=true", "--allow-overwrite=true", "--auto-file-renaming=false",
			"--file-allocation=falloc", "-x", strconv.Itoa(min(conns, 16)), "-s", strconv.Itoa(conns), "-k", "1M",
			"--max-tries=3", "--retry-wait=1", "--connect-timeout=10", "--timeout=30",
			"-d", filepath.Dir(out), "-o", filepath.Base(out), url}
	},
	// curl: one stream whatever conns is, the reference single fetch.
	"curl": func(url, out string, _ int, _ int64) []string {
		return []string{"--silent", "--show-error", "--fail", "--retry", "2", "--connect-timeout", "10", "-o", out, url}
	},
	// axel: a static split into conns parts, one connection each.
	"axel": func(url, out string, conns int, _ int64) []string {
		return []string{"--quiet", "--num-connections=" + strconv.Itoa(conns), "--timeout=30", "--output=" + out, url}
	},
	// wget2 splits the file into conns chunks of whole MiB; version 1.99.1
	// fetches them one after another on one connection per host. Without
	// -O it was seen looping.
	"wget2": func(url, out string, conns int, size int64) []string {
		args := []string{"--no-config", "--quiet", "--no-netrc", "--no-hsts", "--tries=3", "--timeout=30", "-O", out}
		if conns > 1 && size > 0 {
			mib := (size + int64(conns)<<20 - 1) / (int64(conns) << 20)
			args = append(args, "--max-threads="+strconv.Itoa(conns), "--chunk-size="+strconv.FormatInt(mib, 10)+"M")
		}
		return append(args, url)
	},
}

// Peer returns the external downloader name (one of PeerNames), found on
// PATH, with its version. It fails if the name is unknown or not installed.
func Peer(ctx context.Context, name string) (Tool, error) {
	args, ok := peerArgs[name]
	if !ok {
		return Tool{}, fmt.Errorf("bench: unknown downloader %q (known: %s)", name, strings.Join(PeerNames, ", "))
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return Tool{}, fmt.Errorf("bench: %w", err)
	}
	return Tool{Name: name, Version: toolVersion(ctx, path), Command: &Command{Path: path, Args: args}}, nil
}

// toolVersion runs "path --version" and returns the first word of its first
// line that starts with a digit ("1.36.0" of "aria2 version 1.36.0"), or "".
func toolVersion(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil && len(b) == 0 {
		return ""
	}
	return versionIn(string(b))
}

func versionIn(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	for _, f := range strings.Fields(first) {
		if f[0] >= '0' && f[0] <= '9' {
			return f
		}
	}
	return ""
}
