package download

import (
	"crypto/x509"
	"strings"
	"sync"
)

// preloadRoots starts loading the system's certificate authorities when one
// of urls is https and cfg verifies with them, and returns the wait for
// that load (a no-op otherwise). Go loads them once, in the first TLS
// handshake that verifies a certificate, by parsing every file of the
// system's bundle and of its certificate directory: on the development VM
// 22-34 ms, which the probe waited for (an HTTPS probe took 31 ms on
// loopback, curl's handshake 6). Loaded beside the dial and the handshake's
// first round trip, the wait shrinks, and 30 ms away it is gone.
func preloadRoots(cfg config, urls ...string) (wait func()) {
	if cfg.Insecure || cfg.RootCAs != nil {
		return func() {}
	}
	https := strings.HasPrefix(strings.ToLower(cfg.Proxy), "https:")
	for _, u := range urls {
		https = https || strings.HasPrefix(strings.ToLower(u), "https:")
	}
	if !https {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() { x509.SystemCertPool() }) // (its error is the handshake's to report)
	return wg.Wait
}
