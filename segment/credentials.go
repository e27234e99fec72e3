package segment

// This file keeps credentials where the user sent them: the headers that
// carry them are dropped on the way to another host or from https to http,
// both while the probe follows redirects and afterwards, when the ranges go
// straight to the final URL.

import (
	"net/http"
	"net/url"
	"strings"
)

// sensitiveHeaders are the request headers net/http drops on a redirect to
// another domain, because they carry credentials.
var sensitiveHeaders = []string{
	"Authorization", "Www-Authenticate", "Cookie", "Cookie2",
	"Proxy-Authorization", "Proxy-Authenticate",
}

// Header returns the headers to send with requests to r.FinalURL, given h,
// the headers sent to r.URL: h itself when both are on the same host (or
// the final one is a subdomain of the first, as net/http allows on a
// redirect), else a copy of h without the headers that carry credentials
// (Authorization, Cookie, ...). Credentials are also dropped on a way from
// https down to http. Fetch's Options.Header should be r.Header(h).
func (r *Remote) Header(h http.Header) http.Header {
	if len(h) == 0 || r.FinalURL == "" || r.FinalURL == r.URL {
		return h
	}
	from, err1 := url.Parse(r.URL)
	to, err2 := url.Parse(r.FinalURL)
	if err1 == nil && err2 == nil && keepCredentials(from, to) {
		return h
	}
	return withoutCredentials(h)
}

// keepCredentials reports whether credentials meant for from may be sent to
// to: the same host or a subdomain of it, and no downgrade to plain http.
func keepCredentials(from, to *url.URL) bool {
	if from.Scheme == "https" && to.Scheme != "https" {
		return false
	}
	return isDomainOrSubdomain(strings.ToLower(to.Hostname()), strings.ToLower(from.Hostname()))
}

// isDomainOrSubdomain reports whether sub is parent or a subdomain of it
// (the rule of net/http's shouldCopyHeaderOnRedirect). An IP address only
// matches itself.
func isDomainOrSubdomain(sub, parent string) bool {
	if sub == parent {
		return true
	}
	if parent == "" || strings.ContainsAny(sub, ":%") {
		return false
	}
	return strings.HasSuffix(sub, "."+parent)
}

// withoutCredentials returns a copy of h without sensitiveHeaders, or h
// itself when it has none of them.
func withoutCredentials(h http.Header) http.Header {
	var out http.Header
	for _, k := range sensitiveHeaders {
		if _, ok := h[k]; !ok {
			continue
		}
		if out == nil {
			out = h.Clone()
		}
		delete(out, k)
	}
	if out == nil {
		return h
	}
	return out
}

// dropCredentials removes the sensitiveHeaders from a request about to be
// sent (a redirect from https to http that the user allowed).
func dropCredentials(req *http.Request) {
	for _, k := range sensitiveHeaders {
		req.Header.Del(k)
	}
}
