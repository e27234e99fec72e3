package origin

import (
	"net/http"
	"strings"
	"testing"
)

// TestWithAddr: Start listens where it is told, and says so when it cannot.
func TestWithAddr(t *testing.T) {
	t.Parallel()
	h := http.NotFoundHandler()
	srv, err := Start(h, WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q", srv.URL)
	}
	taken := strings.TrimPrefix(srv.URL, "http://")
	if srv2, err := Start(New(Content{Size: 1}, WithAddr(taken))); err == nil {
		srv2.Close()
		t.Fatalf("Start on %s, which is taken, succeeded: WithAddr was ignored", taken)
	} else if !strings.Contains(err.Error(), "listen") {
		t.Errorf("Start on a taken address: %v", err)
	}
}
