package download

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const sumA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestParseInputList(t *testing.T) {
	t.Parallel()
	in := "# models\n" +
		"https://a.example/f.iso\thttps://b.example/f.iso\t\n" +
		"  out=g.iso\n" +
		"\tdir=/data\n" +
		"  checksum=sha-256=" + strings.ToUpper(sumA) + "\n" +
		"  header=Authorization: Bearer x\n" +
		"  split=5\n" +
		"  split=6\n" +
		"\n" +
		"https://a.example/h.bin\r\n" +
		"  sha256=" + sumA + "\n"
	reqs, warns, err := ParseInputList(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2: %+v", len(reqs), reqs)
	}
	r := reqs[0]
	if r.URL != "https://a.example/f.iso" || !reflect.DeepEqual(r.Mirrors, []string{"https://b.example/f.iso"}) ||
		r.Output != "g.iso" || r.Dir != "/data" || r.SHA256 != sumA || r.Header.Get("Authorization") != "Bearer x" {
		t.Errorf("first request = %+v", r)
	}
	if reqs[1].URL != "https://a.example/h.bin" || reqs[1].SHA256 != sumA || reqs[1].Mirrors != nil {
		t.Errorf("second request = %+v", reqs[1])
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `"split"`) {
		t.Errorf("warnings = %q, want one naming split", warns)
	}
}

func TestParseInputListErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"  out=x\nhttp://a/b\n",
		"http://a/b\n  out\n",
		"http://a/b\n  sha256=12\n",
		"http://a/b\n  checksum=md5=d41d8cd98f00b204e9800998ecf8427e\n",
		"http://a/b\n  header=NoColon\n",
	} {
		if reqs, _, err := ParseInputList(strings.NewReader(in)); err == nil || !strings.HasPrefix(err.Error(), "line ") {
			t.Errorf("ParseInputList(%q) = %+v, %v; want an error naming the line", in, reqs, err)
		}
	}
}

func TestParseChecksums(t *testing.T) {
	t.Parallel()
	sumB := strings.Repeat("ab", 32)
	in := "# SHA256SUMS\n" +
		sumA + "  debian.iso\n" +
		strings.ToUpper(sumB) + " *sub/bin.img\n" +
		"SHA256 (bsd name.txt) = " + sumA + "\n" +
		"\\" + sumB + "  back\\\\slash\n"
	sums, err := ParseChecksums(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"debian.iso": sumA, "./debian.iso": sumA, "sub/bin.img": sumB, "bin.img": sumB,
		"bsd name.txt": sumA, `back\slash`: sumB,
	} {
		if got, ok := sums.Lookup(name); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if got, ok := sums.Lookup("other.iso"); ok {
		t.Errorf("Lookup(other.iso) = %q, want none", got)
	}
	for _, bad := range []string{"xyz  a\n", sumA + "\n", sumA[:60] + "  a\n", "SHA256 (a) = 12\n"} {
		if _, err := ParseChecksums(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseChecksums(%q) succeeded, want an error", bad)
		}
	}
}

// FuzzParseInputList: whatever the input, every request has a URL with no
// tab or newline in it, and a digest, when set, is 64 lower-case hex digits;
// a list printed back in the format parses to the same requests.
func FuzzParseInputList(f *testing.F) {
	f.Add("http://a/b\thttp://c/b\n  out=x\n  sha256=" + sumA + "\n")
	f.Add("# c\n\nhttp://a\n\theader=A: b\n  foo=bar\n")
	f.Fuzz(func(t *testing.T, in string) {
		reqs, _, err := ParseInputList(strings.NewReader(in))
		if err != nil {
			return
		}
		var b strings.Builder
		for _, r := range reqs {
			for _, u := range append([]string{r.URL}, r.Mirrors...) {
				if u == "" || strings.ContainsAny(u, "\t\n\r") {
					t.Fatalf("source %q of %+v", u, r)
				}
			}
			if r.SHA256 != "" && (!isDigest(r.SHA256) || strings.ToLower(r.SHA256) != r.SHA256) {
				t.Fatalf("digest %q", r.SHA256)
			}
			if strings.HasPrefix(r.URL, "#") {
				continue // cannot be printed back as a URL line
			}
			fmt.Fprintln(&b, strings.Join(append([]string{r.URL}, r.Mirrors...), "\t"))
			if r.Output != "" {
				fmt.Fprintf(&b, "  out=%s\n", r.Output)
			}
			if r.SHA256 != "" {
				fmt.Fprintf(&b, "  sha256=%s\n", r.SHA256)
			}
		}
		again, _, err := ParseInputList(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("printed list %q: %v", b.String(), err)
		}
		n := 0
		for _, r := range reqs {
			if strings.HasPrefix(r.URL, "#") {
				continue
			}
			if g := again[n]; g.URL != r.URL || !reflect.DeepEqual(g.Mirrors, r.Mirrors) || g.SHA256 != r.SHA256 {
				t.Fatalf("round trip: %+v, want %+v", g, r)
			}
			n++
		}
	})
}

// FuzzParseChecksums: every parsed entry is a name and 64 lower-case hex
// digits, and printing the entries in sha256sum's format parses back to
// the same map.
func FuzzParseChecksums(f *testing.F) {
	f.Add(sumA + "  a.iso\n" + sumA + " *b\n")
	f.Add("SHA256 (x) = " + sumA + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		sums, err := ParseChecksums(strings.NewReader(in))
		if err != nil {
			return
		}
		var b strings.Builder
		for name, sum := range sums {
			if !isDigest(sum) || strings.ToLower(sum) != sum || name == "" {
				t.Fatalf("entry %q: %q", name, sum)
			}
			if strings.ContainsAny(name, "\\\n\r") {
				fmt.Fprintf(&b, "\\%s  %s\n", sum, strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(name))
			} else {
				fmt.Fprintf(&b, "%s  %s\n", sum, name)
			}
		}
		again, err := ParseChecksums(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("printed %q: %v", b.String(), err)
		}
		if !reflect.DeepEqual(again, sums) {
			t.Fatalf("round trip %v, want %v", again, sums)
		}
	})
}
