package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rget/origin"
)

// TestConfigAndEnv: a config file and RGET_* variables set get's flags;
// the command line wins over both.
func TestConfigAndEnv(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	// Each connection capped, so that all three configured connections
	// receive bytes (the JSON counts those that did): unthrottled, one
	// range of 200 KB was once taken over before its first byte.
	c := origin.Content{Size: 600_000, Seed: 18}
	srv, err := origin.Start(origin.New(c), origin.WithRatePerConn(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	body := "# rget's config\nconnections = 3\nquiet\n\ndir = " + filepath.Join(dir, "fromconfig") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, string, int) {
		code, stdout, stderr := runBin(t, bin, env, args...)
		return stdout, stderr, code
	}
	// From the file: quiet (only the sum line), the directory.
	stdout, stderr, code := run([]string{"RGET_CONFIG=" + conf}, srv.URL+"/file", "--json")
	if code != 0 {
		t.Fatalf("with a config: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, filepath.Join(dir, "fromconfig", "file")) || !strings.Contains(stdout, `"connections": 3`) {
		t.Errorf("config not applied: %s", stdout)
	}
	// The command line wins: -d elsewhere, -c 2.
	stdout, stderr, code = run([]string{"RGET_CONFIG=" + conf}, srv.URL+"/file", "--json", "-c", "2", "-d", filepath.Join(dir, "fromflags"))
	if code != 0 || !strings.Contains(stdout, filepath.Join(dir, "fromflags", "file")) || !strings.Contains(stdout, `"connections": 2`) {
		t.Errorf("flags did not win over the config: exit %d\n%s%s", code, stdout, stderr)
	}
	// RGET_* for a flag.
	stdout, stderr, code = run([]string{"RGET_CONFIG=/nonexistent", "RGET_OUTPUT=" + filepath.Join(dir, "env.bin"), "RGET_QUIET=true"}, srv.URL+"/file")
	if code != 0 || !strings.Contains(stdout, filepath.Join(dir, "env.bin")) {
		t.Errorf("RGET_OUTPUT not applied: exit %d\n%s%s", code, stdout, stderr)
	}
	// A line that is not a flag is a usage error naming the line.
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("conections = 3\n"), 0o644)
	_, stderr, code = run([]string{"RGET_CONFIG=" + bad}, srv.URL+"/file")
	if code != exitUsage || !strings.Contains(stderr, bad+":1") {
		t.Errorf("bad config: exit %d, stderr %q; want exit 2 naming %s:1", code, stderr, bad)
	}
}

// FuzzParseConfig: any config text parses or fails as a usage error, and
// what it yields is long flags of get, each followed by its value or not.
func FuzzParseConfig(f *testing.F) {
	f.Add("connections = 16\nquiet\n# c\n")
	f.Add("header = A: b = c\n")
	f.Add("=\n")
	get := getCommand(nil, nil)
	f.Fuzz(func(t *testing.T, text string) {
		args, err := parseConfig(strings.NewReader(text), "config", get)
		if err != nil {
			if exitCode(err) != exitUsage && !strings.Contains(err.Error(), "config") {
				t.Fatalf("parseConfig(%q): %v, not a usage error", text, err)
			}
			return
		}
		for i := 0; i < len(args); i++ {
			if !strings.HasPrefix(args[i], "--") || !knownFlag(get, args[i][2:]) {
				t.Fatalf("parseConfig(%q) = %q: %q is not a flag of get", text, args, args[i])
			}
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				i++ // its value
			}
		}
	})
}
