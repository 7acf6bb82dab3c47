package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type plugin struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Config   json.RawMessage `json:"config"`
	Bindings []binding       `json:"bindings,omitempty"`
}

type binding struct {
	ID          string   `json:"id,omitempty"`
	ServiceID   string   `json:"service_id"`
	Environment string   `json:"environment"`
	APIIDs      []string `json:"api_ids,omitempty"`
}

func (a *adminClient) createPlugin(name, typ, cfg string) plugin {
	a.g.t.Helper()
	var p plugin
	a.write(http.MethodPost, "/plugins", plugin{Name: name, Type: typ, Config: json.RawMessage(cfg)}, http.StatusCreated, &p)
	return p
}

func (a *adminClient) bindPlugin(pid string, b binding) binding {
	a.g.t.Helper()
	var out binding
	a.write(http.MethodPost, "/plugins/"+pid+"/bindings", b, http.StatusCreated, &out)
	return out
}

// TestIPControl: a white list and a black list bound to a service take
// effect at once (no publishing), a binding to an API wins over the
// service's, and the client address behind a trusted proxy is the one the
// proxy reports — never one a client made up.
func TestIPControl(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, "--trusted-proxies", "127.0.0.1/32", "--access-log", logPath)
	sid, apis := g.admin.publishedService("ipsvc",
		mockAPI("open", "GET", "/open", mock{Body: "open"}),
		mockAPI("guarded", "GET", "/guarded", mock{Body: "guarded"}))

	office := g.admin.createPlugin("office", "ip_control", `{"type":"white_list","blocks":["10.0.0.0/8","2001:db8::/32"]}`)
	g.admin.bindPlugin(office.ID, binding{ServiceID: sid, Environment: "release"})
	// Behind the trusted proxy (127.0.0.1), the client is the right-most
	// address of X-Forwarded-For.
	if r := g.get("/open", "X-Forwarded-For", "10.1.2.3"); r.status != 200 {
		t.Fatalf("a listed client: %s", r)
	}
	r := g.get("/open", "X-Forwarded-For", "192.0.2.9")
	wantGatewayError(t, r, http.StatusForbidden)
	// A client cannot pick its address by sending one more entry: the
	// right-most untrusted one counts.
	wantGatewayError(t, g.get("/open", "X-Forwarded-For", "10.1.2.3, 192.0.2.9"), http.StatusForbidden)

	deny := g.admin.createPlugin("deny_one", "ip_control", `{"type":"black_list","blocks":["192.0.2.9"]}`)
	g.admin.bindPlugin(deny.ID, binding{ServiceID: sid, Environment: "release", APIIDs: []string{apis[1].ID}})
	// The API-level black list replaces the service-level white list for
	// that API only.
	if r := g.get("/guarded", "X-Forwarded-For", "192.0.2.10"); r.status != 200 {
		t.Fatalf("the API's own binding must win: %s", r)
	}
	wantGatewayError(t, g.get("/guarded", "X-Forwarded-For", "192.0.2.9"), http.StatusForbidden)
	wantGatewayError(t, g.get("/open", "X-Forwarded-For", "192.0.2.10"), http.StatusForbidden)

	// Editing the plugin applies at once.
	office.Config = json.RawMessage(`{"type":"white_list","blocks":["192.0.2.0/24"]}`)
	g.admin.write(http.MethodPut, "/plugins/"+office.ID, office, http.StatusOK, nil)
	if r := g.get("/open", "X-Forwarded-For", "192.0.2.10"); r.status != 200 {
		t.Fatalf("after widening the white list: %s", r)
	}
	// A plugin in use cannot be deleted; unbinding first, it can.
	g.admin.do(http.MethodDelete, "/plugins/"+office.ID, nil, http.StatusConflict, nil)
	var got plugin
	g.admin.do(http.MethodGet, "/plugins/"+office.ID, nil, http.StatusOK, &got)
	g.admin.write(http.MethodDelete, "/plugins/"+office.ID+"/bindings/"+got.Bindings[0].ID, nil, http.StatusNoContent, nil)
	g.admin.write(http.MethodDelete, "/plugins/"+office.ID, nil, http.StatusNoContent, nil)
	if r := g.get("/open", "X-Forwarded-For", "203.0.113.1"); r.status != 200 {
		t.Fatalf("after removing the white list: %s", r)
	}

	// Rejections are in the access log with their reason.
	g.Stop()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"client_ip":"192.0.2.9"`) || !strings.Contains(string(b), `"error":"ip_control: client 192.0.2.9 denied"`) {
		t.Errorf("the access log must name the client and the reason of a 403:\n%s", b)
	}
}

// TestIPControlIgnoresUntrustedForwardedFor: without --trusted-proxies an
// X-Forwarded-For is the client's own claim and is not believed.
func TestIPControlIgnoresUntrustedForwardedFor(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	sid, _ := g.admin.publishedService("ipsvc2", mockAPI("m", "GET", "/m", mock{Body: "m"}))
	p := g.admin.createPlugin("deny_loopback", "ip_control", `{"type":"black_list","blocks":["127.0.0.0/8","::1"]}`)
	g.admin.bindPlugin(p.ID, binding{ServiceID: sid, Environment: "release"})
	wantGatewayError(t, g.get("/m", "X-Forwarded-For", "10.9.9.9"), http.StatusForbidden)
}

// TestTrafficControl: per-IP and per-API limits, special IPs, the lowest
// limit wins and is reported, 429 with Retry-After.
func TestTrafficControl(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--trusted-proxies", "127.0.0.1/32")
	sid, apis := g.admin.publishedService("tcsvc",
		mockAPI("limited", "GET", "/limited", mock{Body: "ok"}),
		mockAPI("other", "GET", "/other", mock{Body: "ok"}))
	p := g.admin.createPlugin("per_minute", "traffic_control",
		`{"window":"minute","api_limit":5,"ip_limit":3,"special_ips":[{"ip":"198.51.100.7","limit":1}]}`)
	g.admin.bindPlugin(p.ID, binding{ServiceID: sid, Environment: "release", APIIDs: []string{apis[0].ID}})

	from := func(ip string) reply { return g.get("/limited", "X-Forwarded-For", ip) }
	for i := 1; i <= 3; i++ {
		r := from("203.0.113.1")
		if r.status != 200 {
			t.Fatalf("request %d of 3 allowed per client: %s", i, r)
		}
		// The lowest limit that applies is reported: 3 per client.
		if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(3-i) {
			t.Fatalf("request %d: RateLimit-Limit %q Remaining %q", i, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
		if reset, _ := strconv.Atoi(r.header.Get("RateLimit-Reset")); reset < 1 || reset > 60 {
			t.Fatalf("RateLimit-Reset %q", r.header.Get("RateLimit-Reset"))
		}
	}
	r := from("203.0.113.1")
	wantGatewayError(t, r, http.StatusTooManyRequests)
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 60 {
		t.Fatalf("429 without a usable Retry-After: %q", r.header.Get("Retry-After"))
	}
	// A special IP has its own, lower limit.
	if r := from("198.51.100.7"); r.status != 200 {
		t.Fatalf("special IP, first request: %s", r)
	}
	wantGatewayError(t, from("198.51.100.7"), http.StatusTooManyRequests)
	// The API limit (5) is shared by every client: 3 + 1 used, one left.
	if r := from("203.0.113.2"); r.status != 200 {
		t.Fatalf("fifth request to the API: %s", r)
	}
	wantGatewayError(t, from("203.0.113.3"), http.StatusTooManyRequests)
	// The other API is not bound.
	if r := g.get("/other", "X-Forwarded-For", "203.0.113.1"); r.status != 200 || r.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("an unbound API must not be limited: %s", r)
	}
}

// TestPluginAdminValidation: bad plugin bodies are 400s naming the field
// and change nothing.
func TestPluginAdminValidation(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	sid, _ := g.admin.publishedService("valsvc", mockAPI("m", "GET", "/m", mock{Body: "m"}))
	before := g.admin.revision()
	for _, c := range []struct{ body, field string }{
		{`{"name":"a","type":"ip_control","config":{"type":"white_list","blocks":["10.0.0.300"]}}`, "config.blocks[0]"},
		{`{"name":"a","type":"ip_control","config":{"type":"grey_list","blocks":["10.0.0.1"]}}`, "config.type"},
		{`{"name":"a","type":"ip_control","config":{"type":"white_list","blocks":["10.0.0.1"],"extra":1}}`, "config.extra"},
		{`{"name":"a","type":"traffic_control","config":{"window":"week","api_limit":1}}`, "config.window"},
		{`{"name":"a","type":"traffic_control","config":{"window":"second","api_limit":0}}`, "config.api_limit"},
		{`{"name":"a","type":"traffic_control","config":{"window":"second","special_ips":[{"ip":"nope","limit":1}]}}`, "config.special_ips[0].ip"},
		{`{"name":"a b","type":"ip_control","config":{}}`, "name"},
		{`{"name":"a","type":"cors","config":{}}`, "type"},
	} {
		status, _, b := g.admin.request(http.MethodPost, "/api/v1/plugins", g.token, json.RawMessage(c.body))
		var e struct {
			Error struct{ Field string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if status != 400 || e.Error.Field != c.field {
			t.Errorf("%s: %d %s, want 400 on %s", c.body, status, b, c.field)
		}
	}
	p := g.admin.createPlugin("ok", "ip_control", `{"type":"white_list","blocks":["10.0.0.1"]}`)
	status, _, b := g.admin.request(http.MethodPost, "/api/v1/plugins/"+p.ID+"/bindings", g.token,
		binding{ServiceID: sid, Environment: "staging"})
	if status != 400 || !strings.Contains(string(b), "environment") {
		t.Errorf("binding to an unknown environment: %d %s", status, b)
	}
	if got := g.admin.revision(); got != before+1 {
		t.Errorf("revision %d after one good write from %d", got, before)
	}
}

// TestSharedRateLimitInRedis: two gateway nodes that share one
// configuration (a PostgreSQL store) and one Redis allow a limit together,
// not each.
func TestSharedRateLimitInRedis(t *testing.T) {
	t.Parallel()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379 is required in CI: %v", err)
		}
		t.Skipf("no Redis at 127.0.0.1:6379 (%v); start one to run this test", err)
	} else {
		c.Close()
	}
	args := []string{"--trusted-proxies", "127.0.0.1/32", "--redis", "redis://127.0.0.1:6379/0", "--store", clusterSchema(t)}
	a := newGateway(t, t.TempDir(), args...)
	a.Start()
	b := newGateway(t, t.TempDir(), args...)
	b.Start()
	sid, _ := a.admin.publishedService("shared", mockAPI("m", "GET", "/m", mock{Body: "ok"}))
	p := a.admin.createPlugin("shared_limit", "traffic_control", `{"window":"minute","ip_limit":4}`)
	a.admin.bindPlugin(p.ID, binding{ServiceID: sid, Environment: "release"})
	b.admin.waitRevision(a.admin.revision())

	allowed := 0
	for i := range 8 {
		g := a
		if i%2 == 1 {
			g = b
		}
		switch r := g.get("/m", "X-Forwarded-For", "203.0.113.50"); r.status {
		case 200:
			allowed++
		case 429:
		default:
			t.Fatalf("request %d: %s", i, r)
		}
	}
	if allowed != 4 {
		t.Fatalf("two nodes sharing Redis allowed %d of 8 requests for a limit of 4", allowed)
	}
}

// TestRateLimitSurvivesRedisOutage: a node whose Redis is unreachable
// counts locally and never fails a request for it.
func TestRateLimitSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	dead := freeAddr(t) // nothing listens there
	g := startGateway(t, "--redis", "redis://"+dead+"/0")
	sid, _ := g.admin.publishedService("nored", mockAPI("m", "GET", "/m", mock{Body: "ok"}))
	p := g.admin.createPlugin("local_limit", "traffic_control", `{"window":"minute","api_limit":3}`)
	g.admin.bindPlugin(p.ID, binding{ServiceID: sid, Environment: "release"})
	start := time.Now()
	for i := range 3 {
		if r := g.get("/m"); r.status != 200 {
			t.Fatalf("request %d with Redis down: %s", i, r)
		}
	}
	wantGatewayError(t, g.get("/m"), http.StatusTooManyRequests)
	// A liveness bound, not a speed check: without the fallback's back-off
	// each request would wait on Redis's timeouts and retries.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("four requests took %v with Redis down: the fallback must not wait on Redis", d)
	}
}
