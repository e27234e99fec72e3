package journal

import (
	"errors"
	"testing"
)

func TestBytesDone(t *testing.T) {
	t.Parallel()
	s := State{Size: 30, Parts: []Part{{0, 10, 10}, {10, 20, 4}, {20, 30, 0}}}
	if got := s.BytesDone(); got != 14 {
		t.Errorf("BytesDone() = %d, want 14", got)
	}
	if got := s.donePrefix(); got != 14 {
		t.Errorf("donePrefix() = %d, want 14", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    State
		ok   bool
	}{
		{"zero", State{}, true},
		{"sample", sample(t, 7), true},
		{"one part", State{Size: 5, Parts: []Part{{0, 5, 5}}}, true},
		{"size without parts", State{Size: 5}, false},
		{"parts past zero size", State{Parts: []Part{{0, 1, 0}}}, false},
		{"not from zero", State{Size: 5, Parts: []Part{{1, 5, 0}}}, false},
		{"upper-case sha256", State{SHA256: "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}, true},
		{"short sha256", State{SHA256: "9f86"}, false},
		{"hash within prefix", State{Size: 10, Parts: []Part{{0, 5, 5}, {5, 10, 2}}, HashOffset: 7, HashState: hashState(t, 7)}, true},
		{"hash past prefix", State{Size: 10, Parts: []Part{{0, 5, 4}, {5, 10, 5}}, HashOffset: 5, HashState: hashState(t, 5)}, false},
		{"negative hash offset", State{Size: 10, Parts: []Part{{0, 10, 10}}, HashOffset: -1, HashState: hashState(t, 0)}, false},
		{"huge hash state", State{Size: 10, Parts: []Part{{0, 10, 10}}, HashState: make([]byte, 2000)}, false},
		{"too many parts", State{Size: MaxParts + 1, Parts: plan(MaxParts+1, MaxParts+1, 1)}, false},
		{"userinfo", State{URL: "http://user@h/"}, false},
		{"too many mirrors", State{Mirrors: make([]string, MaxMirrors+1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.Validate()
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate(%s) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestCheckRemote(t *testing.T) {
	t.Parallel()
	both := State{Size: 10, ETag: `"a"`, LastModified: "Mon"}
	tests := []struct {
		name     string
		s        State
		size     int64
		etag, lm string
		ok       bool
	}{
		{"same", both, 10, `"a"`, "Mon", true},
		{"other size", both, 11, `"a"`, "Mon", false},
		{"other etag", both, 10, `"b"`, "Mon", false},
		{"etag gone", both, 10, "", "Mon", false},
		{"other date", both, 10, `"a"`, "Tue", false},
		{"etag only", State{Size: 10, ETag: `"a"`}, 10, `"a"`, "Tue", true},
		{"date only", State{Size: 10, LastModified: "Mon"}, 10, `"z"`, "Mon", true},
		{"no validator", State{Size: 10}, 10, `"a"`, "Mon", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.CheckRemote(tt.size, tt.etag, tt.lm)
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrChanged) {
				t.Errorf("CheckRemote(%d, %q, %q) = %v, want ok=%v", tt.size, tt.etag, tt.lm, err, tt.ok)
			}
		})
	}
}
