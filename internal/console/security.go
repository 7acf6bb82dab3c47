package console

import (
	"net/http"
	"net/url"
	"strings"
)

// contentSecurityPolicy allows nothing but the console's own stylesheet and
// forms: the pages have no script at all, inline or not, and cannot be
// framed.
const contentSecurityPolicy = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// setSecurityHeaders sets the headers every console answer carries. Pages
// show secrets (key pairs, application secrets), so none is stored by a
// cache; static assets override Cache-Control.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// sameOrigin reports whether a state-changing request may come from the
// console's own pages. Browsers say where a request comes from in
// Sec-Fetch-Site and Origin; either one naming another site refuses it. A
// request with neither (an old browser, a script) is left to the CSRF
// token, which every POST but the sign-in needs.
//
// Origin "null" proves nothing either way: because the console sends
// Referrer-Policy: no-referrer, browsers send "Origin: null" on the
// console's own form posts (the Fetch standard serializes the origin as
// null for a non-GET request under that policy). Such a request is judged
// by Sec-Fetch-Site, which browsers that send it set to "same-origin"
// there and to "cross-site" for a sandboxed frame elsewhere.
//
// A real Origin is compared with the Host the request was sent to, host
// and port (the admin address has no other name the browser could use),
// and with its scheme: https when the request came over TLS, http
// otherwise, or https too when tlsProxy says a TLS-terminating proxy
// stands in front (Options.SecureCookie).
func sameOrigin(r *http.Request, tlsProxy bool) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default: // same-site, cross-site
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	want := "http"
	if r.TLS != nil {
		want = "https"
	}
	if u.Scheme != want && (u.Scheme != "https" || !tlsProxy) {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// localPath reports whether p is a console path that is safe to redirect
// to: under /console/, with no scheme, host or backslash that a browser
// could read as another site.
func localPath(p string) bool {
	if !strings.HasPrefix(p, Prefix) || strings.ContainsAny(p, "\\\r\n\t") || strings.HasPrefix(p, "//") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && strings.HasPrefix(u.Path, Prefix)
}
