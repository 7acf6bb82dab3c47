package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestCustomDomainsAndSchemes: a service reached through its own host names
// (SPEC 2.5 rule 1), one pinned to an environment; a service that allows
// https only answers 426 on the plain-HTTP port.
func TestCustomDomainsAndSchemes(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	a := g.admin

	var shop struct {
		ID string `json:"id"`
	}
	a.write(http.MethodPost, "/services", map[string]any{
		"name": "shop",
		"domains": []map[string]string{
			{"host": "shop.example.com"},
			{"host": "test.shop.example.com", "environment": "test"},
		},
	}, http.StatusCreated, &shop)
	a.createAPI(shop.ID, mockAPI("items", "GET", "/items", mock{Body: "shop items v1"}))
	a.publish(shop.ID, "release")
	a.publish(shop.ID, "test")
	a.publishedService("other", mockAPI("other", "GET", "/other", mock{Body: "other"}))

	cases := []struct {
		host, path string
		status     int
		body       string
	}{
		{"shop.example.com", "/items", 200, "shop items v1"},
		{"SHOP.example.com:8080", "/items", 200, "shop items v1"},
		{"shop.example.com", "/test/items", 200, "shop items v1"},
		{"test.shop.example.com", "/items", 200, "shop items v1"},
		{"test.shop.example.com", "/test/items", 404, ""},  // pinned: the path keeps its prefix
		{"shop.example.com", "/other", 404, ""},            // a custom domain serves its own service
		{"gw.example.net", "/items", 200, "shop items v1"}, // still reachable by rule 2
		{"gw.example.net", "/other", 200, "other"},
	}
	for _, c := range cases {
		r := g.get(c.path, "Host", c.host)
		if r.status != c.status {
			t.Errorf("Host %s %s: %s, want %d", c.host, c.path, r, c.status)
			continue
		}
		if c.status == 200 && string(r.body) != c.body {
			t.Errorf("Host %s %s: body %q, want %q", c.host, c.path, r.body, c.body)
		}
		if c.status == 404 {
			wantGatewayError(t, r, 404)
		}
	}

	// A domain edit applies at once, without publishing.
	a.write(http.MethodPut, "/services/"+shop.ID, map[string]any{
		"name": "shop", "domains": []map[string]string{{"host": "store.example.com"}},
	}, http.StatusOK, nil)
	if r := g.get("/items", "Host", "store.example.com"); r.status != 200 {
		t.Errorf("new domain: %s", r)
	}
	if r := g.get("/other", "Host", "shop.example.com"); r.status != 200 {
		t.Errorf("a removed domain is an ordinary host again: %s", r)
	}

	var secure struct {
		ID string `json:"id"`
	}
	a.write(http.MethodPost, "/services", map[string]any{"name": "secure", "protocols": []string{"https"}},
		http.StatusCreated, &secure)
	a.createAPI(secure.ID, mockAPI("vault", "GET", "/vault", mock{Body: "secret"}))
	a.publish(secure.ID, "release")
	r := g.get("/vault")
	wantGatewayError(t, r, http.StatusUpgradeRequired)
}

// TestPublishCollisionAndDisabledAPIs: two services may not serve the same
// method and path in one environment; an API whose channel is gone is
// disabled and reported while the rest keeps serving.
func TestPublishCollisionAndDisabledAPIs(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	a := g.admin
	a.publishedService("first", mockAPI("ping", "GET", "/ping", mock{Body: "first"}))

	second := a.createService("second")
	a.createAPI(second, mockAPI("ping", "ANY", "/ping", mock{Body: "second"}))
	status, _, body := a.request(http.MethodPost, "/api/v1/services/"+second+"/releases", a.g.token,
		map[string]string{"environment": "release"})
	if status != http.StatusConflict || !strings.Contains(string(body), "ping") {
		t.Fatalf("colliding publish: %d %s, want 409 naming the API in the way", status, body)
	}
	if r := g.get("/ping"); string(r.body) != "first" {
		t.Fatalf("a refused publish must change nothing: %s", r)
	}
	// Another environment does not collide.
	a.publish(second, "test")
	if r := g.get("/test/ping"); string(r.body) != "second" {
		t.Fatalf("test environment: %s", r)
	}

	var st struct {
		DisabledAPIs []struct {
			APIID string `json:"api_id"`
		} `json:"disabled_apis"`
	}
	a.do(http.MethodGet, "/status", nil, http.StatusOK, &st)
	if len(st.DisabledAPIs) != 0 {
		t.Fatalf("disabled APIs on a healthy configuration: %+v", st)
	}
}

// TestNodeByDNSName: a node named by a DNS name (here localhost) is
// resolved by the gateway, not only nodes given as IP addresses.
func TestNodeByDNSName(t *testing.T) {
	t.Parallel()
	b := newBackend(t, "named")
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(node{Host: "localhost", Port: b.port, Weight: 1}))
	g.admin.publishedService("named", channelAPI("named", "GET", "/named", ch.ID, "/"))
	if e := decodeEcho(t, g.get("/named")); e.Backend != "named" {
		t.Fatalf("reached %q, want the node named localhost", e.Backend)
	}
}
