package segment_test

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rget/origin"
	"rget/segment"
)

// fetchMirrors downloads the same content from every URL of urls at once,
// and returns the file's digest, the bytes per source and the dropped
// sources.
func fetchMirrors(t *testing.T, urls []string, conns int, opts segment.Options) ([32]byte, []int64, []string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := segment.NewClient(segment.ClientOptions{Connections: conns})
	defer client.CloseIdleConnections()
	var rs []*segment.Remote
	for _, u := range urls {
		r, err := segment.Probe(ctx, client, u, segment.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := rs[0].Size
	led := segment.NewLedger(size, segment.Split(size, segment.SegmentSize(size, conns)), segment.Policy{})
	prog := segment.NewProgress(conns)
	prog.Sources = make([]atomic.Int64, len(rs))
	var mu sync.Mutex
	var dropped []string
	opts.Connections, opts.Progress, opts.Backoff = conns, prog, noBackoff
	opts.OnDrop = func(u string, err error) {
		mu.Lock()
		defer mu.Unlock()
		dropped = append(dropped, u)
	}
	ferr := segment.FetchFrom(ctx, client, rs, f, led, opts)
	var sum [32]byte
	h := sha256.New()
	f.Seek(0, io.SeekStart)
	io.Copy(h, f)
	h.Sum(sum[:0])
	per := make([]int64, len(rs))
	for i := range per {
		per[i] = prog.Sources[i].Load()
	}
	return sum, per, dropped, ferr
}

func TestFetchFromDropsFailingMirror(t *testing.T) {
	t.Parallel()
	content := origin.Content{Size: 4<<20 + 3, Seed: 11}
	good, err := origin.Start(origin.New(content))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	// Serves the probe, then 404 for ever: it lost the file.
	failing, err := origin.Start(origin.New(content, origin.WithFailAfter(1, 404)))
	if err != nil {
		t.Fatal(err)
	}
	defer failing.Close()
	sum, per, dropped, err := fetchMirrors(t, []string{good.URL + "/f", failing.URL + "/f"}, 8, segment.Options{})
	if err != nil {
		t.Fatalf("FetchFrom with a failing mirror: %v", err)
	}
	if sum != content.SHA256() {
		t.Fatal("wrong bytes")
	}
	if len(dropped) != 1 || dropped[0] != failing.URL+"/f" {
		t.Errorf("dropped %q, want the failing mirror", dropped)
	}
	// (Now and then, 1 run in 200, a range taken from a connection that
	// had begun to receive it costs up to 160 KiB twice: counted, since
	// the good one sent them.)
	if per[0] < content.Size || per[0] > content.Size+content.Size/16 || per[1] != 0 {
		t.Errorf("bytes per source %v, want all from the good one (%d, and at most a sixteenth more)", per, content.Size)
	}
}
