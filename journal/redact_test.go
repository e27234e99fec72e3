package journal

import (
	"net/url"
	"testing"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://user:secret@example.com/f?token=1#x", "https://example.com/f?token=1#x"},
		{"https://user@example.com:8443/f", "https://example.com:8443/f"},
		{"http://a@b@c/p", "http://c/p"},
		{"http://u:p@[::1]:80/", "http://[::1]:80/"},
		{"HTTP://U:P@H", "HTTP://H"},
		{"//u:p@host/x", "//host/x"},
		{"http://host/p@th?q=a@b#f@g", "http://host/p@th?q=a@b#f@g"},
		{"http://host?u@x", "http://host?u@x"},
		{"http://host#u@x", "http://host#u@x"},
		{"https://example.com/f", "https://example.com/f"},
		{"mailto:user@example.com", "mailto:user@example.com"},
		{"http://u:p@ho%zzst/", "http://ho%zzst/"}, // net/url rejects it; still redacted
		{"", ""},
		{"not a url", "not a url"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzRedactURL checks that the result has no userinfo for net/url, that
// RedactURL is idempotent, and that it only ever removes a middle piece.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"https://u:p@h/x?q#f", "//u@h", "http://h/p", "a:b", "http://[::1]@x", "s://@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := RedactURL(in)
		if again := RedactURL(out); again != out {
			t.Fatalf("RedactURL(%q) = %q, then %q: not idempotent", in, out, again)
		}
		if out != in && !removesUserinfo(in, out) {
			t.Fatalf("RedactURL(%q) = %q: not the removal of one piece ending in '@'", in, out)
		}
		if u, err := url.Parse(out); err == nil && u.User != nil {
			t.Fatalf("RedactURL(%q) = %q, which net/url parses with userinfo %q", in, out, u.User)
		}
		if u, err := url.Parse(in); err == nil && u.User == nil && out != in {
			t.Fatalf("RedactURL(%q) = %q, but net/url finds no userinfo", in, out)
		}
	})
}

// removesUserinfo reports whether out is in without one piece ending in '@'.
func removesUserinfo(in, out string) bool {
	cut := len(in) - len(out)
	if cut <= 0 {
		return false
	}
	for k := 0; k <= len(out); k++ {
		if in[:k] == out[:k] && in[k+cut:] == out[k:] && in[k+cut-1] == '@' {
			return true
		}
	}
	return false
}
