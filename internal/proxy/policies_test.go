package proxy

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/snapshot"
	"github.com/portico-gw/portico/internal/upstream"
)

// newPolicyProxy serves apis in release with the plugins bound to the
// whole service.
func newPolicyProxy(t testing.TB, chans []config.Channel, plugins []config.Plugin, apis ...config.API) *Proxy {
	t.Helper()
	for i := range plugins {
		plugins[i].ID = "plg-" + plugins[i].Name
		plugins[i].Bindings = []config.PluginBinding{{ID: "pb-" + plugins[i].Name, PluginID: plugins[i].ID, ServiceID: "svc-1", Environment: "release"}}
	}
	st := &config.State{Revision: 1, Channels: chans, Plugins: plugins, Published: []config.Published{{
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

func plug(name, typ, cfg string) config.Plugin {
	return config.Plugin{Name: name, Type: typ, Config: json.RawMessage(cfg)}
}

func TestPoliciesInOrder(t *testing.T) {
	p := newPolicyProxy(t, nil, []config.Plugin{
		plug("deny", config.PluginIPControl, `{"type":"black_list","blocks":["10.0.0.0/8"]}`),
		plug("tc", config.PluginTrafficControl, `{"window":"minute","ip_limit":2}`),
	}, api(t, "m", "GET", "/m", config.Backend{Type: "mock", Mock: &config.Mock{Body: "x"}}))
	if r := doFrom(p, "10.1.2.3:1", "GET", "/m", nil); r.status != 403 {
		t.Fatalf("black-listed client: %d %s", r.status, r.body)
	}
	for i := range 2 {
		r := doFrom(p, "192.0.2.1:1", "GET", "/m", nil)
		if r.status != 200 || r.header.Get("RateLimit-Remaining") != []string{"1", "0"}[i] {
			t.Fatalf("request %d: %d %v", i, r.status, r.header)
		}
	}
	r := doFrom(p, "192.0.2.1:1", "GET", "/m", nil)
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "request_id") {
		t.Fatalf("over the limit: %d %v %s", r.status, r.header, r.body)
	}
	// A denied client is refused before it is counted.
	if r := doFrom(p, "10.1.2.3:1", "GET", "/m", nil); r.status != 403 {
		t.Fatalf("black-listed client again: %d", r.status)
	}
}

// BenchmarkPolicies is the cost of the policy chain per request: no
// policy, an ip_control white list of 200 blocks, a traffic_control with an
// IP and an API limit (counted in memory), and both. The request comes
// through the real server from a raw client, as in BenchmarkProxyChannel,
// to a mock API, so the figures are the chain's own.
func BenchmarkPolicies(b *testing.B) {
	blocks := make([]string, 0, 200)
	for i := range 199 {
		blocks = append(blocks, "10."+itoa(i)+".0.0/16")
	}
	blocks = append(blocks, "127.0.0.1")
	bl, _ := json.Marshal(map[string]any{"type": "white_list", "blocks": blocks})
	ipc := plug("ipc", config.PluginIPControl, string(bl))
	tc := plug("tc", config.PluginTrafficControl, `{"window":"second","api_limit":1000000000,"ip_limit":1000000000}`)
	for _, c := range []struct {
		name    string
		plugins []config.Plugin
	}{
		{"none", nil},
		{"ip_control", []config.Plugin{ipc}},
		{"traffic_control", []config.Plugin{tc}},
		{"both", []config.Plugin{ipc, tc}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := newPolicyProxy(b, nil, append([]config.Plugin(nil), c.plugins...),
				api(b, "m", "GET", "/m", config.Backend{Type: "mock", Mock: &config.Mock{Body: "x"}}))
			benchRequests(b, p, "GET /m HTTP/1.1\r\nHost: gw\r\nX-Request-Id: b-1\r\n\r\n")
		})
	}
}

// benchRequests sends req over one keep-alive connection b.N times and
// reads each fixed-size answer.
func benchRequests(b *testing.B, p *Proxy, req string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &h1.Server{Handler: p, ReadTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	raw := []byte(req)
	if _, err := c.Write(raw); err != nil {
		b.Fatal(err)
	}
	first := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(first)
	if err != nil || !strings.HasPrefix(string(first[:n]), "HTTP/1.1 200") {
		b.Fatalf("first answer: %q %v", first[:n], err)
	}
	buf := make([]byte, n)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(raw); err != nil {
			b.Fatal(err)
		}
		if _, err := readFullConn(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func readFullConn(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}
