package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rget/journal"
	"rget/merge"
	"rget/origin"
	"rget/segment"
)

// TestCheckpointOrder: a durable checkpoint syncs the data before the
// journal record that claims it, a cheap one does not sync, and a failed
// sync records nothing.
func TestCheckpointOrder(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "x.part"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []string
	var syncErr error
	jb := &job{
		f: f, part: f.Name(), cursor: merge.NewCursor(f),
		plan:     segment.NewLedger(10, []segment.Range{{Start: 0, End: 10, Done: 4}}, segment.Policy{}),
		syncData: func() error { steps = append(steps, "sync"); return syncErr },
		commit: func(st journal.State, durable bool) error {
			steps = append(steps, "commit")
			if got := st.Parts[0].Done; got != 4 {
				t.Errorf("recorded Done %d, want 4", got)
			}
			return nil
		},
	}
	for _, tc := range []struct {
		durable bool
		syncErr error
		want    string
	}{
		{true, nil, "sync commit"},
		{false, nil, "commit"},
		{true, errors.New("EIO"), "sync"},
	} {
		steps, syncErr = nil, tc.syncErr
		err := jb.checkpoint(tc.durable)
		if got := strings.Join(steps, " "); got != tc.want {
			t.Errorf("checkpoint(durable %v, sync error %v): steps %q, want %q", tc.durable, tc.syncErr, got, tc.want)
		}
		if (err != nil) != (tc.syncErr != nil) {
			t.Errorf("checkpoint(durable %v, sync error %v) = %v", tc.durable, tc.syncErr, err)
		}
	}
}

// TestFailingCheckpointStopsTheFetch: a journal that cannot be written
// stops the download at once, not after the last byte.
func TestFailingCheckpointStopsTheFetch(t *testing.T) {
	t.Parallel()
	const size = 32 << 20 // 16 s at 2 × 1 MiB/s: it must stop long before
	o := origin.New(origin.Content{Size: size, Seed: 3}, origin.WithRatePerConn(1<<20))
	srv, err := origin.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var calls atomic.Int64
	broken := errors.New("journal device gone")
	cfg := config{
		URL: srv.URL + "/file",
		Options: Options{
			Output: filepath.Join(t.TempDir(), "out"), Connections: 2,
			Checkpoint: 10 * time.Millisecond, StallTimeout: time.Minute, Header: nil,
		},
		wrapCommit: func(commit func(journal.State, bool) error) func(journal.State, bool) error {
			return func(st journal.State, durable bool) error {
				if calls.Add(1) >= 3 {
					return broken
				}
				return commit(st, durable)
			}
		},
	}
	_, err = run(deadline(t), withDefaults(cfg))
	if !errors.Is(err, broken) {
		t.Fatalf("Run = %v, want the checkpoint's failure", err)
	}
	if served := o.BytesServed(); served > size/4 {
		t.Errorf("origin served %d of %d bytes before the download stopped", served, size)
	}
}

// deadline bounds a test's download.
func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestRunEvents: the events of a download come in order, from Run's
// goroutine: the fetch starts with a Progress that counts every byte once,
// each request is reported, the fetch ends without error.
func TestRunEvents(t *testing.T) {
	t.Parallel()
	const size = 5<<20 + 11
	c := origin.Content{Size: size, Seed: 5}
	srv, err := origin.Start(origin.New(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var mu sync.Mutex
	var kinds []EventKind
	var prog *Progress
	requests, starts, opened := 0, 0, 0
	res, err := Run(deadline(t), srv.URL+"/file", Options{
		Dir: t.TempDir(), Connections: 3,
		OnEvent: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case EventRequest:
				requests++
				return
			case EventRangeStart:
				starts++
				return
			case EventConnection:
				if e.Open {
					opened++
				}
				return
			case EventCheckpoint, EventTick:
				return
			case EventFetchStart:
				prog = e.Progress
			case EventFetchEnd:
				if e.Err != nil {
					t.Errorf("fetch ended with %v", e.Err)
				}
			}
			kinds = append(kinds, e.Kind)
		},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []EventKind{EventStart, EventProbe, EventFetchStart, EventFetchEnd, EventVerify, EventDone}
	if !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
	if starts != requests-1 || opened < 1 {
		t.Errorf("%d ranges started, %d requests ended (with the probe), %d connections opened", starts, requests, opened)
	}
	if prog == nil || prog.Ledger.Done() != size || prog.Ledger.Size() != size {
		t.Errorf("progress at the end: %+v, want %d bytes done", prog, size)
	}
	if requests < 2 {
		t.Errorf("%d requests reported, want the probe and the ranges", requests)
	}
	sum := sha256.Sum256(mustRead(t, res.Output))
	if want := c.SHA256(); sum != want || res.SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("file sha256 %x, result %s; want %x", sum, res.SHA256, want)
	}
	if filepath.Base(res.Output) != "file" {
		t.Errorf("derived name %q, want %q", filepath.Base(res.Output), "file")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordingWriterAt keeps what is written at each offset and the size of
// every write, and fails the write that reaches failAt (if set).
type recordingWriterAt struct {
	data   []byte
	sizes  []int
	failAt int64
}

func (w *recordingWriterAt) WriteAt(p []byte, off int64) (int, error) {
	w.sizes = append(w.sizes, len(p))
	if w.failAt > 0 && off+int64(len(p)) > w.failAt {
		return 0, errors.New("disk full")
	}
	copy(w.data[off:], p)
	return len(p), nil
}

// TestSerialWriterChunks: a write through the page cache reaches the file in pieces of at most
// writeChunk (large writes get large page-cache folios, slow to get on a
// VM), byte for byte, and a failing piece reports what was written before.
func TestSerialWriterChunks(t *testing.T) {
	t.Parallel()
	p := make([]byte, 5*writeChunk+123)
	for i := range p {
		p[i] = byte(i * 7)
	}
	w := &recordingWriterAt{data: make([]byte, len(p)+10)}
	s := &serialWriter{w: pageCached{w}}
	if n, err := s.WriteAt(p, 10); n != len(p) || err != nil {
		t.Fatalf("WriteAt = %d, %v; want %d, nil", n, err, len(p))
	}
	if !slices.Equal(w.data[10:], p) {
		t.Fatal("the bytes written differ")
	}
	if len(w.sizes) != 6 || slices.Max(w.sizes) != writeChunk {
		t.Fatalf("writes of %v bytes, want 6 of at most %d", w.sizes, writeChunk)
	}
	w = &recordingWriterAt{data: make([]byte, len(p)), failAt: 2*writeChunk + 1}
	s = &serialWriter{w: pageCached{w}}
	if n, err := s.WriteAt(p, 0); n != 2*writeChunk || err == nil {
		t.Fatalf("WriteAt over a failing piece = %d, %v; want %d and the error", n, err, 2*writeChunk)
	}
}

// TestVerdictPerConnectionCap: connections that all ran at one rate read as
// a per-connection cap, in units that show it (kB/s below 1 MB/s), with the
// advice that fits: a fixed count is told of more connections or -c auto,
// -c auto stopped at its maximum of --max-connections.
func TestVerdictPerConnectionCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		perConn    int64 // bytes each of 4 connections moved in 2 s
		auto       bool
		note       string
		rate, more string
	}{
		{"slow, fixed count", 100e3, false, "", "~50 kB/s", "(-c 8, or -c auto)"},
		{"fast, fixed count", 50e6, false, "", "~25.0 MB/s", "(-c 8, or -c auto)"},
		{"slow, auto at its maximum", 100e3, true, "each connection added its share up to the maximum, 4 (0 MB/s)", "~50 kB/s", "(--max-connections 8)"},
	} {
		prog := segment.NewProgress(4)
		for i := range prog.Conns {
			prog.Conns[i].Received.Store(tc.perConn)
			prog.Conns[i].Busy.Store(int64(2 * time.Second))
		}
		v := verdict(measures{prog: prog, wall: 2 * time.Second, cpu: 0.1, auto: tc.auto, autoNote: tc.note})
		if v.Limit != "per-connection cap" || !strings.Contains(v.Summary, tc.rate) || !strings.Contains(v.Summary, tc.more) {
			t.Errorf("%s: %q: %q, want a per-connection cap at %s with %s", tc.name, v.Limit, v.Summary, tc.rate, tc.more)
		}
	}
}

// TestFlushBehind: the hash cursor's Flush passes the ranges hashed to the
// writeback in batches of wbStep or more, off the caller's goroutine, and
// starts an fdatasync when syncEvery more were hashed since the last, one
// at a time, which waitSyncs waits for.
func TestFlushBehind(t *testing.T) {
	t.Parallel()
	jb := &job{f: partFile(t, 0)}
	var wrote atomic.Int64
	const last = 2*syncEvery + wbStep + 9 // the last sync below
	size := int64(last + 8<<20 + syncEvery)
	flush := jb.flushBehind(size, func(off, n int64) {
		if off != wrote.Load() {
			t.Errorf("writeback of [%d,%d) after %d bytes", off, off+n, wrote.Load())
		}
		wrote.Add(n)
	})
	step := func(off, n, wantWrote, wantSynced int64) {
		t.Helper()
		flush(off, n)
		jb.waitSyncs()
		if w := wrote.Load(); w != wantWrote || jb.synced != wantSynced || jb.syncing {
			t.Fatalf("after [%d,%d) hashed: written back %d, synced at %d (syncing %v), want %d and %d", off, off+n, w, jb.synced, jb.syncing, wantWrote, wantSynced)
		}
	}
	step(0, wbStep-1, 0, 0)      // too little to write back
	step(wbStep-1, 1, wbStep, 0) // a batch, no sync yet
	step(wbStep, syncEvery-wbStep-1, syncEvery-1, 0)
	step(syncEvery-1, wbStep, syncEvery-1+wbStep, syncEvery-1+wbStep)
	step(syncEvery-1+wbStep, 10, syncEvery-1+wbStep, syncEvery-1+wbStep)
	step(syncEvery+wbStep+9, syncEvery, 2*syncEvery+wbStep+9, 2*syncEvery+wbStep+9)
	// In the last syncEvery bytes of the file, a sync every syncNearEnd.
	step(last, 8<<20, last+8<<20, last) // not yet in them
	step(last+8<<20, syncNearEnd-8<<20-wbStep, last+syncNearEnd-wbStep, last)
	step(last+syncNearEnd-wbStep, wbStep, last+syncNearEnd, last+syncNearEnd)
	step(last+syncNearEnd, syncNearEnd, last+2*syncNearEnd, last+2*syncNearEnd)
}

// TestParallelWriterBusy: writes under way at once count once in the
// writer's busy time, which stays within the time they took.
func TestParallelWriterBusy(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	s := &serialWriter{w: blockingWriterAt{entered, release}, parallel: true}
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { s.WriteAt(make([]byte, 10), 0) })
	}
	for range 8 {
		<-entered // all 8 under way at once
	}
	close(release)
	wg.Wait()
	if busy, wall := time.Duration(s.busy.Load()), time.Since(start); busy <= 0 || busy > wall {
		t.Fatalf("busy %v over %v of 8 writes at once, want within it", busy, wall)
	}
}

// blockingWriterAt says when a write enters and holds it until release.
type blockingWriterAt struct {
	entered chan<- struct{}
	release <-chan struct{}
}

func (b blockingWriterAt) WriteAt(p []byte, _ int64) (int, error) {
	b.entered <- struct{}{}
	<-b.release
	return len(p), nil
}

// TestFirstRange: what the probe asks for (segment.Options.FirstRange):
// each connection's share of a MiB, at least 256 KiB, all of it in a batch;
// nothing where a journal or an output that is not replaced unchecked is
// there.
func TestFirstRange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"done.bin", "part.bin.rget", "z.bin.z.rget"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		cfg  config
		want int64
	}{
		{"one connection", config{Options: Options{Connections: 1}}, mib},
		{"three", config{Options: Options{Connections: 3}}, mib / 3 &^ 4095},
		{"sixteen", config{Options: Options{Connections: 16}}, 256 << 10},
		{"auto", config{Options: Options{Connections: 64, AutoConnections: true}}, 256 << 10},
		{"a batch", config{Options: Options{Connections: 16}, budget: segment.NewBudget(16)}, mib},
		{"a smaller segment", config{Options: Options{Connections: 1, SegmentSize: 128 << 10}}, 128 << 10},
		{"a journal", config{Options: Options{Connections: 1, Output: "part.bin", Force: true}}, 0},
		{"the output", config{Options: Options{Connections: 1, Output: "done.bin"}}, 0},
		{"the output named by the URL", config{Options: Options{Connections: 1}, URL: "http://h/done.bin"}, 0},
		{"the output replaced", config{Options: Options{Connections: 1, Output: "done.bin", Force: true}}, mib},
		{"the output checked", config{Options: Options{Connections: 1, Output: "done.bin", Force: true, SHA256: "ab"}}, 0},
		{"to stdout", config{Options: Options{Connections: 1, Output: "done.bin", Writer: io.Discard}}, mib},
		{"to stdout through 256 KiB", config{Options: Options{Connections: 1, Writer: io.Discard, Window: 256 << 10}}, 128 << 10},
		{"the journal of -z", config{Options: Options{Connections: 1, Output: "z.bin", Decompress: true}}, 0},
	} {
		tc.cfg.Dir = dir
		if tc.cfg.URL == "" {
			tc.cfg.URL = "http://h/new.bin"
		}
		if got := firstRange(tc.cfg); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
