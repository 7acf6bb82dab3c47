package e2e

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// backend is a real HTTP server on 127.0.0.1 that the gateway forwards to.
type backend struct {
	name string
	srv  *httptest.Server
	host string
	port int
	hits atomic.Int64
}

// newBackend starts an echo backend: it answers 200 with an echo of what it
// received, naming itself.
func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.start(t, http.HandlerFunc(b.echo), false)
	return b
}

// newHandlerBackend starts a backend that serves h (and still counts hits).
func newHandlerBackend(t *testing.T, name string, h http.Handler) *backend {
	t.Helper()
	b := &backend{name: name}
	b.start(t, h, false)
	return b
}

// newTLSBackend starts an echo backend over HTTPS with httptest's
// self-signed certificate (valid for 127.0.0.1 and example.com).
func newTLSBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.start(t, http.HandlerFunc(b.echo), true)
	return b
}

func (b *backend) start(t *testing.T, h http.Handler, tls bool) {
	t.Helper()
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	// Failed handshakes (the gateway refusing our certificate) are expected
	// in some tests; keep them out of the output.
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		b.srv.StartTLS()
	} else {
		b.srv.Start()
	}
	t.Cleanup(b.srv.Close)
	host, port, err := net.SplitHostPort(b.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b.host = host
	b.port, _ = strconv.Atoi(port)
}

// node is the backend as a channel node.
func (b *backend) node(weight int) node {
	return node{Host: b.host, Port: b.port, Weight: weight}
}

// addr is host:port.
func (b *backend) addr() string { return net.JoinHostPort(b.host, strconv.Itoa(b.port)) }

// echoed is what the echo backend answers.
type echoed struct {
	Backend    string      `json:"backend"`
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	RawQuery   string      `json:"raw_query"`
	RequestURI string      `json:"request_uri"`
	Host       string      `json:"host"`
	Header     http.Header `json:"header"`
	BodyLen    int64       `json:"body_len"`
}

func (b *backend) echo(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend", b.name)
	_ = json.NewEncoder(w).Encode(echoed{
		Backend: b.name, Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		RequestURI: r.RequestURI, Host: r.Host, Header: r.Header, BodyLen: n,
	})
}

// decodeEcho reads an echo backend's answer, failing the test on anything
// else.
func decodeEcho(t *testing.T, r reply) echoed {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("want 200 from an echo backend, got %s", r)
	}
	var e echoed
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not an echo answer: %s: %v", r, err)
	}
	return e
}

// gatewayError is the JSON body of an error the gateway itself returns.
type gatewayError struct {
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// wantGatewayError checks that r is the gateway's own JSON error with the
// given status, and that its request_id matches the X-Request-Id header.
func wantGatewayError(t *testing.T, r reply, status int) gatewayError {
	t.Helper()
	if r.status != status {
		t.Fatalf("want %d from the gateway, got %s", status, r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=utf-8" {
		t.Errorf("%d: Content-Type %q, want application/json", status, ct)
	}
	var e gatewayError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("%d: body is not the gateway's JSON error: %s: %v", status, r.body, err)
	}
	if e.Message == "" || e.RequestID == "" {
		t.Errorf("%d: error body without message or request_id: %s", status, r.body)
	}
	if h := r.header.Get("X-Request-Id"); h != e.RequestID {
		t.Errorf("%d: X-Request-Id %q differs from the body's request_id %q", status, h, e.RequestID)
	}
	return e
}

// counter counts answers by backend name; safe for concurrent use.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
}

func (c *counter) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}
