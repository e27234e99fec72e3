package origin

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// Dir serves the files under root (rget serve) as http.FileServer does (Range,
// If-Range, Last-Modified, directory listings), adding a strong ETag made
// of the file's modification time and size, as nginx does. os.Root keeps
// every request inside the directory, symbolic links included.
func Dir(root *os.Root) http.Handler {
	files := http.FileServerFS(root.FS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		if fi, err := root.Stat(name); err == nil && fi.Mode().IsRegular() {
			w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()))
		}
		files.ServeHTTP(w, r)
	})
}

// Delayed delays every request to h by d (none if d is zero); the wait ends
// early if the request's context is done.
func Delayed(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}
