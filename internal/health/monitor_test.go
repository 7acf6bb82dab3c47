package health_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/upstream"
)

// waitLimit bounds every wait: active checks run every second (±10 %), the
// first one within a second of the start.
const waitLimit = 8 * time.Second

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", waitLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// activePolicy is an active check every second with the given thresholds.
func activePolicy(t testing.TB, tcp, timeout, http int, path string) *health.Policy {
	return compile(t, config.HealthCheck{EnableActiveCheck: true, ActiveCheckInterval: 1, ActiveCheckHTTPPath: path,
		TCPFailureThreshold: ptr(tcp), TimeoutThreshold: ptr(timeout), HTTPFailureThreshold: ptr(http)})
}

// recorder keeps the changes a Monitor reports.
type recorder struct {
	mu      sync.Mutex
	changes []health.Change
	// at, when set, is called with each change as it is reported, on the
	// reporting goroutine.
	at func(health.Change)
}

func (r *recorder) add(c health.Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	at := r.at
	r.mu.Unlock()
	if at != nil {
		at(c)
	}
}

func (r *recorder) all() []health.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]health.Change(nil), r.changes...)
}

// fakeProbe answers with answer(call), call counting from 1. When hold is
// set, call number holdCall waits until release is closed.
type fakeProbe struct {
	calls    atomic.Int64
	answer   func(call int) (int, error)
	holdCall int
	held     chan struct{} // closed when call holdCall starts
	release  chan struct{}
}

func newFakeProbe(answer func(call int) (int, error)) *fakeProbe {
	return &fakeProbe{answer: answer, held: make(chan struct{}), release: make(chan struct{})}
}

func (f *fakeProbe) probe(deadline time.Time) (int, error) {
	call := int(f.calls.Add(1))
	if f.holdCall != 0 && call == f.holdCall {
		close(f.held)
		<-f.release
	}
	return f.answer(call)
}

func (f *fakeProbe) n() int { return int(f.calls.Load()) }

func always(status int) func(int) (int, error) {
	return func(int) (int, error) { return status, nil }
}

// lockedBuffer is a log sink safe for the checkers' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newMonitor(t *testing.T) (*health.Monitor, *recorder, *lockedBuffer) {
	var logs lockedBuffer
	m := health.NewMonitor(slog.New(slog.NewTextHandler(&logs, nil)))
	rec := &recorder{}
	m.OnChange = rec.add
	t.Cleanup(m.Close)
	return m, rec, &logs
}

type namedTest struct {
	name string
	f    func(*testing.T)
}

// concurrently runs the subtests at once. They wait for active checks,
// every second; go test runs at most GOMAXPROCS parallel tests at a time,
// so t.Parallel would queue them on a small machine, whereas t.Run may be
// called from several goroutines.
func concurrently(t *testing.T, tests []namedTest) {
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(tt.name, tt.f)
		}()
	}
	wg.Wait()
}

// TestMonitorActiveChecks runs the active-check tests, which wait for
// probes, concurrently.
func TestMonitorActiveChecks(t *testing.T) {
	concurrently(t, []namedTest{
		{"SyncStartsActiveOnly", testMonitorSyncStartsActiveOnly},
		{"SyncKeepsOrRestarts", testMonitorSyncKeepsOrRestarts},
		{"SyncStopsRemovedChecker", testMonitorSyncStopsRemovedChecker},
		{"SyncRestartsOnHeaderChange", testMonitorSyncRestartsOnHeaderChange},
		{"Close", testMonitorClose},
		{"ProbePanic", testMonitorProbePanic},
		{"ActiveThreshold", testMonitorActiveThreshold},
		{"ErrorKinds", testMonitorErrorKinds},
		{"UpstreamProbe", testMonitorUpstreamProbe},
		{"UpstreamProbeClosedPort", testMonitorUpstreamProbeClosedPort},
	})
}

func TestMonitorOnChange(t *testing.T) {
	m, rec, logs := newMonitor(t)
	p := passive(t, 1, 3, 0)
	n := m.Node("ch-7", "10.0.0.7:8080")
	before := time.Now()
	n.Success(p)
	n.Success(p) // no change, not reported
	n.Failure(health.TCP, "connection refused", p)
	n.Failure(health.TCP, "connection refused", p) // UNHEALTHY again: not reported
	n.Configure(compile(t, config.HealthCheck{}))
	n.Configure(p)
	want := []struct{ from, to health.State }{
		{health.NoData, health.Healthy},
		{health.Healthy, health.Unhealthy},
		{health.Unhealthy, health.Off},
		{health.Off, health.NoData},
	}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("%d changes reported, want %d: %+v", len(got), len(want), got)
	}
	for i, c := range got {
		if c.Channel != "ch-7" || c.Addr != "10.0.0.7:8080" || c.From != want[i].from || c.To != want[i].to ||
			c.Reason == "" || c.At.Before(before) {
			t.Errorf("change %d = %+v, want ch-7 10.0.0.7:8080 %v -> %v with a reason and a time", i, c, want[i].from, want[i].to)
		}
	}
	if !strings.Contains(got[1].Reason, "connection refused") {
		t.Errorf("reason %q does not say what failed", got[1].Reason)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN msg=\"node unhealthy\"") || !strings.Contains(l, "node=10.0.0.7:8080") {
		t.Errorf("log %q lacks the unhealthy warning", l)
	}

	// A monitor without a logger still reports.
	m2 := health.NewMonitor(nil)
	rec2 := &recorder{}
	m2.OnChange = rec2.add
	m2.Node("c", "a").Success(p)
	if len(rec2.all()) != 1 {
		t.Fatalf("changes = %+v, want 1", rec2.all())
	}
	m2.Close()

	// A nil monitor: nodes work, Sync does nothing.
	var nilMon *health.Monitor
	nn := nilMon.Node("c", "a")
	nn.Success(p)
	wantState(t, nn, health.Healthy)
	nilMon.Sync([]health.Check{{Node: nn, Policy: activePolicy(t, 1, 1, 1, "/"), Probe: newFakeProbe(always(200)).probe}})
}

func testMonitorSyncStartsActiveOnly(t *testing.T) {
	m, _, _ := newMonitor(t)
	active := activePolicy(t, 1, 1, 1, "/")
	withProbe := newFakeProbe(always(200))
	noProbe := m.Node("ch", "a:1")
	checks := []health.Check{
		{Node: m.Node("ch", "a:2"), Policy: active, Probe: withProbe.probe, Target: "a:2"},
		{Node: noProbe, Policy: active, Target: "a:1"},
		{Node: m.Node("ch", "a:3"), Policy: passive(t, 1, 1, 1), Probe: newFakeProbe(always(200)).probe, Target: "a:3"},
		{Node: m.Node("ch", "a:4"), Policy: compile(t, config.HealthCheck{}), Probe: newFakeProbe(always(200)).probe, Target: "a:4"},
	}
	m.Sync(checks)
	if m.Checkers() != 1 {
		t.Fatalf("Checkers() = %d, want 1 (only the active check with a probe)", m.Checkers())
	}
	m.Sync(checks)
	if m.Checkers() != 1 {
		t.Fatalf("Checkers() after the same Sync = %d, want 1", m.Checkers())
	}
	waitFor(t, "the active check", func() bool { return checks[0].Node.State() == health.Healthy })
	m.Sync(nil)
	if m.Checkers() != 0 {
		t.Fatalf("Checkers() after Sync(nil) = %d, want 0", m.Checkers())
	}
}

// testMonitorSyncKeepsOrRestarts tells a kept checker from a restarted one
// by its failure count: with http_failure_threshold 2, a kept checker
// ejects on its second probe; a restarted one starts counting again. The
// first probe is held while Sync runs, so that the test does not depend on
// timing.
func testMonitorSyncKeepsOrRestarts(t *testing.T) {
	var cases []namedTest
	for _, tt := range []struct {
		name       string
		second     func(t *testing.T, c health.Check) health.Check
		wantCalls  int // probes when the node goes UNHEALTHY
		restarting bool
	}{
		{"same policy object", func(t *testing.T, c health.Check) health.Check { return c }, 2, false},
		{"equal policy recompiled", func(t *testing.T, c health.Check) health.Check {
			c.Policy = activePolicy(t, 1, 1, 2, "/healthz")
			return c
		}, 2, false},
		{"passive settings changed", func(t *testing.T, c health.Check) health.Check {
			c.Policy = compile(t, config.HealthCheck{EnableActiveCheck: true, EnablePassiveCheck: true, ActiveCheckInterval: 1,
				ActiveCheckHTTPPath: "/healthz", TCPFailureThreshold: ptr(1), TimeoutThreshold: ptr(1), HTTPFailureThreshold: ptr(2),
				UnhealthyTimeout: ptr(99)})
			return c
		}, 2, false},
		{"path changed", func(t *testing.T, c health.Check) health.Check {
			c.Policy = activePolicy(t, 1, 1, 2, "/other")
			return c
		}, 3, true},
		{"threshold changed", func(t *testing.T, c health.Check) health.Check {
			c.Policy = activePolicy(t, 1, 2, 2, "/healthz")
			return c
		}, 3, true},
		{"target changed", func(t *testing.T, c health.Check) health.Check {
			c.Target = "10.0.0.1:81"
			return c
		}, 3, true},
	} {
		cases = append(cases, namedTest{tt.name, func(t *testing.T) {
			m, rec, _ := newMonitor(t)
			fp := newFakeProbe(always(503))
			fp.holdCall = 1
			var callsAtChange atomic.Int64
			rec.at = func(c health.Change) {
				if c.To == health.Unhealthy {
					callsAtChange.CompareAndSwap(0, int64(fp.n()))
				}
			}
			n := m.Node("ch", "10.0.0.1:80")
			c := health.Check{Node: n, Policy: activePolicy(t, 1, 1, 2, "/healthz"), Probe: fp.probe, Target: "10.0.0.1:80"}
			m.Sync([]health.Check{c})
			select {
			case <-fp.held:
			case <-time.After(waitLimit):
				t.Fatal("no first probe")
			}
			m.Sync([]health.Check{tt.second(t, c)})
			close(fp.release)
			if m.Checkers() != 1 {
				t.Fatalf("Checkers() = %d, want 1", m.Checkers())
			}
			waitFor(t, "UNHEALTHY reported", func() bool { return callsAtChange.Load() != 0 })
			if got := int(callsAtChange.Load()); got != tt.wantCalls {
				t.Fatalf("UNHEALTHY after %d probes, want %d (restarting the checker: %t)", got, tt.wantCalls, tt.restarting)
			}
		}})
	}
	concurrently(t, cases)
}

func testMonitorSyncStopsRemovedChecker(t *testing.T) {
	m, _, _ := newMonitor(t)
	p := activePolicy(t, 1, 1, 1, "/")
	a, b := newFakeProbe(always(200)), newFakeProbe(always(200))
	a.holdCall = 1
	ca := health.Check{Node: m.Node("ch", "a:80"), Policy: p, Probe: a.probe, Target: "a:80"}
	cb := health.Check{Node: m.Node("ch", "b:80"), Policy: p, Probe: b.probe, Target: "b:80"}
	m.Sync([]health.Check{ca, cb})
	if m.Checkers() != 2 {
		t.Fatalf("Checkers() = %d, want 2", m.Checkers())
	}
	select {
	case <-a.held:
	case <-time.After(waitLimit):
		t.Fatal("no probe of a")
	}
	m.Sync([]health.Check{cb})
	close(a.release)
	if m.Checkers() != 1 {
		t.Fatalf("Checkers() = %d, want 1", m.Checkers())
	}
	// b keeps its rhythm; three of its probes span more than an interval
	// of a's.
	from := b.n()
	waitFor(t, "three more probes of b", func() bool { return b.n() >= from+3 })
	if a.n() != 1 {
		t.Fatalf("the stopped checker probed %d times, want only the probe under way when it was stopped", a.n())
	}
	// The result of the probe under way when the checker stopped belongs
	// to no one.
	wantState(t, ca.Node, health.NoData)
	wantState(t, cb.Node, health.Healthy)
}

func testMonitorClose(t *testing.T) {
	m := health.NewMonitor(nil)
	fp := newFakeProbe(always(200))
	c := health.Check{Node: m.Node("ch", "a:80"), Policy: activePolicy(t, 1, 1, 1, "/"), Probe: fp.probe, Target: "a:80"}
	m.Sync([]health.Check{c})
	waitFor(t, "a probe", func() bool { return fp.n() > 0 })
	m.Close()
	if m.Checkers() != 0 {
		t.Fatalf("Checkers() after Close = %d, want 0", m.Checkers())
	}
	calls := fp.n()
	m.Sync([]health.Check{c})
	if m.Checkers() != 0 {
		t.Fatalf("Checkers() after a Sync following Close = %d, want 0", m.Checkers())
	}
	time.Sleep(1500 * time.Millisecond) // more than one interval: nothing may probe
	if fp.n() != calls {
		t.Fatalf("%d probes after Close", fp.n()-calls)
	}
	m.Close() // twice: harmless
}

func testMonitorProbePanic(t *testing.T) {
	m, _, logs := newMonitor(t)
	fp := newFakeProbe(func(call int) (int, error) {
		if call <= 2 {
			panic(fmt.Sprintf("probe bug %d", call))
		}
		return 200, nil
	})
	n := m.Node("ch", "a:80")
	m.Sync([]health.Check{{Node: n, Policy: activePolicy(t, 1, 1, 1, "/"), Probe: fp.probe, Target: "a:80"}})
	waitFor(t, "HEALTHY after two panics", func() bool { return n.State() == health.Healthy })
	if fp.n() < 3 {
		t.Fatalf("%d probes", fp.n())
	}
	if l := logs.String(); !strings.Contains(l, "panicked") || !strings.Contains(l, "probe bug 1") {
		t.Errorf("log %q does not report the panic", l)
	}
	if m.Checkers() != 1 {
		t.Fatalf("Checkers() = %d, want 1", m.Checkers())
	}
}

// testMonitorActiveThreshold: probes answer 503, 503, then 200; with
// http_failure_threshold 2 the node goes UNHEALTHY at the second probe and
// HEALTHY at the third. The third is held while the test looks at the
// UNHEALTHY node.
func testMonitorActiveThreshold(t *testing.T) {
	m, rec, _ := newMonitor(t)
	fp := newFakeProbe(func(call int) (int, error) {
		if call <= 2 {
			return 503, nil
		}
		return 200, nil
	})
	fp.holdCall = 3
	var unhealthyAt, healthyAt atomic.Int64
	rec.at = func(c health.Change) {
		switch c.To {
		case health.Unhealthy:
			unhealthyAt.CompareAndSwap(0, int64(fp.n()))
		case health.Healthy:
			healthyAt.CompareAndSwap(0, int64(fp.n()))
		}
	}
	n := m.Node("ch", "a:80")
	p := activePolicy(t, 1, 1, 2, "/healthz")
	m.Sync([]health.Check{{Node: n, Policy: p, Probe: fp.probe, Target: "a:80"}})
	select {
	case <-fp.held:
	case <-time.After(waitLimit):
		t.Fatal("no third probe")
	}
	if got := unhealthyAt.Load(); got != 2 {
		t.Fatalf("UNHEALTHY after %d probes answering 503, want 2", got)
	}
	wantState(t, n, health.Unhealthy)
	st := n.Status()
	if !strings.Contains(st.Reason, "/healthz answered 503") || !strings.Contains(st.Reason, "2 consecutive http") {
		t.Errorf("reason = %q", st.Reason)
	}
	// Held out by active checks: no half-open probe, however long.
	if n.Available(time.Now().Add(time.Hour).UnixNano(), p) {
		t.Fatal("a node ejected by active checks got a half-open probe")
	}
	close(fp.release)
	waitFor(t, "HEALTHY reported", func() bool { return healthyAt.Load() != 0 })
	if got := healthyAt.Load(); got != 3 {
		t.Errorf("HEALTHY at probe %d, want 3 (one success)", got)
	}
	if st := n.Status(); st.State != health.Healthy || !strings.Contains(st.Reason, "answered 200") {
		t.Errorf("status = %+v", st)
	}
	if !n.Available(time.Now().UnixNano(), p) {
		t.Fatal("healthy node not available")
	}
}

// timeoutErr is a probe error whose Timeout method reports true.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// testMonitorErrorKinds: an error whose Timeout() is true (also wrapped)
// counts as a timeout, any other as a connection failure. With one kind's
// threshold at 0, its errors are ignored, so the probe at which the node
// goes UNHEALTHY tells which kind each error was counted as.
func testMonitorErrorKinds(t *testing.T) {
	var cases []namedTest
	for _, tt := range []struct {
		name         string
		tcp, timeout int
		errs         []error // by call; the last repeats
		wantCalls    int
		wantReason   string
	}{
		{"timeout counts as timeout", 0, 1, []error{errors.New("connection refused"), timeoutErr{}}, 2, "timeout failures"},
		{"wrapped deadline counts as timeout", 0, 1, []error{errors.New("reset"), fmt.Errorf("receive: %w", os.ErrDeadlineExceeded)}, 2, "timeout failures"},
		{"other error counts as tcp", 1, 0, []error{fmt.Errorf("x: %w", timeoutErr{}), errors.New("connection refused")}, 2, "tcp failures"},
		{"not a timeout when Timeout is false", 1, 0, []error{timeoutErr{}, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}}, 2, "tcp failures"},
	} {
		cases = append(cases, namedTest{tt.name, func(t *testing.T) {
			m, rec, _ := newMonitor(t)
			fp := newFakeProbe(func(call int) (int, error) {
				return 0, tt.errs[min(call, len(tt.errs))-1]
			})
			var callsAtChange atomic.Int64
			rec.at = func(c health.Change) {
				if c.To == health.Unhealthy {
					callsAtChange.Store(int64(fp.n()))
				}
			}
			n := m.Node("ch", "a:80")
			m.Sync([]health.Check{{Node: n, Policy: activePolicy(t, tt.tcp, tt.timeout, 0, "/"), Probe: fp.probe, Target: "a:80"}})
			waitFor(t, "UNHEALTHY reported", func() bool { return callsAtChange.Load() != 0 })
			if got := int(callsAtChange.Load()); got != tt.wantCalls {
				t.Fatalf("UNHEALTHY at probe %d, want %d", got, tt.wantCalls)
			}
			if r := n.Status().Reason; !strings.Contains(r, tt.wantReason) {
				t.Errorf("reason = %q, want %q", r, tt.wantReason)
			}
		}})
	}
	concurrently(t, cases)
}

// Bug: the checker's fingerprint prints the headers with %v, so two
// different header sets can print the same, e.g. {A: 1, B: 2} and
// {A: "1] [B 2"} both print [[A 1] [B 2]]. Sync then keeps the old checker,
// whose probe sends the old headers.
func testMonitorSyncRestartsOnHeaderChange(t *testing.T) {
	m, _, _ := newMonitor(t)
	hp := func(h map[string]string) *health.Policy {
		return compile(t, config.HealthCheck{EnableActiveCheck: true, ActiveCheckInterval: 1, ActiveRequestHeaders: h})
	}
	old, nw := newFakeProbe(always(200)), newFakeProbe(always(200))
	n := m.Node("ch", "a:80")
	m.Sync([]health.Check{{Node: n, Policy: hp(map[string]string{"A": "1", "B": "2"}), Probe: old.probe, Target: "a:80"}})
	waitFor(t, "a probe", func() bool { return old.n() > 0 })
	m.Sync([]health.Check{{Node: n, Policy: hp(map[string]string{"A": "1] [B 2"}), Probe: nw.probe, Target: "a:80"}})
	waitFor(t, "a probe with the new headers", func() bool { return nw.n() > 0 })
}

// testMonitorUpstreamProbe runs active checks over real connections: a
// backend answering 200 on /healthz, then 503.
func testMonitorUpstreamProbe(t *testing.T) {
	var failing atomic.Bool
	var failed atomic.Int64 // 503 answers given
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if failing.Load() {
			failed.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	pool := upstream.NewPool()
	defer pool.Close()
	client, err := pool.Client(upstream.Target{Addr: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	probe := func(deadline time.Time) (int, error) {
		return client.Probe([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), deadline)
	}
	if st, err := probe(time.Now().Add(5 * time.Second)); st != 200 || err != nil {
		t.Fatalf("direct probe = %d, %v, want 200", st, err)
	}

	m, rec, _ := newMonitor(t)
	var failedAtChange atomic.Int64
	rec.at = func(c health.Change) {
		if c.To == health.Unhealthy {
			failedAtChange.Store(failed.Load())
		}
	}
	n := m.Node("ch", srv.Listener.Addr().String())
	p := activePolicy(t, 1, 1, 2, "/healthz")
	m.Sync([]health.Check{{Node: n, Policy: p, Probe: probe, Target: client.Target.Key()}})
	waitFor(t, "HEALTHY", func() bool { return n.State() == health.Healthy })
	failing.Store(true)
	waitFor(t, "UNHEALTHY reported", func() bool { return failedAtChange.Load() != 0 })
	if got := failedAtChange.Load(); got != 2 {
		t.Fatalf("UNHEALTHY after %d answers 503, want 2 (http_failure_threshold)", got)
	}
	if r := n.Status().Reason; !strings.Contains(r, "503") {
		t.Errorf("reason = %q", r)
	}
	failing.Store(false)
	waitFor(t, "HEALTHY again", func() bool { return n.State() == health.Healthy })
	m.Close() // before the server: no probe after it closes
}

// A probe to a closed port fails to connect: an error that is not a
// timeout, counted as a tcp failure.
func testMonitorUpstreamProbeClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pool := upstream.NewPool()
	defer pool.Close()
	client, err := pool.Client(upstream.Target{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	probe := func(deadline time.Time) (int, error) {
		return client.Probe([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), deadline)
	}
	st, err := probe(time.Now().Add(5 * time.Second))
	if err == nil {
		t.Fatalf("probe of a closed port = %d, nil error", st)
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		t.Fatalf("probe of a closed port: %v counts as a timeout", err)
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Op != "connect" {
		t.Errorf("error = %v (%T), want an *upstream.Error of connect", err, err)
	}

	m, _, _ := newMonitor(t)
	n := m.Node("ch", addr)
	m.Sync([]health.Check{{Node: n, Policy: activePolicy(t, 1, 1, 0, "/healthz"), Probe: probe, Target: client.Target.Key()}})
	waitFor(t, "UNHEALTHY", func() bool { return n.State() == health.Unhealthy })
	if r := n.Status().Reason; !strings.Contains(r, "tcp") || !strings.Contains(r, "connect") {
		t.Errorf("reason = %q, want a tcp failure to connect", r)
	}
}
