package download

// This file probes the sources of one file: its URL and its mirrors, all at
// once, and keeps those that agree with the first that answered.

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"rget/segment"
)

// probeSources probes cfg.URL and its mirrors at once and returns the
// usable sources, the reference first: the first of them (in the order
// given) that answered. A mirror that fails, has another size or serves no
// byte ranges is dropped with a notice. In a batch each probe holds a slot
// of the budget; release gives back the one the reference keeps when its
// answer is the stream itself (no ranges), and must be called after the
// fetch.
func probeSources(ctx context.Context, cfg config, client *http.Client, opts segment.Options) ([]*segment.Remote, func(), error) {
	urls := append([]string{cfg.URL}, cfg.mirrors...)
	remotes := make([]*segment.Remote, len(urls))
	errs := make([]error, len(urls))
	held := make([]bool, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() {
			o := opts
			o.KeepStream = opts.KeepStream && i == 0
			if i > 0 || cfg.budget != nil && len(urls) > 1 {
				// Under a budget the first range would keep its slot
				// from the mirrors' probes, which may wait for it.
				o.FirstRange = 0
			}
			if cfg.budget != nil {
				if _, err := cfg.budget.Acquire(ctx, nil, func() float64 { return segment.First }); err != nil {
					errs[i] = err
					return
				}
				held[i] = true
			}
			remotes[i], errs[i] = segment.Probe(ctx, client, u, o)
			if held[i] && errs[i] == nil && remotes[i].KeptFirst() {
				// The fetch reads the first range in this slot.
				remotes[i].HoldSlot(cfg.budget)
				held[i] = false
			}
			if held[i] && (i != 0 || errs[i] != nil || remotes[i].Ranges) {
				// Given back at once: a file's probes waiting for
				// slots its other probes hold would never end. Only
				// the first URL's stream (no ranges) keeps its slot.
				cfg.budget.Release()
				held[i] = false
			}
		})
	}
	wg.Wait()
	ref := -1
	for i := range urls {
		if errs[i] == nil {
			ref = i
			break
		}
	}
	release := func() {}
	if held[0] && ref != 0 {
		cfg.budget.Release() // the first URL's stream is not used
		held[0] = false
	}
	if ref < 0 {
		for _, r := range remotes {
			if r != nil {
				r.Discard()
			}
		}
		return nil, release, errs[0]
	}
	if held[ref] && !remotes[ref].Ranges {
		var once sync.Once
		release = func() { once.Do(cfg.budget.Release) }
	}
	if ref > 0 {
		cfg.notice("%s failed (%v); downloading from its mirrors", Redact(urls[0]), oneLine(errs[0]))
	}
	srcs := []*segment.Remote{remotes[ref]}
	for i := ref + 1; i < len(urls); i++ {
		r := remotes[i]
		switch {
		case errs[i] != nil:
			cfg.notice("dropped the mirror %s: %v", Redact(urls[i]), oneLine(errs[i]))
			continue
		case r.Size != srcs[0].Size:
			cfg.notice("dropped the mirror %s: it has %d bytes, %s has %d", Redact(urls[i]), r.Size, Redact(urls[ref]), srcs[0].Size)
		case !r.Ranges || !srcs[0].Ranges:
			cfg.notice("dropped the mirror %s: byte ranges are needed to share a file between sources", Redact(urls[i]))
		default:
			srcs = append(srcs, r)
			continue
		}
		r.Discard()
	}
	return srcs, release, nil
}

// oneLine is err's message, unwrapped of nothing, on one line.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	var se *segment.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return err.Error()
}
