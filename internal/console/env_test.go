package console_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/console"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
)

const testToken = "console-test-token"

// env is a console and the real admin API over a temporary SQLite store,
// behind one httptest server (as on the admin address).
type env struct {
	t     *testing.T
	srv   *httptest.Server
	store store.Store
	logs  *observe.LogRing
	stats *observe.Stats
	out   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, edit func(*console.Options)) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	out := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(out, nil))
	e := &env{t: t, store: st, logs: observe.NewLogRing(100), stats: observe.NewStats(), out: out}
	api := admin.New(admin.Options{
		Store: st, Token: testToken, Networks: []string{"default"}, Logger: log,
		Logs: e.logs, Stats: e.stats,
	})
	o := console.Options{Token: testToken, Logger: log, SignInDelay: -1}
	if edit != nil {
		edit(&o)
	}
	e.srv = httptest.NewServer(console.Mount(api, o))
	t.Cleanup(e.srv.Close)
	return e
}

// browser is a cookie-keeping client that follows redirects, like a
// browser, and remembers the CSRF token of the last page it saw.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
	last string // body of the last page
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (int, string) {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = string(body)
	if m := csrfRe.FindStringSubmatch(b.last); m != nil {
		b.csrf = m[1]
	}
	return resp.StatusCode, b.last
}

func (b *browser) get(path string) (int, string) {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// post submits a form with the session's CSRF token (unless the values
// set their own) and a same-origin Origin header.
func (b *browser) post(path string, v url.Values) (int, string) {
	b.e.t.Helper()
	if _, ok := v["csrf"]; !ok && b.csrf != "" {
		v.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	return b.do(req)
}

func (b *browser) signIn() {
	b.e.t.Helper()
	if st, body := b.post("/console/signin", url.Values{"token": {testToken}}); st != http.StatusOK || !strings.Contains(body, `id="new-channel"`) {
		b.e.t.Fatalf("sign-in: %d\n%s", st, body)
	}
}

// mustContain fails unless body contains every one of want.
func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("page does not contain %q:\n%s", w, body)
		}
	}
}
