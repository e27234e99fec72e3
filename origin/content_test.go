package origin

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// refByte computes byte off of Content{_, seed} straight from the definition
// in Content's doc comment, one word at a time.
func refByte(seed uint64, off int64) byte {
	split := func(z uint64) uint64 {
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return z ^ (z >> 31)
	}
	key := split(seed ^ 0x5EED0F7E57DA7A)
	word := split(uint64(off/8)*0x9E3779B97F4A7C15 ^ key)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], word)
	return b[off%8]
}

func refBytes(seed uint64, off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = refByte(seed, off+int64(i))
	}
	return b
}

func TestContentReadAtMatchesReference(t *testing.T) {
	t.Parallel()
	const tib = int64(1) << 40
	tests := []struct {
		name    string
		c       Content
		off     int64
		n       int
		wantN   int
		wantEOF bool
	}{
		{"start", Content{Size: 1000, Seed: 1}, 0, 100, 100, false},
		{"unaligned both ends", Content{Size: 1000, Seed: 1}, 3, 29, 29, false},
		{"inside one word", Content{Size: 1000, Seed: 2}, 9, 5, 5, false},
		{"single byte", Content{Size: 1000, Seed: 2}, 7, 1, 1, false},
		{"exact end", Content{Size: 1000, Seed: 3}, 900, 100, 100, false},
		{"past end", Content{Size: 1001, Seed: 3}, 995, 100, 6, true},
		{"at end", Content{Size: 1000, Seed: 3}, 1000, 10, 0, true},
		{"beyond end", Content{Size: 1000, Seed: 3}, 5000, 10, 0, true},
		{"empty buffer", Content{Size: 1000, Seed: 3}, 10, 0, 0, false},
		{"empty content", Content{}, 0, 10, 0, true},
		{"negative size", Content{Size: -5}, 0, 10, 0, true},
		{"two TiB, near end", Content{Size: 2 * tib, Seed: 9}, 2*tib - 13, 64, 13, true},
		{"two TiB, middle", Content{Size: 2 * tib, Seed: 9}, tib + 5, 4099, 4099, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := make([]byte, tt.n)
			n, err := tt.c.ReadAt(p, tt.off)
			if n != tt.wantN || errors.Is(err, io.EOF) != tt.wantEOF || (err != nil && !errors.Is(err, io.EOF)) {
				t.Fatalf("%+v.ReadAt(len %d, %d) = %d, %v; want %d, EOF %v", tt.c, tt.n, tt.off, n, err, tt.wantN, tt.wantEOF)
			}
			if want := refBytes(tt.c.Seed, tt.off, n); !bytes.Equal(p[:n], want) {
				t.Errorf("%+v.ReadAt(len %d, %d) = %x, want %x", tt.c, tt.n, tt.off, p[:n], want)
			}
		})
	}
}

func TestContentReadAtNegativeOffset(t *testing.T) {
	t.Parallel()
	n, err := Content{Size: 10}.ReadAt(make([]byte, 4), -1)
	if n != 0 || err == nil || errors.Is(err, io.EOF) {
		t.Errorf("ReadAt(-1) = %d, %v; want 0 and a non-EOF error", n, err)
	}
}

// TestContentReadAtAllAlignments reads every (offset, length) pair in a small
// window, which exercises every head/body/tail split of fill.
func TestContentReadAtAllAlignments(t *testing.T) {
	t.Parallel()
	c := Content{Size: 200, Seed: 42}
	want := refBytes(c.Seed, 0, 200)
	for off := range int64(40) {
		for n := range 40 {
			p := make([]byte, n)
			if _, err := c.ReadAt(p, off); err != nil {
				t.Fatalf("ReadAt(len %d, %d): %v", n, off, err)
			}
			if !bytes.Equal(p, want[off:off+int64(n)]) {
				t.Fatalf("ReadAt(len %d, %d) = %x, want %x", n, off, p, want[off:off+int64(n)])
			}
		}
	}
}

func TestContentNotPeriodic(t *testing.T) {
	t.Parallel()
	c := Content{Size: 64 << 20, Seed: 7}
	// No two words of the first MiB are equal.
	buf := make([]byte, 1<<20)
	c.ReadAt(buf, 0)
	seen := make(map[uint64]int, len(buf)/8)
	for i := 0; i < len(buf); i += 8 {
		w := binary.LittleEndian.Uint64(buf[i:])
		if j, dup := seen[w]; dup {
			t.Fatalf("word %d equals word %d (%#x)", i/8, j, w)
		}
		seen[w] = i / 8
	}
	// A block read at a shifted offset differs from the block at the offset.
	block := make([]byte, 4096)
	c.ReadAt(block, 1<<20)
	for _, shift := range []int64{1, 8, 64, 4096, 8 << 10, 1 << 20, 8191 * 8, 65521 * 8, 16 << 20} {
		other := make([]byte, len(block))
		c.ReadAt(other, 1<<20+shift)
		if bytes.Equal(block, other) {
			t.Errorf("block at %d equals block at %d", 1<<20, 1<<20+shift)
		}
	}
}

// TestContentMisplacedSegmentChangesDigest models a downloader bug: one
// segment written from the wrong source offset must change the SHA-256.
func TestContentMisplacedSegmentChangesDigest(t *testing.T) {
	t.Parallel()
	c := Content{Size: 4 << 20, Seed: 3}
	full := make([]byte, c.Size)
	c.ReadAt(full, 0)
	want := c.SHA256()
	for _, from := range []int64{0, 1 << 20, 3 << 20, 2<<20 + 8} {
		bad := bytes.Clone(full)
		c.ReadAt(bad[2<<20:3<<20], from) // segment [2 MiB, 3 MiB) from the wrong offset
		if got := sha256.Sum256(bad); got == want {
			t.Errorf("segment [2MiB,3MiB) read from %d: digest unchanged", from)
		}
	}
}

func TestContentSHA256(t *testing.T) {
	t.Parallel()
	for _, c := range []Content{{}, {Size: 1, Seed: 1}, {Size: 3<<20 + 5, Seed: 1}, {Size: 3<<20 + 5, Seed: 2}} {
		full, err := io.ReadAll(c.Reader())
		if err != nil {
			t.Fatalf("%+v: ReadAll: %v", c, err)
		}
		if got, want := c.SHA256(), sha256.Sum256(full); got != want {
			t.Errorf("%+v.SHA256() = %x, want %x", c, got, want)
		}
	}
	a := Content{Size: 1 << 20, Seed: 1}
	b := Content{Size: 1 << 20, Seed: 2}
	if a.SHA256() == b.SHA256() {
		t.Errorf("seeds 1 and 2 have the same SHA-256 %x", a.SHA256())
	}
	if first, again := a.SHA256(), a.SHA256(); first != again {
		t.Errorf("SHA256 not deterministic: %x then %x", first, again)
	}
}

func TestContentETag(t *testing.T) {
	t.Parallel()
	base := Content{Size: 100, Seed: 1}
	tag := base.ETag()
	if !strings.HasPrefix(tag, `"rget-`) || !strings.HasSuffix(tag, `"`) || strings.Count(tag, `"`) != 2 {
		t.Errorf("%+v.ETag() = %s, want a quoted strong tag \"rget-...\"", base, tag)
	}
	if again := base.ETag(); again != tag {
		t.Errorf("ETag not stable: %s then %s", tag, again)
	}
	for _, other := range []Content{{Size: 101, Seed: 1}, {Size: 100, Seed: 2}, {Size: 100, Seed: 0}} {
		if other.ETag() == tag {
			t.Errorf("%+v.ETag() = %s, same as %+v's", other, other.ETag(), base)
		}
	}
}

// FuzzContentReadAt: any read equals the reference, byte for byte, and the
// same bytes as a larger read around it.
func FuzzContentReadAt(f *testing.F) {
	f.Add(uint64(1), int64(1000), int64(3), uint16(29))
	f.Add(uint64(0), int64(1)<<41, int64(1)<<41-5, uint16(100))
	f.Fuzz(func(t *testing.T, seed uint64, size, off int64, n uint16) {
		if off < 0 {
			return
		}
		c := Content{Size: size, Seed: seed}
		p := make([]byte, n)
		got, err := c.ReadAt(p, off)
		want := int(max(0, min(int64(n), max(size, 0)-off)))
		if got != want || (got < int(n) && !errors.Is(err, io.EOF)) || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("%+v.ReadAt(len %d, %d) = %d, %v; want %d bytes", c, n, off, got, err, want)
		}
		if ref := refBytes(seed, off, got); !bytes.Equal(p[:got], ref) {
			t.Fatalf("%+v.ReadAt(len %d, %d) = %x, want %x", c, n, off, p[:got], ref)
		}
		if off >= 3 && got > 0 {
			wide := make([]byte, got+6)
			c.ReadAt(wide, off-3)
			if !bytes.Equal(wide[3:3+got], p[:got]) {
				t.Fatalf("%+v: bytes at %d differ between a read of %d and one of %d from %d", c, off, got, len(wide), off-3)
			}
		}
	})
}

func BenchmarkContentReadAt(b *testing.B) {
	c := Content{Size: 1 << 40, Seed: 1}
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	var off int64
	for b.Loop() {
		c.ReadAt(buf, off)
		off += int64(len(buf)) + 3 // keep it unaligned half the time
	}
}

func BenchmarkContentSHA256(b *testing.B) {
	c := Content{Size: 64 << 20, Seed: 1}
	b.SetBytes(c.Size)
	for b.Loop() {
		c.SHA256()
	}
}
