package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"flag"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Boot ids used by the tests.
const (
	bootA = "2c7e1f0a-5d33-4b8e-9f61-0a1b2c3d4e5f"
	bootB = "9b0c1d2e-3f40-4a51-8b62-7c8d9e0f1a2b"
)

// hashState returns the crypto/sha256 state after hashing n zero bytes.
func hashState(t testing.TB, n int64) []byte {
	t.Helper()
	h := sha256.New()
	h.Write(make([]byte, n))
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleHashes returns the crypto/sha256 states after hashing k MiB of
// zeros, for k in [0, 16), computed once.
var sampleHashes = sync.OnceValue(func() [][]byte {
	h := sha256.New()
	states := make([][]byte, 16)
	for k := range states {
		b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(err)
		}
		states[k] = b
		h.Write(make([]byte, 1<<20))
	}
	return states
})

// plan returns n equal parts tiling [0, n*size), the first done complete
// parts finished and the next one half done.
func plan(n, done int, size int64) []Part {
	parts := make([]Part, n)
	for i := range parts {
		parts[i] = Part{Start: int64(i) * size, End: int64(i+1) * size}
		switch {
		case i < done:
			parts[i].Done = size
		case i == done:
			parts[i].Done = size / 2
		}
	}
	return parts
}

// sample returns a valid state whose progress grows with step.
func sample(t testing.TB, step int) State {
	t.Helper()
	const partSize = 1 << 20
	s := State{
		URL:          "https://cdn.example.com/images/disk.img?sig=abc",
		Mirrors:      []string{"https://mirror.example.org/disk.img"},
		Size:         16 * partSize,
		ETag:         `"5f3a-1c"`,
		LastModified: "Tue, 07 Jan 2025 10:00:00 GMT",
		SHA256:       "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Parts:        plan(16, step%16, partSize),
		Saved:        time.Date(2025, 1, 7, 10, 0, step, 123456789, time.UTC),
	}
	if k := step % 16; k > 0 {
		s.HashOffset, s.HashState = int64(k)*partSize, bytes.Clone(sampleHashes()[k])
	}
	return s
}

func sameState(a, b State) bool { return reflect.DeepEqual(a, b) }

// withoutSaved returns s with Saved cleared, to compare states committed
// through a Journal (which stamps them).
func withoutSaved(s State) State {
	s.Saved = time.Time{}
	return s
}
