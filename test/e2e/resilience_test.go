package e2e

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// channelHealth is GET /channels/{id}/health: node state by host:port.
func (a *adminClient) channelHealth(id string) map[string]string {
	a.g.t.Helper()
	var out struct {
		Nodes []struct {
			Host  string `json:"host"`
			Port  int    `json:"port"`
			State string `json:"state"`
		} `json:"nodes"`
	}
	a.do(http.MethodGet, "/channels/"+id+"/health", nil, http.StatusOK, &out)
	m := map[string]string{}
	for _, n := range out.Nodes {
		m[net.JoinHostPort(n.Host, strconv.Itoa(n.Port))] = n.State
	}
	return m
}

// waitHealth polls until the node at addr of channel id is in state, for at
// most limit (a liveness bound).
func (a *adminClient) waitHealth(id, addr, state string, limit time.Duration) {
	a.g.t.Helper()
	var got string
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got = a.channelHealth(id)[addr]; got == state {
			return
		}
	}
	a.g.t.Fatalf("node %s of %s is %s after %v, want %s", addr, id, got, limit, state)
}

// kill stops a backend the hard way: no new connection is accepted and the
// open ones are cut.
func (b *backend) kill() {
	b.srv.Listener.Close()
	b.srv.CloseClientConnections()
}

// TestKillNodeUnderLoad: one of three nodes dies while requests flow; no
// client request fails, and the node shows UNHEALTHY.
func TestKillNodeUnderLoad(t *testing.T) {
	t.Parallel()
	n1, n2, n3 := newBackend(t, "n1"), newBackend(t, "n2"), newBackend(t, "n3")
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(n1.node(1), n2.node(1), n3.node(1)))
	g.admin.publishedService("kill", channelAPI("kill", "GET", "/kill", ch.ID, "/"))

	base := startLoad(g, 4, okJudge, "/kill")
	time.Sleep(1500 * time.Millisecond)
	before := base.Stop()

	load := startLoad(g, 4, okJudge, "/kill")
	time.Sleep(500 * time.Millisecond)
	n2.kill()
	time.Sleep(2 * time.Second)
	after := load.Stop()
	t.Logf("three healthy nodes: %s", before)
	t.Logf("one node killed during the run: %s", after)
	if before.Failed+after.Failed > 0 {
		t.Fatalf("failed requests: %d before, %d across the kill (first: %v %v)",
			before.Failed, after.Failed, before.Failures, after.Failures)
	}
	if h := g.admin.channelHealth(ch.ID)[n2.addr()]; h != "UNHEALTHY" {
		t.Errorf("the killed node is %s, want UNHEALTHY", h)
	}
	if h := g.admin.channelHealth(ch.ID)[n1.addr()]; h != "HEALTHY" {
		t.Errorf("a live node is %s, want HEALTHY", h)
	}
}

// flaky is a backend whose behaviour a test switches: it answers, fails
// with 500, or hangs. It counts the requests other than health checks.
type flaky struct {
	*backend
	mode    atomic.Int32 // flakyOK, flaky500, flakyHang
	traffic atomic.Int64
}

const (
	flakyOK = iota
	flaky500
	flakyHang
)

func newFlaky(t *testing.T, name string) *flaky {
	f := &flaky{}
	f.backend = newHandlerBackend(t, name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			f.traffic.Add(1)
		}
		switch f.mode.Load() {
		case flaky500:
			w.WriteHeader(http.StatusInternalServerError)
		case flakyHang:
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			f.backend.echo(w, r)
		}
	}))
	return f
}

// TestFailingNodeEjectedAndBack: a node that answers 500s, then one that
// hangs, is taken out after the thresholds and gets no more traffic; it
// comes back when its health check passes again.
func TestFailingNodeEjectedAndBack(t *testing.T) {
	t.Parallel()
	good1, good2 := newBackend(t, "good1"), newBackend(t, "good2")
	bad := newFlaky(t, "bad")
	g := startGateway(t)
	c := httpChannel(good1.node(1), good2.node(1), bad.node(1))
	c.HealthCheck = map[string]any{
		"enable_active_check": true, "enable_passive_check": true,
		"http_failure_threshold": 3, "timeout_threshold": 2, "tcp_failure_threshold": 1,
		"active_check_http_path": "/healthz", "active_check_interval": 1, "active_check_timeout": 1,
		"unhealthy_timeout": 60,
	}
	ch := g.admin.createChannel(c)
	x := channelAPI("flaky", "GET", "/flaky", ch.ID, "/")
	x.Backend.Timeout = 1
	g.admin.publishedService("flaky", x)
	g.admin.waitHealth(ch.ID, bad.addr(), "HEALTHY", 5*time.Second)

	const workers = 4
	// 500s and 504s are what the failing node answers until it is out.
	var seen sync.Map
	judge := func(path string, r reply, err error) string {
		if err == nil && (r.status == 500 || r.status == 504) {
			v, _ := seen.LoadOrStore(r.status, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			return ""
		}
		return okJudge(path, r, err)
	}
	count := func(status int) int64 {
		if v, ok := seen.Load(status); ok {
			return v.(*atomic.Int64).Load()
		}
		return 0
	}
	for _, phase := range []struct {
		name   string
		mode   int32
		status int
	}{{"answers 500", flaky500, 500}, {"hangs", flakyHang, 504}} {
		load := startLoad(g, workers, judge, "/flaky")
		bad.mode.Store(phase.mode)
		g.admin.waitHealth(ch.ID, bad.addr(), "UNHEALTHY", 10*time.Second)
		// Out of the rotation: no more traffic reaches it.
		// Requests sent before the ejection end: a hanging one after the
		// API timeout (1 s).
		time.Sleep(1200 * time.Millisecond)
		hits := bad.traffic.Load()
		failed := count(phase.status)
		time.Sleep(1500 * time.Millisecond)
		if n := bad.traffic.Load() - hits; n > 0 {
			t.Errorf("%s: %d requests reached the node after it was ejected", phase.name, n)
		}
		if n := count(phase.status) - failed; n > 0 {
			t.Errorf("%s: %d more %d answers after the ejection", phase.name, n, phase.status)
		}
		// Back to health: the active check brings it back.
		bad.mode.Store(flakyOK)
		g.admin.waitHealth(ch.ID, bad.addr(), "HEALTHY", 10*time.Second)
		hits = bad.traffic.Load()
		time.Sleep(500 * time.Millisecond)
		res := load.Stop()
		if bad.traffic.Load() == hits {
			t.Errorf("%s: the node got no traffic after it came back", phase.name)
		}
		t.Logf("node %s: %d answers %d before it was out; load: %s", phase.name, count(phase.status), phase.status, res)
		if res.Failed > 0 {
			t.Fatalf("%s: %d requests failed otherwise (first: %v)", phase.name, res.Failed, res.Failures)
		}
		// Each worker may have had one request on the node when it was
		// taken out, beyond the threshold.
		if limit := int64(3 + workers); count(phase.status) > limit {
			t.Errorf("%s: %d answers %d, want at most %d (threshold + one in flight per worker)",
				phase.name, count(phase.status), phase.status, limit)
		}
	}
}

// blackhole accepts connections and reads them, but never answers.
func blackhole(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = c.Read(make([]byte, 64<<10)) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	a := ln.Addr().(*net.TCPAddr)
	return "127.0.0.1", a.Port
}

// TestBlackholeNodeCostIsBounded: a node that accepts connections and
// never answers costs one API timeout, then is skipped: with the implicit
// check of a channel without health_check, and with an explicit one.
func TestBlackholeNodeCostIsBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		hc   map[string]any
	}{
		{"implicit", nil},
		{"explicit", map[string]any{"enable_passive_check": true, "timeout_threshold": 1, "unhealthy_timeout": 60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			live := newBackend(t, "live")
			host, port := blackhole(t)
			g := startGateway(t)
			c := httpChannel(live.node(1), node{Host: host, Port: port, Weight: 1})
			c.HealthCheck = tc.hc
			ch := g.admin.createChannel(c)
			x := channelAPI("bh", "GET", "/bh", ch.ID, "/")
			x.Backend.Timeout = 1
			g.admin.publishedService("bh", x)

			start := time.Now()
			timeouts := 0
			for i := range 20 {
				r := g.get("/bh")
				switch r.status {
				case http.StatusOK:
				case http.StatusGatewayTimeout:
					timeouts++
				default:
					t.Fatalf("call %d: %s", i, r)
				}
			}
			took := time.Since(start)
			t.Logf("20 calls with a blackhole node: %d timed out, %v in all", timeouts, took.Round(time.Millisecond))
			if timeouts != 1 {
				t.Errorf("%d calls timed out, want exactly 1: the node must be out after its first timeout", timeouts)
			}
			if h := g.admin.channelHealth(ch.ID)[net.JoinHostPort(host, strconv.Itoa(port))]; h != "UNHEALTHY" {
				t.Errorf("the blackhole node is %s, want UNHEALTHY", h)
			}
		})
	}
}

// TestSIGTERMUnderLoad: SIGTERM while requests flow: every request the
// gateway accepted is answered in full; the only errors are refused
// connections after it stopped accepting.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	slow := newHandlerBackend(t, "slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		_, _ = w.Write([]byte(strings.Repeat("x", 4096)))
	}))
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(slow.node(1)))
	g.admin.publishedService("term", channelAPI("term", "GET", "/term", ch.ID, "/"))

	var refused atomic.Int64
	judge := func(path string, r reply, err error) string {
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			refused.Add(1) // never accepted
			return ""
		}
		if err == nil && r.status == http.StatusOK && len(r.body) != 4096 {
			return "a short body: " + strconv.Itoa(len(r.body)) + " bytes"
		}
		return okJudge(path, r, err)
	}
	load := startLoad(g, 8, judge, "/term")
	time.Sleep(time.Second)
	g.Signal(syscall.SIGTERM)
	code := g.Wait()
	time.Sleep(100 * time.Millisecond)
	res := load.Stop()
	t.Logf("SIGTERM under load: %s; %d refused after the listener closed", res, refused.Load())
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if res.Failed > 0 {
		t.Fatalf("%d accepted requests failed across SIGTERM (first: %v)", res.Failed, res.Failures)
	}
	if res.OK-refused.Load() < 50 {
		t.Errorf("only %d requests answered: the load did not overlap the drain", res.OK-refused.Load())
	}
}
