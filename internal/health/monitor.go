package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"
)

// Monitor owns the active checkers of the served configuration and reports
// state changes (log lines and the OnChange hook). It lives as long as the
// process; snapshots come and go.
type Monitor struct {
	log *slog.Logger
	// OnChange, when set before the first Sync, is called on every state
	// change (metrics).
	OnChange func(Change)

	mu       sync.Mutex
	checkers map[*Node]*checker
	wg       sync.WaitGroup
	closed   bool
}

// NewMonitor returns a monitor that logs to log.
func NewMonitor(log *slog.Logger) *Monitor {
	return &Monitor{log: log, checkers: map[*Node]*checker{}}
}

// Node returns a new node of a channel, with no data. A nil Monitor makes
// nodes whose changes nobody hears of (tests, tools).
func (m *Monitor) Node(channel, addr string) *Node {
	return &Node{channel: channel, addr: addr, mon: m}
}

func (m *Monitor) changed(c Change) {
	if m == nil {
		return
	}
	if m.log != nil {
		attrs := []any{"channel_id", c.Channel, "node", c.Addr, "from", c.From.String(), "to", c.To.String(), "reason", c.Reason}
		if c.To == Unhealthy {
			m.log.Warn("node unhealthy", attrs...)
		} else {
			m.log.Info("node health changed", attrs...)
		}
	}
	if m.OnChange != nil {
		m.OnChange(c)
	}
}

// Probe sends one active check to a node before deadline and returns the
// status of its answer. Errors whose Timeout method reports true count as
// timeouts, others as connection failures.
type Probe func(deadline time.Time) (status int, err error)

// Check is one node an active checker should watch.
type Check struct {
	Node   *Node
	Policy *Policy
	Probe  Probe
	// Target identifies where and how the probe connects (address, TLS
	// settings, Host header): a change restarts the checker.
	Target string
}

type checker struct {
	key    string
	cancel context.CancelFunc
	done   chan struct{}
}

func (c Check) key() string { return c.Target + "|" + c.Policy.fingerprint }

// Sync makes the running checkers exactly checks: it starts the missing
// ones, stops those no longer wanted, and restarts those whose settings
// changed. A node kept with the same settings keeps its checker (and its
// rhythm) across snapshots, so a configuration change never duplicates or
// resets one. Sync is called by the snapshot builder, one call at a time.
func (m *Monitor) Sync(checks []Check) {
	if m == nil {
		return
	}
	want := make(map[*Node]Check, len(checks))
	for _, c := range checks {
		if c.Policy.Active && c.Probe != nil {
			want[c.Node] = c
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for n, ck := range m.checkers {
		if c, ok := want[n]; ok && c.key() == ck.key {
			delete(want, n)
			continue
		}
		ck.cancel()
		delete(m.checkers, n)
	}
	for n, c := range want {
		ctx, cancel := context.WithCancel(context.Background())
		ck := &checker{key: c.key(), cancel: cancel, done: make(chan struct{})}
		m.checkers[n] = ck
		m.wg.Add(1)
		go m.run(ctx, ck, c)
	}
}

// Checkers is the number of active checkers running.
func (m *Monitor) Checkers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.checkers)
}

// Close stops every checker and waits for them.
func (m *Monitor) Close() {
	m.mu.Lock()
	m.closed = true
	for n, ck := range m.checkers {
		ck.cancel()
		delete(m.checkers, n)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// run checks one node every interval, the first time after a random part
// of it, so that the checks of many nodes do not go out together.
func (m *Monitor) run(ctx context.Context, ck *checker, c Check) {
	defer m.wg.Done()
	defer close(ck.done)
	var fails [nKinds]int
	wait := time.Duration(rand.Int64N(int64(c.Policy.Interval)) + 1)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.checkOnce(ctx, c, &fails)
		// ±10 % jitter keeps checkers that started together apart.
		j := int64(c.Policy.Interval) / 10
		t.Reset(c.Policy.Interval + time.Duration(rand.Int64N(2*j+1)-j))
	}
}

// checkOnce runs one probe; a panic in it is logged and counts as nothing,
// and the checker goes on.
func (m *Monitor) checkOnce(ctx context.Context, c Check, fails *[nKinds]int) {
	defer func() {
		if r := recover(); r != nil && m.log != nil {
			m.log.Error("active health check panicked; the checker goes on", "channel_id", c.Node.channel,
				"node", c.Node.addr, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	status, err := c.Probe(time.Now().Add(c.Policy.CheckTimeout))
	if ctx.Err() != nil {
		return // stopped while probing: the result belongs to no one
	}
	p := c.Policy
	var k Kind
	var reason string
	switch {
	case err != nil && isTimeout(err):
		k, reason = Timeout, "active check: "+err.Error()
	case err != nil:
		k, reason = TCP, "active check: "+err.Error()
	case p.ActiveSuccess(status):
		*fails = [nKinds]int{}
		c.Node.activeResult(true, fmt.Sprintf("active check: %s answered %d", p.Path, status))
		return
	default:
		k, reason = HTTP, fmt.Sprintf("active check: %s answered %d", p.Path, status)
	}
	if p.Threshold[k] == 0 {
		return
	}
	fails[k]++
	if fails[k] >= p.Threshold[k] {
		c.Node.activeResult(false, fmt.Sprintf("%s (%d consecutive %s failures)", reason, fails[k], k))
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
