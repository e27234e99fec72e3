package cli

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// netrcEntry is one machine's login in a .netrc file.
type netrcEntry struct {
	Login, Password string
}

// parseNetrc reads the .netrc format that curl, wget and ftp share:
// tokens separated by white space; "machine NAME" starts an entry,
// "default" the entry for every other host; "login", "password" and
// "account" take a value; "macdef NAME" is followed by a macro that ends at
// a blank line. It returns the entries by host ("" for default).
func parseNetrc(r io.Reader) (map[string]netrcEntry, error) {
	entries := map[string]netrcEntry{}
	sc := bufio.NewScanner(r)
	var tokens []string
	inMacro := false
	for sc.Scan() {
		line := sc.Text()
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		fields := strings.Fields(line)
		for i := 0; i < len(fields); i++ {
			if strings.HasPrefix(fields[i], "#") && len(tokens)%2 == 0 {
				break // a comment to the end of the line
			}
			if fields[i] == "macdef" {
				inMacro = true
				break
			}
			tokens = append(tokens, fields[i])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	host, in := "", false
	for i := 0; i < len(tokens); i++ {
		switch tokens[i] {
		case "machine":
			if i+1 >= len(tokens) {
				return nil, fmt.Errorf("netrc: machine without a name")
			}
			i++
			host, in = strings.ToLower(tokens[i]), true
			entries[host] = netrcEntry{}
		case "default":
			host, in = "", true
			entries[host] = netrcEntry{}
		case "login", "password", "account":
			if i+1 >= len(tokens) {
				return nil, fmt.Errorf("netrc: %s without a value", tokens[i])
			}
			if !in {
				return nil, fmt.Errorf("netrc: %s before any machine", tokens[i])
			}
			e := entries[host]
			switch tokens[i] {
			case "login":
				e.Login = tokens[i+1]
			case "password":
				e.Password = tokens[i+1]
			}
			entries[host] = e
			i++
		default:
			return nil, fmt.Errorf("netrc: unexpected %q", tokens[i])
		}
	}
	return entries, nil
}

// netrcAuth returns the Authorization header value for rawURL's host from
// the .netrc at path ("" for ~/.netrc), or "" when it has none. The header
// goes only to that host: segment drops credentials on the way to another.
func netrcAuth(path, rawURL string) (string, error) {
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil
		}
		path = filepath.Join(home, ".netrc")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("netrc: %w", err)
	}
	defer f.Close()
	entries, err := parseNetrc(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil
	}
	e, ok := entries[strings.ToLower(u.Hostname())]
	if !ok {
		e, ok = entries[""]
	}
	if !ok || e.Login == "" {
		return "", nil
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(e.Login+":"+e.Password)), nil
}
