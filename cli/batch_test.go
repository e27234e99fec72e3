package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"rget/origin"
)

// servedFile is one file a batch test serves: its origin and URL.
type servedFile struct {
	o    *origin.Origin
	url  string
	name string
}

// serveBatch serves one file per size, named f<i>.bin, from servers
// servers (file i from server i mod servers), each connection capped as
// opts say; every file's requests are counted in gauge too.
func serveBatch(t *testing.T, sizes []int64, servers int, gauge *origin.Gauge, opts ...origin.Option) []servedFile {
	t.Helper()
	muxes := make([]*http.ServeMux, servers)
	urls := make([]string, servers)
	for i := range muxes {
		muxes[i] = http.NewServeMux()
		srv, err := origin.Start(muxes[i], opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		urls[i] = srv.URL
	}
	var files []servedFile
	for i, size := range sizes {
		o := origin.New(origin.Content{Size: size, Seed: uint64(i) + 100}, append(opts, origin.WithGauge(gauge))...)
		name := fmt.Sprintf("f%d.bin", i)
		muxes[i%servers].Handle("/"+name, o)
		files = append(files, servedFile{o: o, url: urls[i%servers] + "/" + name, name: name})
	}
	return files
}

// writeList writes an input list of the files' URLs.
func writeList(t *testing.T, files []servedFile) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# a batch\n")
	for _, f := range files {
		fmt.Fprintf(&b, "%s\n  out=%s\n", f.url, f.name)
	}
	path := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBatchInputList: 12 files from 1 KiB to 256 MiB, from two servers,
// with -c 16: every file right, never more than
// 16 requests in flight across the origins, the time against the ideal
// logged (not asserted: wall-clock rates flake on a shared machine; the
// figures are in README).
func TestBatchInputList(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads 400 MiB")
	}
	t.Parallel()
	bin := buildRget(t)
	sizes := []int64{1 << 10, 4<<10 + 1, 64 << 10, 300 << 10, 1 << 20, 2<<20 + 1, 5 << 20, 9 << 20, 17 << 20, 33 << 20, 64 << 20, 256 << 20}
	const rate = 24 << 20
	var gauge origin.Gauge
	files := serveBatch(t, sizes, 2, &gauge, origin.WithRatePerConn(rate))
	list := writeList(t, files)
	dir := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runBin(t, bin, nil, "get", "-i", list, "-d", dir, "-c", "16", "--json")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var total int64
	for i, f := range files {
		if got := sha256File(t, filepath.Join(dir, f.name)); got != hexSum(f.o.Content()) {
			t.Errorf("%s (%d bytes): sha256 %s, want %s", f.name, sizes[i], got, hexSum(f.o.Content()))
		}
		total += sizes[i]
	}
	if m := gauge.Max(); m > 16 {
		t.Errorf("at most %d requests were in flight at once, want at most 16", m)
	}
	var rep batchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if rep.Total != 12 || rep.Saved != 12 || rep.ExitCode != 0 || len(rep.Files) != 12 {
		t.Errorf("--json totals %+v", rep)
	}
	ideal := time.Duration(float64(total) / (16 * rate) * float64(time.Second))
	t.Logf("12 files, %d bytes: %v, %.2f × the ideal %v; peak requests in flight %d", total, took.Round(time.Millisecond),
		took.Seconds()/ideal.Seconds(), ideal.Round(time.Millisecond), gauge.Max())
}

// TestBatchChecksumFile: a checksum file with one wrong line fails that file
// with exit 3 and publishes nothing for it; the others are published. The
// rerun skips the files already there.
func TestBatchChecksumFile(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	var gauge origin.Gauge
	files := serveBatch(t, []int64{1000, 300<<10 + 7, 2 << 20}, 2, &gauge)
	var sums strings.Builder
	for i, f := range files {
		sum := hexSum(f.o.Content())
		if i == 1 {
			sum = strings.Repeat("0", 64)
		}
		fmt.Fprintf(&sums, "%s *%s\n", sum, f.name)
	}
	sumsFile := filepath.Join(t.TempDir(), "SHA256SUMS")
	if err := os.WriteFile(sumsFile, []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"get", "-d", dir, "-c", "4", "--checksums", sumsFile}
	for _, f := range files {
		args = append(args, f.url)
	}
	code, _, stderr := runBin(t, bin, nil, args...)
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s", code, stderr)
	}
	if !strings.Contains(stderr, files[1].name) || !strings.Contains(stderr, "SHA-256") {
		t.Errorf("stderr does not name the file and the mismatch:\n%s", stderr)
	}
	for i, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.name))
		switch {
		case i == 1 && err == nil:
			t.Errorf("%s was published despite its wrong checksum", f.name)
		case i != 1 && err != nil:
			t.Errorf("%s was not published: %v", f.name, err)
		}
	}
	// The first run's last handlers may still be writing what its
	// connections, closed as it ended, no longer read (a range finished
	// by another connection): the count is taken once it holds still.
	served, since := int64(-1), time.Now()
	waitFor(t, "the origins to stop serving the first run", 10*time.Second, func() bool {
		if n := files[0].o.BytesServed() + files[2].o.BytesServed(); n != served {
			served, since = n, time.Now()
		}
		return time.Since(since) >= 100*time.Millisecond
	})
	code, stdout, stderr := runBin(t, bin, nil, append(args, "--json")...)
	if code != 3 {
		t.Fatalf("rerun: exit %d, want 3\n%s", code, stderr)
	}
	var rep batchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if rep.Files[1].ExitCode != 3 || rep.Files[1].Error == "" || !rep.Files[0].AlreadyComplete || !rep.Files[2].AlreadyComplete {
		t.Errorf("rerun --json files %+v", rep.Files)
	}
	if again := files[0].o.BytesServed() + files[2].o.BytesServed() - served; again > 2 {
		t.Errorf("the rerun fetched %d bytes of the files already complete (probes aside)", again)
	}
}

// TestBatchMirrors: one 256 MiB file from two mirrors, one capped at 10×
// the other's rate per connection: most bytes come from the fast one; a
// third mirror of another size is dropped with a notice.
func TestBatchMirrors(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads 256 MiB")
	}
	t.Parallel()
	bin := buildRget(t)
	content := origin.Content{Size: 256 << 20, Seed: 5}
	fast, fastURL := startMirror(t, content, 40<<20)
	slow, slowURL := startMirror(t, content, 4<<20)
	_, otherURL := startMirror(t, origin.Content{Size: 255 << 20, Seed: 5}, 40<<20)
	out := filepath.Join(t.TempDir(), "big.bin")
	code, stdout, stderr := runBin(t, bin, nil, "get", fastURL, "--mirror", slowURL, "--mirror", otherURL,
		"-o", out, "-c", "8", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if got := sha256File(t, out); got != hexSum(content) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(content))
	}
	if !strings.Contains(stderr, "dropped the mirror "+otherURL) {
		t.Errorf("no notice of the mirror of another size:\n%s", stderr)
	}
	if !strings.Contains(stderr, "cannot be cross-checked") {
		t.Errorf("no notice that mirrors are not cross-checked without a digest:\n%s", stderr)
	}
	var res struct {
		Sources []struct {
			URL   string
			Bytes int64
		}
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Sources) != 2 {
		t.Fatalf("--json sources: %v\n%s", err, stdout)
	}
	share := float64(res.Sources[0].Bytes) / float64(content.Size)
	t.Logf("fast mirror sent %.1f%% (origin: fast %d, slow %d bytes)", 100*share, fast.BytesServed(), slow.BytesServed())
	if share < 0.75 {
		t.Errorf("the fast mirror sent %.1f%% of the file, want at least 75%%", 100*share)
	}
}

// TestBatchMirrorDies: one of two mirrors is shut down at half the file:
// the download ends with the right file from the other.
func TestBatchMirrorDies(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads 64 MiB")
	}
	t.Parallel()
	bin := buildRget(t)
	content := origin.Content{Size: 64 << 20, Seed: 9}
	a, aURL, aSrv := startMirrorServer(t, content, 8<<20)
	b, bURL, _ := startMirrorServer(t, content, 8<<20)
	out := filepath.Join(t.TempDir(), "f.bin")
	cmd, stderr := startRget(t, bin, "get", aURL, "--mirror", bURL, "-o", out, "-c", "8", "--retries", "3")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, "half the file", 60*time.Second, func() bool {
		return a.BytesServed()+b.BytesServed() >= content.Size/2
	})
	aSrv.Close()
	if err := <-exited; err != nil {
		t.Fatalf("rget after a mirror died: %v\n%s", err, stderr)
	}
	if got := sha256File(t, out); got != hexSum(content) {
		t.Fatalf("sha256 %s, want %s", got, hexSum(content))
	}
	if !strings.Contains(stderr.String(), "dropped the mirror") {
		t.Errorf("no notice of the dropped mirror:\n%s", stderr)
	}
}

// TestBatchKillAndRerun: kill -9 in the middle of a batch; the rerun leaves
// the completed files untouched and resumes the partial ones, fetching
// again at most 5% of what was on disk.
func TestBatchKillAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes several seconds")
	}
	t.Parallel()
	bin := buildRget(t)
	var gauge origin.Gauge
	// 16 connections at 2 MiB/s: about 7 s, killed after about 5 s. A
	// kill loses what arrived since the last cheap checkpoint (100 ms):
	// 0.8-2.2% of what is on disk after 5 s when the test runs alone,
	// 3.1% once under the whole suite's load with -race (the checkpoints
	// come late). A resume that lost a durable interval (3 s) would fetch
	// half of it again.
	sizes := []int64{100 << 10, 1 << 20, 64 << 20, 80 << 20, 96 << 20}
	files := serveBatch(t, sizes, 2, &gauge, origin.WithRatePerConn(2<<20))
	list := writeList(t, files)
	dir := t.TempDir()
	args := []string{"get", "-i", list, "-d", dir, "-c", "16", "-q"}
	cmd, stderr := startRget(t, bin, args...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var total int64
	for _, s := range sizes {
		total += s
	}
	served := func() (n int64) {
		for _, f := range files {
			n += f.o.BytesServed()
		}
		return n
	}
	waitFor(t, "75% of the batch", 60*time.Second, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("rget ended before the kill: %v\n%s", err, stderr)
		default:
		}
		return served() >= total*3/4
	})
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	before := served()
	complete := map[string]os.FileInfo{}
	for _, f := range files[:2] {
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatalf("%s not complete at 75%% of the batch: %v", f.name, err)
		}
		complete[f.name] = fi
	}
	code, _, errOut := runBin(t, bin, nil, args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, errOut)
	}
	for i, f := range files {
		if got := sha256File(t, filepath.Join(dir, f.name)); got != hexSum(f.o.Content()) {
			t.Errorf("%s (%d bytes): sha256 %s, want %s", f.name, sizes[i], got, hexSum(f.o.Content()))
		}
		if fi, ok := complete[f.name]; ok {
			now, err := os.Stat(filepath.Join(dir, f.name))
			if err != nil || !os.SameFile(fi, now) || !now.ModTime().Equal(fi.ModTime()) {
				t.Errorf("%s, complete before the rerun, was touched by it", f.name)
			}
		}
	}
	refetched := served() - total
	t.Logf("served %d bytes before the kill, %d in the rerun, for %d: %d fetched twice (%.2f%% of those before the kill)",
		before, served()-before, total, refetched, 100*float64(refetched)/float64(before))
	if float64(refetched) > 0.05*float64(before) {
		t.Errorf("the rerun fetched again %d bytes, %.2f%% of the %d served before the kill; want at most 5%%",
			refetched, 100*float64(refetched)/float64(before), before)
	}
}

// startMirror serves content on a server of its own, capped at rate per
// connection, and returns it and the file's URL.
func startMirror(t *testing.T, c origin.Content, rate int64) (*origin.Origin, string) {
	t.Helper()
	o, url, _ := startMirrorServer(t, c, rate)
	return o, url
}

func startMirrorServer(t *testing.T, c origin.Content, rate int64) (*origin.Origin, string, *origin.Server) {
	t.Helper()
	o := origin.New(c)
	srv, err := origin.Start(o, origin.WithRatePerConn(rate))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return o, srv.URL + "/file.bin", srv
}

// TestBatchStreamHoldsItsSlot: a server without ranges is read as one
// stream, which holds its connection of the budget: with -c 2 and a ranged
// file beside it, never more than 2 requests in flight, and both right. Two
// files of the same name are refused, not written over each other.
func TestBatchStreamHoldsItsSlot(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	var gauge origin.Gauge
	stream := serveBatch(t, []int64{3 << 20}, 1, &gauge, origin.WithNoRange(), origin.WithRatePerConn(16<<20))
	ranged := serveBatch(t, []int64{5<<20 + 3}, 1, &gauge, origin.WithRatePerConn(16<<20))
	list := filepath.Join(t.TempDir(), "list")
	body := fmt.Sprintf("%s\n  out=s.bin\n%s\n  out=r.bin\n%s?again\n  out=r.bin\n", stream[0].url, ranged[0].url, ranged[0].url)
	if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, _, stderr := runBin(t, bin, nil, "get", "-d", dir, "-c", "2", "-i", list)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (two files named r.bin)\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "is also file") {
		t.Errorf("no message about the two files of one name:\n%s", stderr)
	}
	if got := sha256File(t, filepath.Join(dir, "s.bin")); got != hexSum(stream[0].o.Content()) {
		t.Errorf("the stream: sha256 %s, want %s", got, hexSum(stream[0].o.Content()))
	}
	if got := sha256File(t, filepath.Join(dir, "r.bin")); got != hexSum(ranged[0].o.Content()) {
		t.Errorf("the ranged file: sha256 %s, want %s", got, hexSum(ranged[0].o.Content()))
	}
	if m := gauge.Max(); m > 2 {
		t.Errorf("%d requests in flight at once, want at most 2", m)
	}
}
