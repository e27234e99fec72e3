package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// stream fetches a resource that is not served in ranges as one plain GET,
// written sequentially from offset 0. A retry cannot resume in the middle,
// so it reads the resource again from its start and skips what is already
// written (the bytes on disk, and the hash of them, stay as they are).
func (f *fetcher) stream(ctx context.Context, c *ConnProgress) error {
	pt := f.plan.take() // nil when the size is unknown
	if pt != nil {
		defer f.plan.release(pt)
	}
	buf := make([]byte, f.opts.BufferSize)
	var written int64
	for attempt := 1; ; attempt++ {
		err := f.streamOnce(ctx, pt, c, buf, &written)
		if err == nil {
			return nil
		}
		if f.opts.Retries < 0 || attempt > f.opts.Retries || !retryable(ctx, err) {
			return err
		}
		f.prog.Retries.Add(1)
		if werr := wait(ctx, retryDelay(err, attempt, f.opts.Backoff)); werr != nil {
			return err
		}
	}
}

// streamOnce GETs the whole resource, skips the first *written bytes and
// writes the rest after them.
func (f *fetcher) streamOnce(ctx context.Context, pt *part, c *ConnProgress, buf []byte, written *int64) error {
	ctx, w := watch(ctx, f.opts.StallTimeout)
	defer w.stop()
	req, err := newRequest(ctx, f.remote.FinalURL, f.opts.Header)
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("stream: %w", w.cause(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	if err := f.sameVersion(resp); err != nil {
		return err
	}
	size := f.remote.Size
	var body io.Reader = io.TeeReader(w.reader(resp.Body), counter{&f.prog.Received, &c.Received})
	if enc := contentEncoding(resp.Header); enc != "" {
		dec, closeDec, err := decoder(enc, body)
		if err != nil {
			return fmt.Errorf("stream %s: %w", resp.Request.URL.Redacted(), err)
		}
		defer closeDec()
		body, size = dec, -1
	} else if size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != size {
		return fmt.Errorf("stream %s: Content-Length %d, probed %d: %w",
			resp.Request.URL.Redacted(), resp.ContentLength, size, ErrChanged)
	}
	if _, err := io.CopyN(io.Discard, body, *written); err != nil {
		return fmt.Errorf("stream: skipping %d bytes already written: %w", *written, unexpected(err))
	}
	c.End.Store(max(size, 0))
	for {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if size >= 0 && *written+int64(n) > size {
				return fmt.Errorf("stream: more than the %d bytes announced: %w", size, ErrChanged)
			}
			if _, err := f.dst.WriteAt(buf[:n], *written); err != nil {
				return fmt.Errorf("stream: write at %d: %w", *written, err)
			}
			if pt != nil {
				f.plan.claim(pt, *written, n)
				f.plan.wrote(pt, n)
			}
			*written += int64(n)
			f.plan.setStreamed(*written)
			c.Pos.Store(*written)
		}
		switch {
		case rerr == nil:
			continue
		case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
			if size >= 0 && *written != size {
				return fmt.Errorf("stream: body ended at %d of %d bytes: %w", *written, size, io.ErrUnexpectedEOF)
			}
			if size < 0 {
				f.plan.finishStream(*written)
			}
			return nil
		default:
			return fmt.Errorf("stream: body ended at %d: %w", *written, w.cause(rerr))
		}
	}
}

// unexpected turns a clean EOF in the middle of a body into ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decoder wraps r in a decompressor for Content-Encoding enc.
func decoder(enc string, r io.Reader) (io.Reader, func(), error) {
	switch enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip body: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd body: %w", err)
		}
		return zr, zr.Close, nil
	default:
		return nil, nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
}
