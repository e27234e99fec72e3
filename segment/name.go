package segment

import (
	"net/url"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameBytes bounds a derived file name; most filesystems allow 255.
const maxNameBytes = 200

// FileName derives a safe local file name for r: the Content-Disposition
// filename if there is one, else the last element of the final URL's path
// (after redirects, as aria2 names it), else of the URL as asked, else
// "download". The result is always a
// plain base name (see SanitizeName).
func FileName(r *Remote) string {
	if n := SanitizeName(r.Filename); n != "" {
		return n
	}
	for _, raw := range []string{r.FinalURL, r.URL} {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if n := SanitizeName(path.Base(u.Path)); n != "" {
			return n
		}
	}
	return "download"
}

// SanitizeName reduces a name suggested by a server or a URL to a plain file
// name that is safe to create in the current directory: only the part after
// the last slash or backslash, no control characters, no leading dots (not
// hidden, not "." or ".."), no surrounding spaces, at most maxNameBytes
// bytes. It returns "" when nothing usable is left.
func SanitizeName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	// Until stable: ". ." must not leave ".".
	for t := ""; t != s; {
		t = s
		s = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(s), "."))
	}
	if len(s) > maxNameBytes {
		cut := maxNameBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}
