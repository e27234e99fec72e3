package origin

// This file holds the synthetic content the origin serves: bytes of any size
// that are a pure function of (Size, Seed, offset), so any range can be
// produced, and checked, without storing the file.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unsafe"
)

// golden is 2^64 divided by the golden ratio, the Weyl increment of splitmix64.
const golden = 0x9E3779B97F4A7C15

// errNegativeOffset is returned by ReadAt for an offset below zero.
var errNegativeOffset = errors.New("bench: negative offset")

// Content is synthetic, deterministic content of Size bytes: every byte range
// is computed on demand, so a Content of 1 TiB costs nothing to hold.
//
// The bytes are little-endian 64-bit words; word i is
//
//	mix((i * 0x9E3779B97F4A7C15) ^ key(Seed))
//
// where mix is the splitmix64 finalizer (a bijection of uint64) and key a hash
// of Seed. Because i → word is a bijection, no two words of one Content are
// equal: the content has no period at all, and a range written at the wrong
// offset always changes the file's SHA-256. Different Seeds give unrelated
// bytes.
//
// The zero value is the empty content. A negative Size counts as zero.
type Content struct {
	Size int64
	Seed uint64
}

// mix is the splitmix64 finalizer (Stafford's variant 13): a fast bijection
// of uint64 with full avalanche.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// key derives the per-Seed whitening key.
func (c Content) key() uint64 { return mix(c.Seed ^ 0x5EED_0F_7E57_DA7A) }

// size returns Size, clamped at zero.
func (c Content) size() int64 { return max(c.Size, 0) }

// ReadAt fills p with the content's bytes starting at off, with the semantics
// of io.ReaderAt: it returns io.EOF when fewer than len(p) bytes remain
// (including none). It is safe for concurrent use and never blocks.
func (c Content) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at %d: %w", off, errNegativeOffset)
	}
	size := c.size()
	if off >= size {
		return 0, io.EOF
	}
	var err error
	if remain := size - off; int64(len(p)) > remain {
		p, err = p[:remain], io.EOF
	}
	c.fill(p, off)
	return len(p), err
}

// blockWords is the number of words fill generates at a time.
const blockWords = 512

// fill writes the bytes of [off, off+len(p)) into p, without bounds checks
// against Size.
//
// Words are generated into an array on the stack, then copied into p as
// bytes: the race detector would check every word stored into p, but it does
// not check stores into a local array and checks a copy once, which keeps
// -race tests that serve gigabytes fast.
func (c Content) fill(p []byte, off int64) {
	key := c.key()
	z := uint64(off) / 8 * golden
	skip := int(uint64(off) % 8) // bytes of the first word before off
	var words [blockWords]uint64
	for len(p) > 0 {
		k := min((skip+len(p)+7)/8, blockWords)
		for j := range k {
			words[j] = mix(z ^ key)
			z += golden
		}
		n := copy(p, wordBytes(&words, k)[skip:])
		p = p[n:]
		skip = 0
	}
}

// wordBytes returns the first k words as little-endian bytes, in place.
func wordBytes(words *[blockWords]uint64, k int) []byte {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 { // big-endian host
		for j := range k {
			words[j] = bits.ReverseBytes64(words[j])
		}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(words)), k*8)
}

// Reader returns a seekable reader over the whole content.
func (c Content) Reader() *io.SectionReader {
	return io.NewSectionReader(c, 0, c.size())
}

// SHA256 returns the SHA-256 digest of the whole content. It streams the
// content through the hash, so it costs time (about a second per GiB) but
// no memory.
func (c Content) SHA256() [32]byte {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	size := c.size()
	for off := int64(0); off < size; {
		n := int(min(int64(len(buf)), size-off))
		c.fill(buf[:n], off)
		h.Write(buf[:n]) // hash.Hash.Write never fails
		off += int64(n)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// ETag returns a strong entity tag, quoted, that identifies (Size, Seed):
// for example "rget-1000-5f3a9c0e12d4b7a6" with the quotes.
func (c Content) ETag() string {
	return fmt.Sprintf(`"rget-%x-%016x"`, c.size(), mix(c.Seed))
}
