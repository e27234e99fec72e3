package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"rget/segment"
)

// Without a terminal the batch's view prints a status line now and then:
// files done of all, bytes of the sizes known, files in progress.
func TestBatchViewLines(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	v := newBatchView(&out, 3)
	v.every = 5 * time.Millisecond
	a := segment.NewLedger(1000, segment.Split(1000, 1000), segment.Policy{})
	b := segment.NewLedger(3000, segment.Split(3000, 3000), segment.Policy{})
	v.start(0, "a.bin", a, 0)
	v.start(1, "b.bin", b, 0)
	v.done(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "1/3 files") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	v.finish(true)
	got := out.String()
	if !strings.Contains(got, "1/3 files") || !strings.Contains(got, "of 3.9 KiB") || !strings.Contains(got, "1 in progress") {
		t.Errorf("status line %q, want 1/3 files, of 3.9 KiB (the sizes known), 1 in progress", got)
	}
}
