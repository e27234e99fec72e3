package journal

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecode checks the decoder's promises on arbitrary files: it does not
// panic; a returned state is valid (parts tile [0, Size), 0 <= Done <=
// End-Start, ...) and survives a round trip; a cheap record of another boot
// appended to the file changes nothing; a durable record appended to a file
// that decodes cleanly is what Decode then returns.
func FuzzDecode(f *testing.F) {
	if golden, err := os.ReadFile(filepath.Join("testdata", "golden.rget")); err == nil {
		f.Add(golden, bootA)
		f.Add(golden, bootB)
		f.Add(golden[:len(golden)-3], bootA)
	}
	for step := range 3 {
		f.Add(Encode(sample(f, step), bootA, step == 0), bootA)
	}
	f.Add(Encode(State{URL: "u", Size: 9, Parts: []Part{{0, 4, 2}, {4, 9, 0}}}, "", true), "")
	f.Add([]byte{}, bootA)
	f.Add([]byte(magic), bootA)

	f.Fuzz(func(t *testing.T, data []byte, bootID string) {
		s, err := Decode(data, bootID)
		if err != nil {
			if !errors.Is(err, ErrNoState) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Decode error %v is neither ErrNoState nor ErrVersion", err)
			}
		} else {
			checkDecoded(t, s, bootID)
		}

		other := Encode(State{URL: "other"}, bootID+"-other", false)
		s2, err2 := Decode(append(data[:len(data):len(data)], other...), bootID)
		if !sameState(s2, s) || errors.Is(err2, ErrNoState) != errors.Is(err, ErrNoState) ||
			errors.Is(err2, ErrVersion) != errors.Is(err, ErrVersion) {
			t.Fatalf("a cheap record of another boot changed Decode from %+v, %v to %+v, %v", s, err, s2, err2)
		}

		if w := walk(data, bootID); w.err == nil && w.end == len(data) {
			last := State{URL: "last", Size: 1, Parts: []Part{{0, 1, 1}}, Saved: time.Unix(1, 2).UTC()}
			got, err := Decode(append(data[:len(data):len(data)], Encode(last, "x", true)...), bootID)
			if err != nil || !sameState(got, last) {
				t.Fatalf("after a clean file, an appended durable record decodes as %+v, %v", got, err)
			}
		}
	})
}

// FuzzDecodePayload fuzzes the payload inside an intact frame, which
// FuzzDecode rarely reaches past the CRC, with the same properties.
func FuzzDecodePayload(f *testing.F) {
	for step := range 3 {
		rec := Encode(sample(f, step), bootA, true)
		f.Add(rec[headerLen:len(rec)-trailerLen], bootA, step == 0)
	}
	rec := Encode(State{URL: "u", Size: 9, Parts: []Part{{0, 4, 2}, {4, 9, 0}}}, "", true)
	f.Add(rec[headerLen:len(rec)-trailerLen], "", true)
	f.Fuzz(func(t *testing.T, payload []byte, bootID string, durable bool) {
		rec := Encode(State{}, "", durable)[:headerLen]
		binary.LittleEndian.PutUint32(rec[6:], uint32(len(payload)))
		rec = reseal(append(append(rec, payload...), 0, 0, 0, 0))
		s, err := Decode(rec, bootID)
		if err != nil {
			if !errors.Is(err, ErrNoState) {
				t.Fatalf("Decode error %v is not ErrNoState", err)
			}
			return
		}
		checkDecoded(t, s, bootID)
	})
}

// checkDecoded checks a state Decode returned.
func checkDecoded(t *testing.T, s State, bootID string) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("Decode returned an invalid state %+v: %v", s, err)
	}
	var next int64
	for i, p := range s.Parts {
		if p.Start != next || p.End <= p.Start || p.Done < 0 || p.Done > p.End-p.Start {
			t.Fatalf("part %d = %+v after offset %d", i, p, next)
		}
		next = p.End
	}
	if next != s.Size || s.BytesDone() > s.Size {
		t.Fatalf("parts end at %d, %d bytes done, size %d", next, s.BytesDone(), s.Size)
	}
	for _, durable := range []bool{true, false} {
		again, err := Decode(Encode(s, bootID, durable), bootID)
		if durable || bootID != "" {
			if err != nil || !sameState(again, s) {
				t.Fatalf("Decode(Encode(%+v, durable=%v)) = %+v, %v", s, durable, again, err)
			}
		} else if !errors.Is(err, ErrNoState) {
			t.Fatalf("a cheap record without boot id decoded: %+v, %v", again, err)
		}
	}
}

// FuzzRoundTrip builds valid states from random plans and checks that
// Decode(Encode(s)) == s.
func FuzzRoundTrip(f *testing.F) {
	f.Add("https://h/f", `"e"`, uint64(1<<30), uint64(1), int64(0))
	f.Add("", "", uint64(0), uint64(2), int64(-1))
	f.Add("x", "W/\"\"", uint64(1<<62), uint64(3), int64(1<<40))
	f.Fuzz(func(t *testing.T, url, etag string, size, seed uint64, saved int64) {
		rng := rand.New(rand.NewPCG(seed, size))
		s := State{URL: RedactURL(url), ETag: etag, Size: int64(size >> 1), Saved: time.Unix(saved%(1<<40), int64(seed%1e9)).UTC()}
		for start := int64(0); start < s.Size && len(s.Parts) < 1000; {
			n := min(s.Size-start, 1+rng.Int64N(max(1, s.Size/8)))
			if len(s.Parts) == 999 {
				n = s.Size - start
			}
			done := []int64{0, n, rng.Int64N(n + 1)}[rng.IntN(3)]
			s.Parts = append(s.Parts, Part{Start: start, End: start + n, Done: done})
			start += n
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("test built an invalid state: %v", err)
		}
		got, err := Decode(Encode(s, "b", rng.IntN(2) == 0), "b")
		if err != nil || !sameState(got, s) {
			t.Fatalf("Decode(Encode(%+v)) = %+v, %v", s, got, err)
		}
	})
}
