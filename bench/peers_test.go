package bench

import (
	"context"
	"encoding/hex"
	"rget/origin"
	"slices"
	"strings"
	"testing"
)

func TestPeerArgs(t *testing.T) {
	t.Parallel()
	const url, out = "http://h/f", "/tmp/run/out.bin"
	for _, tc := range []struct {
		name  string
		conns int
		size  int64
		has   []string
	}{
		{"aria2c", 4, 0, []string{"-x 4 -s 4", "-d /tmp/run -o out.bin http://h/f"}},
		{"aria2c", 64, 0, []string{"-x 16 -s 64"}},
		{"curl", 16, 0, []string{"-o /tmp/run/out.bin http://h/f"}},
		{"axel", 16, 0, []string{"--num-connections=16", "--output=/tmp/run/out.bin http://h/f"}},
		{"wget2", 1, 1 << 30, []string{"-O /tmp/run/out.bin http://h/f"}},
		{"wget2", 4, 1 << 30, []string{"--max-threads=4 --chunk-size=256M http://h/f"}},
		{"wget2", 3, 10<<20 + 1, []string{"--chunk-size=4M"}}, // ceil(10 MiB + 1 / 3) in MiB
	} {
		args := strings.Join(peerArgs[tc.name](url, out, tc.conns, tc.size), " ")
		for _, want := range tc.has {
			if !strings.Contains(args, want) {
				t.Errorf("%s with %d connections, size %d: args %q lack %q", tc.name, tc.conns, tc.size, args, want)
			}
		}
	}
	if strings.Contains(strings.Join(peerArgs["wget2"](url, out, 1, 1<<30), " "), "chunk") {
		t.Error("wget2 with one connection should not chunk")
	}
	for _, name := range PeerNames {
		if peerArgs[name] == nil {
			t.Errorf("no arguments for peer %q", name)
		}
	}
	if len(peerArgs) != len(PeerNames) {
		t.Errorf("peerArgs has %d entries, PeerNames %d", len(peerArgs), len(PeerNames))
	}
}

func TestVersionIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"aria2 version 1.36.0\nCopyright", "1.36.0"},
		{"curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1\n", "7.88.1"},
		{"Axel 2.17.11 (linux-gnu)\n", "2.17.11"},
		{"GNU Wget2 1.99.1 - multithreaded metalink/file/website downloader\n", "1.99.1"},
		{"no version here", ""},
		{"", ""},
	} {
		if got := versionIn(tc.in); got != tc.want {
			t.Errorf("versionIn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPeerUnknownOrMissing(t *testing.T) {
	t.Parallel()
	if _, err := Peer(context.Background(), "netscape"); err == nil || !strings.Contains(err.Error(), "unknown downloader") {
		t.Errorf("Peer(netscape) = %v", err)
	}
	for _, name := range PeerNames {
		tool, err := Peer(context.Background(), name)
		if err != nil {
			continue // not installed here
		}
		if tool.Name != name || tool.Command == nil || tool.Func != nil || !strings.Contains(tool.Command.Path, name) {
			t.Errorf("Peer(%s) = %+v", name, tool)
		}
	}
}

// TestPeersAgainstOrigin runs every installed peer once through the
// harness against the origin: its output must pass the SHA-256 check.
func TestPeersAgainstOrigin(t *testing.T) {
	t.Parallel()
	var tools []Tool
	for _, name := range PeerNames {
		if tool, err := Peer(context.Background(), name); err == nil {
			tools = append(tools, tool)
		}
	}
	if len(tools) == 0 {
		t.Skip("none of", PeerNames, "installed")
	}
	c := origin.Content{Size: 3<<20 + 7, Seed: 9}
	srv, err := origin.Start(origin.New(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	sum := c.SHA256()
	target := Target{URL: srv.URL + "/file.bin", Size: c.Size, SHA256: hex.EncodeToString(sum[:])}
	rep, err := Sweep(context.Background(), Config{Target: target, Conns: []int{2}, Dir: t.TempDir(), Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if !r.OK || r.Check != "sha256" {
			t.Errorf("%s: %+v", r.Tool, r)
		}
	}
	if !slices.ContainsFunc(rep.Results, func(r Run) bool { return r.PeakRSS > 0 }) {
		t.Errorf("no peer's peak RSS measured: %+v", rep.Results)
	}
}
