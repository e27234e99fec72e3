package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// stream fetches a resource that is not served in ranges as one plain GET,
// written sequentially from offset 0. A retry cannot resume in the middle,
// so it reads the resource again from its start and skips what is already
// written (the bytes on disk, and the hash of them, stay as they are).
func (f *fetcher) stream(ctx context.Context, c *ConnProgress) error {
	buf := make([]byte, f.opts.BufferSize)
	var written int64
	return f.opts.retry(ctx, "stream", func() (bool, error) {
		before := written
		err := f.streamOnce(ctx, c, buf, &written)
		return written-before >= workingProgress, err
	})
}

// streamOnce GETs the whole resource, skips the first *written bytes and
// writes the rest after them. A body that arrives compressed although
// identity was asked is decoded: what is written, counted in *written and
// hashed later is the decoded resource.
func (f *fetcher) streamOnce(ctx context.Context, c *ConnProgress, buf []byte, written *int64) (err error) {
	var status int
	var got int64
	var kept bool
	from := *written
	defer func(start time.Time) {
		got = *written - from
		f.opts.trace(Trace{URL: f.remote.FinalURL, Status: status, Bytes: got, Start: start, Err: err, Kept: kept})
	}(time.Now())
	resp, w, kept, err := f.streamResponse(ctx)
	if err != nil {
		return err
	}
	defer w.stop()
	defer resp.Body.Close()
	status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	if err := sameVersion(f.remote, resp); err != nil {
		return err
	}
	size := f.remote.Size
	var body io.Reader = io.TeeReader(w.reader(resp.Body), counter{total: &f.prog.Received, conn: &c.Received})
	if enc := contentEncoding(resp.Header); enc != "" {
		dec, closeDec, err := decoder(enc, body)
		if err != nil {
			return fmt.Errorf("stream %s: %w", resp.Request.URL.Redacted(), w.cause(err))
		}
		defer closeDec()
		body = dec
		if f.remote.Encoding != "" {
			// The probe saw the encoded form too: the decoded size is
			// known only at the end. Otherwise the probe's identity
			// size still holds for the decoded bytes.
			size = -1
		}
	} else if size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != size {
		return fmt.Errorf("stream %s: Content-Length %d, probed %d: %w",
			resp.Request.URL.Redacted(), resp.ContentLength, size, ErrChanged)
	}
	if _, err := io.CopyN(io.Discard, body, *written); err != nil {
		return fmt.Errorf("stream: skipping %d bytes already written: %w", *written, unexpected(err))
	}
	c.End.Store(max(size, 0))
	for {
		n, rerr := fill(body, f.opts.readSlice(buf))
		if werr := f.opts.take(ctx, n); werr != nil {
			return fmt.Errorf("stream: %w", werr)
		}
		if n > 0 {
			if size >= 0 && *written+int64(n) > size {
				return fmt.Errorf("stream: more than the %d bytes announced: %w", size, ErrChanged)
			}
			if _, err := f.dst.WriteAt(buf[:n], *written); err != nil {
				return fmt.Errorf("stream: write at %d: %w", *written, &LocalError{err})
			}
			*written += int64(n)
			f.led.streamed(*written)
			c.Pos.Store(*written)
		}
		switch {
		case rerr == nil:
			continue
		case rerr == io.EOF:
			// A clean end. A body cut short (a chunked or compressed
			// stream that stops in the middle) is io.ErrUnexpectedEOF,
			// retried below even when the size is unknown.
			if size >= 0 && *written != size {
				return fmt.Errorf("stream: body ended at %d of %d bytes: %w", *written, size, io.ErrUnexpectedEOF)
			}
			if size < 0 {
				f.led.finishStream(*written)
			}
			return nil
		default:
			return fmt.Errorf("stream: body ended at %d: %w", *written, w.cause(rerr))
		}
	}
}

// fill reads from r until buf is full or r fails. Unlike io.ReadFull it
// returns r's own error, so that io.EOF means a clean end of the body and a
// truncated one stays io.ErrUnexpectedEOF.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
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
		return nil, nil, permanentError{fmt.Errorf("unsupported Content-Encoding %q", enc)}
	}
}

// streamResponse returns the response the probe kept (kept), the first
// time, or GETs the resource, with the stall watchdog that guards its body.
func (f *fetcher) streamResponse(ctx context.Context) (resp *http.Response, w *watchdog, kept bool, err error) {
	if k := f.remote.take(); k != nil {
		return k.resp, k.w, true, nil
	}
	ctx, w = watch(ctx, f.opts.StallTimeout)
	req, err := newRequest(ctx, f.remote.FinalURL, f.opts.Header)
	if err != nil {
		w.stop()
		return nil, nil, false, permanentError{err}
	}
	if resp, err = f.client.Do(req); err != nil {
		w.stop()
		return nil, nil, false, fmt.Errorf("stream: %w", w.cause(err))
	}
	return resp, w, false, nil
}
