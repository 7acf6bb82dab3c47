package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUserFlow is the first hour of a user: a channel, a service, APIs bound
// to it, a publish, and calls through the gateway.
func TestUserFlow(t *testing.T) {
	t.Parallel()
	usersA, usersB := newBackend(t, "users-a"), newBackend(t, "users-b")
	orders, ext := newBackend(t, "orders"), newBackend(t, "ext")
	g := startGateway(t)
	a := g.admin

	users := a.createChannel(httpChannel(usersA.node(2), usersB.node(1)))
	ordersCh := a.createChannel(httpChannel(orders.node(1)))
	a.publishedService("shop",
		channelAPI("get_user", "GET", "/users/{id}", users.ID, "/v1/users/{id}/profile"),
		channelAPI("orders", "ANY", "/orders", ordersCh.ID, "/api/orders"),
		api{Name: "ext", Frontend: frontend{Path: "^~/ext", Method: "GET"},
			Backend: backendCfg{Type: "url", URL: "http://" + ext.addr(), Path: "/u"}},
		mockAPI("teapot", "GET", "=/teapot", mock{Status: 418,
			Headers: map[string]string{"X-Mock": "yes"}, Body: "short and stout"}),
	)

	t.Run("weighted nodes of the bound channel answer", func(t *testing.T) {
		var c counter
		for range 6 {
			c.add(decodeEcho(t, g.get("/users/7")).Backend)
		}
		if c.get("users-a") != 4 || c.get("users-b") != 2 {
			t.Errorf("6 calls to weights 2/1: users-a %d, users-b %d; want 4 and 2", c.get("users-a"), c.get("users-b"))
		}
	})

	t.Run("param captured into backend.path", func(t *testing.T) {
		e := decodeEcho(t, g.get("/users/42"))
		if e.Path != "/v1/users/42/profile" {
			t.Errorf("backend path %q, want /v1/users/42/profile", e.Path)
		}
		if e.Host != usersA.addr() && e.Host != usersB.addr() {
			t.Errorf("backend saw Host %q, want the node's host:port", e.Host)
		}
	})

	t.Run("forwarding headers and request id", func(t *testing.T) {
		r := g.get("/users/1", "X-Forwarded-For", "10.1.2.3", "X-Request-Id", "e2e-req-1")
		e := decodeEcho(t, r)
		if got := e.Header.Get("X-Forwarded-For"); got != "10.1.2.3, 127.0.0.1" {
			t.Errorf("X-Forwarded-For %q, want %q (appended)", got, "10.1.2.3, 127.0.0.1")
		}
		if got := e.Header.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto %q, want http", got)
		}
		if got := e.Header.Get("X-Forwarded-Host"); got != g.proxyAddr {
			t.Errorf("X-Forwarded-Host %q, want the client's Host %q", got, g.proxyAddr)
		}
		if got := e.Header.Get("X-Request-Id"); got != "e2e-req-1" {
			t.Errorf("backend saw X-Request-Id %q, want the client's e2e-req-1", got)
		}
		if got := r.header.Get("X-Request-Id"); got != "e2e-req-1" {
			t.Errorf("client got X-Request-Id %q, want e2e-req-1", got)
		}

		r = g.get("/users/1")
		e = decodeEcho(t, r)
		id := r.header.Get("X-Request-Id")
		if id == "" {
			t.Fatal("no X-Request-Id returned when the client sent none")
		}
		if got := e.Header.Get("X-Request-Id"); got != id {
			t.Errorf("backend saw X-Request-Id %q, client got %q", got, id)
		}
		if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q, want 127.0.0.1", got)
		}
		if id2 := g.get("/users/1").header.Get("X-Request-Id"); id2 == id {
			t.Errorf("two requests got the same generated X-Request-Id %q", id)
		}
	})

	t.Run("X-Forwarded-For sent on several lines", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, g.url("/users/1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header["X-Forwarded-For"] = []string{"1.1.1.1", "2.2.2.2"}
		r, err := g.try(req)
		if err != nil {
			t.Fatal(err)
		}
		e := decodeEcho(t, r)
		if got := strings.Join(e.Header.Values("X-Forwarded-For"), ", "); got != "1.1.1.1, 2.2.2.2, 127.0.0.1" {
			t.Errorf("backend saw X-Forwarded-For %q, want %q", got, "1.1.1.1, 2.2.2.2, 127.0.0.1")
		}
	})

	t.Run("hop-by-hop request headers are removed", func(t *testing.T) {
		e := decodeEcho(t, g.get("/users/1", "Connection", "X-Hop, keep-alive", "X-Hop", "1",
			"Proxy-Authorization", "Basic eDp5", "TE", "trailers, deflate", "X-End-To-End", "kept"))
		for _, h := range []string{"Connection", "X-Hop", "Proxy-Authorization", "Keep-Alive"} {
			if v := e.Header.Get(h); v != "" {
				t.Errorf("the backend saw hop-by-hop header %s: %q", h, v)
			}
		}
		// TE is hop-by-hop, but "trailers" in it is what a client that
		// reads trailers (gRPC) needs the node to know; only that token
		// goes on, as httputil.ReverseProxy does.
		if v := e.Header.Get("Te"); v != "trailers" {
			t.Errorf("the backend saw TE %q, want %q", v, "trailers")
		}
		if e.Header.Get("X-End-To-End") != "kept" {
			t.Errorf("an end-to-end header was dropped")
		}
	})

	t.Run("HEAD is served by the GET API", func(t *testing.T) {
		r := g.call(http.MethodHead, "/users/1", nil)
		if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("X-Backend") == "" {
			t.Errorf("HEAD /users/1: %s, X-Backend %q; want 200 from a users node with no body", r, r.header.Get("X-Backend"))
		}
	})

	t.Run("plain match appends the rest and passes the query", func(t *testing.T) {
		for _, tc := range []struct{ path, wantPath, wantQuery string }{
			{"/orders", "/api/orders", ""},
			{"/orders/7/items?x=1&y=a%20b", "/api/orders/7/items", "x=1&y=a%20b"},
			{"/orders/?q", "/api/orders/", "q"},
		} {
			e := decodeEcho(t, g.get(tc.path))
			if e.Backend != "orders" || e.Path != tc.wantPath || e.RawQuery != tc.wantQuery {
				t.Errorf("GET %s reached %s %s?%s, want orders %s?%s", tc.path, e.Backend, e.Path, e.RawQuery, tc.wantPath, tc.wantQuery)
			}
		}
		e := decodeEcho(t, g.call(http.MethodPost, "/orders/new", strings.NewReader("hello")))
		if e.Method != http.MethodPost || e.Path != "/api/orders/new" || e.BodyLen != 5 {
			t.Errorf("POST /orders/new reached %s %s with %d bytes", e.Method, e.Path, e.BodyLen)
		}
		// A plain path matches at a segment boundary only.
		wantGatewayError(t, g.get("/ordersX"), http.StatusNotFound)
	})

	t.Run("prefix match to a url backend", func(t *testing.T) {
		for path, want := range map[string]string{
			"/ext":     "/u",
			"/ext/a/b": "/u/a/b",
			"/extra":   "/u/ra", // a plain string prefix, as in nginx
		} {
			e := decodeEcho(t, g.get(path))
			if e.Backend != "ext" || e.Path != want {
				t.Errorf("GET %s reached %s %s, want ext %s", path, e.Backend, e.Path, want)
			}
			if e.Host != ext.addr() {
				t.Errorf("url backend saw Host %q, want %q", e.Host, ext.addr())
			}
		}
	})

	t.Run("mock answers its status, headers and body", func(t *testing.T) {
		r := g.get("/teapot")
		if r.status != 418 || r.header.Get("X-Mock") != "yes" || string(r.body) != "short and stout" {
			t.Errorf("mock answered %s with X-Mock %q", r, r.header.Get("X-Mock"))
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Error("mock answer without X-Request-Id")
		}
		// "=/teapot" is exact.
		wantGatewayError(t, g.get("/teapot/more"), http.StatusNotFound)
	})

	t.Run("404 and 405", func(t *testing.T) {
		wantGatewayError(t, g.get("/nothing/here"), http.StatusNotFound)
		r := g.call(http.MethodDelete, "/users/7", nil)
		wantGatewayError(t, r, http.StatusMethodNotAllowed)
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("405 with Allow %q, want it to list GET", allow)
		}
	})

	t.Run("environment prefixes select the environment", func(t *testing.T) {
		sid := a.createService("envs")
		x := a.createAPI(sid, mockAPI("which", "GET", "/which", mock{Status: 200, Body: "test-build"}))
		a.publish(sid, "test")
		x.Backend.Mock.Body = "prepub-build"
		x = a.updateAPI(sid, x)
		a.publish(sid, "prepub")
		x.Backend.Mock.Body = "release-build"
		a.updateAPI(sid, x)
		a.publish(sid, "release")

		for path, want := range map[string]string{
			"/test/which":    "test-build",
			"/prepub/which":  "prepub-build",
			"/release/which": "release-build",
			"/which":         "release-build",
		} {
			if r := g.get(path); r.status != 200 || string(r.body) != want {
				t.Errorf("GET %s: %s, want 200 %s", path, r, want)
			}
		}
		// shop is published to release only.
		wantGatewayError(t, g.get("/test/users/1"), http.StatusNotFound)
		decodeEcho(t, g.get("/release/users/1"))
	})
}

// TestChannelEditsLiveAPIEditsWaitForPublish: a channel edit reaches the data
// plane at once; an API edit only with the next publish.
func TestChannelEditsLiveAPIEditsWaitForPublish(t *testing.T) {
	t.Parallel()
	oldNode, newNode := newBackend(t, "old"), newBackend(t, "new")
	g := startGateway(t)
	a := g.admin
	ch := a.createChannel(httpChannel(oldNode.node(1)))
	sid, apis := a.publishedService("live", channelAPI("svc", "GET", "/svc", ch.ID, "/v1"))

	if e := decodeEcho(t, g.get("/svc/x")); e.Backend != "old" || e.Path != "/v1/x" {
		t.Fatalf("before the edit: reached %s %s, want old /v1/x", e.Backend, e.Path)
	}

	// A raw PUT, without waiting for the revision: the test itself measures
	// how soon the edit shows, with no publish.
	ch.Nodes = []node{newNode.node(1)}
	a.do(http.MethodPut, "/channels/"+ch.ID, ch, http.StatusOK, nil)
	start := time.Now()
	for i := 0; ; i++ {
		if decodeEcho(t, g.get("/svc/x")).Backend == "new" {
			t.Logf("the channel edit served after %d calls, %s", i+1, time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 2*time.Second || i > 400 {
			t.Fatalf("2 s after the channel edit, calls still reach the old node")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 10 {
		if e := decodeEcho(t, g.get("/svc/x")); e.Backend != "new" {
			t.Fatalf("after the channel edit was served, a call reached %s", e.Backend)
		}
	}

	x := apis[0]
	x.Backend.Path = "/v2"
	a.updateAPI(sid, x)
	for range 10 {
		if e := decodeEcho(t, g.get("/svc/x")); e.Path != "/v1/x" {
			t.Fatalf("an unpublished API edit is served: backend path %q, want /v1/x", e.Path)
		}
	}
	a.publish(sid, "release")
	if e := decodeEcho(t, g.get("/svc/x")); e.Path != "/v2/x" || e.Backend != "new" {
		t.Fatalf("after publish: reached %s %s, want new /v2/x", e.Backend, e.Path)
	}
}

// TestRollback serves an earlier version again, lists the history newest
// first, and unpublishes.
func TestRollback(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	a := g.admin
	sid := a.createService("versions")
	x := a.createAPI(sid, mockAPI("hello", "GET", "/hello", mock{Status: 200, Body: "v1"}))
	v1 := a.publish(sid, "release")
	x.Backend.Mock.Body = "v2"
	x.Backend.Mock.Status = 201
	a.updateAPI(sid, x)
	v2 := a.publish(sid, "release")
	if v1 == v2 {
		t.Fatalf("two publishes made the same version %q", v1)
	}
	if r := g.get("/hello"); r.status != 201 || string(r.body) != "v2" {
		t.Fatalf("after v2: %s, want 201 v2", r)
	}

	st := a.rollback(sid, "release", v1)
	if st.Environment != "release" || st.Version != v1 {
		t.Errorf("rollback answered %+v, want release %s", st, v1)
	}
	if r := g.get("/hello"); r.status != 200 || string(r.body) != "v1" {
		t.Fatalf("after rollback to v1: %s, want 200 v1", r)
	}
	envs := a.environments(sid)
	if len(envs) != 1 || envs[0].Environment != "release" || envs[0].Version != v1 {
		t.Errorf("environments %+v, want release serving %s", envs, v1)
	}

	rels := a.releases(sid)
	if len(rels) != 2 || rels[0].Version != v2 || rels[1].Version != v1 {
		t.Errorf("releases %+v, want [%s %s] (newest first)", rels, v2, v1)
	}

	a.unpublish(sid, "release")
	wantGatewayError(t, g.get("/hello"), http.StatusNotFound)
	if envs := a.environments(sid); len(envs) != 0 {
		t.Errorf("environments after unpublish: %+v, want none", envs)
	}
}
