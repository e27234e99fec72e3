package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	irregular := []Part{{0, 1, 1}, {1, 4097, 0}, {4097, 4098, 1}, {4098, 9000, 17}, {9000, 9001, 0}}
	tests := []struct {
		name string
		s    State
	}{
		{"zero", State{}},
		{"empty file", State{URL: "http://h/x", Size: 0, Saved: time.Unix(0, 0).UTC()}},
		{"sample", sample(t, 5)},
		{"complete", sample(t, 15)},
		{"irregular parts", State{URL: "http://h/x", Size: 9001, Parts: irregular, ETag: "W/\"x\""}},
		{"many equal parts", State{URL: "u", Size: 4096 << 20, Parts: plan(4096, 1000, 1<<20)}},
		{"before 1970", State{URL: "u", Saved: time.Date(1900, 2, 3, 4, 5, 6, 7, time.UTC)}},
		{"far future", State{URL: "u", Saved: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"unicode and bytes", State{URL: "http://h/ファイル", ETag: "\x00\xff", LastModified: "é"}},
		{"mirrors", State{URL: "a", Mirrors: []string{"b", "", "c"}}},
		{"hash at start", State{URL: "u", Size: 10, Parts: []Part{{0, 10, 3}}, HashState: hashState(t, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, durable := range []bool{true, false} {
				rec := Encode(tt.s, bootA, durable)
				got, err := Decode(rec, bootA)
				if err != nil || !sameState(got, tt.s) {
					t.Errorf("Decode(Encode(%+v, durable=%v)) = %+v, %v; want the same state", tt.s, durable, got, err)
				}
			}
		})
	}
}

// TestRunsCompress checks that a plan of equal parts costs a few bytes,
// whatever its number of parts.
func TestRunsCompress(t *testing.T) {
	t.Parallel()
	s := State{URL: "u", Size: 1 << 40, Parts: plan(1<<16, 40000, 1<<24)}
	if n := len(Encode(s, bootA, false)); n > 200 {
		t.Errorf("record of %d equal parts is %d bytes, want at most 200", len(s.Parts), n)
	}
}

// journalBytes concatenates records of states; cheap ones are stamped bootA.
func journalBytes(t *testing.T, states []State, durable []bool) (data []byte, ends []int) {
	t.Helper()
	for i, s := range states {
		data = append(data, Encode(s, bootA, durable[i])...)
		ends = append(ends, len(data))
	}
	return data, ends
}

// want returns the state Decode must return when records [0, n) are intact
// and read with bootID, and whether there is one.
func want(states []State, durable []bool, n int, bootID string) (State, bool) {
	for i := n - 1; i >= 0; i-- {
		if durable[i] || bootID == bootA {
			return states[i], true
		}
	}
	return State{}, false
}

func checkDecode(t *testing.T, what string, data []byte, bootID string, want State, ok bool) {
	t.Helper()
	got, err := Decode(data, bootID)
	switch {
	case !ok && !errors.Is(err, ErrNoState):
		t.Fatalf("%s: Decode = %+v, %v; want ErrNoState", what, got, err)
	case ok && (err != nil || !sameState(got, want)):
		t.Fatalf("%s: Decode = %+v, %v; want %+v", what, got, err, want)
	}
}

func TestDecodeTruncated(t *testing.T) {
	t.Parallel()
	states := []State{sample(t, 0), sample(t, 1), sample(t, 2), sample(t, 3), sample(t, 4)}
	durable := []bool{true, false, true, false, false}
	data, ends := journalBytes(t, states, durable)
	for _, bootID := range []string{bootA, bootB} {
		intact := 0
		for cut := 0; cut <= len(data); cut++ {
			for intact < len(ends) && ends[intact] <= cut {
				intact++
			}
			s, ok := want(states, durable, intact, bootID)
			what := fmt.Sprintf("cut at byte %d, read by %s", cut, bootID)
			checkDecode(t, what, data[:cut], bootID, s, ok)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	t.Parallel()
	states := []State{sample(t, 0), sample(t, 1), sample(t, 2), sample(t, 3), sample(t, 4), sample(t, 5)}
	durable := []bool{true, false, false, true, false, false}
	data, ends := journalBytes(t, states, durable)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 5000 {
		bad := bytes.Clone(data)
		first := len(bad)
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(bad))
			bad[i] ^= byte(1 + rng.IntN(255))
			first = min(first, i)
		}
		intact := 0
		for intact < len(ends) && ends[intact] <= first {
			intact++
		}
		for _, bootID := range []string{bootA, bootB} {
			s, ok := want(states, durable, intact, bootID)
			what := fmt.Sprintf("trial %d, first flip at byte %d", trial, first)
			checkDecode(t, what, bad, bootID, s, ok)
		}
	}
}

func TestDecodeBootID(t *testing.T) {
	t.Parallel()
	s1, s2, s3 := sample(t, 1), sample(t, 2), sample(t, 3)
	type rec struct {
		s       State
		boot    string
		durable bool
	}
	tests := []struct {
		name    string
		recs    []rec
		reader  string
		want    State
		wantErr error
	}{
		{"cheap of this boot", []rec{{s1, bootA, true}, {s2, bootA, false}}, bootA, s2, nil},
		{"cheap of another boot", []rec{{s1, bootA, true}, {s2, bootA, false}}, bootB, s1, nil},
		{"durable of another boot", []rec{{s1, bootA, true}}, bootB, s1, nil},
		{"newer cheap of this boot", []rec{{s1, bootA, true}, {s2, bootA, false}, {s3, bootB, false}}, bootB, s3, nil},
		{"durable after foreign cheap", []rec{{s1, bootA, false}, {s2, bootB, true}}, bootA, s2, nil},
		{"foreign cheap after durable", []rec{{s1, bootA, true}, {s2, bootB, false}}, bootA, s1, nil},
		{"only foreign cheap", []rec{{s1, bootA, false}, {s2, bootA, false}}, bootB, State{}, ErrNoState},
		{"reader without boot id", []rec{{s1, bootA, true}, {s2, bootA, false}}, "", s1, nil},
		{"writer without boot id", []rec{{s1, "", true}, {s2, "", false}}, "", s1, nil},
		{"empty file", nil, bootA, State{}, ErrNoState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var data []byte
			for _, r := range tt.recs {
				data = append(data, Encode(r.s, r.boot, r.durable)...)
			}
			got, err := Decode(data, tt.reader)
			if !errors.Is(err, tt.wantErr) || !sameState(got, tt.want) {
				t.Errorf("Decode(%s) = %+v, %v; want %+v, %v", tt.name, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// reseal recomputes the CRC of a record after a test edited it.
func reseal(rec []byte) []byte {
	n := len(rec) - trailerLen
	binary.LittleEndian.PutUint32(rec[n:], crc32.Checksum(rec[:n], castagnoli))
	return rec
}

func TestDecodeVersion(t *testing.T) {
	t.Parallel()
	good := Encode(sample(t, 1), bootA, true)
	next := Encode(sample(t, 2), bootA, true)
	next[4] = 2
	if _, err := Decode(append(bytes.Clone(good), reseal(bytes.Clone(next))...), bootA); !errors.Is(err, ErrVersion) {
		t.Errorf("Decode(record of version 2) error = %v, want ErrVersion", err)
	}
	// Without a matching CRC, the version byte is just corruption.
	got, err := Decode(append(bytes.Clone(good), next...), bootA)
	if err != nil || !sameState(got, sample(t, 1)) {
		t.Errorf("Decode(corrupt version byte) = %+v, %v; want the previous state", got, err)
	}
}

// TestDecodeRejectsInvalid checks that an intact record of a state that
// breaks the rules ends the walk: the previous state is returned.
func TestDecodeRejectsInvalid(t *testing.T) {
	t.Parallel()
	base := sample(t, 4)
	tests := []struct {
		name   string
		mutate func(*State)
	}{
		{"done past end", func(s *State) { s.Parts[5].Done = s.Parts[5].End - s.Parts[5].Start + 1 }},
		{"negative done", func(s *State) { s.Parts[5].Done = -1 }},
		{"overlap", func(s *State) { s.Parts[6].Start-- }},
		{"gap", func(s *State) { s.Parts[6].Start++ }},
		{"empty part", func(s *State) { s.Parts = append(s.Parts, Part{s.Size, s.Size, 0}) }},
		{"short of size", func(s *State) { s.Size++ }},
		{"past size", func(s *State) { s.Size-- }},
		{"negative size", func(s *State) { s.Size, s.Parts = -1, nil }},
		{"unsorted", func(s *State) { s.Parts[2], s.Parts[3] = s.Parts[3], s.Parts[2] }},
		{"userinfo", func(s *State) { s.URL = "https://u:p@h/x" }},
		{"mirror userinfo", func(s *State) { s.Mirrors = []string{"ftp://u@h/x"} }},
		{"bad sha256", func(s *State) { s.SHA256 = "abc" }},
		{"hash past prefix", func(s *State) { s.HashOffset, s.HashState = s.Size, hashState(t, s.Size) }},
		{"hash state of another offset", func(s *State) { s.HashState = hashState(t, s.HashOffset-1) }},
		{"hash offset without state", func(s *State) { s.HashState = nil }},
		{"garbage hash state", func(s *State) { s.HashState = []byte("not a hash state") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sample(t, 4)
			s.Parts = append([]Part(nil), s.Parts...)
			tt.mutate(&s)
			if err := s.Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			data := append(Encode(base, bootA, true), Encode(s, bootA, true)...)
			got, err := Decode(data, bootA)
			if err != nil || !sameState(got, base) {
				t.Errorf("Decode(valid, %s) = %+v, %v; want the valid state", tt.name, got, err)
			}
		})
	}
}

// goldenStates are the records of testdata/golden.rget: a durable and a
// cheap record of boot A, then a cheap record of boot B.
func goldenStates(t *testing.T) (states []State, boots []string, durable []bool) {
	s1 := sample(t, 0)
	s1.Parts = plan(16, -1, 1<<20)
	s2 := sample(t, 3)
	s2.Parts[7] = Part{Start: 7 << 20, End: 8 << 20, Done: 12345}
	s3 := State{URL: "http://example.com/f", Size: 3, Parts: []Part{{0, 3, 3}}, Saved: time.Unix(1700000000, 0).UTC()}
	return []State{s1, s2, s3}, []string{bootA, bootA, bootB}, []bool{true, false, false}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	states, boots, durable := goldenStates(t)
	var data []byte
	for i, s := range states {
		data = append(data, Encode(s, boots[i], durable[i])...)
	}
	path := filepath.Join("testdata", "golden.rget")
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./journal -run Golden -update)", err)
	}
	if !bytes.Equal(data, golden) {
		i := 0
		for i < min(len(data), len(golden)) && data[i] == golden[i] {
			i++
		}
		t.Errorf("encoding differs from %s at byte %d (%d bytes, golden %d): the on-disk format changed;"+
			" if on purpose, bump the version, keep reading version 1, and rerun with -update", path, i, len(data), len(golden))
	}
	// The committed file must decode, whatever the encoder does today.
	for _, c := range []struct {
		boot string
		want State
	}{{bootA, states[1]}, {bootB, states[2]}, {"", states[0]}} {
		got, err := Decode(golden, c.boot)
		if err != nil || !sameState(got, c.want) {
			t.Errorf("Decode(%s, boot %q) = %+v, %v; want %+v", path, c.boot, got, err, c.want)
		}
	}
}
