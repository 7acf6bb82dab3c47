// Package health judges channel nodes: it keeps each node's state
// (HEALTHY, UNHEALTHY, NO_DATA, OFF), counts the consecutive failures seen by
// passive checks (real traffic) and active checks (probes), and opens a
// per-node circuit breaker when a threshold is reached.
//
// A node's state outlives snapshots: the snapshot builder hands the Node of
// an address to the next snapshot of the same channel, so a configuration
// change that keeps a node keeps what is known about it. The Policy, on the
// other hand, is compiled per snapshot and passed to every call, so a Node
// holds no configuration.
//
// The breaker: a node that reaches a passive threshold is UNHEALTHY (open)
// for unhealthy_timeout; then one request may go to it (half-open). Its
// success closes the breaker (HEALTHY); its failure opens it again for
// another unhealthy_timeout. A node made UNHEALTHY by active checks comes
// back when an active check succeeds.
package health

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// State is a node's health.
type State uint32

// States. NoData is the zero value: nothing is known yet.
const (
	NoData State = iota
	Healthy
	Unhealthy
	Off
)

func (s State) String() string {
	switch s {
	case Healthy:
		return config.HealthHealthy
	case Unhealthy:
		return config.HealthUnhealthy
	case Off:
		return config.HealthOff
	}
	return config.HealthNoData
}

// Kind is a kind of failure; each has its own threshold.
type Kind uint8

// Failure kinds.
const (
	TCP     Kind = iota // the connection failed: refused, reset, closed, broken TLS
	Timeout             // no answer in time
	HTTP                // an answer with a failure status
	nKinds
)

func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case Timeout:
		return "timeout"
	}
	return "http"
}

// statusSet is a set of HTTP status codes 0-639.
type statusSet [10]uint64

func (s *statusSet) add(code int) {
	if code >= 0 && code < 640 {
		s[code>>6] |= 1 << (uint(code) & 63)
	}
}

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 640 && s[code>>6]&(1<<(uint(code)&63)) != 0
}

// Policy is a channel's health_check, compiled.
type Policy struct {
	Active, Passive bool
	// Thresholds by Kind; 0 turns that kind off.
	Threshold [nKinds]int
	healthy   statusSet // what an active check must answer
	unhealthy statusSet // what passive checks count as failures
	// Path, Headers, CheckTimeout and Interval drive active checks.
	Path         string
	Headers      [][2]string
	CheckTimeout time.Duration
	Interval     time.Duration
	// UnhealthyTimeout is how long a node ejected by passive checks stays
	// out before a half-open probe; 0: until an active check succeeds.
	UnhealthyTimeout time.Duration
	// FailOpen: when every node is out, try one anyway (the implicit
	// policy of a channel without health_check, as nginx does).
	FailOpen bool
	// fingerprint identifies the active-check settings.
	fingerprint string
}

// Compile builds the policy of a channel. A nil hc is the implicit policy,
// nginx's default (max_fails=1 fail_timeout=10s): passive checks in which
// one connection failure or one timeout takes a node out for
// ImplicitUnhealthyTimeout, answers are not judged by status, and when
// every node is out one is tried anyway.
func Compile(hc *config.HealthCheck) *Policy {
	if hc == nil {
		p := &Policy{Passive: true, FailOpen: true,
			UnhealthyTimeout: config.ImplicitUnhealthyTimeout * time.Second}
		p.Threshold[TCP], p.Threshold[Timeout] = 1, 1
		return p
	}
	p := &Policy{
		Active:           hc.EnableActiveCheck,
		Passive:          hc.EnablePassiveCheck,
		Path:             hc.ActiveCheckHTTPPath,
		CheckTimeout:     time.Duration(hc.ActiveCheckTimeout) * time.Second,
		Interval:         time.Duration(hc.ActiveCheckInterval) * time.Second,
		UnhealthyTimeout: time.Duration(hc.UnhealthySeconds()) * time.Second,
	}
	if p.Path == "" {
		p.Path = "/"
	}
	if p.CheckTimeout <= 0 {
		p.CheckTimeout = config.DefaultCheckTimeout * time.Second
	}
	if p.Interval <= 0 {
		p.Interval = config.DefaultCheckInterval * time.Second
	}
	p.Threshold[TCP], p.Threshold[Timeout], p.Threshold[HTTP] = hc.Thresholds()
	healthy, unhealthy := hc.HealthyHTTPStatus, hc.UnhealthyHTTPStatus
	if len(healthy) == 0 {
		healthy = config.DefaultHealthyStatus
	}
	if len(unhealthy) == 0 {
		unhealthy = config.DefaultUnhealthyStatus
	}
	for _, c := range healthy {
		p.healthy.add(c)
	}
	for _, c := range unhealthy {
		p.unhealthy.add(c)
	}
	for name, v := range hc.ActiveRequestHeaders {
		p.Headers = append(p.Headers, [2]string{name, v})
	}
	sortHeaders(p.Headers)
	p.fingerprint = fmt.Sprintf("%v|%q|%q|%v|%v|%v|%v", p.Threshold, p.Path, p.Headers, p.CheckTimeout, p.Interval, p.healthy, p.Active)
	return p
}

func sortHeaders(h [][2]string) {
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j][0] < h[j-1][0]; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}

// Off reports whether the policy judges nothing: nodes are always
// available and shown OFF.
func (p *Policy) Off() bool { return !p.Active && !p.Passive }

// PassiveFailure reports whether a node's answer with status counts as a
// passive failure.
func (p *Policy) PassiveFailure(status int) bool { return p.unhealthy.has(status) }

// ActiveSuccess reports whether an active check's answer is a success.
func (p *Policy) ActiveSuccess(status int) bool { return p.healthy.has(status) }

// Change is one state change of a node.
type Change struct {
	Channel, Addr string
	From, To      State
	Reason        string
	At            time.Time
}

// Node is the health of one channel node; Monitor.Node makes one.
type Node struct {
	channel, addr string
	mon           *Monitor

	state atomic.Uint32
	// probeAt: while passive checks hold the node out, the unix ns from
	// which one half-open probe may go; 0 when none will (active checks
	// bring it back).
	probeAt atomic.Int64
	// fails packs the consecutive passive failures, one byte per Kind
	// (saturating at 255), so that the success path reads one word.
	fails atomic.Uint32

	mu     sync.Mutex // serializes state changes
	reason string
	since  time.Time
}

// Status is a node's state as shown by the admin API.
type Status struct {
	State  State
	Reason string
	Since  time.Time
}

// Status returns the node's state, why, and since when.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return Status{State: State(n.state.Load()), Reason: n.reason, Since: n.since}
}

// State returns the node's state.
func (n *Node) State() State { return State(n.state.Load()) }

// Available reports whether a request may go to the node at now (unix ns).
// For a node held out by passive checks whose unhealthy_timeout is over, it
// claims the one half-open probe: the caller must send the request. A probe
// that never reports back is given up after another unhealthy_timeout.
func (n *Node) Available(now int64, p *Policy) bool {
	if State(n.state.Load()) != Unhealthy {
		return true
	}
	at := n.probeAt.Load()
	if at == 0 || now < at || p.UnhealthyTimeout <= 0 {
		return false // no trial: active checks bring the node back
	}
	return n.probeAt.CompareAndSwap(at, now+int64(p.UnhealthyTimeout))
}

// Success records an answer that passive checks count as a success. On a
// healthy node with no failure counted it only reads.
func (n *Node) Success(p *Policy) {
	if p.Off() || !p.Passive {
		return
	}
	if State(n.state.Load()) == Healthy && n.fails.Load() == 0 {
		return
	}
	n.fails.Store(0)
	n.set(Healthy, "a request succeeded", 0)
}

// Failure records a passive failure of kind k; reason says what happened.
// It reports whether the node was taken out of the rotation.
func (n *Node) Failure(k Kind, reason string, p *Policy) bool {
	if !p.Passive || p.Threshold[k] == 0 {
		return false
	}
	shift := 8 * uint(k)
	var count int
	for {
		old := n.fails.Load()
		c := (old >> shift) & 0xff
		if c < 0xff {
			c++
		}
		if n.fails.CompareAndSwap(old, old&^(0xff<<shift)|c<<shift) {
			count = int(c)
			break
		}
	}
	if count < p.Threshold[k] {
		return false
	}
	n.fails.Store(0)
	var probe int64
	if p.UnhealthyTimeout > 0 {
		probe = time.Now().Add(p.UnhealthyTimeout).UnixNano()
	}
	n.set(Unhealthy, fmt.Sprintf("passive check: %d consecutive %s failures (last: %s)", count, k, reason), probe)
	return true
}

// activeResult records the outcome of an active check.
func (n *Node) activeResult(ok bool, reason string) {
	if ok {
		n.fails.Store(0)
		n.set(Healthy, reason, 0)
		return
	}
	n.set(Unhealthy, reason, 0)
}

// Configure aligns the node with the policy of a new snapshot: a node
// whose checks are off is OFF; one whose checks were just turned on starts
// with NO_DATA.
func (n *Node) Configure(p *Policy) {
	switch s := State(n.state.Load()); {
	case p.Off() && s != Off:
		n.fails.Store(0)
		n.set(Off, "health checks are off", 0)
	case !p.Off() && s == Off:
		n.set(NoData, "health checks turned on", 0)
	case !p.Passive && s == Unhealthy && n.probeAt.Load() != 0:
		// Held out by passive checks that are now off: active checks
		// alone decide from here.
		n.set(NoData, "passive checks turned off", 0)
	}
}

// set moves the node to state s. probe is the probeAt to keep when s is
// Unhealthy. A move to the state the node is already in changes only the
// probe time, and is not reported.
func (n *Node) set(s State, reason string, probe int64) {
	n.mu.Lock()
	from := State(n.state.Load())
	n.probeAt.Store(probe)
	if from == s {
		n.mu.Unlock()
		return
	}
	now := time.Now()
	n.state.Store(uint32(s))
	n.reason, n.since = reason, now.UTC()
	n.mu.Unlock()
	n.mon.changed(Change{Channel: n.channel, Addr: n.addr, From: from, To: s, Reason: reason, At: now})
}
