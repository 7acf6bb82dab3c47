package console_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath is where the browser test looks for Chromium
// (PORTICO_CHROMIUM overrides it).
func chromiumPath() string {
	if p := os.Getenv("PORTICO_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// ui drives one headless Chromium tab against the console.
type ui struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot bool
}

// do runs actions that return nothing.
func (u *ui) do(what string, a ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	if err := chromedp.Do(u.ctx, a...); err != nil {
		u.t.Fatalf("%s: %v", what, err)
	}
}

// load runs an action that makes the page navigate (a link, a submit
// button, Enter in a form) and returns the HTTP status of the page it
// lands on, after redirects.
func (u *ui) load(what string, a chromedp.Action[chromedp.Void]) int64 {
	u.t.Helper()
	resp, err := chromedp.RunResponse(u.ctx, a)
	if err != nil {
		u.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

func (u *ui) open(path string) int64 { return u.load("open "+path, chromedp.Navigate(u.base+path)) }

func (u *ui) click(sel string) int64 { return u.load("click "+sel, chromedp.Click(chromedp.CSS(sel))) }

func (u *ui) set(sel, v string) { u.do("set "+sel, chromedp.SetValue(chromedp.CSS(sel), v)) }

func (u *ui) text(sel string) string {
	u.t.Helper()
	s, err := chromedp.Run(u.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		u.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (u *ui) eval(js string) string {
	u.t.Helper()
	s, err := chromedp.Run(u.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		u.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

func (u *ui) contains(sel string, want ...string) {
	u.t.Helper()
	got := u.text(sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			u.t.Fatalf("%s does not show %q; it shows:\n%s", sel, w, got)
		}
	}
}

func (u *ui) location() string {
	u.t.Helper()
	loc, err := chromedp.Run(u.ctx, chromedp.Location())
	if err != nil {
		u.t.Fatal(err)
	}
	return loc
}

// screenshot saves the page as docs/console/<name>.png when
// PORTICO_SCREENSHOTS=1.
func (u *ui) screenshot(name string) {
	u.t.Helper()
	if !u.shot {
		return
	}
	png, err := chromedp.Run(u.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

var (
	chanIDRe = regexp.MustCompile(`/console/channels/(ch-[0-9a-f]+)$`)
	svcIDRe  = regexp.MustCompile(`/console/services/(svc-[0-9a-f]+)`)
)

func svcID(t *testing.T, loc string) string {
	t.Helper()
	m := svcIDRe.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("not on a service page: %s", loc)
	}
	return m[1]
}

// TestBrowser walks the console in headless Chromium: sign in with the
// keyboard, a channel with three nodes, a service, an API on the channel
// through the wizard, a publish, a promotion and an unpublish with their
// history, the channel's associated APIs, a refused delete, an edit of the
// API's authentication and backend, an application bound to the API,
// port 70000 refused next to its field, Chinese, sign-out.
func TestBrowser(t *testing.T) {
	exe := chromiumPath()
	if _, err := os.Stat(exe); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is required on CI and is missing at %s: %v", exe, err)
		}
		t.Skipf("skipping the browser test: no Chromium at %s (install chromium, or set PORTICO_CHROMIUM; with CI=true this fails)", exe)
	}
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	u := &ui{t: t, ctx: bctx, base: e.srv.URL, shot: os.Getenv("PORTICO_SCREENSHOTS") == "1"}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Chromium did not start in time: %v", err)
		}
		t.Fatalf("starting Chromium: %v", err)
	}

	// Sign in with the keyboard: the token, then Enter.
	u.open("/console/")
	u.contains("h1", "Sign in")
	if st := u.load("sign in", chromedp.SendKeys(chromedp.CSS("#token"), testToken+kb.Enter)); st != 200 {
		t.Fatalf("sign-in landed on %d\n%s", st, e.out.String())
	}
	u.contains("h1", "Channels")
	// The stylesheet loaded under the CSP (served as text/css).
	if bg := u.eval(`getComputedStyle(document.querySelector("header.top")).backgroundColor`); bg != "rgb(36, 41, 47)" {
		t.Fatalf("the stylesheet did not apply: header background %q", bg)
	}

	// A channel with three nodes: two rows are added with the button.
	u.click("#new-channel")
	u.set("#f-name", "orders_pool")
	u.set("#f-nodes-0-host", "10.0.1.11")
	u.set("#f-nodes-0-port", "8080")
	u.click("#add-node")
	u.click("#add-node")
	u.set("#f-nodes-1-host", "10.0.1.12")
	u.set("#f-nodes-1-port", "8080")
	u.set("#f-nodes-2-host", "10.0.1.13")
	u.set("#f-nodes-2-port", "8080")
	u.set("#f-nodes-2-weight", "0")
	if st := u.click("#save-channel"); st != 200 {
		t.Fatalf("saving the channel landed on %d", st)
	}
	u.contains("main", "Created channel orders_pool", "10.0.1.11", "10.0.1.12", "10.0.1.13")
	m := chanIDRe.FindStringSubmatch(u.location())
	if m == nil {
		t.Fatalf("not on a channel page: %s", u.location())
	}
	ch := m[1]
	u.open("/console/channels")
	u.contains("#channels", "orders_pool", "default", "http", "3")
	u.screenshot("channels")

	// A service, and an API on the channel through the wizard.
	u.open("/console/services/new")
	u.set("#f-name", "shop")
	u.set("#f-description", "the web shop")
	u.click("#save-service")
	u.contains("main", "Created service shop")
	u.click("#new-api")
	u.set("#f-name", "orders")
	u.set("#f-frontend-path", "/orders/{id}")
	u.click("#wizard-next")
	u.contains(".steps", "2.")
	u.set("#f-backend-channel-id", ch)
	u.set("#f-backend-path", "/v1/orders/{id}")
	u.screenshot("api-wizard")
	if st := u.click("#wizard-create"); st != 200 {
		t.Fatalf("creating the API landed on %d", st)
	}
	u.contains("#apis", "orders", "GET", "/orders/{id}", "orders_pool")

	// Publish to release.
	u.click("#tab-environments")
	u.set("#f-environment", "release")
	u.set("#f-description", "first release")
	u.click("#publish")
	u.contains("main", "Published shop as v1 to release")
	u.contains("#environments", "release", "v1")
	u.contains("#history", "Publish", "release", "none → v1", "first release")

	// Publish to test, promote that version to release, unpublish test.
	u.set("#f-environment", "test")
	u.click("#publish")
	u.contains("main", "Published shop as v2 to test")
	u.set("#rb-v2", "release")
	u.set("#f-rollback-v2-description", "checked in test")
	u.click("#serve-v2")
	u.contains("main", "shop now serves v2 in release")
	u.set("#f-unpublish-test-description", "test environment reset")
	u.click("#unpublish-test")
	u.contains("main", "shop no longer serves in test")
	u.contains("#environments", "release", "v2")
	u.contains("#history", "Unpublish", "v2 → none", "test environment reset",
		"Promote", "v1 → v2", "checked in test")
	u.screenshot("environments")
	u.click("#tab-apis")
	svc := svcID(t, u.location())
	u.screenshot("service")
	if u.shot {
		// Some traffic for the monitoring tab (this minute only: the
		// statistics keep real time).
		apis, _, err := e.store.ListAPIs(t.Context(), svc, storePage())
		if err != nil || len(apis) == 0 {
			t.Fatalf("ListAPIs: %v", err)
		}
		st := e.stats.ForAPI(apis[0].ServiceID, "release", apis[0].ID)
		for i := range 40 {
			code := 200
			if i%9 == 0 {
				code = 502
			}
			st.Record(code, time.Duration(2+i%7)*time.Millisecond, 100, 900)
		}
		u.click("#tab-monitoring")
		u.contains("#totals", "40 requests")
		u.screenshot("monitoring")
	}
	if u.shot {
		// The edit form with a custom-domain row, not saved.
		u.open("/console/services/" + svc + "/edit")
		u.click("#add-domain")
		u.set("#f-domains-0-host", "shop.example.com")
		u.screenshot("service-edit")
	}

	// The channel lists the API; deleting it is refused with what holds it.
	u.open("/console/channels/" + ch)
	u.contains("#channel-apis", "shop", "orders", "draft", "release")
	u.screenshot("channel")
	u.click("#delete-channel")
	if st := u.click("#confirm-delete"); st != 409 {
		t.Fatalf("deleting a channel in use answered %d", st)
	}
	u.contains("#refusal", "is used by 2 API binding(s)", "shop", "orders", "release")

	// An application, for the API's bindings.
	u.open("/console/apps/new")
	u.set("#f-name", "mobile_app")
	u.set("#f-description", "the shop's phone app")
	u.click("#save-app")
	u.contains("main", "mobile_app")

	// Edit the API with the wizard: it checks application signatures and
	// its backend becomes a mock answer.
	u.open("/console/services/" + svc)
	u.click(`#apis a[href$="/edit"]`)
	u.contains("h1", "Edit API")
	if v := u.eval(`document.getElementById("f-frontend-path").value`); v != "/orders/{id}" {
		t.Fatalf("the edit form shows path %q", v)
	}
	u.set("#f-auth-type", "app")
	u.screenshot("api-edit")
	u.click("#wizard-next")
	u.do("choose a mock answer", chromedp.Click(chromedp.CSS("#backend-type-mock")))
	u.set("#f-backend-mock-body", "pong")
	if st := u.click("#wizard-create"); st != 200 {
		t.Fatalf("saving the API landed on %d", st)
	}
	u.contains("main", "Saved API orders")
	u.contains("#api-fields", "Mock answer (200)", "application signature")

	// The application is bound to the API in release, and its page lists
	// the API.
	u.set("#f-environment", "release")
	u.click("#bind-app-submit")
	u.contains("main", "Application bound.")
	u.contains("#api-apps", "mobile_app", "release")
	u.screenshot("api")
	u.click(`#api-apps a[href^="/console/apps/"]`)
	u.contains("#app-apis", "orders", "GET /orders/{id}", "shop", "release")
	u.screenshot("app")

	// Port 70000: the API's refusal is shown next to that input.
	u.open("/console/channels/new")
	u.set("#f-name", "bad_pool")
	u.set("#f-nodes-0-host", "10.0.1.20")
	u.set("#f-nodes-0-port", "70000")
	if st := u.click("#save-channel"); st != 400 {
		t.Fatalf("port 70000 answered %d", st)
	}
	u.contains("#f-nodes-0-port-err", "nodes[0].port must be 1-65535")
	if got := u.eval(`document.getElementById("f-nodes-0-port").getAttribute("aria-describedby") + " " +
		document.getElementById("f-nodes-0-port").closest("td").contains(document.getElementById("f-nodes-0-port-err"))`); got != "f-nodes-0-port-err true" {
		t.Fatalf("the error is not tied to the port input: %q", got)
	}
	if v := u.eval(`document.getElementById("f-nodes-0-port").value`); v != "70000" {
		t.Fatalf("the form lost what was typed: %q", v)
	}
	u.screenshot("channel-form-error")

	// Chinese, by the link; the choice sticks.
	u.click("#lang-switch")
	u.contains("h1", "新建通道")
	u.contains("nav.nav", "通道", "服务", "证书")
	u.open("/console/channels")
	u.contains("h1", "通道")
	if u.shot {
		u.screenshot("channels-zh")
		u.do("phone width", chromedp.EmulateViewport(390, 844))
		u.open("/console/channels/" + ch)
		u.screenshot("channel-phone")
		u.do("desktop width", chromedp.EmulateViewport(1280, 900))
		u.open("/console/channels")
	}
	u.click("#lang-switch")
	u.contains("h1", "Channels")

	// Sign out: the sign-in page, and the console is closed.
	u.click("#signout")
	u.contains("main", "You are signed out.")
	u.open("/console/channels")
	u.contains("h1", "Sign in")
}
