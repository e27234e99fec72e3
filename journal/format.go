package journal

// This file is the on-disk format: encoding one record, and walking a whole
// file to the last record that may be trusted. See the package doc for the
// layout.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

const (
	magic        = "RGTJ"
	version      = 1
	flagDurable  = 1 << 0
	headerLen    = 10 // magic, version, flags, payload length
	trailerLen   = 4  // CRC-32C
	maxPayload   = 64 << 20
	kindPending  = 0
	kindComplete = 1
	kindPartial  = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrNoState is wrapped by the errors of Decode, Load and Open when the
// journal holds no record that may be trusted: it is empty, corrupt from its
// first record on, or holds only cheap records of another boot.
var ErrNoState = errors.New("journal: no usable state")

// ErrVersion is wrapped when an intact record has a format version this
// package does not know (a journal written by a newer rget).
var ErrVersion = errors.New("journal: unsupported format version")

// Encode returns one record holding s, stamped with bootID and marked durable
// or cheap. It stores s as given (Saved included) and does not validate it:
// Decode rejects a record of a state that fails State.Validate. Create and
// Commit redact, stamp and validate before they encode.
func Encode(s State, bootID string, durable bool) []byte {
	return appendRecord(nil, s, bootID, durable)
}

func appendRecord(dst []byte, s State, bootID string, durable bool) []byte {
	start := len(dst)
	var flags byte
	if durable {
		flags |= flagDurable
	}
	dst = append(dst, magic...)
	dst = append(dst, version, flags, 0, 0, 0, 0)
	dst = appendPayload(dst, s, bootID)
	n := len(dst) - start - headerLen
	binary.LittleEndian.PutUint32(dst[start+6:], uint32(n))
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func appendPayload(b []byte, s State, bootID string) []byte {
	b = appendString(b, bootID)
	b = binary.AppendVarint(b, s.Saved.Unix())
	b = binary.AppendUvarint(b, uint64(s.Saved.Nanosecond()))
	b = appendString(b, s.URL)
	b = binary.AppendUvarint(b, uint64(len(s.Mirrors)))
	for _, m := range s.Mirrors {
		b = appendString(b, m)
	}
	b = binary.AppendUvarint(b, uint64(s.Size))
	b = appendString(b, s.ETag)
	b = appendString(b, s.LastModified)
	b = appendString(b, s.SHA256)
	b = binary.AppendUvarint(b, uint64(s.HashOffset))
	b = binary.AppendUvarint(b, uint64(len(s.HashState)))
	b = append(b, s.HashState...)
	return appendParts(b, s.Parts)
}

// appendParts writes the parts as runs of consecutive, adjacent parts with
// the same length and Done. Start is written once per run so that a state
// whose parts do not tile is stored as it is, and rejected when decoded.
func appendParts(b []byte, parts []Part) []byte {
	runs := 0
	for i := range parts {
		if i == 0 || !sameRun(parts[i-1], parts[i]) {
			runs++
		}
	}
	b = binary.AppendUvarint(b, uint64(runs))
	for i := 0; i < len(parts); {
		p := parts[i]
		n := 1
		for i+n < len(parts) && sameRun(parts[i+n-1], parts[i+n]) {
			n++
		}
		length := p.End - p.Start
		kind := kindPartial
		switch p.Done {
		case 0:
			kind = kindPending
		case length:
			kind = kindComplete
		}
		b = binary.AppendUvarint(b, uint64(n)<<2|uint64(kind))
		b = binary.AppendUvarint(b, uint64(p.Start))
		b = binary.AppendUvarint(b, uint64(length))
		if kind == kindPartial {
			b = binary.AppendUvarint(b, uint64(p.Done))
		}
		i += n
	}
	return b
}

func sameRun(prev, p Part) bool {
	return p.Start == prev.End && p.End-p.Start == prev.End-prev.Start && p.Done == prev.Done
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decode walks a whole journal file and returns the state of its last trusted
// record, as the package doc defines trust with bootID the reader's boot id.
// The walk stops at the first record that is torn, corrupt or invalid. Errors
// wrap ErrNoState or ErrVersion.
func Decode(data []byte, bootID string) (State, error) {
	w := walk(data, bootID)
	return w.result()
}

// walked is what walk learned about a file.
type walked struct {
	state   State
	found   bool   // state is from a trusted record
	durable []byte // the last trusted durable record, nil if none
	cheap   []byte // the last trusted cheap record after durable, nil if none
	records int    // intact, valid records, trusted or not
	end     int    // offset just past the last intact record
	stop    string // why the walk stopped before the end of the data, "" if it did not
	err     error  // ErrVersion
}

func (w *walked) result() (State, error) {
	switch {
	case w.err != nil:
		return State{}, w.err
	case !w.found:
		msg := fmt.Sprintf("%d intact records, none trusted", w.records)
		if w.stop != "" {
			msg += "; " + w.stop
		}
		return State{}, fmt.Errorf("%w (%s)", ErrNoState, msg)
	}
	return w.state, nil
}

func walk(data []byte, bootID string) walked {
	var w walked
	for w.end < len(data) {
		rec, err := frame(data[w.end:])
		if err != nil {
			if errors.Is(err, ErrVersion) {
				w.err = fmt.Errorf("record at byte %d: %w", w.end, err)
				return w
			}
			w.stop = fmt.Sprintf("record at byte %d: %v", w.end, err)
			return w
		}
		s, recBoot, err := decodePayload(rec[headerLen : len(rec)-trailerLen])
		if err == nil {
			err = s.Validate()
		}
		if err != nil {
			w.stop = fmt.Sprintf("record at byte %d: %v", w.end, err)
			return w
		}
		w.records++
		w.end += len(rec)
		switch {
		case rec[5]&flagDurable != 0:
			w.state, w.found, w.durable, w.cheap = s, true, rec, nil
		case bootID != "" && recBoot == bootID:
			w.state, w.found, w.cheap = s, true, rec
		}
	}
	return w
}

// frame returns the record at the start of b after checking its magic,
// length, flags, CRC and version, in that order.
func frame(b []byte) ([]byte, error) {
	if len(b) < headerLen+trailerLen {
		return nil, fmt.Errorf("torn: %d bytes", len(b))
	}
	if string(b[:4]) != magic {
		return nil, errors.New("bad magic")
	}
	n := binary.LittleEndian.Uint32(b[6:])
	if n > maxPayload {
		return nil, fmt.Errorf("bad length %d", n)
	}
	if int64(len(b)) < int64(headerLen+trailerLen)+int64(n) {
		return nil, fmt.Errorf("torn: %d bytes of a %d byte record", len(b), headerLen+trailerLen+int(n))
	}
	rec := b[:headerLen+int(n)+trailerLen]
	body := rec[:len(rec)-trailerLen]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(rec[len(body):]) {
		return nil, errors.New("bad CRC")
	}
	if rec[4] != version {
		return nil, fmt.Errorf("%w %d (this rget reads %d)", ErrVersion, rec[4], version)
	}
	if rec[5]&^flagDurable != 0 {
		return nil, fmt.Errorf("unknown flags %#x", rec[5])
	}
	return rec, nil
}

// errPayload reports a payload that is not a well-formed version 1 payload.
var errPayload = errors.New("malformed payload")

func decodePayload(b []byte) (s State, bootID string, err error) {
	r := reader{b: b}
	bootID = r.string()
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= 1e9 {
		r.fail()
	}
	s.Saved = time.Unix(sec, int64(nsec)).UTC()
	if s.Saved.Unix() != sec {
		r.fail() // out of time.Time's range
	}
	s.URL = r.string()
	if n := r.count(); n > MaxMirrors {
		r.fail()
	} else if n > 0 {
		s.Mirrors = make([]string, n)
		for i := range s.Mirrors {
			s.Mirrors[i] = r.string()
		}
	}
	s.Size = r.int64()
	s.ETag = r.string()
	s.LastModified = r.string()
	s.SHA256 = r.string()
	s.HashOffset = r.int64()
	if h := r.bytes(); len(h) > 0 {
		s.HashState = append([]byte(nil), h...)
	}
	s.Parts = r.parts(s.Size)
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return State{}, "", r.err
	}
	return s, bootID, nil
}

// reader decodes payload fields; after the first error every read returns
// zero values and err stays set.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errPayload
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int64() int64 {
	v := r.uvarint()
	if v > math.MaxInt64 {
		r.fail()
		return 0
	}
	return int64(v)
}

// count reads a number of items that each take at least one more byte.
func (r *reader) count() int {
	v := r.uvarint()
	if v > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *reader) bytes() []byte {
	n := r.count()
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	return string(r.bytes())
}

// parts reads the runs of parts; it enforces only what bounds the memory
// used (at most MaxParts parts, none past size) and leaves the other rules
// to State.Validate.
func (r *reader) parts(size int64) []Part {
	runs := r.count()
	var parts []Part
	for range runs {
		h := r.uvarint()
		kind, n := h&3, h>>2
		start, length := r.int64(), r.int64()
		done := int64(0)
		switch kind {
		case kindComplete:
			done = length
		case kindPartial:
			done = r.int64()
		case kindPending:
		default:
			r.fail()
		}
		if r.err != nil || n == 0 || n > uint64(MaxParts-len(parts)) ||
			length <= 0 || start > size || uint64(size-start)/uint64(length) < n {
			r.fail()
			return nil
		}
		for range n {
			parts = append(parts, Part{Start: start, End: start + length, Done: done})
			start += length
		}
	}
	return parts
}
