package journal

// This file holds the journal's own model of a download (State, Part) and the
// rules a state must obey before it is written or trusted.

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
)

// MaxParts is the largest number of parts a State may hold.
const MaxParts = 1 << 20

// MaxMirrors is the largest number of mirrors a State may hold.
const MaxMirrors = 256

// maxHashState bounds State.HashState; a crypto/sha256 state is 108 bytes.
const maxHashState = 1 << 10

// ErrInvalid is wrapped by the errors of State.Validate.
var ErrInvalid = errors.New("journal: invalid state")

// ErrChanged is wrapped by the errors of State.CheckRemote.
var ErrChanged = errors.New("journal: remote resource changed")

// Part is one byte range of the download, half-open [Start, End), of which
// the Done bytes from Start on are written to the data file.
type Part struct {
	Start, End, Done int64
}

// State is what one journal record says about a download.
type State struct {
	URL          string   // the resource, without userinfo
	Mirrors      []string // other URLs of the same resource, without userinfo; nil if none
	Size         int64    // total size in bytes
	ETag         string   // validator pinned at the first probe, "" if none
	LastModified string   // validator pinned at the first probe, "" if none
	SHA256       string   // expected digest in hex, "" if none
	Parts        []Part   // the plan: tiles [0, Size) in order; nil if Size is 0

	// HashOffset and HashState checkpoint the in-order SHA-256 cursor: bytes
	// [0, HashOffset) are hashed and HashState is the crypto/sha256 state
	// (encoding.BinaryMarshaler) at that offset. Zero and nil if none.
	HashOffset int64
	HashState  []byte

	// Saved is when the record was written; Commit and Create set it. Decoded
	// times are in UTC with nanosecond precision.
	Saved time.Time
}

// BytesDone returns the number of bytes of the data file that s records as
// written.
func (s State) BytesDone() int64 {
	var n int64
	for _, p := range s.Parts {
		n += p.Done
	}
	return n
}

// donePrefix returns the length of the completed prefix [0, n) of the file.
func (s State) donePrefix() int64 {
	var n int64
	for _, p := range s.Parts {
		n += p.Done
		if p.Done < p.End-p.Start {
			break
		}
	}
	return n
}

// Validate reports whether s may be written or trusted: Size >= 0; Parts
// sorted, non-empty, at most MaxParts, tiling [0, Size) exactly; 0 <= Done <=
// End-Start; SHA256 empty or 64 hex digits; HashOffset within the completed
// prefix, with a HashState that is a crypto/sha256 state of exactly HashOffset
// bytes; at most MaxMirrors mirrors; URL and Mirrors without userinfo. Errors
// wrap ErrInvalid.
func (s State) Validate() error {
	return s.validate(nil)
}

// validate is Validate with h, if not nil, a crypto/sha256 digest to reuse
// for checking HashState.
func (s State) validate(h hash.Hash) error {
	if s.Size < 0 {
		return fmt.Errorf("%w: size %d", ErrInvalid, s.Size)
	}
	if err := s.validateParts(); err != nil {
		return err
	}
	if s.SHA256 != "" && !isHex(s.SHA256, 2*sha256.Size) {
		return fmt.Errorf("%w: sha256 %q is not %d hex digits", ErrInvalid, s.SHA256, 2*sha256.Size)
	}
	if err := s.validateHash(h); err != nil {
		return err
	}
	if len(s.Mirrors) > MaxMirrors {
		return fmt.Errorf("%w: %d mirrors, more than %d", ErrInvalid, len(s.Mirrors), MaxMirrors)
	}
	if RedactURL(s.URL) != s.URL {
		return fmt.Errorf("%w: URL with userinfo", ErrInvalid)
	}
	for i, u := range s.Mirrors {
		if RedactURL(u) != u {
			return fmt.Errorf("%w: mirror %d with userinfo", ErrInvalid, i)
		}
	}
	return nil
}

// isHex reports whether s is n hexadecimal digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (s State) validateParts() error {
	if len(s.Parts) > MaxParts {
		return fmt.Errorf("%w: %d parts, more than %d", ErrInvalid, len(s.Parts), MaxParts)
	}
	var next int64
	for i, p := range s.Parts {
		if p.Start != next || p.End <= p.Start || p.Done < 0 || p.Done > p.End-p.Start {
			return fmt.Errorf("%w: part %d [%d,%d) done %d after offset %d",
				ErrInvalid, i, p.Start, p.End, p.Done, next)
		}
		next = p.End
	}
	if next != s.Size {
		return fmt.Errorf("%w: parts end at %d, size %d", ErrInvalid, next, s.Size)
	}
	return nil
}

func (s State) validateHash(h hash.Hash) error {
	if len(s.HashState) == 0 {
		if s.HashOffset != 0 {
			return fmt.Errorf("%w: hash offset %d without hash state", ErrInvalid, s.HashOffset)
		}
		return nil
	}
	if s.HashOffset < 0 || s.HashOffset > s.donePrefix() {
		return fmt.Errorf("%w: hash offset %d past the completed prefix %d",
			ErrInvalid, s.HashOffset, s.donePrefix())
	}
	if len(s.HashState) > maxHashState {
		return fmt.Errorf("%w: hash state of %d bytes", ErrInvalid, len(s.HashState))
	}
	if h == nil {
		h = sha256.New()
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.HashState); err != nil {
		return fmt.Errorf("%w: hash state: %v", ErrInvalid, err)
	}
	// crypto/sha256 ends its marshaled state with the number of bytes hashed
	// (big-endian uint64); its format is kept stable across Go releases.
	if n := binary.BigEndian.Uint64(s.HashState[len(s.HashState)-8:]); n != uint64(s.HashOffset) {
		return fmt.Errorf("%w: hash state covers %d bytes, hash offset %d", ErrInvalid, n, s.HashOffset)
	}
	return nil
}

// CheckRemote reports whether a freshly probed resource is the one s was
// written for, so that the download may resume. It requires the same size,
// at least one validator recorded in s, and every validator recorded in s
// present and identical in the probe (an ETag that disappeared counts as a
// change). Errors wrap ErrChanged and say what differs.
func (s State) CheckRemote(size int64, etag, lastModified string) error {
	switch {
	case size != s.Size:
		return fmt.Errorf("%w: size %d, was %d", ErrChanged, size, s.Size)
	case s.ETag == "" && s.LastModified == "":
		return fmt.Errorf("%w: no validator recorded, cannot tell", ErrChanged)
	case s.ETag != "" && etag != s.ETag:
		return fmt.Errorf("%w: ETag %q, was %q", ErrChanged, etag, s.ETag)
	case s.LastModified != "" && lastModified != s.LastModified:
		return fmt.Errorf("%w: Last-Modified %q, was %q", ErrChanged, lastModified, s.LastModified)
	}
	return nil
}
