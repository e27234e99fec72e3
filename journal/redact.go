package journal

import "strings"

// RedactURL returns raw without its userinfo ("user:password@"), byte for byte
// otherwise: the scheme, host, path, query and fragment are kept. It finds the
// authority the way net/url does (after "scheme:" and "//", up to the first
// '/', '?' or '#', userinfo ending at the last '@'), but needs no valid URL,
// so that a URL net/url rejects still loses its credentials. Create and Commit
// apply it to every URL they store.
func RedactURL(raw string) string {
	rest := raw[schemeLen(raw):]
	if !strings.HasPrefix(rest, "//") {
		return raw // no authority, so no userinfo
	}
	hostStart := len(raw) - len(rest) + len("//")
	authority := raw[hostStart:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return raw
	}
	return raw[:hostStart] + raw[hostStart+at+1:]
}

// schemeLen returns the length of raw's "scheme:" prefix, 0 if it has none,
// by the rules of net/url's getScheme.
func schemeLen(raw string) int {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
			if i == 0 {
				return 0
			}
		case c == ':':
			if i == 0 {
				return 0
			}
			return i + 1
		default:
			return 0
		}
	}
	return 0
}
