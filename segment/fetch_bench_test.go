package segment_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"rget/origin"
	"testing"

	"rget/segment"
)

// discardAt is an io.WriterAt that keeps nothing: the copy path alone.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// BenchmarkFetch measures the hot path, response body -> TeeReader counter
// -> WriteAt, over loopback from the embedded origin: into a file (page
// cache) and into nothing.
func BenchmarkFetch(b *testing.B) {
	const size = 64 << 20
	o := origin.New(origin.Content{Size: size, Seed: 5})
	srv, err := origin.Start(o)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	for _, sink := range []string{"file", "discard"} {
		for _, conns := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/conns=%d", sink, conns), func(b *testing.B) {
				ctx := context.Background()
				client := segment.NewClient(segment.ClientOptions{Connections: conns})
				defer client.CloseIdleConnections()
				r, err := segment.Probe(ctx, client, srv.URL+"/file", segment.Options{})
				if err != nil {
					b.Fatal(err)
				}
				f, err := os.Create(filepath.Join(b.TempDir(), "out"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				b.SetBytes(size)
				for b.Loop() {
					plan := segment.NewLedger(size, segment.Split(size, segment.SegmentSize(size, conns)), segment.Policy{})
					var err error
					if sink == "file" {
						err = segment.Fetch(ctx, client, r, f, plan, segment.Options{Connections: conns})
					} else {
						err = segment.Fetch(ctx, client, r, discardAt{}, plan, segment.Options{Connections: conns})
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
