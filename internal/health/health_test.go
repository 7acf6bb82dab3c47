package health_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/health"
)

func ptr(v int) *int { return &v }

// compile validates hc as the health_check of a channel, as the admin API
// does before storing it, and compiles it.
func compile(t testing.TB, hc config.HealthCheck) *health.Policy {
	t.Helper()
	ch := config.Channel{
		Network:     "vpc",
		Scheme:      "http",
		Nodes:       []config.Node{{Host: "10.0.0.1", Port: 80, Weight: ptr(1)}},
		HealthCheck: &hc,
	}
	if err := config.ValidateChannel(&ch); err != nil {
		t.Fatalf("ValidateChannel(%+v): %v", hc, err)
	}
	return health.Compile(ch.HealthCheck)
}

// passive is a policy with passive checks only and the given thresholds.
func passive(t testing.TB, tcp, timeout, http int) *health.Policy {
	return compile(t, config.HealthCheck{EnablePassiveCheck: true,
		TCPFailureThreshold: ptr(tcp), TimeoutThreshold: ptr(timeout), HTTPFailureThreshold: ptr(http)})
}

func newNode() *health.Node { return (*health.Monitor)(nil).Node("ch-1", "10.0.0.1:80") }

func wantState(t *testing.T, n *health.Node, want health.State) {
	t.Helper()
	if got := n.State(); got != want {
		t.Fatalf("state = %v (%+v), want %v", got, n.Status(), want)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[health.State]string{
		health.NoData: "NO_DATA", health.Healthy: "HEALTHY", health.Unhealthy: "UNHEALTHY", health.Off: "OFF",
	} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
	for k, want := range map[health.Kind]string{health.TCP: "tcp", health.Timeout: "timeout", health.HTTP: "http"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

func TestCompileImplicit(t *testing.T) {
	p := health.Compile(nil)
	if !p.Passive || p.Active || p.Off() {
		t.Errorf("Passive, Active, Off = %t, %t, %t, want true, false, false", p.Passive, p.Active, p.Off())
	}
	// nginx's max_fails=1: one connection failure or one timeout ejects;
	// answers are not judged by status.
	if p.Threshold[health.TCP] != 1 || p.Threshold[health.Timeout] != 1 || p.Threshold[health.HTTP] != 0 {
		t.Errorf("Threshold = %v, want tcp 1, timeout 1, http 0", p.Threshold)
	}
	if p.UnhealthyTimeout != 10*time.Second {
		t.Errorf("UnhealthyTimeout = %v, want 10s", p.UnhealthyTimeout)
	}
	if !p.FailOpen {
		t.Error("FailOpen = false, want true for the implicit policy")
	}
	// Only connection failures count: no status is a passive failure.
	for _, s := range []int{200, 500, 502, 503, 504} {
		if p.PassiveFailure(s) {
			t.Errorf("implicit PassiveFailure(%d) = true", s)
		}
	}
}

func TestCompileValidated(t *testing.T) {
	p := compile(t, config.HealthCheck{EnablePassiveCheck: true})
	if !p.Passive || p.Active || p.Off() || p.FailOpen {
		t.Errorf("Passive, Active, Off, FailOpen = %t, %t, %t, %t, want true, false, false, false", p.Passive, p.Active, p.Off(), p.FailOpen)
	}
	if p.Threshold[health.TCP] != 1 || p.Threshold[health.Timeout] != 3 || p.Threshold[health.HTTP] != 0 {
		t.Errorf("default Threshold = %v, want tcp 1, timeout 3, http 0", p.Threshold)
	}
	if p.UnhealthyTimeout != 30*time.Second || p.CheckTimeout != 5*time.Second || p.Interval != 5*time.Second || p.Path != "/" {
		t.Errorf("UnhealthyTimeout, CheckTimeout, Interval, Path = %v, %v, %v, %q, want 30s, 5s, 5s, /",
			p.UnhealthyTimeout, p.CheckTimeout, p.Interval, p.Path)
	}

	p = compile(t, config.HealthCheck{
		EnableActiveCheck: true, EnablePassiveCheck: true,
		TCPFailureThreshold: ptr(2), TimeoutThreshold: ptr(4), HTTPFailureThreshold: ptr(6),
		ActiveCheckHTTPPath: "/healthz", ActiveCheckTimeout: 7, ActiveCheckInterval: 9, UnhealthyTimeout: ptr(11),
		ActiveRequestHeaders: map[string]string{"X-B": "2", "X-A": "1", "Accept": "*/*"},
	})
	if !p.Active || !p.Passive || p.Off() {
		t.Errorf("Active, Passive, Off = %t, %t, %t", p.Active, p.Passive, p.Off())
	}
	if p.Threshold[health.TCP] != 2 || p.Threshold[health.Timeout] != 4 || p.Threshold[health.HTTP] != 6 {
		t.Errorf("Threshold = %v, want 2, 4, 6", p.Threshold)
	}
	if p.Path != "/healthz" || p.CheckTimeout != 7*time.Second || p.Interval != 9*time.Second || p.UnhealthyTimeout != 11*time.Second {
		t.Errorf("Path, CheckTimeout, Interval, UnhealthyTimeout = %q, %v, %v, %v", p.Path, p.CheckTimeout, p.Interval, p.UnhealthyTimeout)
	}
	if want := [][2]string{{"Accept", "*/*"}, {"X-A", "1"}, {"X-B", "2"}}; !slices.Equal(p.Headers, want) {
		t.Errorf("Headers = %v, want %v (sorted by name)", p.Headers, want)
	}

	// Explicit 0 thresholds: off.
	p = compile(t, config.HealthCheck{EnableActiveCheck: true, EnablePassiveCheck: true, UnhealthyTimeout: ptr(0),
		TCPFailureThreshold: ptr(0), TimeoutThreshold: ptr(0), HTTPFailureThreshold: ptr(0)})
	if p.Threshold != [len(p.Threshold)]int{} || p.UnhealthyTimeout != 0 {
		t.Errorf("Threshold = %v, UnhealthyTimeout = %v, want all 0", p.Threshold, p.UnhealthyTimeout)
	}

	for _, tt := range []struct {
		active, passive, off bool
	}{{false, false, true}, {true, false, false}, {false, true, false}, {true, true, false}} {
		p := compile(t, config.HealthCheck{EnableActiveCheck: tt.active, EnablePassiveCheck: tt.passive})
		if p.Off() != tt.off || p.Active != tt.active || p.Passive != tt.passive {
			t.Errorf("active %t passive %t: Off() = %t, want %t", tt.active, tt.passive, p.Off(), tt.off)
		}
	}
}

func TestPolicyStatusLists(t *testing.T) {
	check := func(t *testing.T, p *health.Policy, healthy, unhealthy []int) {
		t.Helper()
		for s := -1; s <= 1000; s++ {
			if got, want := p.ActiveSuccess(s), slices.Contains(healthy, s); got != want {
				t.Errorf("ActiveSuccess(%d) = %t, want %t", s, got, want)
			}
			if got, want := p.PassiveFailure(s), slices.Contains(unhealthy, s); got != want {
				t.Errorf("PassiveFailure(%d) = %t, want %t", s, got, want)
			}
		}
	}
	t.Run("defaults", func(t *testing.T) {
		check(t, compile(t, config.HealthCheck{EnableActiveCheck: true, EnablePassiveCheck: true}),
			config.DefaultHealthyStatus, config.DefaultUnhealthyStatus)
	})
	t.Run("custom", func(t *testing.T) {
		healthy, unhealthy := []int{100, 200, 418, 599}, []int{429, 500, 501, 502, 503, 504, 505, 598}
		check(t, compile(t, config.HealthCheck{EnableActiveCheck: true, EnablePassiveCheck: true,
			HealthyHTTPStatus: healthy, UnhealthyHTTPStatus: unhealthy}), healthy, unhealthy)
	})
	t.Run("unvalidated", func(t *testing.T) {
		// Compile of a config as stored before defaults existed: empty
		// lists take the defaults.
		check(t, health.Compile(&config.HealthCheck{EnableActiveCheck: true}),
			config.DefaultHealthyStatus, config.DefaultUnhealthyStatus)
	})
}

func TestNodeNew(t *testing.T) {
	n := newNode()
	wantState(t, n, health.NoData)
	if st := n.Status(); st.State != health.NoData || !st.Since.IsZero() || st.Reason != "" {
		t.Errorf("Status() = %+v, want NO_DATA with no reason or time", st)
	}
	for _, p := range []*health.Policy{health.Compile(nil), passive(t, 1, 1, 1)} {
		if !n.Available(time.Now().UnixNano(), p) {
			t.Error("a new node is not available")
		}
	}
}

func TestNodeSuccess(t *testing.T) {
	p := passive(t, 1, 3, 0)
	n := newNode()
	before := time.Now()
	n.Success(p)
	after := time.Now()
	wantState(t, n, health.Healthy)
	st := n.Status()
	if st.Reason == "" || st.Since.Before(before.Truncate(time.Microsecond)) || st.Since.After(after) {
		t.Errorf("Status() = %+v, want a reason and a Since in [%v, %v]", st, before, after)
	}
	if st.Since.Location() != time.UTC {
		t.Errorf("Since = %v, want UTC", st.Since)
	}
	// A second success changes nothing, not even Since.
	n.Success(p)
	if st2 := n.Status(); st2 != st {
		t.Errorf("a success on a healthy node changed %+v into %+v", st, st2)
	}

	// Active checks only: real traffic judges nothing.
	n = newNode()
	n.Success(compile(t, config.HealthCheck{EnableActiveCheck: true}))
	wantState(t, n, health.NoData)
	n.Success(compile(t, config.HealthCheck{}))
	wantState(t, n, health.NoData)
}

func TestNodeFailureThreshold(t *testing.T) {
	p := passive(t, 3, 3, 3)
	for _, k := range []health.Kind{health.TCP, health.Timeout, health.HTTP} {
		t.Run(k.String(), func(t *testing.T) {
			n := newNode()
			n.Success(p)
			for i := 1; i <= 2; i++ {
				if n.Failure(k, "boom", p) {
					t.Fatalf("failure %d of 3 ejected the node", i)
				}
				wantState(t, n, health.Healthy)
			}
			before := time.Now()
			if !n.Failure(k, "connection refused", p) {
				t.Fatal("failure 3 of 3 did not eject the node")
			}
			wantState(t, n, health.Unhealthy)
			st := n.Status()
			if !strings.Contains(st.Reason, "3 consecutive "+k.String()) || !strings.Contains(st.Reason, "connection refused") {
				t.Errorf("reason = %q, want the count, the kind and the last failure", st.Reason)
			}
			if st.Since.Before(before.Truncate(time.Microsecond)) {
				t.Errorf("Since = %v, before the change at %v", st.Since, before)
			}
			if n.Available(time.Now().UnixNano(), p) {
				t.Error("an ejected node is available before unhealthy_timeout")
			}
		})
	}
}

func TestNodeSuccessResetsCount(t *testing.T) {
	p := passive(t, 3, 3, 3)
	n := newNode()
	for round := 0; round < 5; round++ {
		for _, k := range []health.Kind{health.TCP, health.Timeout, health.HTTP} {
			first := n.Failure(k, "x", p)
			second := n.Failure(k, "x", p)
			if first || second {
				t.Fatalf("round %d: two %v failures ejected the node", round, k)
			}
		}
		n.Success(p)
		wantState(t, n, health.Healthy)
	}
	for i := 0; i < 2; i++ {
		n.Failure(health.TCP, "x", p)
	}
	if !n.Failure(health.TCP, "x", p) {
		t.Fatal("3 consecutive failures after the last success did not eject")
	}
}

func TestNodeKindsCountSeparately(t *testing.T) {
	p := passive(t, 2, 2, 2)
	n := newNode()
	// One failure of each kind: no kind reaches its threshold of 2; the
	// fourth failure is the second TCP one.
	if n.Failure(health.TCP, "x", p) || n.Failure(health.Timeout, "x", p) || n.Failure(health.HTTP, "x", p) {
		t.Fatal("one failure of each kind ejected the node (threshold 2)")
	}
	wantState(t, n, health.NoData)
	if !n.Failure(health.TCP, "x", p) {
		t.Fatal("the second TCP failure did not eject: a failure of another kind must not reset the count")
	}

	// A count near the top of one byte does not spill into the next kind.
	p = passive(t, 0, 254, 2)
	n = newNode()
	for i := 1; i < 254; i++ {
		if n.Failure(health.Timeout, "x", p) {
			t.Fatalf("timeout failure %d ejected (threshold 254)", i)
		}
	}
	if n.Failure(health.HTTP, "x", p) {
		t.Fatal("one http failure after 253 timeouts ejected (http threshold 2)")
	}
	if !n.Failure(health.Timeout, "x", p) {
		t.Fatal("timeout failure 254 did not eject (threshold 254)")
	}
}

func TestNodeZeroThresholdNeverEjects(t *testing.T) {
	p := passive(t, 0, 0, 0)
	n := newNode()
	for i := 0; i < 1000; i++ {
		for _, k := range []health.Kind{health.TCP, health.Timeout, health.HTTP} {
			if n.Failure(k, "x", p) {
				t.Fatalf("%v failure %d ejected with threshold 0", k, i)
			}
		}
	}
	wantState(t, n, health.NoData)

	// Passive checks off: failures count for nothing.
	p = compile(t, config.HealthCheck{EnableActiveCheck: true, TCPFailureThreshold: ptr(1)})
	for i := 0; i < 10; i++ {
		if n.Failure(health.TCP, "x", p) {
			t.Fatal("a failure ejected the node with passive checks off")
		}
	}
	wantState(t, n, health.NoData)
}

// TestNodeBreaker walks the breaker through its states. Available takes
// the time as an argument, so the test moves it forward instead of
// sleeping; the ejection time is bracketed by before/after.
func TestNodeBreaker(t *testing.T) {
	p := health.Compile(nil) // tcp threshold 1, unhealthy_timeout 10 s
	ut := int64(p.UnhealthyTimeout)
	n := newNode()

	before := time.Now().UnixNano()
	if !n.Failure(health.TCP, "connection refused", p) {
		t.Fatal("the first connection failure did not eject (implicit threshold 1)")
	}
	after := time.Now().UnixNano()
	wantState(t, n, health.Unhealthy)
	for _, now := range []int64{after, after + ut/2, before + ut - 1} {
		if n.Available(now, p) {
			t.Fatalf("available %v after ejection, before unhealthy_timeout", time.Duration(now-before))
		}
	}
	// unhealthy_timeout is over: one half-open probe, only one.
	now1 := after + ut
	if !n.Available(now1, p) {
		t.Fatal("no half-open probe after unhealthy_timeout")
	}
	for _, now := range []int64{now1, now1 + 1, now1 + ut - 1} {
		if n.Available(now, p) {
			t.Fatalf("a second half-open probe %v after the first", time.Duration(now-now1))
		}
	}
	wantState(t, n, health.Unhealthy)

	// The probe fails: out for another unhealthy_timeout from the failure.
	bf := time.Now().UnixNano()
	n.Failure(health.TCP, "connection refused again", p)
	af := time.Now().UnixNano()
	wantState(t, n, health.Unhealthy)
	if n.Available(bf+ut-1, p) {
		t.Fatal("available before unhealthy_timeout after the half-open probe failed")
	}
	now2 := af + ut
	if !n.Available(now2, p) {
		t.Fatal("no half-open probe unhealthy_timeout after the failed one")
	}

	// This probe succeeds: closed.
	n.Success(p)
	wantState(t, n, health.Healthy)
	for _, now := range []int64{now2, now2 + 1, after} {
		if !n.Available(now, p) {
			t.Fatal("a healthy node is not available")
		}
	}
	// The count starts over.
	if !n.Failure(health.TCP, "x", p) {
		t.Fatal("no ejection after the breaker closed")
	}
}

// A half-open probe that never reports back is given up after another
// unhealthy_timeout: the next caller gets one.
func TestNodeHalfOpenGivenUp(t *testing.T) {
	p := passive(t, 1, 1, 1)
	ut := int64(p.UnhealthyTimeout)
	n := newNode()
	n.Failure(health.Timeout, "x", p)
	now := time.Now().UnixNano() + ut
	if !n.Available(now, p) {
		t.Fatal("no half-open probe")
	}
	if n.Available(now+ut-1, p) {
		t.Fatal("a second probe before the first was given up")
	}
	if !n.Available(now+ut, p) {
		t.Fatal("the lost probe was never given up")
	}
	// A failure below the threshold (here another kind, threshold 2)
	// neither closes nor re-opens: the node stays out.
	p2 := passive(t, 1, 2, 1)
	n = newNode()
	n.Failure(health.TCP, "x", p2)
	now = time.Now().UnixNano() + ut
	if !n.Available(now, p2) {
		t.Fatal("no half-open probe")
	}
	if n.Failure(health.Timeout, "x", p2) {
		t.Fatal("one timeout failed ejected with threshold 2")
	}
	wantState(t, n, health.Unhealthy)
	if n.Available(now+ut-1, p2) {
		t.Fatal("available after a failed half-open probe")
	}
}

func TestNodeHalfOpenConcurrent(t *testing.T) {
	p := health.Compile(nil)
	ut := int64(p.UnhealthyTimeout)
	const goroutines = 64
	for round := 0; round < 20; round++ {
		n := newNode()
		n.Failure(health.TCP, "x", p)
		base := time.Now().UnixNano() + ut
		var (
			start = make(chan struct{})
			wg    sync.WaitGroup
			mu    sync.Mutex
			wins  int
		)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Each caller has its own clock reading, all past the
				// probe time and within unhealthy_timeout of one another.
				if n.Available(base+int64(g), p) {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 {
			t.Fatalf("round %d: %d of %d concurrent callers got the half-open probe, want exactly 1", round, wins, goroutines)
		}
	}
}

// Concurrent failures, probes and reads: no race, and 3200 consecutive
// failures of each kind eject the node (threshold 200).
func TestNodeConcurrentFailures(t *testing.T) {
	p := passive(t, 1, 200, 200)
	n := newNode()
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				n.Failure(health.Timeout, "x", p)
				n.Failure(health.HTTP, "x", p)
				n.Available(time.Now().UnixNano(), p)
				n.Status()
			}
		}()
	}
	wg.Wait()
	// 3200 failures of each kind, threshold 200: ejected at least once, no
	// panic, no race.
	wantState(t, n, health.Unhealthy)
	n.Success(p)
	wantState(t, n, health.Healthy)
}

func TestNodeConfigure(t *testing.T) {
	p := passive(t, 2, 3, 0)
	off := compile(t, config.HealthCheck{})
	n := newNode()
	n.Failure(health.TCP, "x", p)
	n.Failure(health.TCP, "x", p)
	wantState(t, n, health.Unhealthy)

	n.Configure(off)
	wantState(t, n, health.Off)
	if st := n.Status(); st.Reason == "" || st.Since.IsZero() {
		t.Errorf("Status() = %+v, want a reason and a time", st)
	}
	if !n.Available(time.Now().UnixNano(), off) {
		t.Fatal("a node with checks off is not available")
	}
	if n.Failure(health.TCP, "x", off) {
		t.Fatal("a failure ejected a node with checks off")
	}
	n.Success(off)
	wantState(t, n, health.Off)
	n.Configure(off)
	wantState(t, n, health.Off)

	n.Configure(p)
	wantState(t, n, health.NoData)
	if !n.Available(time.Now().UnixNano(), p) {
		t.Fatal("a node whose checks were just turned on is not available")
	}
	// The count started over: one failure is not two.
	if n.Failure(health.TCP, "x", p) {
		t.Fatal("a failure counted before checks were turned off was kept")
	}
	n.Configure(p) // same policy: nothing changes
	wantState(t, n, health.NoData)

	// Held out by passive checks, which are then turned off: active
	// checks decide from NO_DATA.
	n = newNode()
	n.Failure(health.TCP, "x", p)
	n.Failure(health.TCP, "x", p)
	active := compile(t, config.HealthCheck{EnableActiveCheck: true})
	n.Configure(active)
	wantState(t, n, health.NoData)
	if !n.Available(time.Now().UnixNano(), active) {
		t.Fatal("a node released by turning passive checks off is not available")
	}
}

// Bug: a node ejected by passive checks under a policy whose
// unhealthy_timeout is above 0, then configured with unhealthy_timeout 0
// (allowed when active checks are on too, and documented as "held out until
// an active check succeeds"), lets every caller through once the old
// window is over: Available's CompareAndSwap(at, now+0) succeeds for every
// caller, so the "one half-open probe" becomes unlimited traffic to an
// UNHEALTHY node.
func TestNodeUnhealthyTimeoutZeroAfterEjection(t *testing.T) {
	before := compile(t, config.HealthCheck{EnablePassiveCheck: true, EnableActiveCheck: true, UnhealthyTimeout: ptr(1)})
	after := compile(t, config.HealthCheck{EnablePassiveCheck: true, EnableActiveCheck: true, UnhealthyTimeout: ptr(0)})
	n := newNode()
	n.Failure(health.TCP, "x", before)
	n.Configure(after)
	wantState(t, n, health.Unhealthy)
	now := time.Now().UnixNano() + int64(time.Minute)
	wins := 0
	for i := 0; i < 10; i++ {
		if n.Available(now+int64(i), after) {
			wins++
		}
	}
	if wins > 1 {
		t.Fatalf("%d of 10 callers got through to an UNHEALTHY node, want at most 1", wins)
	}
}
