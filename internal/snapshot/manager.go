package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
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

	// changes is closed, and replaced by a new channel, whenever what the
	// manager serves or reports changes (a snapshot swapped in, a build
	// failed): waiters block on it instead of polling.
	mu      sync.Mutex
	changes chan struct{}
	// kick asks Run for a refresh now (WaitRevision); it has room for one.
	kick chan struct{}

	// stale is set while the served configuration could not be checked
	// against the store: read from the last-applied file at start, or the
	// store failing since. Cleared by the next Refresh that reads the store.
	stale atomic.Pointer[Staleness]
	// checked is when a Refresh last read the store (Unix nanoseconds).
	checked atomic.Int64
	// saver keeps the last applied configuration in the data directory
	// (nil: not kept).
	saver *saver
}

// Staleness says why the served configuration may be behind the store.
type Staleness struct {
	// Since is when the node last knew it served the store's revision (or
	// when it started, when it started from the last-applied file).
	Since time.Time
	// Err is the last failure to read the store.
	Err string
	// FromFile is set when the served configuration was read from the
	// last-applied file at start, not from the store.
	FromFile bool
}

// Reason says why the node is stale, for people.
func (s Staleness) Reason() string {
	if s.FromFile {
		return "serving the last applied configuration, read from the data directory at start: " + s.Err
	}
	return s.Err
}

// NewManager returns a manager with no snapshot yet; call Refresh or Run.
func NewManager(st store.Store, pool *upstream.Pool, log *slog.Logger) *Manager {
	m := &Manager{store: st, builder: Builder{Pool: pool}, log: log,
		changes: make(chan struct{}), kick: make(chan struct{}, 1)}
	m.build = m.builder.Build
	return m
}

// Changes returns a channel that is closed at the next change of what the
// manager serves or reports: a new snapshot, a failed build, the store
// becoming unreachable or reachable again. Take it before reading the
// state it guards, so that no change falls between the two.
func (m *Manager) Changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changes
}

// broadcast wakes everyone waiting on Changes.
func (m *Manager) broadcast() {
	m.mu.Lock()
	close(m.changes)
	m.changes = make(chan struct{})
	m.mu.Unlock()
}

// ServedRevision is the store revision of the snapshot being served (0
// before the first).
func (m *Manager) ServedRevision() int64 {
	if s := m.current.Load(); s != nil {
		return s.Revision
	}
	return 0
}

// WaitRevision returns once the served snapshot is at revision rev or
// later, with the build error when the newest revision, at or past rev,
// could not be built, or with ctx's error. It asks Run for a refresh at
// once (a write through this node's store has signalled one already; this
// covers writes that reach the store some other way) and then waits for
// the swap, without polling. The caller bounds the wait with ctx.
func (m *Manager) WaitRevision(ctx context.Context, rev int64) error {
	for {
		ch := m.Changes()
		if m.ServedRevision() >= rev {
			return nil
		}
		if f := m.failed.Load(); f != nil && f.Revision >= rev {
			return f
		}
		select {
		case m.kick <- struct{}{}:
		default: // a refresh is asked for already
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// SetLastApplied makes the manager save every configuration it applies
// to path (see LastAppliedFile), written by Run's goroutine, newest only;
// call it before Run.
func (m *Manager) SetLastApplied(path string) { m.saver = newSaver(path, m.log) }

// Restore serves st, a configuration read from the last-applied file,
// because the store could not be read (cause), and reports the node stale
// until a Refresh reads the store. It fails as Refresh does when st cannot
// be built.
func (m *Manager) Restore(st *config.State, cause error) error {
	start := time.Now()
	s, err := m.safeBuild(st)
	if err != nil {
		return err
	}
	m.stale.Store(&Staleness{Since: start.UTC(), Err: cause.Error(), FromFile: true})
	m.current.Store(s)
	m.broadcast()
	if m.builder.Metrics != nil {
		m.builder.Metrics.Snapshot(s.Revision, time.Since(start))
	}
	m.log.Warn("serving the last applied configuration: the store cannot be read; retrying it",
		"revision", s.Revision, "apis", len(s.APIs), "error", cause)
	return nil
}

// Stale reports whether the served configuration may be behind the
// store, and why.
func (m *Manager) Stale() (Staleness, bool) {
	if st := m.stale.Load(); st != nil {
		return *st, true
	}
	return Staleness{}, false
}

// markStale records a failure to read the store while a configuration is
// served.
func (m *Manager) markStale(err error) {
	if m.current.Load() == nil {
		return
	}
	old := m.stale.Load()
	st := &Staleness{Since: time.Now().UTC(), Err: err.Error()}
	if old != nil {
		st.Since, st.FromFile = old.Since, old.FromFile
	} else if c := m.checked.Load(); c != 0 {
		st.Since = time.Unix(0, c).UTC() // it was current then at least
	}
	m.stale.Store(st)
	if old == nil {
		m.broadcast()
	}
}

// clearStale records that the store was read.
func (m *Manager) clearStale() {
	m.checked.Store(time.Now().UnixNano())
	if m.stale.Swap(nil) != nil {
		m.broadcast()
	}
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
		if ctx.Err() == nil {
			m.markStale(err)
		}
		return err
	}
	if cur := m.current.Load(); cur != nil && cur.Revision == rev {
		m.clearStale()
		return nil
	}
	if f := m.failed.Load(); f != nil && f.Revision == rev {
		m.clearStale() // the store was read; the build is what fails
		return f
	}
	st, err := m.store.Load(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.markStale(err)
		}
		return err
	}
	start := time.Now()
	s, err := m.safeBuild(st)
	if err != nil {
		return err
	}
	m.failed.Store(nil)
	m.checked.Store(time.Now().UnixNano())
	m.stale.Store(nil)
	m.current.Store(s)
	m.broadcast()
	if m.saver != nil {
		m.saver.offer(st)
	}
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
			m.broadcast()
			s, err = nil, be
			m.log.Error("configuration not applied: building it panicked; the previous one keeps serving",
				"revision", st.Revision, "error", be.Message, "stack", string(debug.Stack()))
		}
	}()
	return m.build(st), nil
}

// MaxRetryInterval bounds the wait between two polls while the store
// cannot be read: polls back off from PollInterval, doubling, to it. A
// change notified by the store (its connection coming back, a write) is
// read at once whatever the wait.
const MaxRetryInterval = 5 * time.Second

// failureLogInterval is how often a store that keeps failing is logged
// again.
const failureLogInterval = time.Minute

// Run rebuilds on every store change until ctx ends, and keeps the
// last-applied file (SetLastApplied); it returns once the newest applied
// configuration is saved.
func (m *Manager) Run(ctx context.Context) {
	if m.saver != nil {
		var wg sync.WaitGroup
		wg.Go(func() { m.saver.run(ctx) })
		defer wg.Wait()
	}
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	var (
		failures   int       // consecutive failures to read the store
		failedAt   time.Time // first of them
		next       time.Time // no poll before this while failing
		lastLogged time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.store.Changed():
		case <-m.kick:
		case now := <-tick.C:
			if now.Before(next) {
				continue
			}
		}
		err := m.Refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		var be *BuildError
		switch {
		case errors.As(err, &be):
			// Logged once, when the build failed; the store was read.
		case err != nil:
			now := time.Now()
			if failures == 0 {
				failedAt = now
			}
			failures++
			next = now.Add(min(PollInterval<<min(failures-1, 16), MaxRetryInterval))
			if failures == 1 || now.Sub(lastLogged) >= failureLogInterval {
				lastLogged = now
				m.log.Error("the configuration store cannot be read; the configuration applied last keeps serving",
					"serving_revision", m.ServedRevision(), "failing_for", now.Sub(failedAt).Round(time.Millisecond).String(), "error", err)
			}
			continue
		}
		if failures > 0 {
			m.log.Info("the configuration store can be read again", "after", time.Since(failedAt).Round(time.Millisecond).String(),
				"serving_revision", m.ServedRevision())
			failures, next = 0, time.Time{}
		}
	}
}

// Status is what the admin API shows of the data plane.
type Status struct {
	Revision     int64       `json:"revision"`
	BuiltAt      config.Time `json:"built_at"`
	APIs         int         `json:"apis"`
	DisabledAPIs []Problem   `json:"disabled_apis"`
	// UnhealthyNodes lists the channel nodes out of the rotation.
	UnhealthyNodes []NodeStatus `json:"unhealthy_nodes"`
	// BuildError is set while the store's latest revision could not be
	// built (the snapshot above is an older one).
	BuildError *BuildError `json:"build_error,omitempty"`
	// Stale is set while the configuration served could not be checked
	// against the store: since StaleSince, failing with StaleError.
	Stale      bool         `json:"stale"`
	StaleSince *config.Time `json:"stale_since,omitempty"`
	StaleError string       `json:"stale_error,omitempty"`
}

// staleFields fills the Stale fields of a status.
func (m *Manager) staleFields(st *Status) {
	if s, ok := m.Stale(); ok {
		st.Stale, st.StaleSince, st.StaleError = true, config.TimePtr(s.Since), s.Reason()
	}
}

// NodeStatus is the health of one channel node.
type NodeStatus struct {
	ChannelID string       `json:"channel_id"`
	Addr      string       `json:"addr"`
	Weight    int          `json:"weight"`
	State     string       `json:"state"`
	Reason    string       `json:"reason,omitempty"`
	Since     *config.Time `json:"since,omitempty"`
}

// nodeStatus is what is shown of node n of ch: OFF for a drained node or
// a channel whose checks are off.
func nodeStatus(ch *Channel, n *Node) NodeStatus {
	ns := NodeStatus{ChannelID: ch.ID, Addr: n.Addr, Weight: n.Weight}
	if off := config.OffReason(n.Weight, ch.Health.Off()); off != "" {
		ns.State, ns.Reason = health.Off.String(), off
	} else {
		st := n.Health.Status()
		ns.State, ns.Reason = st.State.String(), st.Reason
		if !st.Since.IsZero() {
			ns.Since = config.TimePtr(st.Since)
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
		st := Status{DisabledAPIs: []Problem{}, UnhealthyNodes: []NodeStatus{}, BuildError: failed}
		m.staleFields(&st)
		return st
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
	st := Status{Revision: s.Revision, BuiltAt: config.At(s.BuiltAt), APIs: len(s.APIs), DisabledAPIs: p, UnhealthyNodes: down, BuildError: failed}
	m.staleFields(&st)
	return st
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
