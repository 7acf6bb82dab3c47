package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/h1"
	"github.com/portico-gw/portico/internal/observe"
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
	_ = c.SetReadDeadline(time.Time{}) // a slow, shared machine must not fail the run
	b.ReportAllocs()
	b.ResetTimer()
	user0, cpu0 := cpuTime()
	for range b.N {
		if _, err := c.Write(raw); err != nil {
			b.Fatal(err)
		}
		if _, err := readFullConn(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	// The process's CPU time per request (the client and the backend
	// included): unlike ns/op it does not count waiting for a CPU, which
	// on a shared machine is most of the spread.
	// user-ns/op is the part outside the kernel, where the gateway's own
	// code runs.
	user1, cpu1 := cpuTime()
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(user1-user0)/float64(b.N), "user-ns/op")
}

func cpuTime() (user, total time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// BenchmarkPolicyTarget is the policy target of bench/run.sh through the
// real server to a node: a request signed with a key pair (a usage plan
// without limits), an IP white list, two traffic-control counters and the
// access log written to a file, with metrics and statistics on.
func BenchmarkPolicyTarget(b *testing.B) {
	be := rawHelloBackend(b)
	secret := "bench-secret-0123456789"
	neg := int64(-1)
	plugins := []config.Plugin{
		plug("ips", config.PluginIPControl, `{"type":"white_list","blocks":["10.0.0.0/8","127.0.0.1"]}`),
		plug("tc", config.PluginTrafficControl, `{"window":"second","api_limit":1000000000,"ip_limit":1000000000}`),
	}
	for i := range plugins {
		plugins[i].ID = "plg-" + plugins[i].Name
		plugins[i].Bindings = []config.PluginBinding{{ID: "pb-" + plugins[i].Name, PluginID: plugins[i].ID, ServiceID: "svc-1", Environment: "release"}}
	}
	a := api(b, "a1", "GET", "/hello", config.Backend{Type: "channel", ChannelID: "ch-1", Path: "/hello"})
	a.Auth = config.Auth{Type: config.AuthKey}
	st := &config.State{Revision: 1, Channels: []config.Channel{channel(b, "ch-1", node(b, be, 1))}, Plugins: plugins,
		Keys: []config.Key{{ID: "key-1", Name: "bench", SecretID: "bench_key", SecretKey: secret}},
		Plans: []config.UsagePlan{{ID: "plan-1", Name: "bench", MaxRequestsPerSecond: &neg, Quota: &neg, KeyIDs: []string{"key-1"},
			Bindings: []config.PlanBinding{{ID: "plb-1", PlanID: "plan-1", ServiceID: "svc-1", Environment: "release"}}}},
		Published: []config.Published{{
			Service:     config.Service{ID: "svc-1", Name: "s", Protocols: []string{"http"}},
			Environment: "release", Version: "v1", APIs: []config.API{a},
		}}}
	o := Options{Log: slog.New(slog.DiscardHandler), Metrics: observe.New(observe.Options{})}
	builder := snapshot.Builder{Pool: upstream.NewPool(), Metrics: o.Metrics, Stats: observe.NewStats()}
	acc, err := OpenAccessLogFile(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer acc.Close()
	acc.KeepRecent(observe.NewLogRing(10000))
	o.AccessLog = acc
	s := builder.Build(st)
	if len(s.Problems) > 0 {
		b.Fatalf("snapshot problems: %+v", s.Problems)
	}
	o.Source = staticSource{s}
	date := time.Now().UTC().Format(http.TimeFormat)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("x-date: " + date))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	benchRequests(b, New(o), "GET /hello HTTP/1.1\r\nHost: gw.example\r\nX-Request-Id: bench-1\r\nX-Date: "+date+
		"\r\nAuthorization: hmac id=\"bench_key\", algorithm=\"hmac-sha256\", headers=\"x-date\", signature=\""+sig+"\"\r\n\r\n")
}
