package segment_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"rget/origin"
	"rget/segment"
)

// TestFetchKeepsCredentialsHome: whatever headers the caller passes,
// Fetch never sends the credentials among them to another host than the
// one first asked (here the ranges go to localhost after a probe of
// 127.0.0.1).
func TestFetchKeepsCredentialsHome(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	o := origin.New(origin.Content{Size: size, Seed: 71})
	var leaked atomic.Int64
	url := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
			leaked.Add(1)
		}
		o.ServeHTTP(w, r)
	}))
	other := strings.Replace(url, "127.0.0.1", "localhost", 1) + "/file" // another host name
	hdr := http.Header{"Authorization": {"Bearer secret"}, "Cookie": {"s=1"}, "X-Keep": {"yes"}}
	res, err := fetchVia(t, url+"/file", other, 4, 256<<10, segment.Options{Header: hdr})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.sum != o.Content().SHA256() {
		t.Fatal("wrong content")
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("%d requests to another host carried credentials", n)
	}
}

// TestFetchRejectsShortProgress: a Progress with fewer connection slots
// than connections is an error, not silently replaced.
func TestFetchRejectsShortProgress(t *testing.T) {
	t.Parallel()
	_, url := serve(t, 1000)
	_, err := fetch(t, url, 4, 0, segment.Options{Progress: segment.NewProgress(2)})
	if err == nil || !strings.Contains(err.Error(), "Progress for 2 connections") {
		t.Fatalf("fetch with a Progress for 2 of 4 connections: %v, want an error", err)
	}
}
