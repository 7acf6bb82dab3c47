package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/upstream"
)

// PollInterval is how often the manager checks the store's revision for
// writes it was not told about (other processes sharing the store).
const PollInterval = time.Second

// Manager keeps the current snapshot up to date with the store: it rebuilds
// when the store reports a write, and polls the revision as a safety net.
// Only the latest configuration is built; a burst of writes yields one build.
type Manager struct {
	store   store.Store
	builder Builder
	log     *slog.Logger
	current atomic.Pointer[Snapshot]
	// build is builder.Build; tests replace it.
	build func(*config.State) *Snapshot
	// failed is the last build that panicked, until a build succeeds. Only
	// Refresh writes it, Status reads it.
	failed atomic.Pointer[BuildError]
}

// NewManager returns a manager with no snapshot yet; call Refresh or Run.
func NewManager(st store.Store, pool *upstream.Pool, log *slog.Logger) *Manager {
	m := &Manager{store: st, builder: Builder{Pool: pool}, log: log}
	m.build = m.builder.Build
	return m
}

// SetMetrics makes builds resolve per-API metrics and report each
// revision applied; call it before the first Refresh.
func (m *Manager) SetMetrics(o *observe.Metrics) { m.builder.Metrics = o }

// SetStats makes builds resolve per-API statistics; call it before the
// first Refresh.
func (m *Manager) SetStats(s *observe.Stats) { m.builder.Stats = s }

// SetHealth gives the builder the owner of the active health checkers;
// call it before the first Refresh.
func (m *Manager) SetHealth(h *health.Monitor) { m.builder.Health = h }

// SetDefaultCertificate gives the builder the certificate served to TLS
// clients whose SNI matches none; call it before the first Refresh.
func (m *Manager) SetDefaultCertificate(c *tls.Certificate) { m.builder.DefaultCert = c }

// GetCertificate chooses the certificate of a TLS handshake from the
// served snapshot, so that a certificate change applies to the next
// handshake (for tls.Config.GetCertificate).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := m.current.Load()
	if s == nil || s.Certs == nil {
		if m.builder.DefaultCert != nil {
			return m.builder.DefaultCert, nil
		}
		return nil, errors.New("no certificate yet")
	}
	c := s.Certs.Get(hello.ServerName)
	if c == nil {
		return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
	}
	return c, nil
}

// SetJWTKeys gives the builder the owner of JWKS documents; call it before
// the first Refresh.
func (m *Manager) SetJWTKeys(k *jwtauth.Keys) { m.builder.JWTKeys = k }

// BuildError is a snapshot build that panicked: a bug, or stored data that
// the compiler does not expect. The previous snapshot keeps serving.
type BuildError struct {
	Revision int64     `json:"revision"`
	At       time.Time `json:"at"`
	Message  string    `json:"message"`
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("building the configuration of revision %d: %s", e.Revision, e.Message)
}

// Current returns the snapshot being served, or nil before the first build.
func (m *Manager) Current() *Snapshot { return m.current.Load() }

// Refresh loads the store and swaps in a new snapshot when the revision
// moved. On a load error, or a build that panics, the old snapshot keeps
// serving. A revision whose build panicked is not built again (it would
// panic again): the next write is.
func (m *Manager) Refresh(ctx context.Context) error {
	rev, err := m.store.Revision(ctx)
	if err != nil {
		return err
	}
	if cur := m.current.Load(); cur != nil && cur.Revision == rev {
		return nil
	}
	if f := m.failed.Load(); f != nil && f.Revision == rev {
		return f
	}
	st, err := m.store.Load(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	s, err := m.safeBuild(st)
	if err != nil {
		return err
	}
	m.failed.Store(nil)
	m.current.Store(s)
	if m.builder.Metrics != nil {
		m.builder.Metrics.Snapshot(s.Revision, time.Since(start))
	}
	m.log.Info("configuration applied", "revision", s.Revision, "apis", len(s.APIs),
		"disabled_apis", len(s.Problems), "build_ms", time.Since(start).Milliseconds())
	for _, p := range s.Problems {
		m.log.Warn("api disabled", "service_id", p.ServiceID, "api_id", p.APIID,
			"environment", p.Environment, "version", p.Version, "error", p.Message)
	}
	return nil
}

// safeBuild runs one build, turning a panic into a *BuildError that is
// logged (with the stack) and shown by Status. The builder keeps the
// previous snapshot as its base: it records a snapshot only at the end of a
// build that completes.
func (m *Manager) safeBuild(st *config.State) (s *Snapshot, err error) {
	defer func() {
		if r := recover(); r != nil {
			be := &BuildError{Revision: st.Revision, At: time.Now().UTC(), Message: fmt.Sprintf("panic: %v", r)}
			m.failed.Store(be)
			s, err = nil, be
			m.log.Error("configuration not applied: building it panicked; the previous one keeps serving",
				"revision", st.Revision, "error", be.Message, "stack", string(debug.Stack()))
		}
	}()
	return m.build(st), nil
}

// Run rebuilds on every store change until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.store.Changed():
		case <-tick.C:
		}
		err := m.Refresh(ctx)
		var be *BuildError
		if errors.As(err, &be) {
			continue // logged once, when the build failed
		}
		if err != nil && ctx.Err() == nil {
			m.log.Error("configuration not applied; the previous one keeps serving", "error", err)
		}
	}
}

// Status is what the admin API shows of the data plane.
type Status struct {
	Revision     int64     `json:"revision"`
	BuiltAt      time.Time `json:"built_at"`
	APIs         int       `json:"apis"`
	DisabledAPIs []Problem `json:"disabled_apis"`
	// UnhealthyNodes lists the channel nodes out of the rotation.
	UnhealthyNodes []NodeStatus `json:"unhealthy_nodes"`
	// BuildError is set while the store's latest revision could not be
	// built (the snapshot above is an older one).
	BuildError *BuildError `json:"build_error,omitempty"`
}

// NodeStatus is the health of one channel node.
type NodeStatus struct {
	ChannelID string     `json:"channel_id"`
	Addr      string     `json:"addr"`
	Weight    int        `json:"weight"`
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
}

// nodeStatus is what is shown of node n of ch: OFF for a drained node or
// a channel whose checks are off.
func nodeStatus(ch *Channel, n *Node) NodeStatus {
	ns := NodeStatus{ChannelID: ch.ID, Addr: n.Addr, Weight: n.Weight}
	switch {
	case n.Weight == 0:
		ns.State, ns.Reason = health.Off.String(), "weight 0: the node is drained"
	case ch.Health.Off():
		ns.State, ns.Reason = health.Off.String(), "health checks are off"
	default:
		st := n.Health.Status()
		ns.State, ns.Reason = st.State.String(), st.Reason
		if !st.Since.IsZero() {
			ns.Since = &st.Since
		}
	}
	return ns
}

// ChannelHealth returns the health of the nodes of a channel as the served
// snapshot sees them; false when the snapshot does not hold the channel
// (yet).
func (m *Manager) ChannelHealth(id string) ([]NodeStatus, bool) {
	s := m.current.Load()
	if s == nil {
		return nil, false
	}
	ch := s.Channels[id]
	if ch == nil {
		return nil, false
	}
	out := make([]NodeStatus, len(ch.Nodes))
	for i := range ch.Nodes {
		out[i] = nodeStatus(ch, &ch.Nodes[i])
	}
	return out, true
}

// EachNode calls fn with the health of every channel node of the served
// snapshot (for metrics).
func (m *Manager) EachNode(fn func(NodeStatus)) {
	s := m.current.Load()
	if s == nil {
		return
	}
	for _, ch := range s.Channels {
		for i := range ch.Nodes {
			fn(nodeStatus(ch, &ch.Nodes[i]))
		}
	}
}

// Status describes the current snapshot.
func (m *Manager) Status() any {
	s := m.current.Load()
	failed := m.failed.Load()
	if s == nil {
		return Status{DisabledAPIs: []Problem{}, UnhealthyNodes: []NodeStatus{}, BuildError: failed}
	}
	p := s.Problems
	if p == nil {
		p = []Problem{}
	}
	down := []NodeStatus{}
	m.EachNode(func(n NodeStatus) {
		if n.State == health.Unhealthy.String() {
			down = append(down, n)
		}
	})
	sort.Slice(down, func(i, j int) bool {
		if down[i].ChannelID != down[j].ChannelID {
			return down[i].ChannelID < down[j].ChannelID
		}
		return down[i].Addr < down[j].Addr
	})
	return Status{Revision: s.Revision, BuiltAt: s.BuiltAt, APIs: len(s.APIs), DisabledAPIs: p, UnhealthyNodes: down, BuildError: failed}
}

// NodesDown is how many channel nodes of the served snapshot are out of
// the rotation now (for the node-health metric).
func (m *Manager) NodesDown() int {
	n := 0
	m.EachNode(func(ns NodeStatus) {
		if ns.State == health.Unhealthy.String() {
			n++
		}
	})
	return n
}
