package download

// This file reads the two kinds of list a batch is given: the input file
// (aria2c's format, the subset of keys that fits) and a checksum file
// (sha256sum's format, as distributions publish SHA256SUMS).

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"unicode"
)

// Request is one file of a batch (RunAll).
type Request struct {
	// URL is the file's source.
	URL string
	// Mirrors are other sources of the same file: each must serve the
	// same size; ranges go to the fastest, and a source that fails for
	// good is dropped without failing the download.
	Mirrors []string
	// Output, if set, is the file's name (relative to Dir), instead of
	// the one the server gives.
	Output string
	// Dir, if set, is the directory for this file instead of
	// Options.Dir.
	Dir string
	// SHA256, if set, is the file's expected digest in hex, instead of
	// Options.SHA256 or Options.Checksums.
	SHA256 string
	// Header holds request headers added to Options.Header for this file.
	Header http.Header
}

// inputKeys are the per-file options an input list may set.
const inputKeys = "out, dir, sha256, checksum=sha-256=HEX, header"

// ParseInputList reads a list of files in aria2c's input-file format:
//
//	# a comment
//	https://a.example/f.iso	https://b.example/f.iso
//	  out=f.iso
//	  dir=/data
//	  sha256=9f86d08…
//	  header=Authorization: Bearer …
//	https://a.example/g.bin
//
// One file per line; alternatives of the same file (mirrors) on the same
// line separated by tabs; indented "key=value" lines after a URL set that
// file's options. The keys are out, dir, sha256 (and aria2c's
// checksum=sha-256=HEX) and header (repeatable). Other aria2c keys are
// ignored, each named once in the warnings returned.
func ParseInputList(r io.Reader) (reqs []Request, warnings []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	ignored := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			var req Request
			for _, u := range strings.Split(line, "\t") {
				if u = strings.TrimSpace(u); u == "" {
					continue
				}
				if strings.ContainsFunc(u, unicode.IsControl) {
					return nil, nil, fmt.Errorf("line %d: a control character in URL %q", n, u)
				}
				if req.URL == "" {
					req.URL = u
				} else {
					req.Mirrors = append(req.Mirrors, u)
				}
			}
			reqs = append(reqs, req)
			continue
		}
		if len(reqs) == 0 {
			return nil, nil, fmt.Errorf("line %d: option %q before any URL", n, trimmed)
		}
		key, value, ok := strings.Cut(trimmed, "=")
		if !ok {
			return nil, nil, fmt.Errorf("line %d: %q is neither a URL (URLs start the line) nor key=value", n, trimmed)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		req := &reqs[len(reqs)-1]
		switch key {
		case "out":
			req.Output = value
		case "dir":
			req.Dir = value
		case "sha256":
			req.SHA256 = value
		case "checksum":
			algo, sum, _ := strings.Cut(value, "=")
			if !strings.EqualFold(algo, "sha-256") && !strings.EqualFold(algo, "sha256") {
				return nil, nil, fmt.Errorf("line %d: checksum %q: rget verifies sha-256 only", n, algo)
			}
			req.SHA256 = sum
		case "header":
			k, v, ok := strings.Cut(value, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, nil, fmt.Errorf("line %d: header %q is not \"Name: value\"", n, value)
			}
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		default:
			if !ignored[key] {
				ignored[key] = true
				warnings = append(warnings, fmt.Sprintf("line %d: option %q ignored (rget reads %s)", n, key, inputKeys))
			}
			continue
		}
		if key == "sha256" || key == "checksum" {
			req.SHA256 = strings.ToLower(req.SHA256)
			if !isDigest(req.SHA256) {
				return nil, nil, fmt.Errorf("line %d: %s %q is not 64 hex digits", n, key, req.SHA256)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read input list: %w", err)
	}
	return reqs, warnings, nil
}

// isDigest reports whether s is a SHA-256 digest in hex.
func isDigest(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// Checksums maps file names to expected SHA-256 digests, as a SHA256SUMS
// file lists them.
type Checksums map[string]string

// ParseChecksums reads a checksum file in the format sha256sum prints and
// checks ("HEX  name", or "HEX *name" for binary mode; a leading backslash
// escapes a name holding a newline or backslash), also accepting the BSD
// form "SHA256 (name) = HEX". Blank lines and lines starting with "#" are
// skipped; any other line that is neither is an error naming it.
func ParseChecksums(r io.Reader) (Checksums, error) {
	sums := Checksums{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, sum, ok := checksumLine(line)
		if !ok {
			return nil, fmt.Errorf("checksum line %d: %q is not \"SHA256  name\"", n, line)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read checksums: %w", err)
	}
	return sums, nil
}

// checksumLine parses one line of a checksum file.
func checksumLine(line string) (name, sum string, ok bool) {
	if rest, found := strings.CutPrefix(line, "SHA256 ("); found {
		i := strings.LastIndex(rest, ") = ")
		if i < 0 {
			return "", "", false
		}
		name, sum = rest[:i], strings.ToLower(strings.TrimSpace(rest[i+4:]))
		return name, sum, name != "" && isDigest(sum)
	}
	escaped := strings.HasPrefix(line, "\\")
	if escaped {
		line = line[1:]
	}
	if len(line) < 66 || line[64] != ' ' {
		return "", "", false
	}
	sum = strings.ToLower(line[:64])
	name = line[65:]
	if name != "" && (name[0] == '*' || name[0] == ' ') {
		name = name[1:]
	}
	if escaped {
		name = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(name)
	}
	return name, sum, name != "" && isDigest(sum)
}

// Lookup is the digest listed for the file name: the same relative path
// (a leading "./" ignored), else the only entry with the same base name.
func (c Checksums) Lookup(name string) (string, bool) {
	name = strings.TrimPrefix(path.Clean(strings.ReplaceAll(name, "\\", "/")), "./")
	if sum, ok := c[name]; ok {
		return sum, true
	}
	if sum, ok := c["./"+name]; ok {
		return sum, true
	}
	base := path.Base(name)
	found, n := "", 0
	for k, sum := range c {
		if path.Base(strings.ReplaceAll(k, "\\", "/")) == base {
			found, n = sum, n+1
		}
	}
	return found, n == 1
}
