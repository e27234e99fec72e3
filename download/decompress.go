package download

// This file decompresses a download while it arrives (rget get -z): the
// bytes, in order, go through a decoder chosen by their first bytes (gzip,
// zstd, xz, bzip2), which writes the decompressed output sequentially.

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"rget/merge"
)

// Decompressed is what a download with Options.Decompress produced besides
// the file as served.
type Decompressed struct {
	Format string `json:"format"` // gzip, zstd, xz, bzip2, or none (passed through)
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"` // with Options.HashDecompressed
}

// sniffLen is how many first bytes tell the format.
const sniffLen = 6

// formatOf names the compression of data starting with head, "" if none
// known.
func formatOf(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "xz"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2"
	}
	return ""
}

// decompressedName is the name of the output of name decompressed: its
// compression suffix dropped (.tgz and the like become .tar); a name
// without one is kept.
func decompressedName(name string) string {
	lower := strings.ToLower(name)
	for _, s := range []struct{ suffix, repl string }{
		{".tgz", ".tar"}, {".tbz2", ".tar"}, {".tbz", ".tar"}, {".txz", ".tar"}, {".tzst", ".tar"},
		{".gz", ""}, {".zst", ""}, {".zstd", ""}, {".xz", ""}, {".bz2", ""},
	} {
		if strings.HasSuffix(lower, s.suffix) && len(name) > len(s.suffix) {
			return name[:len(name)-len(s.suffix)] + s.repl
		}
	}
	return name
}

// decoder is an io.WriteCloser that decompresses what is written to it
// into dst, on a goroutine it owns: Close (or Abort) waits for it.
type decoder struct {
	dst    io.Writer
	h      hash.Hash
	n      int64
	head   []byte
	pw     *io.PipeWriter
	done   chan error
	format string
	notice func(format string, args ...any)
	ended  bool  // Close or Abort waited for the goroutine
	err    error // its result
}

// newDecoder decompresses into dst; with hash set it also computes the
// SHA-256 of the output.
func newDecoder(dst io.Writer, hash bool, notice func(string, ...any)) *decoder {
	d := &decoder{dst: dst, notice: notice}
	if hash {
		d.h = sha256.New()
	}
	return d
}

// Write passes p on to the decoder, which starts once the format is known.
func (d *decoder) Write(p []byte) (int, error) {
	if d.pw != nil {
		return d.pw.Write(p)
	}
	take := min(sniffLen-len(d.head), len(p))
	d.head = append(d.head, p[:take]...)
	if len(d.head) < sniffLen {
		return len(p), nil
	}
	d.start()
	if _, err := d.pw.Write(d.head); err != nil {
		return 0, err
	}
	if _, err := d.pw.Write(p[take:]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// out counts the decompressed bytes on their way to dst (the lanes hash
// them).
func (d *decoder) out(p []byte) (int, error) {
	return inChunks(p, func(b []byte, _ int) (int, error) { // see writeChunk
		k, err := d.dst.Write(b)
		d.n += int64(k)
		return k, err
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// start picks the decoder from the first bytes and runs it.
func (d *decoder) start() {
	d.format = formatOf(d.head)
	if d.format == "" {
		d.format = "none"
		d.notice("not compressed (gzip, zstd, xz or bzip2): written as it is")
	}
	pr, pw := io.Pipe()
	d.pw, d.done = pw, make(chan error, 1)
	go func() {
		err := d.decode(pr)
		// Unblock the writer if the decoder stopped before the input's end.
		pr.CloseWithError(fmt.Errorf("decompress: %w", io.ErrClosedPipe))
		d.done <- err
	}()
}

// decode copies r decompressed into dst.
func (d *decoder) decode(pr io.Reader) error {
	// Decoders read in small pieces; each read of a pipe is a handoff
	// between goroutines.
	r := bufio.NewReaderSize(pr, 1<<20)
	var src io.Reader
	switch d.format {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(1<<31))
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		src = zr
	case "xz":
		zr, err := xz.NewReader(r)
		if err != nil {
			return fmt.Errorf("xz: %w", err)
		}
		src = zr
	case "bzip2":
		src = bzip2.NewReader(r)
	default:
		src = r
	}
	ln := newLanes(d.h, writerFunc(d.out))
	_, err := io.Copy(ln, src)
	if cerr := ln.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("decompress (%s): %w", d.format, err)
	}
	// A decoder may stop at the end of its stream: what follows must be
	// nothing (read to the end, so that the writer never blocks).
	if n, err := io.Copy(io.Discard, r); err != nil || n > 0 {
		return fmt.Errorf("decompress (%s): %d bytes after the end of the compressed data", d.format, n)
	}
	return nil
}

// Close ends the input and waits for the decoder: its error, if the data
// was not a whole compressed stream or the output failed.
func (d *decoder) Close() error {
	if d.ended {
		return d.err
	}
	if d.pw == nil {
		d.start() // fewer than sniffLen bytes in all
		if _, err := d.pw.Write(d.head); err != nil {
			d.pw.Close()
			d.wait()
			return err
		}
	}
	d.pw.Close()
	return d.wait()
}

// wait waits for the goroutine, once.
func (d *decoder) wait() error {
	if !d.ended {
		d.ended, d.err = true, <-d.done
	}
	return d.err
}

// Abort stops the decoder and waits for it.
func (d *decoder) Abort(err error) {
	if d.pw == nil || d.ended {
		return
	}
	d.pw.CloseWithError(err)
	d.wait()
}

// result is what the decoder produced.
func (d *decoder) result() *Decompressed {
	r := &Decompressed{Format: d.format, Size: d.n}
	if d.h != nil {
		r.SHA256 = hex.EncodeToString(d.h.Sum(nil))
	}
	return r
}

// decompressTo makes the job decompress what its cursor hashes into dout,
// through dout.part, from the first byte (also on resume).
func (jb *job) decompressTo(cfg config, dout string) error {
	jb.dout, jb.dtmp = dout, dout+".part"
	f, err := os.OpenFile(jb.dtmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", jb.dtmp, err)
	}
	jb.dfile = f
	jb.dec = newDecoder(f, cfg.HashDecompressed, cfg.notice) // in writeChunk writes
	if jb.cursor.Offset() != 0 {
		return fmt.Errorf("decompress %s: the hash cursor is not at the start", jb.part)
	}
	jb.cursor.Tee = jb.dec
	return nil
}

// publishDecompressed ends the decompression, publishes dout and removes
// the compressed part file (its journal goes with finalize).
func (jb *job) publishDecompressed(cfg config) error {
	if err := jb.dec.Close(); err != nil {
		return err
	}
	f := jb.dfile
	jb.dfile = nil
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", jb.dtmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", jb.dtmp, err)
	}
	if err := merge.Publish(jb.dtmp, jb.dout, cfg.Force); err != nil {
		return err
	}
	if err := os.Remove(jb.part); err != nil {
		return fmt.Errorf("remove %s: %w", jb.part, err)
	}
	return nil
}

// dropDecompressed stops the decompressor of a download that failed and
// removes its partial output: a rerun decompresses from the start.
func (jb *job) dropDecompressed(err error) {
	if jb.dec == nil {
		return
	}
	jb.dec.Abort(err)
	if jb.dfile != nil {
		jb.dfile.Close()
		jb.dfile = nil
		os.Remove(jb.dtmp)
	}
}

// lanes passes a decoder's output to two goroutines it owns, one hashing
// and one writing it, so that decoding, hashing and writing overlap (on
// the decoder's goroutine they took turns: the sum of the three, where the
// slowest would do). Write copies p into one of a few buffers, waiting for
// a free one; Close waits for both and returns the writer's error.
type lanes struct {
	free          chan []byte
	toHash, toOut chan []byte
	hashed, wrote chan struct{}
	err           error // the writer's, read after wrote is closed
	failed        atomic.Bool
}

const laneBuf, laneBufs = 1 << 20, 4

func newLanes(h hash.Hash, dst io.Writer) *lanes {
	l := &lanes{free: make(chan []byte, laneBufs), toHash: make(chan []byte, laneBufs), toOut: make(chan []byte, laneBufs),
		hashed: make(chan struct{}), wrote: make(chan struct{})}
	for range laneBufs {
		l.free <- make([]byte, 0, laneBuf)
	}
	// A buffer is free again once both lanes are done with it: the hash
	// lane passes each on to the writer.
	go func() {
		defer close(l.hashed)
		defer close(l.toOut)
		for b := range l.toHash {
			if h != nil {
				h.Write(b)
			}
			l.toOut <- b
		}
	}()
	go func() {
		defer close(l.wrote)
		for b := range l.toOut {
			if l.err == nil {
				if _, err := dst.Write(b); err != nil {
					l.err = err
					l.failed.Store(true)
				}
			}
			l.free <- b[:0]
		}
	}()
	return l
}

func (l *lanes) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if l.failed.Load() {
			return n - len(p), errors.New("output failed")
		}
		b := <-l.free
		k := min(len(p), cap(b))
		b = append(b, p[:k]...)
		p = p[k:]
		l.toHash <- b
	}
	return n, nil
}

// Close waits for the lanes to finish, and returns the write error.
func (l *lanes) Close() error {
	close(l.toHash)
	<-l.hashed
	<-l.wrote
	return l.err
}
