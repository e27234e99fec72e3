package cli

import (
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"rget/origin"
)

func TestParseNetrc(t *testing.T) {
	t.Parallel()
	text := `# comment
machine example.com login alice password s3cret
machine Other.org
  login bob
  password "x"
macdef init
cd /pub
bin

default login anonymous password me@
`
	got, err := parseNetrc(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]netrcEntry{
		"example.com": {"alice", "s3cret"}, "other.org": {"bob", `"x"`}, "": {"anonymous", "me@"},
	}
	if len(got) != len(want) {
		t.Fatalf("parseNetrc = %v, want %v", got, want)
	}
	for h, e := range want {
		if got[h] != e {
			t.Errorf("parseNetrc[%q] = %+v, want %+v", h, got[h], e)
		}
	}
	for _, bad := range []string{"login x", "machine", "machine a login", "bogus"} {
		if _, err := parseNetrc(strings.NewReader(bad)); err == nil {
			t.Errorf("parseNetrc(%q): no error", bad)
		}
	}
}

// FuzzParseNetrc: any text parses or fails; no entry has an upper-case
// host (hosts are matched lower-case).
func FuzzParseNetrc(f *testing.F) {
	f.Add("machine a login b password c\ndefault login x password y\n")
	f.Add("macdef m\nx\n\nmachine q login r\n")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := parseNetrc(strings.NewReader(text))
		if err != nil {
			return
		}
		for h := range entries {
			if h != strings.ToLower(h) {
				t.Fatalf("parseNetrc(%q): host %q not lower-case", text, h)
			}
		}
	})
}

// TestNetrcLogin: --netrc-file logs in at the URL's host, and the
// credentials are not sent when the file names another host.
func TestNetrcLogin(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	c := origin.Content{Size: 100_000, Seed: 19}
	var auth atomic.Value
	srv, err := origin.Start(origin.New(c, origin.WithOnRequest(func(r *http.Request) { auth.Store(r.Header.Get("Authorization")) })))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	for _, tc := range []struct{ netrc, want string }{
		{"machine 127.0.0.1 login alice password s3cret\n", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))},
		{"machine example.com login alice password s3cret\n", ""},
	} {
		path := filepath.Join(dir, "netrc")
		if err := os.WriteFile(path, []byte(tc.netrc), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, srv.URL+"/file", "-q", "-f", "-o", filepath.Join(dir, "out"), "--netrc-file", path).CombinedOutput()
		if err != nil {
			t.Fatalf("rget: %v\n%s", err, out)
		}
		if got, _ := auth.Load().(string); got != tc.want {
			t.Errorf("netrc %q: Authorization %q, want %q", tc.netrc, got, tc.want)
		}
	}
}
