package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The cluster tests run several gateway nodes on one PostgreSQL schema: the
// server named by PORTICO_TEST_POSTGRES, by default the machine's own with
// trust authentication. Each test gets its own schema, dropped at its end.
// Without a server they skip, unless CI=true: then they fail.

// Bounds of the cluster tests. The contract is that every node applies a
// revision within 1 s; the others are liveness bounds, generous because the
// nodes run with the race detector on a shared machine.
const (
	propagationBound = time.Second      // a write on one node served by the others
	unavailableBound = 10 * time.Second // an admin write while the store is down answers 503
	catchUpBound     = 30 * time.Second // a node whose store comes back serves what it missed
)

func pgBaseDSN() string {
	if dsn := os.Getenv("PORTICO_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// clusterSchema creates an empty schema for one test, dropped when it
// ends, and returns a DSN that selects it.
func clusterSchema(t *testing.T) string {
	t.Helper()
	base := pgBaseDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := "PostgreSQL is unreachable (set PORTICO_TEST_POSTGRES to a reachable server): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true, so the cluster tests fail rather than skip: " + msg)
		}
		t.Skip("skipping the cluster tests: " + msg)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "portico_e2e_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered first, so it runs last: after the nodes are gone.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		conn.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("PORTICO_TEST_POSTGRES must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// startNode starts a gateway node on the store dsn with a fresh data
// directory; env adds variables.
func startNode(t *testing.T, dsn string, env ...string) *gateway {
	t.Helper()
	g := newGateway(t, t.TempDir(), "--store", dsn)
	g.env = env
	g.Start()
	return g
}

// serves reports whether the node answers path with 200 and want.
func serves(g *gateway, path, want string) bool {
	req, err := http.NewRequest(http.MethodGet, g.url(path), nil)
	if err != nil {
		return false
	}
	r, err := g.try(req)
	return err == nil && r.status == http.StatusOK && string(r.body) == want
}

// waitServes waits, at most within, until the node serves path.
func waitServes(t *testing.T, g *gateway, path, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !serves(g, path, want) {
		if time.Since(start) > within {
			t.Fatalf("node %s does not serve %s %s after %v", g.adminAddr, path, want, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// nodeStatus is what the cluster tests read of GET /api/v1/status.
type nodeStatus struct {
	Revision   int64   `json:"revision"`
	Stale      bool    `json:"stale"`
	StaleSince *string `json:"stale_since"`
	StaleError string  `json:"stale_error"`
}

func (a *adminClient) status() nodeStatus {
	a.g.t.Helper()
	var st nodeStatus
	a.do(http.MethodGet, "/status", nil, http.StatusOK, &st)
	return st
}

// waitStale waits until the node's status says stale is want.
func waitStale(t *testing.T, g *gateway, want bool, within time.Duration) nodeStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := g.admin.status()
		if st.Stale == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: stale = %v after %v, want %v (%+v)", g.adminAddr, st.Stale, within, want, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mockRoute is a published-to-be mock API answering body on path.
func mockRoute(name, path, body string) api {
	return mockAPI(name, "GET", path, mock{Status: 200, Body: body})
}

// TestClusterPropagation: a write on one node is served by the others
// within the second the contract allows; the figures are logged. Not
// parallel, so that the other tests' load does not blur the figures.
func TestClusterPropagation(t *testing.T) {
	dsn := clusterSchema(t)
	a, b, c := startNode(t, dsn), startNode(t, dsn), startNode(t, dsn)
	sid := a.admin.createService("propagation")

	const writes = 50
	var (
		lat    [2][]time.Duration // B, C
		answer []time.Duration    // A's own answer, which waits until A serves the write
	)
	for i := range writes {
		path, body := fmt.Sprintf("/p%d", i), fmt.Sprintf("p%d", i)
		a.admin.createAPI(sid, mockRoute(fmt.Sprintf("p%d", i), path, body))
		// Watch B and C from before the write starts: the figure is an
		// upper bound of commit to served.
		start := time.Now()
		var wg sync.WaitGroup
		var seen [2]time.Duration
		for j, g := range []*gateway{b, c} {
			wg.Go(func() {
				for time.Since(start) < catchUpBound {
					if serves(g, path, body) {
						seen[j] = time.Since(start)
						return
					}
					time.Sleep(time.Millisecond)
				}
				seen[j] = -1
			})
		}
		a.admin.publish(sid, "release")
		answer = append(answer, time.Since(start))
		wg.Wait()
		for j, name := range []string{"B", "C"} {
			if seen[j] < 0 {
				t.Fatalf("write %d: node %s never served %s", i, name, path)
			}
			lat[j] = append(lat[j], seen[j])
		}
	}
	figures := func(what string, d []time.Duration) {
		d = append([]time.Duration(nil), d...)
		sort.Slice(d, func(x, y int) bool { return d[x] < d[y] })
		r := func(x time.Duration) time.Duration { return x.Round(10 * time.Microsecond) }
		t.Logf("%s, %d writes: p50 %v, p99 %v, max %v", what, len(d), r(d[len(d)/2]), r(d[(len(d)*99+99)/100-1]), r(d[len(d)-1]))
	}
	figures("publish on A -> A answers (served on A)", answer)
	for j, name := range []string{"B", "C"} {
		figures("publish on A -> served on "+name, lat[j])
		for i, x := range lat[j] {
			if x > propagationBound {
				t.Errorf("write %d reached node %s after %v, more than %v", i, name, x, propagationBound)
			}
		}
	}
}

// TestClusterNodes: every node lists the cluster from the heartbeats; a
// killed node becomes gone. The heartbeat is shortened (it is 5 s) so
// that gone comes within a second.
func TestClusterNodes(t *testing.T) {
	t.Parallel()
	dsn := clusterSchema(t)
	env := "PORTICO_HEARTBEAT_INTERVAL=200ms"
	a, b, c := startNode(t, dsn, env), startNode(t, dsn, env), startNode(t, dsn, env)
	a.admin.publishedService("nodes", mockRoute("n", "/n", "n"))

	type view struct {
		ID        string `json:"id"`
		Hostname  string `json:"hostname"`
		Version   string `json:"version"`
		ProxyAddr string `json:"proxy_addr"`
		Revision  int64  `json:"revision"`
		State     string `json:"state"`
		StartedAt string `json:"started_at"`
		LastSeen  string `json:"last_seen"`
	}
	states := func(g *gateway) map[string]view {
		var list struct {
			Items []view `json:"items"`
			Total int    `json:"total"`
		}
		g.admin.do(http.MethodGet, "/nodes", nil, http.StatusOK, &list)
		out := map[string]view{}
		for _, v := range list.Items {
			out[v.ProxyAddr] = v
		}
		return out
	}
	waitStates := func(from *gateway, want map[*gateway]string) map[string]view {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := states(from)
			ok := len(got) == len(want)
			for g, st := range want {
				if got[g.proxyAddr].State != st {
					ok = false
				}
			}
			if ok {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("nodes seen by %s: %+v; want %d nodes in states %v", from.adminAddr, got, len(want), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rev := a.admin.revision()
	for _, from := range []*gateway{a, b, c} {
		got := waitStates(from, map[*gateway]string{a: "in_sync", b: "in_sync", c: "in_sync"})
		for _, v := range got {
			if !strings.HasPrefix(v.ID, "node-") || v.Hostname == "" || v.Version == "" || v.Revision < rev ||
				v.StartedAt == "" || v.LastSeen == "" {
				t.Errorf("node %+v", v)
			}
		}
	}
	c.Kill()
	waitStates(a, map[*gateway]string{a: "in_sync", b: "in_sync", c: "gone"})
}

// tcpProxy forwards a local port to the PostgreSQL server, and can be cut
// (its port closed, every connection through it dropped) and restored on
// the same port: a store outage as one node sees it, without stopping the
// machine's server, which other tests use.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, dsn string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	p := &tcpProxy{t: t, target: net.JoinHostPort(u.Hostname(), port), conns: map[net.Conn]struct{}{}}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.Cut)
	return p
}

func (p *tcpProxy) listen(addr string) {
	p.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// Cut closes the port and every connection through it.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Restore listens on the same port again.
func (p *tcpProxy) Restore() { p.listen(p.addr) }

// via is dsn through the proxy.
func (p *tcpProxy) via(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

// wantUnavailable sends an admin write that the store cannot take and
// checks that it answers 503 StoreUnavailable, soon.
func wantUnavailable(t *testing.T, g *gateway) {
	t.Helper()
	start := time.Now()
	status, _, body := g.admin.request(http.MethodPost, "/api/v1/services", g.token, map[string]any{"name": "during_outage"})
	took := time.Since(start)
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	if status != http.StatusServiceUnavailable || e.Error.Code != "StoreUnavailable" ||
		!strings.HasPrefix(e.Error.Message, "the configuration store is unreachable: ") {
		t.Fatalf("an admin write while the store is unreachable: %d %s", status, body)
	}
	if took > unavailableBound {
		t.Fatalf("the 503 took %v", took)
	}
	t.Logf("admin write while the store is unreachable: 503 after %v", took.Round(time.Millisecond))
}

// TestClusterOutage: a node whose store becomes unreachable keeps serving,
// answers admin writes 503 within seconds and says it is stale; when the
// store comes back it catches up with what the other nodes wrote.
func TestClusterOutage(t *testing.T) {
	t.Parallel()
	dsn := clusterSchema(t)
	proxy := newTCPProxy(t, dsn)
	a := startNode(t, dsn)
	d := startNode(t, proxy.via(dsn))
	sid, _ := a.admin.publishedService("outage", mockRoute("before", "/before", "before"))
	waitServes(t, d, "/before", "before", catchUpBound)

	proxy.Cut()
	if !serves(d, "/before", "before") {
		t.Fatal("the node stopped serving when its store went away")
	}
	wantUnavailable(t, d)
	st := waitStale(t, d, true, catchUpBound)
	if st.StaleSince == nil || !strings.Contains(st.StaleError, "unreachable") {
		t.Errorf("stale status %+v", st)
	}
	a.admin.createAPI(sid, mockRoute("after", "/after", "after"))
	a.admin.publish(sid, "release")
	if !serves(d, "/before", "before") || serves(d, "/after", "after") {
		t.Fatal("the node without its store changed what it serves")
	}

	proxy.Restore()
	took := waitServes(t, d, "/after", "after", catchUpBound)
	t.Logf("caught up %v after the store came back", took.Round(time.Millisecond))
	waitStale(t, d, false, catchUpBound)
	d.admin.createService("after_outage") // writes work again, and answer once served
}

// TestClusterStartWhileStoreDown: a node that starts while its store is
// unreachable serves the configuration it applied last, from its data
// directory, and says it is stale; it catches up when the store comes
// back. A node that never applied anything refuses to start.
func TestClusterStartWhileStoreDown(t *testing.T) {
	t.Parallel()
	dsn := clusterSchema(t)
	proxy := newTCPProxy(t, dsn)
	a := startNode(t, dsn)
	d := startNode(t, proxy.via(dsn))
	sid, _ := a.admin.publishedService("kept", mockRoute("kept", "/kept", "kept"))
	waitServes(t, d, "/kept", "kept", catchUpBound)
	if code := d.Stop(); code != 0 {
		t.Fatalf("SIGTERM: exit code %d", code)
	}
	fi, err := os.Stat(filepath.Join(d.dataDir, "last-applied.json"))
	if err != nil {
		t.Fatalf("no last applied configuration after a stop: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("last-applied.json has mode %v, want 0600 (it holds secrets)", fi.Mode().Perm())
	}

	proxy.Cut()
	d.Start() // waits for /healthz 200
	if !serves(d, "/kept", "kept") {
		t.Fatal("the node started without its store does not serve the last applied configuration")
	}
	_, _, body := d.admin.request(http.MethodGet, "/healthz", "", nil)
	var h struct {
		Status string `json:"status"`
		Stale  bool   `json:"stale"`
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Status != "ok" || !h.Stale {
		t.Errorf("/healthz of a stale node: %s", body)
	}
	if st := d.admin.status(); !st.Stale || !strings.Contains(st.StaleError, "last applied") {
		t.Errorf("status of a node started from its last applied configuration: %+v", st)
	}
	wantUnavailable(t, d)

	a.admin.createAPI(sid, mockRoute("later", "/later", "later"))
	a.admin.publish(sid, "release")
	proxy.Restore()
	took := waitServes(t, d, "/later", "later", catchUpBound)
	t.Logf("a node started without its store caught up %v after the store came back", took.Round(time.Millisecond))
	waitStale(t, d, false, catchUpBound)

	// Without a last applied configuration there is nothing to serve.
	proxy.Cut()
	fresh := newGateway(t, t.TempDir(), "--store", proxy.via(dsn), "--admin-token", "x")
	fresh.proxyAddr, fresh.adminAddr, fresh.tlsAddr = freeAddr(t), freeAddr(t), freeAddr(t)
	err = fresh.launch()
	if err == nil {
		t.Fatal("a node with neither its store nor a last applied configuration started")
	}
	if out := fresh.output.tail(1 << 20); !strings.Contains(out, "has applied no configuration before") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
}
