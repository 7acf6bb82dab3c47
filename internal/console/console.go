// Package console is Portico's web console: server-rendered HTML pages,
// served under /console/ on the admin address, that read and change the
// configuration through the admin REST API.
//
// The console holds no configuration logic of its own. Every read and
// every write is an in-process request to the admin API handler, with the
// admin token, so the API's validation, its error messages and its audit
// log are the console's too; an error's field ("nodes[2].port") is shown
// next to the form input of the same name.
//
// The pages use no JavaScript: forms POST, the server answers with a
// redirect (or the form again, with the errors), and the browser GETs the
// next page. Sessions live in memory; see session.go for the cookie and
// CSRF rules and security.go for the headers.
package console

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Defaults of Options.
const (
	DefaultSessionIdle   = 12 * time.Hour
	DefaultSessionLife   = 7 * 24 * time.Hour
	DefaultMaxSessions   = 1000
	DefaultSignInDelay   = time.Second
	DefaultMaxFailures   = 10
	DefaultFailureWindow = 15 * time.Minute
)

// Body limits of the console's own forms. The admin API keeps its own
// limit (1 MiB) on the JSON the console sends it.
const (
	smallForm  = 16 << 10  // sign-in, deletes, publish, bindings
	mediumForm = 64 << 10  // most create forms
	largeForm  = 512 << 10 // a channel with 200 nodes; certificates (PEM)
	getBody    = 4 << 10   // a GET has no use for a body
)

// Options configures the console.
type Options struct {
	// API is the admin API handler (what internal/admin.New returns). The
	// console sends it every read and write, in process.
	API http.Handler
	// Token is the admin token: what an operator types to sign in, and
	// what the console sends the API. An empty token refuses every
	// sign-in, as the API refuses every call.
	Token string
	// Logger receives sign-ins, refusals and internal errors (nil:
	// slog.Default()).
	Logger *slog.Logger
	// SessionIdle ends a session unused for this long (0: 12 h).
	SessionIdle time.Duration
	// SessionLife ends a session this long after sign-in, used or not
	// (0: 7 days).
	SessionLife time.Duration
	// MaxSessions bounds the sessions kept; signing in past it ends the
	// least recently used one (0: 1000).
	MaxSessions int
	// SignInDelay is how long a wrong token waits before its answer
	// (0: 1 s; negative: no wait).
	SignInDelay time.Duration
	// MaxFailures wrong tokens from one client address within
	// FailureWindow refuse further sign-ins from it until the window
	// passes (0: 10 in 15 minutes).
	MaxFailures   int
	FailureWindow time.Duration
	// SecureCookie marks the session cookie Secure even on plain HTTP:
	// set it when a TLS-terminating proxy stands in front of the admin
	// address. Requests that arrive over TLS always get Secure cookies.
	SecureCookie bool
	// Now is the clock (nil: time.Now); tests set it.
	Now func() time.Time
}

// Console is the console's http.Handler.
type Console struct {
	api      http.Handler
	token    string
	tokenSum [sha256.Size]byte
	log      *slog.Logger
	secure   bool
	delay    time.Duration
	now      func() time.Time

	sessions *sessionStore
	limiter  *failureLimiter
	views    *views
	static   fs.FS
	mux      *http.ServeMux
}

// New returns the console. It panics if the embedded templates do not
// parse, which the package's tests rule out.
func New(o Options) *Console {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.SessionLife <= 0 {
		o.SessionLife = DefaultSessionLife
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	switch {
	case o.SignInDelay == 0:
		o.SignInDelay = DefaultSignInDelay
	case o.SignInDelay < 0:
		o.SignInDelay = 0
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = DefaultFailureWindow
	}
	v, err := loadViews()
	if err != nil {
		panic("console: " + err.Error())
	}
	c := &Console{
		api:      o.API,
		token:    o.Token,
		tokenSum: sha256.Sum256([]byte(o.Token)),
		log:      o.Logger,
		secure:   o.SecureCookie,
		delay:    o.SignInDelay,
		now:      o.Now,
		sessions: newSessionStore(o.MaxSessions, o.SessionIdle, o.SessionLife, o.Now),
		limiter:  newFailureLimiter(o.MaxFailures, o.FailureWindow, o.Now),
		views:    v,
		static:   staticFS(),
		mux:      http.NewServeMux(),
	}
	c.routes()
	return c
}

// Mount returns a handler that serves the console under /console/ and
// everything else with api: the admin address's handler with the console
// on it.
func Mount(api http.Handler, o Options) http.Handler {
	o.API = api
	c := New(o)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, Prefix) {
			c.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// ServeHTTP sets the security headers of every answer, then routes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	// Only a POST has a body to read; each POST route sets its own limit.
	if r.Method != http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, getBody)
	}
	if r.URL.Path == "/console" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	if _, pattern := c.mux.Handler(r); pattern == "" {
		q := c.newReq(w, r)
		q.sess = c.sessionOf(r)
		q.fail(http.StatusNotFound, q.t("err.notfound"))
		return
	}
	c.mux.ServeHTTP(w, r)
}

// handler is a console page: it gets the request state.
type handler func(q *req)

// page registers a GET page that needs a session.
func (c *Console) page(pattern string, h handler) {
	c.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
		q := c.newReq(w, r)
		if q.sess = c.sessionOf(r); q.sess == nil {
			q.redirect("/console/signin")
			return
		}
		h(q)
	})
}

// action registers a POST that needs a session, a same-origin request and
// the session's CSRF token; its form is at most limit bytes.
func (c *Console) action(pattern string, limit int64, h handler) {
	c.mux.HandleFunc("POST "+pattern, func(w http.ResponseWriter, r *http.Request) {
		q := c.newReq(w, r)
		q.sess = c.sessionOf(r)
		if !c.acceptPost(q, limit) {
			return
		}
		if q.sess == nil {
			q.fail(http.StatusForbidden, q.t("err.nosession"))
			return
		}
		if !q.sess.checkCSRF(r.PostForm.Get(csrfField)) {
			c.log.Warn("console: refused a POST without the session's CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
			q.fail(http.StatusForbidden, q.t("err.csrf"))
			return
		}
		h(q)
	})
}

// acceptPost checks the origin and reads the form within limit; on
// failure it has answered.
func (c *Console) acceptPost(q *req, limit int64) bool {
	r := q.r
	if !sameOrigin(r, c.secure) {
		c.log.Warn("console: refused a cross-origin POST", "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "remote", r.RemoteAddr)
		q.fail(http.StatusForbidden, q.t("err.crossorigin"))
		return false
	}
	r.Body = http.MaxBytesReader(q.w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		q.fail(status, q.t("err.form"))
		return false
	}
	return true
}

func (c *Console) routes() {
	c.mux.HandleFunc("GET /console/static/{file}", c.serveStatic)
	c.mux.HandleFunc("GET /console/signin", c.signInPage)
	c.mux.HandleFunc("POST /console/signin", c.signIn)
	c.mux.HandleFunc("GET /console/lang", c.switchLang)
	c.action("/console/signout", smallForm, c.signOut)
	c.page("/console/{$}", func(q *req) { q.redirect("/console/channels") })

	c.page("/console/channels", c.channelList)
	c.page("/console/channels/new", c.channelNew)
	c.action("/console/channels/new", largeForm, c.channelCreate)
	c.page("/console/channels/{id}", c.channelDetail)
	c.page("/console/channels/{id}/edit", c.channelEdit)
	c.action("/console/channels/{id}/edit", largeForm, c.channelUpdate)
	c.page("/console/channels/{id}/delete", c.channelDeletePage)
	c.action("/console/channels/{id}/delete", smallForm, c.channelDelete)

	c.page("/console/services", c.serviceList)
	c.page("/console/services/new", c.serviceNew)
	c.action("/console/services/new", mediumForm, c.serviceCreate)
	c.page("/console/services/{id}", c.serviceAPIs)
	c.page("/console/services/{id}/edit", c.serviceEdit)
	c.action("/console/services/{id}/edit", mediumForm, c.serviceUpdate)
	c.page("/console/services/{id}/environments", c.serviceEnvironments)
	c.page("/console/services/{id}/monitoring", c.serviceMonitoring)
	c.page("/console/services/{id}/logs", c.serviceLogs)
	c.page("/console/services/{id}/delete", c.serviceDeletePage)
	c.action("/console/services/{id}/delete", smallForm, c.serviceDelete)
	c.action("/console/services/{id}/publish", smallForm, c.servicePublish)
	c.action("/console/services/{id}/rollback", smallForm, c.serviceRollback)
	c.action("/console/services/{id}/unpublish", smallForm, c.serviceUnpublish)
	c.page("/console/services/{id}/apis/new", c.apiWizardStart)
	c.action("/console/services/{id}/apis/new", mediumForm, c.apiWizard)
	c.page("/console/services/{id}/apis/{aid}", c.apiDetail)
	c.page("/console/services/{id}/apis/{aid}/edit", c.apiEditStart)
	c.action("/console/services/{id}/apis/{aid}/edit", mediumForm, c.apiWizard)
	c.action("/console/services/{id}/apis/{aid}/apps", smallForm, c.apiBindApp)
	c.action("/console/services/{id}/apis/{aid}/apps/{bid}/remove", smallForm, c.apiUnbindApp)
	c.page("/console/services/{id}/apis/{aid}/delete", c.apiDeletePage)
	c.action("/console/services/{id}/apis/{aid}/delete", smallForm, c.apiDelete)

	register(c, keys)
	c.page("/console/keys/{id}", keys.detailPage("key"))

	register(c, plans)
	c.page("/console/plans/{id}", c.planDetail)
	c.action("/console/plans/{id}/keys", smallForm, c.planAddKey)
	c.action("/console/plans/{id}/keys/{kid}/remove", smallForm, c.planRemoveKey)
	c.action("/console/plans/{id}/bindings", smallForm, c.planBind)
	c.action("/console/plans/{id}/bindings/{bid}/remove", smallForm, c.planUnbind)

	register(c, apps)
	c.page("/console/apps/{id}", c.appDetail)
	c.action("/console/apps/{id}/bindings/{bid}/remove", smallForm, c.appUnbind)

	register(c, plugins)
	c.page("/console/plugins/{id}", c.pluginDetail)
	c.action("/console/plugins/{id}/bindings", smallForm, c.pluginBind)
	c.action("/console/plugins/{id}/bindings/{bid}/remove", smallForm, c.pluginUnbind)

	register(c, certificates)

	c.page("/console/status", c.statusPage)
}
