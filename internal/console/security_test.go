package console_test

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/console"
)

const wantCSP = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// rawPost posts a form without following redirects, with the given
// cookies and headers.
func rawPost(t *testing.T, e *env, path string, v url.Values, cookies []*http.Cookie, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, x := range hdr {
		req.Header.Set(k, x)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return noFollow(t, req)
}

func rawGet(t *testing.T, e *env, path string, cookies []*http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return noFollow(t, req)
}

func noFollow(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "portico_console" {
			return c
		}
	}
	t.Fatalf("no session cookie; status %d, Set-Cookie %q", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	return nil
}

// signInRaw signs in and returns the session cookie and the CSRF token of
// the first page.
func signInRaw(t *testing.T, e *env) (*http.Cookie, string) {
	t.Helper()
	resp := rawPost(t, e, "/console/signin", url.Values{"token": {testToken}}, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/channels" {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ck := sessionCookie(t, resp)
	b := e.browser()
	u, _ := url.Parse(e.srv.URL + "/console/")
	b.c.Jar.SetCookies(u, []*http.Cookie{ck})
	if st, _ := b.get("/console/channels"); st != http.StatusOK || b.csrf == "" {
		t.Fatalf("first page: %d, csrf %q", st, b.csrf)
	}
	return ck, b.csrf
}

func TestSignInCookie(t *testing.T) {
	e := newEnv(t, nil)
	resp := rawPost(t, e, "/console/signin", url.Values{"token": {testToken}}, nil, nil)
	ck := sessionCookie(t, resp)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure {
		t.Fatalf("cookie attributes over plain HTTP: %+v", ck)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(ck.Value); err != nil || len(raw) != 32 {
		t.Fatalf("session id is not 32 random bytes: %q", ck.Value)
	}
	if loc := resp.Header.Get("Location"); strings.Contains(loc, testToken) || strings.Contains(loc, ck.Value) {
		t.Fatalf("secret in the redirect: %q", loc)
	}
	// Two sign-ins, two ids.
	if ck2 := sessionCookie(t, rawPost(t, e, "/console/signin", url.Values{"token": {testToken}}, nil, nil)); ck2.Value == ck.Value {
		t.Fatal("the same session id twice")
	}
}

// TestSecureCookieOverTLS: a sign-in that came over TLS gets a Secure
// cookie; so does one behind a TLS-terminating proxy with SecureCookie.
func TestSecureCookieOverTLS(t *testing.T) {
	c := console.New(console.Options{API: http.NotFoundHandler(), Token: testToken, SignInDelay: -1})
	req := httptest.NewRequest(http.MethodPost, "https://admin.example/console/signin", strings.NewReader("token="+testToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if ck := sessionCookie(t, rec.Result()); !ck.Secure {
		t.Fatalf("cookie over TLS not Secure: %+v", ck)
	}
	c = console.New(console.Options{API: http.NotFoundHandler(), Token: testToken, SignInDelay: -1, SecureCookie: true})
	req = httptest.NewRequest(http.MethodPost, "http://admin.example/console/signin", strings.NewReader("token="+testToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if ck := sessionCookie(t, rec.Result()); !ck.Secure {
		t.Fatalf("SecureCookie: cookie not Secure: %+v", ck)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, nil)
	ck, _ := signInRaw(t, e)
	for _, p := range []string{"/console/signin", "/console/channels", "/console/nope", "/console/static/console.css", "/console/channels/new"} {
		resp := rawGet(t, e, p, []*http.Cookie{ck})
		h := resp.Header
		if h.Get("Content-Security-Policy") != wantCSP || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%s: headers %v", p, h)
		}
		if p != "/console/static/console.css" && h.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: Cache-Control %q", p, h.Get("Cache-Control"))
		}
	}
	// No inline script, no script at all, no inline style: the CSP holds.
	b := e.browser()
	b.signIn()
	for _, p := range []string{"/console/channels", "/console/channels/new", "/console/services/new", "/console/status"} {
		_, body := b.get(p)
		for _, bad := range []string{"<script", " style=", "<style", "javascript:", " onclick", " onload"} {
			if strings.Contains(body, bad) {
				t.Fatalf("%s contains %q", p, bad)
			}
		}
		// The CSRF token appears only as a hidden field's value, never in
		// a link or an action.
		if n, m := strings.Count(body, b.csrf), strings.Count(body, `name="csrf" value="`+b.csrf+`"`); n != m || n == 0 {
			t.Fatalf("%s: the CSRF token appears %d times, %d of them as the hidden field", p, n, m)
		}
	}
}

// TestStaticTypeUnderJSON: the admin API sets a JSON Content-Type before
// routing; the console's stylesheet must still be served as CSS (with
// nosniff, a wrong type would make browsers refuse it).
func TestStaticTypeUnderJSON(t *testing.T) {
	c := console.New(console.Options{API: http.NotFoundHandler(), Token: testToken})
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		c.ServeHTTP(w, r)
	})
	for path, want := range map[string]string{
		"/console/static/console.css": "text/css; charset=utf-8",
		"/console/static/favicon.svg": "image/svg+xml",
		"/console/signin":             "text/html; charset=utf-8",
		"/console/channels":           "text/html; charset=utf-8", // a redirect
	} {
		rec := httptest.NewRecorder()
		wrapped.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", path, got, want)
		}
	}
}

func TestSignOutInvalidatesSession(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := signInRaw(t, e)
	resp := rawPost(t, e, "/console/signout", url.Values{"csrf": {csrf}}, []*http.Cookie{ck}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/signin") {
		t.Fatalf("sign-out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if cleared := sessionCookie(t, resp); cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Fatalf("cookie not cleared: %+v", cleared)
	}
	// The old cookie opens nothing: pages redirect to sign-in, and a POST
	// with the old cookie and its old CSRF token is refused.
	if resp := rawGet(t, e, "/console/channels", []*http.Cookie{ck}); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/console/signin" {
		t.Fatalf("old cookie after sign-out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = rawPost(t, e, "/console/services/new", url.Values{"csrf": {csrf}, "name": {"x"}, "protocol_http": {"on"}}, []*http.Cookie{ck}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with the old cookie: %d", resp.StatusCode)
	}
	if _, n, _ := e.store.ListServices(t.Context(), storePage()); n != 0 {
		t.Fatal("a service was created with a signed-out session")
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := signInRaw(t, e)
	_, otherCSRF := signInRaw(t, e)
	form := func(token string) url.Values {
		v := url.Values{"name": {"svc1"}, "protocol_http": {"on"}}
		if token != "" {
			v.Set("csrf", token)
		}
		return v
	}
	for name, token := range map[string]string{"none": "", "wrong": "x" + csrf[1:], "another session's": otherCSRF} {
		resp := rawPost(t, e, "/console/services/new", form(token), []*http.Cookie{ck}, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s CSRF token: %d", name, resp.StatusCode)
		}
	}
	// Sign-out needs it too.
	if resp := rawPost(t, e, "/console/signout", url.Values{}, []*http.Cookie{ck}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d", resp.StatusCode)
	}
	if _, n, _ := e.store.ListServices(t.Context(), storePage()); n != 0 {
		t.Fatal("a refused POST created a service")
	}
	if resp := rawPost(t, e, "/console/services/new", form(csrf), []*http.Cookie{ck}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token: %d", resp.StatusCode)
	}
	if _, n, _ := e.store.ListServices(t.Context(), storePage()); n != 1 {
		t.Fatalf("%d services after one good POST", n)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := signInRaw(t, e)
	v := url.Values{"csrf": {csrf}, "name": {"svc1"}, "protocol_http": {"on"}}
	for _, h := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Origin": "null", "Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://" + strings.TrimPrefix(e.srv.URL, "http://")}, // https page, http request
		{"Origin": "https://" + strings.TrimPrefix(e.srv.URL, "http://") + ".evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Sec-Fetch-Site": "cross-site", "Origin": e.srv.URL},
	} {
		if resp := rawPost(t, e, "/console/services/new", v, []*http.Cookie{ck}, h); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%v: %d", h, resp.StatusCode)
		}
		// The sign-in form too.
		if resp := rawPost(t, e, "/console/signin", url.Values{"token": {testToken}}, nil, h); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("sign-in %v: %d", h, resp.StatusCode)
		}
	}
	if _, n, _ := e.store.ListServices(t.Context(), storePage()); n != 0 {
		t.Fatal("a cross-origin POST created a service")
	}
	// What browsers send on the console's own posts: the origin, or null
	// under Referrer-Policy: no-referrer, with Sec-Fetch-Site same-origin.
	for i, same := range []map[string]string{
		{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"},
		{"Origin": "null", "Sec-Fetch-Site": "same-origin"},
	} {
		v.Set("name", "svc"+strconv.Itoa(i))
		if resp := rawPost(t, e, "/console/services/new", v, []*http.Cookie{ck}, same); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("same origin %v: %d", same, resp.StatusCode)
		}
	}
}

func TestWrongTokenDelayAndLimit(t *testing.T) {
	e := newEnv(t, func(o *console.Options) {
		o.SignInDelay = 50 * time.Millisecond
		o.MaxFailures = 3
	})
	for i := range 3 {
		start := time.Now()
		resp := rawPost(t, e, "/console/signin", url.Values{"token": {"wrong"}}, nil, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, resp.StatusCode)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("wrong token answered after %v, before the delay", d)
		}
		for _, c := range resp.Cookies() {
			if c.Name == "portico_console" {
				t.Fatal("a wrong token got a session cookie")
			}
		}
	}
	// Past the limit even the right token is refused, from that address.
	resp := rawPost(t, e, "/console/signin", url.Values{"token": {testToken}}, nil, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 3 failures: %d", resp.StatusCode)
	}
	if !strings.Contains(e.out.String(), "too many wrong tokens") {
		t.Fatal("the refusal is not logged")
	}
}

func TestWrongTokenPage(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	b := e.browser()
	st, body := b.post("/console/signin", url.Values{"token": {"nope"}})
	if st != http.StatusUnauthorized {
		t.Fatalf("status %d", st)
	}
	mustContain(t, body, "That is not the admin token.", `id="token"`, `type="password"`)
	if strings.Contains(body, "nope") {
		t.Fatal("the wrong token is echoed back")
	}
	// An empty configured token refuses everything, the empty string too.
	e2 := newEnv(t, func(o *console.Options) { o.Token = "" })
	if st, _ := e2.browser().post("/console/signin", url.Values{"token": {""}}); st != http.StatusUnauthorized {
		t.Fatalf("empty token: %d", st)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestSessionExpiry(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, func(o *console.Options) { o.Now = clk.now; o.SessionLife = 24 * time.Hour })
	open := func(ck *http.Cookie) bool {
		return rawGet(t, e, "/console/channels", []*http.Cookie{ck}).StatusCode == http.StatusOK
	}
	ck, _ := signInRaw(t, e)
	clk.add(11 * time.Hour)
	if !open(ck) {
		t.Fatal("session closed after 11 h of idleness")
	}
	clk.add(11 * time.Hour) // used 11 h ago: still open
	if !open(ck) {
		t.Fatal("a session in use closed")
	}
	clk.add(12*time.Hour + time.Second)
	if open(ck) {
		t.Fatal("session open after 12 h idle")
	}
	// The absolute lifetime ends a session in use.
	ck, _ = signInRaw(t, e)
	for range 5 {
		clk.add(5 * time.Hour)
		open(ck)
	}
	if open(ck) {
		t.Fatal("session open 25 h after sign-in")
	}
}

func TestSessionBound(t *testing.T) {
	e := newEnv(t, func(o *console.Options) { o.MaxSessions = 2 })
	first, _ := signInRaw(t, e)
	second, _ := signInRaw(t, e)
	third, _ := signInRaw(t, e)
	if rawGet(t, e, "/console/channels", []*http.Cookie{first}).StatusCode != http.StatusSeeOther {
		t.Fatal("the least recently used session survived past the bound")
	}
	for _, ck := range []*http.Cookie{second, third} {
		if rawGet(t, e, "/console/channels", []*http.Cookie{ck}).StatusCode != http.StatusOK {
			t.Fatal("a recent session was dropped")
		}
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, nil)
	ck, csrf := signInRaw(t, e)
	v := url.Values{"csrf": {csrf}, "name": {strings.Repeat("a", 100<<10)}}
	if resp := rawPost(t, e, "/console/services/new", v, []*http.Cookie{ck}, nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("100 KiB service form: %d", resp.StatusCode)
	}
	if resp := rawPost(t, e, "/console/signin", url.Values{"token": {strings.Repeat("a", 64<<10)}}, nil, nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("64 KiB sign-in: %d", resp.StatusCode)
	}
}

func TestLanguage(t *testing.T) {
	noMissingKeys(t)
	e := newEnv(t, nil)
	get := func(hdr, cookie string) string {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/console/signin", nil)
		if hdr != "" {
			req.Header.Set("Accept-Language", hdr)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "portico_lang", Value: cookie})
		}
		b, _ := io.ReadAll(noFollow(t, req).Body)
		return string(b)
	}
	if body := get("zh-CN,zh;q=0.9,en;q=0.8", ""); !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "管理令牌") {
		t.Fatal("Accept-Language zh-CN did not choose Chinese")
	}
	if body := get("en-GB,en;q=0.9,zh;q=0.5", ""); !strings.Contains(body, "Admin token") {
		t.Fatal("en-GB did not choose English")
	}
	if body := get("fr-FR", ""); !strings.Contains(body, "Admin token") {
		t.Fatal("the default is not English")
	}
	if body := get("zh-CN", "en"); !strings.Contains(body, "Admin token") {
		t.Fatal("the cookie does not win over Accept-Language")
	}
	// The switch link sets the cookie and goes back only to console paths.
	for back, want := range map[string]string{
		"/console/channels?page=2": "/console/channels?page=2",
		"//evil.example/console/":  "/console/",
		"https://evil.example/":    "/console/",
		"/console/\\evil":          "/console/",
		"/api/v1/channels":         "/console/",
	} {
		resp := rawGet(t, e, "/console/lang?to=zh&back="+url.QueryEscape(back), nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("back=%q: %d %q", back, resp.StatusCode, resp.Header.Get("Location"))
		}
		var lang *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "portico_lang" {
				lang = c
			}
		}
		if lang == nil || lang.Value != "zh" || lang.Path != "/console/" {
			t.Fatalf("language cookie: %+v", lang)
		}
	}
}

// TestCatalogueComplete: every key has both languages, and every format
// verb count matches.
func TestCatalogueComplete(t *testing.T) {
	for k, m := range console.Messages {
		if m[0] == "" || m[1] == "" {
			t.Errorf("%s: missing a language: %q", k, m)
		}
		if verbs(m[0]) != verbs(m[1]) {
			t.Errorf("%s: %d verbs in English, %d in Chinese", k, verbs(m[0]), verbs(m[1]))
		}
	}
}

func verbs(s string) int {
	return strings.Count(s, "%") - 2*strings.Count(s, "%%")
}

func TestBadIDs(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	for _, p := range []string{"/console/channels/..%2fstatus", "/console/channels/a%20b", "/console/services/x%2Fy/environments"} {
		if st, _ := b.get(p); st != http.StatusNotFound {
			t.Fatalf("%s: %d", p, st)
		}
	}
	if st, body := b.get("/console/channels/ch-0000000000000000"); st != http.StatusNotFound || !strings.Contains(body, "not found") {
		t.Fatalf("unknown channel: %d", st)
	}
}
