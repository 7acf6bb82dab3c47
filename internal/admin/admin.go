// Package admin is Portico's admin REST API: its handlers translate HTTP into
// config values and store calls, and store results and errors back into HTTP.
// It never touches the data plane; the data plane follows the store.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/store"
)

// RevisionHeader is the answer header that names the configuration
// revision: on a write that succeeded, the store revision that holds it
// (which this node serves by then); on any other answer, the revision this
// node serves.
const RevisionHeader = "Portico-Revision"

// DefaultWriteWait is how long a successful write waits, at most, for this
// node to serve it before answering anyway.
const DefaultWriteWait = 5 * time.Second

// DataPlane is what the admin API needs of the node's data plane to answer
// a write only once the node serves it.
type DataPlane interface {
	// ServedRevision is the store revision of the configuration served now.
	ServedRevision() int64
	// WaitRevision returns once the served revision is rev or later, or
	// with an error (ctx's, or why rev cannot be served).
	WaitRevision(ctx context.Context, rev int64) error
}

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
	// Draining reports whether the node is shutting down: /healthz answers
	// 503 "draining" (nil: never).
	Draining func() bool
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
	// DataPlane, when set, makes every write that answers 2xx wait until
	// this node serves the store revision the write committed (at most
	// WriteWait; past it the answer goes out anyway, with a warning in the
	// log, since the write is committed), and every answer under /api/v1
	// carry RevisionHeader. Nil: writes answer once committed.
	DataPlane DataPlane
	// WriteWait bounds that wait (0: DefaultWriteWait).
	WriteWait time.Duration
	// Stale, when set, says whether the node serves a configuration it
	// could not check against the store: since when, and why. /healthz
	// shows it (and still answers 200: the node serves).
	Stale func() (since time.Time, reason string, stale bool)
	// Cluster lists the nodes for GET /api/v1/nodes (nil: the Store's,
	// when it implements store.Cluster; else the list is empty).
	Cluster store.Cluster
	// HeartbeatInterval is how often the nodes send heartbeats, which
	// sets when one is shown gone (0: store.HeartbeatInterval).
	HeartbeatInterval time.Duration
}

// server holds the options and the route table; handlers are its methods.
type server struct {
	store     store.Store
	tokenHash [sha256.Size]byte
	hasToken  bool
	networks  []string
	ready     func() bool
	draining  func() bool
	status    func() any
	log       *slog.Logger
	mux       *http.ServeMux
	quota     Quota
	metrics   http.Handler
	logs      *observe.LogRing
	stats     *observe.Stats
	health    func(string) (map[string]config.NodeHealth, bool)
	plane     DataPlane
	writeWait time.Duration
	stale     func() (time.Time, string, bool)
	cluster   store.Cluster
	heartbeat time.Duration
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
		draining:  o.Draining,
		status:    o.Status,
		log:       o.Logger,
		mux:       http.NewServeMux(),
		quota:     o.Quota,
		metrics:   o.Metrics,
		logs:      o.Logs,
		stats:     o.Stats,
		health:    o.NodeHealth,
		plane:     o.DataPlane,
		writeWait: o.WriteWait,
		stale:     o.Stale,
		cluster:   o.Cluster,
		heartbeat: o.HeartbeatInterval,
	}
	if s.cluster == nil {
		s.cluster, _ = o.Store.(store.Cluster)
	}
	if s.heartbeat <= 0 {
		s.heartbeat = store.HeartbeatInterval
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.writeWait <= 0 {
		s.writeWait = DefaultWriteWait
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
	m.HandleFunc("GET /api/v1/nodes", s.listNodes)
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
	m.HandleFunc("GET /api/v1/services/{sid}/history", s.listHistory)
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

	m.HandleFunc("GET /api/v1/config", s.getConfig)
	m.HandleFunc("PUT /api/v1/config", s.putConfig)

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
	m.HandleFunc("GET /api/v1/apps/{id}/bindings", s.listBindingsOfApp)
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
	rec := &auditRecorder{ResponseWriter: w, status: http.StatusOK, s: s, r: r}
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

// health is the body of /healthz.
type health struct {
	Status string `json:"status"`
	// Stale: the node serves a configuration it could not check against
	// the store since StaleSince (the store is unreachable, or was at
	// start). It still answers 200: it serves, and taking every node out
	// of a load balancer because their shared store is down would turn a
	// store outage into a traffic outage.
	Stale      bool         `json:"stale"`
	StaleSince *config.Time `json:"stale_since,omitempty"`
	StaleError string       `json:"stale_error,omitempty"`
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	h := health{Status: "ok"}
	if s.stale != nil {
		if since, reason, stale := s.stale(); stale {
			h.Stale, h.StaleSince, h.StaleError = true, config.TimePtr(since), reason
		}
	}
	if s.draining != nil && s.draining() {
		// Load balancers stop sending new requests while the node
		// finishes those in flight.
		h.Status = "draining"
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	if s.ready != nil && !s.ready() {
		h.Status = "starting"
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
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

// auditRecorder remembers the status for the audit line and, just before
// the header goes out, adds the revision; a write that succeeded waits for
// this node to serve it first (see settle).
type auditRecorder struct {
	http.ResponseWriter
	status int
	s      *server
	r      *http.Request
	wrote  bool
	// settled: the write has been waited for; rev is its revision (0:
	// unknown).
	settled bool
	rev     int64
}

func (a *auditRecorder) WriteHeader(code int) {
	if !a.wrote {
		a.wrote = true
		a.status = code
		a.beforeHeader(code)
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditRecorder) Write(b []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(b)
}

// isWrite reports whether a method may change the configuration.
func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// beforeHeader runs when the handler sends its status: a write that
// succeeded is settled first; every answer names a revision.
func (a *auditRecorder) beforeHeader(status int) {
	s, r := a.s, a.r
	if s.plane == nil || !isAPIPath(r.URL.Path) {
		return
	}
	rev := int64(0)
	if isWrite(r.Method) && status >= 200 && status <= 299 {
		a.settle()
		rev = a.rev
	}
	if rev == 0 {
		rev = s.plane.ServedRevision()
	}
	a.ResponseWriter.Header().Set(RevisionHeader, strconv.FormatInt(rev, 10))
}

// settle waits, once and bounded, until this node serves the revision a
// successful write committed: read your writes, on this node, as soon as
// the answer is back. Handlers that render what the data plane sees (a
// channel's node health) call it before rendering; otherwise the status
// line does. The revision is read after the handler's store call
// returned, so it holds the write (and maybe later ones, which only makes
// the wait stricter).
func (a *auditRecorder) settle() {
	s, r := a.s, a.r
	if a.settled || s.plane == nil {
		return
	}
	a.settled = true
	rev, err := s.store.Revision(r.Context())
	if err != nil {
		// The write is committed; only its revision is unknown.
		s.log.Warn("admin write committed, but its revision could not be read; answering without waiting for the data plane",
			"method", r.Method, "path", r.URL.Path, "error", err)
		return
	}
	a.rev = rev
	ctx, cancel := context.WithTimeout(r.Context(), s.writeWait)
	defer cancel()
	start := time.Now()
	if err := s.plane.WaitRevision(ctx, rev); err != nil && r.Context().Err() == nil {
		s.log.Warn("admin write committed, but this node does not serve it yet; answering anyway",
			"method", r.Method, "path", r.URL.Path, "revision", rev, "served", s.plane.ServedRevision(),
			"waited_ms", time.Since(start).Milliseconds(), "error", err)
	}
}

// settle is auditRecorder.settle for a handler, which sees the recorder
// as its ResponseWriter: call it after a write succeeded and before
// rendering the answer.
func settle(w http.ResponseWriter) {
	if a, ok := w.(*auditRecorder); ok {
		a.settle()
	}
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
