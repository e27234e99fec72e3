package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// newJournal creates a journal of sample(t, 0) written by boot A.
func newJournal(t *testing.T) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "OUT.rget")
	j, err := create(path, sample(t, 0), bootA, epoch, osSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

// loadAs loads path as a reader of bootID would, without Saved.
func loadAs(t *testing.T, path, bootID string) State {
	t.Helper()
	s, _, err := load(path, bootID)
	if err != nil {
		t.Fatalf("load(%s, %s): %v", path, bootID, err)
	}
	return withoutSaved(s)
}

func records(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := walk(data, bootA)
	if w.end != len(data) {
		t.Fatalf("%s: %d bytes, intact records end at %d (%s)", path, len(data), w.end, w.stop)
	}
	return w.records
}

func TestCreateLoad(t *testing.T) {
	t.Parallel()
	_, path := newJournal(t)
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sample(t, 0)
	want.Saved = epoch
	if !sameState(s, want) {
		t.Errorf("Load = %+v, want %+v", s, want)
	}
	// The first record is durable: another boot trusts it too.
	if got := loadAs(t, path, bootB); !sameState(got, withoutSaved(want)) {
		t.Errorf("load by another boot = %+v, want %+v", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestCreateReplaces(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	if err := j.Commit(sample(t, 3), false); err != nil {
		t.Fatal(err)
	}
	j2, err := create(path, sample(t, 9), bootA, epoch, osSync())
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if got, want := loadAs(t, path, bootA), withoutSaved(sample(t, 9)); !sameState(got, want) {
		t.Errorf("after Create over a journal, load = %+v, want %+v", got, want)
	}
	if n := records(t, path); n != 1 {
		t.Errorf("after Create, %d records, want 1", n)
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "OUT.rget")
	s := sample(t, 0)
	s.Size++
	if _, err := Create(path, s); !errors.Is(err, ErrInvalid) {
		t.Errorf("Create(invalid) error = %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create(invalid) left a file: %v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "none.rget")
	if _, err := Load(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
	if _, _, err := Open(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) error = %v, want ErrNotExist", err)
	}
}

func TestLoadNoState(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "OUT.rget")
	if err := os.WriteFile(path, []byte("RGTJ garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrNoState) {
		t.Errorf("Load(garbage) error = %v, want ErrNoState", err)
	}
}

// TestCommitTrust commits cheap and durable records and checks what a reader
// of this boot and of the next boot would resume from after each one.
func TestCommitTrust(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	lastDurable := withoutSaved(sample(t, 0))
	for step := 1; step < 40; step++ {
		s := sample(t, step)
		durable := step%5 == 0
		if err := j.Commit(s, durable); err != nil {
			t.Fatalf("Commit(step %d): %v", step, err)
		}
		if durable {
			lastDurable = withoutSaved(s)
		}
		if got := loadAs(t, path, bootA); !sameState(got, withoutSaved(s)) {
			t.Fatalf("step %d: same boot loads %+v, want %+v", step, got, s)
		}
		if got := loadAs(t, path, bootB); !sameState(got, lastDurable) {
			t.Fatalf("step %d: next boot loads %+v, want the last durable %+v", step, got, lastDurable)
		}
	}
}

func TestCommitRedacts(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	s := sample(t, 2)
	s.URL = "https://alice:s3cret@cdn.example.com/f?sig=1"
	s.Mirrors = []string{"https://bob:hunter2@m.example.org/f", "https://m2.example.org/f"}
	mirrors := append([]string(nil), s.Mirrors...)
	if err := j.Commit(s, true); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"alice", "s3cret", "bob", "hunter2"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("journal holds %q", secret)
		}
	}
	got := loadAs(t, path, bootB)
	if got.URL != "https://cdn.example.com/f?sig=1" || got.Mirrors[0] != "https://m.example.org/f" {
		t.Errorf("loaded URL %q, mirrors %q", got.URL, got.Mirrors)
	}
	if fmt.Sprint(s.Mirrors) != fmt.Sprint(mirrors) {
		t.Errorf("Commit changed the caller's mirrors to %q", s.Mirrors)
	}
}

func TestCommitInvalid(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	bad := sample(t, 3)
	bad.Parts = append([]Part(nil), bad.Parts...)
	bad.Parts[9].Done = -5
	if err := j.Commit(bad, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("Commit(invalid) error = %v, want ErrInvalid", err)
	}
	if got, want := loadAs(t, path, bootA), withoutSaved(sample(t, 0)); !sameState(got, want) {
		t.Errorf("after a rejected commit, load = %+v, want %+v", got, want)
	}
}

func TestCommitAfterClose(t *testing.T) {
	t.Parallel()
	j, _ := newJournal(t)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := j.Commit(sample(t, 1), false); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
}

// TestCommitRecovers breaks the journal's file under it: the failing commit
// reports it and the next one rewrites the file.
func TestCommitRecovers(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	if err := j.Commit(sample(t, 1), false); err != nil {
		t.Fatal(err)
	}
	j.f.Close() // the next write fails, as on EIO
	if err := j.Commit(sample(t, 2), false); err == nil {
		t.Fatal("Commit on a closed file succeeded")
	}
	if err := j.Commit(sample(t, 3), false); err != nil {
		t.Fatalf("Commit after a failed one: %v", err)
	}
	if got, want := loadAs(t, path, bootA), withoutSaved(sample(t, 3)); !sameState(got, want) {
		t.Errorf("after recovery, load = %+v, want %+v", got, want)
	}
	if got, want := loadAs(t, path, bootB), withoutSaved(sample(t, 0)); !sameState(got, want) {
		t.Errorf("after recovery, next boot loads %+v, want the first durable %+v", got, want)
	}
}

func TestCommitConcurrent(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if err := j.Commit(sample(t, g*50+i), i%10 == 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	loadAs(t, path, bootA)
	records(t, path)
}

// TestOpen checks that Open resumes from the trusted state and drops what it
// does not trust (a torn tail, cheap records of another boot) before
// appending, so that later commits are not hidden behind them.
func TestOpen(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	for step, durable := range []bool{false, true, false, false} {
		if err := j.Commit(sample(t, step+1), durable); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	torn := Encode(sample(t, 9), bootA, true)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(torn[:len(torn)/2]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		boot string
		want State
	}{{bootA, sample(t, 4)}, {bootB, sample(t, 2)}} {
		dir := t.TempDir()
		p := filepath.Join(dir, "OUT.rget")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		j, s, err := open(p, tt.boot, osSync())
		if err != nil {
			t.Fatalf("open as %s: %v", tt.boot, err)
		}
		if !sameState(withoutSaved(s), withoutSaved(tt.want)) {
			t.Errorf("open as %s = %+v, want %+v", tt.boot, s, tt.want)
		}
		if err := j.Commit(sample(t, 7), false); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if got := loadAs(t, p, tt.boot); !sameState(got, withoutSaved(sample(t, 7))) {
			t.Errorf("after open as %s and a commit, load = %+v, want step 7", tt.boot, got)
		}
		if n := records(t, p); n > 3 {
			t.Errorf("after open as %s and a commit, %d records, want at most 3", tt.boot, n)
		}
	}
}

func TestOpenNoState(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "OUT.rget")
	if err := os.WriteFile(path, Encode(sample(t, 1), bootA, false), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := open(path, bootB, osSync()); !errors.Is(err, ErrNoState) {
		t.Errorf("open(only a foreign cheap record) error = %v, want ErrNoState", err)
	}
}

// TestCompaction commits many records and checks the file stays small while
// both readers keep their state.
func TestCompaction(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	lastDurable := withoutSaved(sample(t, 0))
	most := 0
	for step := 1; step <= 500; step++ {
		s := sample(t, step)
		durable := step%16 == 0
		if err := j.Commit(s, durable); err != nil {
			t.Fatal(err)
		}
		if durable {
			lastDurable = withoutSaved(s)
		}
		most = max(most, records(t, path))
	}
	if most > compactRecords+16 {
		t.Errorf("the journal grew to %d records, want at most %d", most, compactRecords+16)
	}
	if got := loadAs(t, path, bootA); !sameState(got, withoutSaved(sample(t, 500))) {
		t.Errorf("after compactions, load = %+v, want step 500", got)
	}
	if got := loadAs(t, path, bootB); !sameState(got, lastDurable) {
		t.Errorf("after compactions, next boot loads %+v, want %+v", got, lastDurable)
	}
}

// TestCompactionCheapOnly checks the size limit for a caller that never
// commits durably: the file is bounded and the first durable record kept.
func TestCompactionCheapOnly(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	// Parts with distinct Done values defeat the run encoding: big records.
	big := State{URL: "u", Size: 20000 * 100, Parts: plan(20000, 0, 100)}
	for i := range big.Parts {
		big.Parts[i].Done = int64(1 + i%97)
	}
	if len(Encode(big, bootA, false)) < 50000 {
		t.Fatalf("test record too small")
	}
	for range 3 * maxBytes / len(Encode(big, bootA, false)) {
		if err := j.Commit(big, false); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxBytes {
			t.Fatalf("journal of %d bytes, want at most %d", fi.Size(), maxBytes)
		}
	}
	if got, want := loadAs(t, path, bootB), withoutSaved(sample(t, 0)); !sameState(got, want) {
		t.Errorf("next boot loads %+v, want the first durable %+v", got, want)
	}
	if got := loadAs(t, path, bootA); !sameState(got, big) {
		t.Errorf("same boot loads %d parts, want the big state", len(got.Parts))
	}
}

// TestCompactionCrash simulates a crash at each step of a compaction: the
// temporary file half written, complete but not renamed, renamed.
func TestCompactionCrash(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	if err := j.Commit(sample(t, 1), true); err != nil {
		t.Fatal(err)
	}
	if err := j.Commit(sample(t, 2), false); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	newer := Encode(sample(t, 5), bootA, true)

	// Crashed while writing the temporary file: it is ignored.
	if err := os.WriteFile(tmp, newer[:len(newer)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if got := loadAs(t, path, bootA); !sameState(got, withoutSaved(sample(t, 2))) {
		t.Errorf("with a torn temporary file, load = %+v, want step 2", got)
	}
	// Crashed after the fsync, before the rename: still the old journal.
	if err := os.WriteFile(tmp, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := loadAs(t, path, bootB); !sameState(got, withoutSaved(sample(t, 1))) {
		t.Errorf("with a complete temporary file, next boot loads %+v, want step 1", got)
	}
	// Open and compact over the stray file.
	j, s, err := open(path, bootA, osSync())
	if err != nil {
		t.Fatal(err)
	}
	if !sameState(withoutSaved(s), withoutSaved(sample(t, 2))) {
		t.Errorf("open with a stray temporary file = %+v, want step 2", s)
	}
	for step := 3; step < 3+2*compactRecords; step++ {
		if err := j.Commit(sample(t, step), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left after compaction: %v", err)
	}
	// Crashed after the rename: the new file is complete.
	if err := os.Rename(path, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got, want := loadAs(t, path, bootB), withoutSaved(sample(t, 2+2*compactRecords)); !sameState(got, want) {
		t.Errorf("after compactions, next boot loads %+v, want %+v", got, want)
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	j, path := newJournal(t)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", []byte("stray"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".tmp"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Remove, stat %s: %v", p, err)
		}
	}
	if err := Remove(path); err != nil {
		t.Errorf("Remove(missing) = %v, want nil", err)
	}
}

func BenchmarkCommit(b *testing.B) {
	many := State{URL: "https://cdn.example.com/f", Size: 1 << 40, ETag: `"x"`, Parts: plan(1<<16, 30000, 1<<24)}
	for i := 30001; i < 30064; i++ {
		many.Parts[i].Done = int64(i-30000) << 14 // 63 connections in flight
	}
	for _, bc := range []struct {
		name    string
		s       State
		durable bool
	}{
		{"cheap/16parts", sample(b, 7), false},
		{"cheap/65536parts", many, false},
		{"durable/16parts", sample(b, 7), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "OUT.rget")
			j, err := Create(path, bc.s)
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			b.SetBytes(int64(len(Encode(bc.s, BootID(), bc.durable))))
			b.ReportAllocs()
			for b.Loop() {
				if err := j.Commit(bc.s, bc.durable); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	var data []byte
	for step := range 64 {
		data = append(data, Encode(sample(b, step), bootA, step%8 == 0)...)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, bootA); err != nil {
			b.Fatal(err)
		}
	}
}

// countSyncs returns a syncer that does the real syncs and counts them.
func countSyncs(files, dirs *int) syncer {
	return syncer{
		file: func(f *os.File) error { *files++; return f.Sync() },
		dir:  func(d string) error { *dirs++; return osSync().dir(d) },
	}
}

func TestCreateSyncs(t *testing.T) {
	t.Parallel()
	type syncs struct{ files, dirs int }
	tests := []struct {
		name     string
		existing bool // a journal is at the path already
		step     int  // sample's step; -1: nothing done
		want     syncs
	}{
		// Nothing to lose: the first durable commit syncs the name.
		{"fresh, nothing done", false, -1, syncs{0, 0}},
		// The old journal must be gone for good before the part file is
		// emptied.
		{"over a journal", true, -1, syncs{1, 1}},
		// A record of done bytes is trusted after a power loss.
		{"fresh, bytes done", false, 0, syncs{1, 1}},
		{"fresh, hashed", false, 5, syncs{1, 1}},
	}
	state := func(t *testing.T, step int) State {
		if step >= 0 {
			return sample(t, step)
		}
		s := sample(t, 0)
		for i := range s.Parts {
			s.Parts[i].Done = 0
		}
		return s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "OUT.rget")
			if tt.existing {
				j, err := create(path, sample(t, 3), bootA, epoch, osSync())
				if err != nil {
					t.Fatal(err)
				}
				j.Close()
			}
			var got syncs
			j, err := create(path, state(t, tt.step), bootA, epoch, countSyncs(&got.files, &got.dirs))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if got != tt.want {
				t.Errorf("create: %+v syncs, want %+v", got, tt.want)
			}
			if s := loadAs(t, path, bootA); !sameState(s, withoutSaved(state(t, tt.step))) {
				t.Errorf("load = %+v, want %+v", s, state(t, tt.step))
			}
			// A cheap commit waits for nothing; the first durable one
			// syncs the file, and the directory if it was not synced.
			before := got
			if err := j.Commit(sample(t, 6), false); err != nil {
				t.Fatal(err)
			}
			if got != before {
				t.Errorf("cheap commit synced: %+v, before %+v", got, before)
			}
			for i, step := range []int{7, 8} {
				if err := j.Commit(sample(t, step), true); err != nil {
					t.Fatal(err)
				}
				want := syncs{before.files + i + 1, max(before.dirs, 1)}
				if got != want {
					t.Errorf("after %d durable commits: %+v syncs, want %+v", i+1, got, want)
				}
			}
			if s := loadAs(t, path, bootB); !sameState(s, withoutSaved(sample(t, 8))) {
				t.Errorf("load by another boot = %+v, want %+v", s, sample(t, 8))
			}
		})
	}
}
