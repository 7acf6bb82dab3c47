package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/snapshot"
	"github.com/portico-gw/portico/internal/upstream"
)

type staticSource struct{ s *snapshot.Snapshot }

func (s staticSource) Current() *snapshot.Snapshot { return s.s }

func intp(i int) *int { return &i }

// hostPort splits a test server's address into a channel node.
func node(t testing.TB, addr string, weight int) config.Node {
	t.Helper()
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return config.Node{Host: h, Port: port, Weight: intp(weight)}
}

func channel(t testing.TB, id string, nodes ...config.Node) config.Channel {
	t.Helper()
	c := config.Channel{ID: id, Network: "default", Scheme: "http", Nodes: nodes}
	if err := config.ValidateChannel(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func api(t testing.TB, id, method, path string, b config.Backend) config.API {
	t.Helper()
	a := config.API{ID: id, Name: id, Frontend: config.Frontend{Method: method, Path: path}, Backend: b}
	if err := config.ValidateAPI(&a); err != nil {
		t.Fatalf("api %s: %v", id, err)
	}
	return a
}

// newProxy builds a proxy serving apis (published in release) over chans.
func newProxy(t testing.TB, chans []config.Channel, apis ...config.API) *Proxy {
	t.Helper()
	st := &config.State{Revision: 1, Channels: chans, Published: []config.Published{{
		Service:     config.Service{ID: "svc-1", Name: "s", Protocols: []string{"http", "https"}},
		Environment: "release", Version: "v1", APIs: apis,
	}}}
	b := snapshot.Builder{Pool: upstream.NewPool()}
	s := b.Build(st)
	if len(s.Problems) > 0 {
		t.Fatalf("snapshot problems: %+v", s.Problems)
	}
	return New(Options{Source: staticSource{s}, Log: slog.New(slog.DiscardHandler)})
}

type result struct {
	status int
	header http.Header
	body   string
}

func do(p *Proxy, method, uri string, hdr map[string]string) result {
	return doFrom(p, "10.1.2.3:5555", method, uri, hdr)
}

// doFrom sends one request through the real HTTP/1.1 server to p, over an
// in-memory connection that reports remote as the client's address.
func doFrom(p *Proxy, remote, method, uri string, hdr map[string]string) result {
	return doHost(p, remote, "gw.example", method, uri, hdr)
}

func doHost(p *Proxy, remote, host, method, uri string, hdr map[string]string) result {
	client, server := net.Pipe()
	defer client.Close()
	ra, err := net.ResolveTCPAddr("tcp", remote)
	if err != nil {
		panic(err)
	}
	srv := &h1.Server{Handler: p, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	ln := &oneConnListener{c: addrConn{Conn: server, remote: ra}, done: make(chan struct{})}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	var b strings.Builder
	b.WriteString(method + " " + uri + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n")
	for k, v := range hdr {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(client, b.String())
	resp, err := http.ReadResponse(bufio.NewReader(client), &http.Request{Method: method})
	if err != nil {
		return result{status: -1, body: err.Error()}
	}
	body, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	c    net.Conn
	once sync.Once
	used bool
	done chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

func TestGatewayErrorsAreJSONWithRequestID(t *testing.T) {
	p := newProxy(t, nil, api(t, "a1", "GET", "/only-get", config.Backend{Type: "mock", Mock: &config.Mock{Body: "x"}}))
	cases := []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"no API", "GET", "/missing", 404, ""},
		{"wrong method", "POST", "/only-get", 405, "GET, HEAD"},
		{"unknown environment prefix is a path", "GET", "/staging/only-get", 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(p, c.method, c.path, nil)
			if r.status != c.status {
				t.Fatalf("status %d, want %d (%s)", r.status, c.status, r.body)
			}
			var body struct {
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Message == "" {
				t.Fatalf("body %q is not the JSON error shape: %v", r.body, err)
			}
			if body.RequestID == "" || body.RequestID != r.header.Get("X-Request-Id") {
				t.Fatalf("request_id %q, header %q", body.RequestID, r.header.Get("X-Request-Id"))
			}
			if got := r.header.Get("Allow"); got != c.allow {
				t.Fatalf("Allow %q, want %q", got, c.allow)
			}
		})
	}
}

func TestRequestIDKeptOrGenerated(t *testing.T) {
	p := newProxy(t, nil, api(t, "a1", "GET", "/m", config.Backend{Type: "mock", Mock: &config.Mock{}}))
	if got := do(p, "GET", "/m", map[string]string{"X-Request-Id": "abc-123"}).header.Get("X-Request-Id"); got != "abc-123" {
		t.Fatalf("sent id not kept: %q", got)
	}
	bad := do(p, "GET", "/m", map[string]string{"X-Request-Id": `a"b`}).header.Get("X-Request-Id")
	if bad == "" || strings.Contains(bad, `"`) {
		t.Fatalf("unsafe id must be replaced, got %q", bad)
	}
	a, b := do(p, "GET", "/m", nil).header.Get("X-Request-Id"), do(p, "GET", "/m", nil).header.Get("X-Request-Id")
	if a == "" || a == b {
		t.Fatalf("generated ids %q and %q must be set and differ", a, b)
	}
}

func TestMockAnswer(t *testing.T) {
	p := newProxy(t, nil, api(t, "a1", "GET", "/m", config.Backend{Type: "mock", Mock: &config.Mock{
		Status: 418, Headers: map[string]string{"X-Mock": "yes"}, Body: "teapot"}}))
	r := do(p, "GET", "/release/m", nil)
	if r.status != 418 || r.body != "teapot" || r.header.Get("X-Mock") != "yes" {
		t.Fatalf("got %d %q %v", r.status, r.body, r.header)
	}
}

func TestForwardRewritesPathAndHeaders(t *testing.T) {
	var seen atomic.Pointer[http.Request]
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r)
		w.Header().Set("Connection", "X-Secret, keep-alive")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("Keep-Alive", "timeout=5")
		io.WriteString(w, "ok")
	}))
	defer be.Close()
	ch := channel(t, "ch-1", node(t, be.URL, 1))
	p := newProxy(t, []config.Channel{ch},
		api(t, "a1", "GET", "/users/{id}/orders/{oid}", config.Backend{Type: "channel", ChannelID: "ch-1", Path: "/v2/u/{id}/o/{oid}"}),
		api(t, "a2", "ANY", "/files", config.Backend{Type: "channel", ChannelID: "ch-1", Path: "/store/"}),
	)
	cases := []struct{ uri, wantURI string }{
		{"/users/7/orders/9?x=1&y=2", "/v2/u/7/o/9?x=1&y=2"},
		{"/files/a/b.txt", "/store/a/b.txt"},
		{"/files", "/store/"},
		{"/release/files/c", "/store/c"},
		{"/files/a%20b/c%25d", "/store/a%20b/c%25d"},
		{"/files/x/../y", "/store/y"},
		{"/users/%E4%B8%AD/orders/1", "/v2/u/%E4%B8%AD/o/1"},
	}
	for _, c := range cases {
		r := do(p, "GET", c.uri, map[string]string{
			"X-Forwarded-For": "192.0.2.1", "Connection": "X-Drop", "X-Drop": "1", "Proxy-Authorization": "secret",
		})
		if r.status != 200 || r.body != "ok" {
			t.Fatalf("%s: %d %q", c.uri, r.status, r.body)
		}
		got := seen.Load()
		if got.RequestURI != c.wantURI {
			t.Errorf("%s: backend saw %q, want %q", c.uri, got.RequestURI, c.wantURI)
		}
		if xff := got.Header.Get("X-Forwarded-For"); xff != "192.0.2.1, 10.1.2.3" {
			t.Errorf("X-Forwarded-For %q", xff)
		}
		if got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-Host") != "gw.example" {
			t.Errorf("forwarded proto/host: %v", got.Header)
		}
		if got.Header.Get("X-Request-Id") == "" {
			t.Error("backend did not get X-Request-Id")
		}
		if got.Header.Get("X-Drop") != "" || got.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("hop-by-hop request headers reached the backend: %v", got.Header)
		}
		if r.header.Get("X-Secret") != "" || r.header.Get("Keep-Alive") != "" {
			t.Errorf("hop-by-hop response headers reached the client: %v", r.header)
		}
		if got.Host != be.Listener.Addr().String() {
			t.Errorf("Host %q, want the node's host:port", got.Host)
		}
	}
}

func TestRetryAndFailureStatuses(t *testing.T) {
	var hits atomic.Int32
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "live")
	}))
	defer live.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()

	chans := []config.Channel{
		channel(t, "ch-mixed", node(t, deadAddr, 1), node(t, live.URL, 1)),
		channel(t, "ch-dead", node(t, deadAddr, 1)),
		channel(t, "ch-drained", node(t, live.URL, 0)),
		channel(t, "ch-slow", node(t, slow.URL, 1)),
	}
	one := 1
	p := newProxy(t, chans,
		api(t, "mixed", "ANY", "/mixed", config.Backend{Type: "channel", ChannelID: "ch-mixed"}),
		api(t, "dead", "ANY", "/dead", config.Backend{Type: "channel", ChannelID: "ch-dead"}),
		api(t, "drained", "ANY", "/drained", config.Backend{Type: "channel", ChannelID: "ch-drained"}),
		api(t, "slow", "ANY", "/slow", config.Backend{Type: "channel", ChannelID: "ch-slow", Timeout: &one}),
	)
	for i := range 20 {
		if r := do(p, "POST", "/mixed", nil); r.status != 200 {
			t.Fatalf("call %d through a channel with a dead node: %d %s", i, r.status, r.body)
		}
	}
	if hits.Load() != 20 {
		t.Fatalf("live node got %d calls, want 20", hits.Load())
	}
	mixed := p.src.Current().Channels["ch-mixed"]
	if mixed.Nodes[0].Health.State() != health.Unhealthy || mixed.Nodes[1].Health.State() != health.Healthy {
		t.Fatal("the refusing node must be out of the rotation, the live one in it")
	}
	if r := do(p, "GET", "/dead", nil); r.status != 502 {
		t.Fatalf("all nodes dead: %d, want 502", r.status)
	}
	if r := do(p, "GET", "/drained", nil); r.status != 502 {
		t.Fatalf("all weights 0: %d, want 502", r.status)
	}
	start := time.Now()
	if r := do(p, "GET", "/slow", nil); r.status != 504 {
		t.Fatalf("slow node: %d, want 504", r.status)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("504 took %v with a 1 s timeout", d)
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"API.Example.com:8080": "api.example.com",
		"api.example.com":      "api.example.com",
		"Api.Example.com.:80":  "api.example.com",
		"[::1]:80":             "[::1]",
		"":                     "",
	} {
		if got := string(normalizeHost([]byte(in), nil)); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkProxyChannel measures one proxied request through the real
// HTTP/1.1 server and the handler to a loopback backend, over keep-alive
// connections on both sides. The client and the backend are raw sockets
// that allocate nothing, so the allocations reported are the gateway's.
func BenchmarkProxyChannel(b *testing.B) {
	be := rawHelloBackend(b)
	ch := channel(b, "ch-1", node(b, be, 1))
	for _, c := range []struct {
		name    string
		metrics bool
		log     bool
	}{{"bare", false, false}, {"metrics", true, false}, {"metrics+log", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			st := &config.State{Revision: 1, Channels: []config.Channel{ch}, Published: []config.Published{{
				Service:     config.Service{ID: "svc-1", Name: "s", Protocols: []string{"http"}},
				Environment: "release", Version: "v1",
				APIs: []config.API{api(b, "a1", "GET", "/hello", config.Backend{Type: "channel", ChannelID: "ch-1", Path: "/hello"})},
			}}}
			o := Options{Log: slog.New(slog.DiscardHandler)}
			builder := snapshot.Builder{Pool: upstream.NewPool()}
			if c.metrics {
				o.Metrics = observe.New(observe.Options{})
				builder.Metrics = o.Metrics
			}
			if c.log {
				acc, err := OpenAccessLogFile(filepath.Join(b.TempDir(), "access.log"))
				if err != nil {
					b.Fatal(err)
				}
				defer acc.Close()
				o.AccessLog = acc
			}
			o.Source = staticSource{builder.Build(st)}
			benchRequests(b, New(o), "GET /hello HTTP/1.1\r\nHost: gw.example\r\nX-Request-Id: bench-1\r\n\r\n")
		})
	}
}

// rawHelloBackend answers every request on a connection with a fixed
// keep-alive response, allocating nothing per request.
func rawHelloBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nhello, world\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// a request without a body ends with an empty line
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
