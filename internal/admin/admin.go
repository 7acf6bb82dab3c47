// Package admin is Portico's admin REST API: its handlers translate HTTP into
// config values and store calls, and store results and errors back into HTTP.
// It never touches the data plane; the data plane follows the store.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"github.com/portico-gw/portico/internal/config"
	"log/slog"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/store"
)

// Options configures the admin API handler.
type Options struct {
	// Store holds the configuration; every write answers only after the
	// store call returned, so a 2xx means the change is durable.
	Store store.Store
	// Token is the bearer token required on /api/v1/*. An empty token
	// rejects every call: an unset token must never mean "open".
	Token string
	// Networks are the networks this instance reaches; a channel in another
	// network is saved with a warning.
	Networks []string
	// Ready reports whether the node serves traffic; /healthz answers 503
	// while it returns false. Nil means always ready.
	Ready func() bool
	// Status returns the data-plane snapshot state shown by
	// GET /api/v1/status. Nil answers {}.
	Status func() any
	// Logger receives internal errors and an audit line per write. Nil
	// uses slog.Default().
	Logger *slog.Logger
	// Quota reads and resets usage-plan quota counters (nil: none kept).
	Quota Quota
	// Metrics serves GET /metrics (nil: 404). It needs the token like the
	// API: metric labels name services and APIs.
	Metrics http.Handler
	// Logs holds the node's recent access-log entries (nil: none kept).
	Logs *observe.LogRing
	// Stats holds per-minute statistics (nil: none kept).
	Stats *observe.Stats
	// NodeHealth returns the health of a channel's nodes by "host:port" as
	// the data plane sees them; false when it does not serve the channel
	// yet. Nil: every node shows NO_DATA or OFF.
	NodeHealth func(channelID string) (map[string]config.NodeHealth, bool)
}

// server holds the options and the route table; handlers are its methods.
type server struct {
	store     store.Store
	tokenHash [sha256.Size]byte
	hasToken  bool
	networks  []string
	ready     func() bool
	status    func() any
	log       *slog.Logger
	mux       *http.ServeMux
	quota     Quota
	metrics   http.Handler
	logs      *observe.LogRing
	stats     *observe.Stats
	health    func(string) (map[string]config.NodeHealth, bool)
}

// New returns the admin API handler: /healthz without a token and the REST
// API under /api/v1 with one.
func New(o Options) http.Handler {
	s := &server{
		store:     o.Store,
		tokenHash: sha256.Sum256([]byte(o.Token)),
		hasToken:  o.Token != "",
		networks:  append([]string(nil), o.Networks...),
		ready:     o.Ready,
		status:    o.Status,
		log:       o.Logger,
		mux:       http.NewServeMux(),
		quota:     o.Quota,
		metrics:   o.Metrics,
		logs:      o.Logs,
		stats:     o.Stats,
		health:    o.NodeHealth,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.routes()
	return s
}

func (s *server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /api/v1/status", s.getStatus)
	m.HandleFunc("GET /api/v1/logs", s.searchLogs)
	m.HandleFunc("GET /api/v1/stats", s.getStats)
	if s.metrics != nil {
		m.Handle("GET /metrics", s.metrics)
	}

	m.HandleFunc("POST /api/v1/channels", s.createChannel)
	m.HandleFunc("GET /api/v1/channels/{id}/health", s.getChannelHealth)
	m.HandleFunc("GET /api/v1/channels", s.listChannels)
	m.HandleFunc("GET /api/v1/channels/{id}", s.getChannel)
	m.HandleFunc("PUT /api/v1/channels/{id}", s.updateChannel)
	m.HandleFunc("DELETE /api/v1/channels/{id}", s.deleteChannel)
	m.HandleFunc("GET /api/v1/channels/{id}/apis", s.listChannelBindings)

	m.HandleFunc("POST /api/v1/services", s.createService)
	m.HandleFunc("GET /api/v1/services", s.listServices)
	m.HandleFunc("GET /api/v1/services/{id}", s.getService)
	m.HandleFunc("PUT /api/v1/services/{id}", s.updateService)
	m.HandleFunc("DELETE /api/v1/services/{id}", s.deleteService)

	m.HandleFunc("POST /api/v1/services/{sid}/apis", s.createAPI)
	m.HandleFunc("GET /api/v1/services/{sid}/apis", s.listAPIs)
	m.HandleFunc("GET /api/v1/services/{sid}/apis/{id}", s.getAPI)
	m.HandleFunc("PUT /api/v1/services/{sid}/apis/{id}", s.updateAPI)
	m.HandleFunc("DELETE /api/v1/services/{sid}/apis/{id}", s.deleteAPI)

	m.HandleFunc("POST /api/v1/services/{sid}/releases", s.createRelease)
	m.HandleFunc("GET /api/v1/services/{sid}/releases", s.listReleases)
	m.HandleFunc("GET /api/v1/services/{sid}/environments", s.listEnvironments)
	m.HandleFunc("POST /api/v1/services/{sid}/environments/{env}/rollback", s.rollback)
	m.HandleFunc("DELETE /api/v1/services/{sid}/environments/{env}", s.unpublish)

	m.HandleFunc("POST /api/v1/plugins", s.createPlugin)
	m.HandleFunc("GET /api/v1/plugins", s.listPlugins)
	m.HandleFunc("GET /api/v1/plugins/{id}", s.getPlugin)
	m.HandleFunc("PUT /api/v1/plugins/{id}", s.updatePlugin)
	m.HandleFunc("DELETE /api/v1/plugins/{id}", s.deletePlugin)
	m.HandleFunc("POST /api/v1/plugins/{id}/bindings", s.bindPlugin)
	m.HandleFunc("DELETE /api/v1/plugins/{id}/bindings/{bid}", s.unbindPlugin)

	m.HandleFunc("POST /api/v1/certificates", s.createCertificate)
	m.HandleFunc("GET /api/v1/certificates", s.listCertificates)
	m.HandleFunc("GET /api/v1/certificates/{id}", s.getCertificate)
	m.HandleFunc("PUT /api/v1/certificates/{id}", s.updateCertificate)
	m.HandleFunc("DELETE /api/v1/certificates/{id}", s.deleteCertificate)

	m.HandleFunc("POST /api/v1/keys", s.createKey)
	m.HandleFunc("GET /api/v1/keys", s.listKeys)
	m.HandleFunc("GET /api/v1/keys/{id}", s.getKey)
	m.HandleFunc("PUT /api/v1/keys/{id}", s.updateKey)
	m.HandleFunc("DELETE /api/v1/keys/{id}", s.deleteKey)

	m.HandleFunc("POST /api/v1/usage-plans", s.createPlan)
	m.HandleFunc("GET /api/v1/usage-plans", s.listPlans)
	m.HandleFunc("GET /api/v1/usage-plans/{id}", s.getPlan)
	m.HandleFunc("PUT /api/v1/usage-plans/{id}", s.updatePlan)
	m.HandleFunc("DELETE /api/v1/usage-plans/{id}", s.deletePlan)
	m.HandleFunc("POST /api/v1/usage-plans/{id}/keys", s.addPlanKeys)
	m.HandleFunc("DELETE /api/v1/usage-plans/{id}/keys/{kid}", s.removePlanKey)
	m.HandleFunc("POST /api/v1/usage-plans/{id}/bindings", s.bindPlan)
	m.HandleFunc("DELETE /api/v1/usage-plans/{id}/bindings/{bid}", s.unbindPlan)
	m.HandleFunc("GET /api/v1/usage-plans/{id}/quota", s.getQuota)
	m.HandleFunc("DELETE /api/v1/usage-plans/{id}/quota/{kid}", s.resetQuota)

	m.HandleFunc("POST /api/v1/apps", s.createApp)
	m.HandleFunc("GET /api/v1/apps", s.listApps)
	m.HandleFunc("GET /api/v1/apps/{id}", s.getApp)
	m.HandleFunc("PUT /api/v1/apps/{id}", s.updateApp)
	m.HandleFunc("DELETE /api/v1/apps/{id}", s.deleteApp)
	m.HandleFunc("POST /api/v1/services/{sid}/apis/{aid}/apps", s.bindApp)
	m.HandleFunc("GET /api/v1/services/{sid}/apis/{aid}/apps", s.listAppBindings)
	m.HandleFunc("DELETE /api/v1/services/{sid}/apis/{aid}/apps/{bid}", s.unbindApp)
}

// ServeHTTP checks the token before routing, so that a caller without one
// learns nothing about which routes exist, and turns the mux's plain-text
// 404 and 405 into the API's JSON error shape.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if (isAPIPath(r.URL.Path) || r.URL.Path == "/metrics") && !s.authorized(r) {
		// Logged so that a client with a stale token, or someone guessing,
		// shows up in the node's log rather than only in its own errors.
		s.log.Warn("admin request refused: missing or wrong token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="portico-admin"`)
		s.writeError(w, r, errUnauthorized)
		return
	}
	rec := &auditRecorder{ResponseWriter: w, status: http.StatusOK}
	if h, pattern := s.mux.Handler(r); pattern == "" {
		s.notRouted(rec, r, h)
	} else {
		s.mux.ServeHTTP(rec, r)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.log.Info("admin write", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	}
}

// notRouted answers a request no pattern serves. The mux knows whether the
// path exists under another method (405 with Allow) or not at all (404); we
// ask it by running its own handler against a throwaway writer and keep
// only its verdict.
func (s *server) notRouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &probeWriter{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMethodNotAllowed:
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed",
			message: "method " + r.Method + " is not allowed on " + r.URL.Path})
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		// The mux redirects unclean paths ("/a//b"); keep that behaviour.
		w.Header().Set("Location", probe.header.Get("Location"))
		w.WriteHeader(probe.status)
	default:
		s.writeError(w, r, &apiError{status: http.StatusNotFound, code: "NotFound",
			message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	}
}

func isAPIPath(p string) bool {
	return p == "/api/v1" || strings.HasPrefix(p, "/api/v1/")
}

// authorized compares SHA-256 digests in constant time, so neither the
// token's content nor its length leaks through timing.
func (s *server) authorized(r *http.Request) bool {
	if !s.hasToken {
		return false
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil && !s.ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) getStatus(w http.ResponseWriter, r *http.Request) {
	var v any = struct{}{}
	if s.status != nil {
		if st := s.status(); st != nil {
			v = st
		}
	}
	// Encoded here rather than in writeJSON so that a state that cannot be
	// encoded is logged with its cause.
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encoding status: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(b))
}

// auditRecorder remembers the status for the audit line.
type auditRecorder struct {
	http.ResponseWriter
	status int
}

func (a *auditRecorder) WriteHeader(code int) {
	a.status = code
	a.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (a *auditRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// probeWriter swallows the mux's own 404/405 answer; only its status and
// headers are read.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }

func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
