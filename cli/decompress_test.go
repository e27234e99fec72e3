package cli

import (
	"bytes"
	"compress/bzip2"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"rget/origin"
)

// compressible is n bytes of words, deterministic for seed: compressors
// shrink it about threefold.
func compressible(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	words := make([][]byte, 300)
	for i := range words {
		w := make([]byte, 2+r.IntN(8))
		for j := range w {
			w[j] = byte('a' + r.IntN(26))
		}
		words[i] = w
	}
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(append(b, words[r.IntN(len(words))]...), ' ')
	}
	return b[:n]
}

// compressedFiles writes data compressed as gzip, zstd and xz into dir,
// and the bzip2 file of testdata (Go writes no bzip2), and returns each
// file's name and the digest of its decompressed bytes.
func compressedFiles(t *testing.T, dir string, data []byte) map[string]string {
	t.Helper()
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	files := map[string]string{}
	write := func(name string, w func(io.Writer) (io.WriteCloser, error)) {
		var buf bytes.Buffer
		zw, err := w(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = sum(data)
	}
	write("data.tar.gz", func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil })
	write("data.tar.zst", func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w) })
	write("data.txz", func(w io.Writer) (io.WriteCloser, error) { return xz.NewWriter(w) })
	bz, err := os.ReadFile("testdata/words.txt.bz2")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(bz)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "words.txt.bz2"), bz, 0o644); err != nil {
		t.Fatal(err)
	}
	files["words.txt.bz2"] = sum(plain)
	return files
}

// serveDir serves dir as `rget serve` does, each connection capped at rate
// (0: none).
func serveDir(t *testing.T, dir string, opts ...origin.Option) string {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	srv, err := origin.Start(origin.Dir(root), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL
}

// TestDecompress: --decompress of each format, to a file (named without the
// suffix) and to stdout, gives the decompressed digest; --json has both.
func TestDecompress(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	src := t.TempDir()
	files := compressedFiles(t, src, compressible(6<<20+11, 1))
	base := serveDir(t, src)
	for name, want := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			code, stdout, stderr := runBin(t, bin, nil, "get", base+"/"+name, "-z", "-d", dir, "-c", "8", "--json")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			var res struct {
				Output       string
				SHA256       string
				Decompressed struct{ Format, SHA256 string }
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("--json: %v\n%s", err, stdout)
			}
			wantOut := map[string]string{"data.tar.gz": "data.tar", "data.tar.zst": "data.tar", "data.txz": "data.tar", "words.txt.bz2": "words.txt"}[name]
			if res.Output != filepath.Join(dir, wantOut) {
				t.Errorf("output %q, want %q", res.Output, filepath.Join(dir, wantOut))
			}
			if got := sha256File(t, res.Output); got != want || res.Decompressed.SHA256 != want {
				t.Errorf("decompressed sha256 %s (reported %s), want %s", got, res.Decompressed.SHA256, want)
			}
			if served := sha256File(t, filepath.Join(src, name)); res.SHA256 != served {
				t.Errorf("sha256 %s, want the served file's %s", res.SHA256, served)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 {
				t.Errorf("files left in the directory: %q, want only the output", left)
			}
			sum, errOut, err := streamGet(t, bin, base+"/"+name, "-z", "-c", "8")
			if err != nil || sum != want {
				t.Errorf("-z -o -: sha256 %s, %v; want %s\n%s", sum, err, want, errOut)
			}
		})
	}
}

// TestDecompressCrashResume: kill -9 during --decompress to a file, rerun:
// the output is right.
func TestDecompressCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test takes seconds")
	}
	t.Parallel()
	bin := buildRget(t)
	src := t.TempDir()
	data := compressible(48<<20, 2)
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(filepath.Join(src, "d.zst"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	size := int64(buf.Len())
	want := sha256.Sum256(data)
	base := serveDir(t, src, origin.WithRatePerConn(size/16))
	dir := t.TempDir()
	args := []string{"get", base + "/d.zst", "-z", "-d", dir, "-c", "4", "-q"}
	cmd, stderr := startRget(t, bin, args...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	part := filepath.Join(dir, "d.z.part")
	waitFor(t, "part of the file", 30*time.Second, func() bool {
		fi, err := os.Stat(filepath.Join(dir, "d.part"))
		return err == nil && fi.Size() > int64(len(data))/3
	})
	cmd.Process.Signal(syscall.SIGKILL)
	if err := <-exited; err == nil {
		t.Fatalf("rget ended before the kill\n%s", stderr)
	}
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("no compressed part file after the kill: %v", err)
	}
	code, _, errOut := runBin(t, bin, nil, args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, errOut)
	}
	if got := sha256File(t, filepath.Join(dir, "d")); got != hex.EncodeToString(want[:]) {
		t.Fatalf("sha256 after the crash %s, want %s", got, hex.EncodeToString(want[:]))
	}
}

// TestDecompressBatchRerun: a batch with -z, rerun: the decompressed
// outputs are skipped as complete.
func TestDecompressBatchRerun(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	src := t.TempDir()
	compressedFiles(t, src, compressible(1<<20+5, 3))
	base := serveDir(t, src)
	dir := t.TempDir()
	args := []string{"get", base + "/data.tar.gz", base + "/words.txt.bz2", "-z", "-d", dir, "-c", "4"}
	if code, _, stderr := runBin(t, bin, nil, args...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, "data.tar"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runBin(t, bin, nil, args...)
	if code != 0 || strings.Count(stderr, "already complete; skipped") != 2 {
		t.Fatalf("rerun: exit %d, want 0 and both skipped\n%q", code, stderr)
	}
	if now, err := os.Stat(filepath.Join(dir, "data.tar")); err != nil || !os.SameFile(fi, now) {
		t.Errorf("the rerun replaced data.tar")
	}
}
