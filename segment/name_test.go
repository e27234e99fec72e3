package segment

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSanitizeName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"file.iso", "file.iso"},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system32`, "system32"},
		{"..", ""},
		{".", ""},
		{"", ""},
		{"/", ""},
		{".bashrc", "bashrc"},
		{"...hidden", "hidden"},
		{"a\x00b\nc\x7fd", "abcd"},
		{"  spaced name.txt  ", "spaced name.txt"},
		{"résumé.pdf", "résumé.pdf"},
		{"bad\xffutf8", "badutf8"},
		{"dir/", ""},
		{strings.Repeat("x", 300), strings.Repeat("x", maxNameBytes)},
	} {
		if got := SanitizeName(tc.in); got != tc.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFileName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Remote
		want string
	}{
		{Remote{URL: "http://h/a/b/file.bin"}, "file.bin"},
		{Remote{URL: "http://h/a/b/file.bin?x=1#frag"}, "file.bin"},
		{Remote{URL: "http://h/a/my%20file.bin"}, "my file.bin"},
		{Remote{URL: "http://h/dl?id=4", FinalURL: "http://cdn/x/real.iso"}, "real.iso"},
		{Remote{URL: "http://h/", FinalURL: "http://h/"}, "download"},
		{Remote{URL: "http://h/name.bin", FinalURL: "http://cdn/"}, "name.bin"},
		{Remote{URL: "http://h/x.bin", Filename: "../../.ssh/authorized_keys"}, "authorized_keys"},
		{Remote{URL: "http://h/x.bin", Filename: ".."}, "x.bin"},
		{Remote{URL: "http://h/%2e%2e"}, "download"},
	} {
		if got := FileName(&tc.r); got != tc.want {
			t.Errorf("FileName(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestDispositionFilename(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`attachment; filename="a.bin"`, "a.bin"},
		{`attachment; filename=a.bin`, "a.bin"},
		{`attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`, "résumé.pdf"},
		{`attachment; filename="fallback.txt"; filename*=UTF-8''real.txt`, "real.txt"},
		{`inline`, ""},
		{``, ""},
		{`attachment; filename="../../x"`, "../../x"}, // sanitized later, by FileName
		{`;;;`, ""},
	} {
		if got := dispositionFilename(tc.in); got != tc.want {
			t.Errorf("dispositionFilename(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzSanitizeName checks the properties that make a name safe to create.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"a.bin", "../x", "..", ".hidden", "a\x00b", `c:\x\y`, "attachment; filename=\"../a\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, in := range []string{s, dispositionFilename(s), dispositionFilename("attachment; filename=" + s)} {
			got := SanitizeName(in)
			if got == "" {
				continue
			}
			if strings.ContainsAny(got, `/\`) || got == "." || got == ".." || strings.HasPrefix(got, ".") {
				t.Fatalf("SanitizeName(%q) = %q: not a plain visible base name", in, got)
			}
			if !utf8.ValidString(got) || len(got) > maxNameBytes || strings.TrimSpace(got) != got {
				t.Fatalf("SanitizeName(%q) = %q: invalid, too long or padded", in, got)
			}
			for _, r := range got {
				if unicode.IsControl(r) {
					t.Fatalf("SanitizeName(%q) = %q: has control character %U", in, got, r)
				}
			}
			if again := SanitizeName(got); again != got {
				t.Fatalf("SanitizeName not idempotent: %q -> %q -> %q", in, got, again)
			}
		}
	})
}
