package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrape reads /metrics and returns each sample line's value by its name
// and labels as written ("portico_requests_total{...}").
func (a *adminClient) scrape() map[string]float64 {
	a.g.t.Helper()
	status, _, body := a.request(http.MethodGet, "/metrics", a.g.token, nil)
	if status != 200 {
		a.g.t.Fatalf("GET /metrics: %d %s", status, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			a.g.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics: /metrics needs the token, and counts known traffic exactly.
func TestMetrics(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	sid, apis := g.admin.publishedService("metered", mockAPI("m", "GET", "/m", mock{Body: "12345"}))
	if status, _, _ := g.admin.request(http.MethodGet, "/metrics", "", nil); status != 401 {
		t.Fatalf("/metrics without the token: %d, want 401", status)
	}
	for range 3 {
		if r := g.get("/m"); r.status != 200 {
			t.Fatal(r)
		}
	}
	for range 2 {
		g.get("/nowhere")
	}
	m := g.admin.scrape()
	key := `portico_requests_total{api="` + apis[0].ID + `",class="2xx",environment="release",service="` + sid + `"}`
	if m[key] != 3 {
		t.Errorf("%s = %v, want 3", key, m[key])
	}
	if got := m[`portico_requests_total{api="",class="4xx",environment="",service=""}`]; got != 2 {
		t.Errorf("unrouted 4xx = %v, want 2", got)
	}
	if got := m[`portico_rejections_total{reason="no_route"}`]; got != 2 {
		t.Errorf("rejections no_route = %v, want 2", got)
	}
	if got := m[`portico_response_body_bytes_total{api="`+apis[0].ID+`",environment="release",service="`+sid+`"}`]; got != 15 {
		t.Errorf("response bytes = %v, want 15", got)
	}
	if _, ok := m["portico_upstream_nodes_down"]; !ok {
		t.Error("no node-health gauge")
	}
	if m["portico_config_revision"] < 1 || m["go_goroutines"] == 0 {
		t.Errorf("revision %v, goroutines %v", m["portico_config_revision"], m["go_goroutines"])
	}
}

// TestAccessLogReopen: after logrotate moves the file and sends SIGHUP,
// new lines go to a new file at the same path and none are lost.
func TestAccessLogReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, "--access-log", path)
	g.admin.publishedService("rotated", mockAPI("m", "GET", "/m", mock{Body: "x"}))
	for range 3 {
		g.get("/m", "X-Request-Id", "before-rotation")
	}
	time.Sleep(50 * time.Millisecond) // the writer drains every 10 ms
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	g.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new access log file after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 2 {
		g.get("/m", "X-Request-Id", "after-rotation")
	}
	g.Stop()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if n := strings.Count(string(old), "before-rotation"); n != 3 || strings.Contains(string(old), "after-rotation") {
		t.Errorf("rotated file: %d lines before rotation (want 3):\n%s", n, old)
	}
	if n := strings.Count(string(cur), "after-rotation"); n != 2 {
		t.Errorf("new file: %d lines after rotation (want 2):\n%s", n, cur)
	}
}

// TestLogSearch: the node's recent access-log entries, filtered, newest
// first, paged.
func TestLogSearch(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--access-log", filepath.Join(t.TempDir(), "access.log"), "--log-buffer", "100")
	sid, _ := g.admin.publishedService("searched", mockAPI("m", "GET", "/m", mock{Body: "x"}))
	for i := range 5 {
		g.get("/m", "X-Request-Id", "ok-"+strconv.Itoa(i))
	}
	g.get("/missing", "X-Request-Id", "lost-1")
	type page struct {
		Items []struct {
			RequestID string `json:"request_id"`
			Status    int    `json:"status"`
			ServiceID string `json:"service_id"`
		} `json:"items"`
		Total int `json:"total"`
	}
	search := func(query string) page {
		var p page
		deadline := time.Now().Add(3 * time.Second)
		for {
			g.admin.do(http.MethodGet, "/logs?"+query, nil, http.StatusOK, &p)
			if p.Total > 0 || time.Now().After(deadline) {
				return p
			}
			time.Sleep(20 * time.Millisecond) // lines reach the ring within 10 ms
		}
	}
	if p := search("request_id=lost-1"); p.Total != 1 || p.Items[0].Status != 404 {
		t.Fatalf("by request id: %+v", p)
	}
	if p := search("status=4xx"); p.Total != 1 {
		t.Fatalf("by class: %+v", p)
	}
	if p := search("service_id=" + sid + "&status=200&limit=2"); p.Total != 5 || len(p.Items) != 2 || p.Items[0].RequestID != "ok-4" || p.Items[1].RequestID != "ok-3" {
		t.Fatalf("by service, newest first, paged: %+v", p)
	}
	if p := search("q=ok-2"); p.Total != 1 || p.Items[0].RequestID != "ok-2" {
		t.Fatalf("by keyword: %+v", p)
	}
	if status, _, _ := g.admin.request(http.MethodGet, "/api/v1/logs?status=5zz", g.token, nil); status != 400 {
		t.Fatalf("a malformed status filter: %d, want 400", status)
	}
}

// TestTraceparent: the backend gets the client's trace, continued with the
// gateway's own span, or a new trace when the client sent none.
func TestTraceparent(t *testing.T) {
	t.Parallel()
	be := newBackend(t, "traced")
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(be.node(1)))
	g.admin.publishedService("traced", channelAPI("t", "GET", "/t", ch.ID, "/t"))
	in := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	got := decodeEcho(t, g.get("/t", "Traceparent", in)).Header.Get("Traceparent")
	if len(got) != 55 || got[:36] != in[:36] || got[36:52] == in[36:52] || got[52:] != "-01" {
		t.Errorf("continued trace: backend saw %q for %q", got, in)
	}
	fresh := decodeEcho(t, g.get("/t")).Header.Get("Traceparent")
	if len(fresh) != 55 || !strings.HasPrefix(fresh, "00-") {
		t.Errorf("started trace: backend saw %q", fresh)
	}
}

// TestStats: per-minute points for a service count known traffic.
func TestStats(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	sid, _ := g.admin.publishedService("counted",
		mockAPI("ok", "GET", "/ok", mock{Body: "hello"}),
		mockAPI("gone", "GET", "/gone", mock{Status: 404, Body: "no"}))
	for range 3 {
		g.get("/ok")
	}
	g.get("/gone")
	var out struct {
		Window string `json:"window"`
		Points []struct {
			Requests     int64 `json:"requests"`
			Successes    int64 `json:"successes"`
			ClientErrors int64 `json:"client_errors"`
			BytesOut     int64 `json:"bytes_out"`
		} `json:"points"`
	}
	g.admin.do(http.MethodGet, "/stats?service_id="+sid+"&window=5m", nil, http.StatusOK, &out)
	var req, ok, c4, bytesOut int64
	for _, p := range out.Points {
		req, ok, c4, bytesOut = req+p.Requests, ok+p.Successes, c4+p.ClientErrors, bytesOut+p.BytesOut
	}
	if len(out.Points) != 5 || req != 4 || ok != 3 || c4 != 1 || bytesOut != 17 {
		t.Fatalf("stats %+v: want 5 points summing to 4 requests, 3 successes, 1 client error, 17 bytes out", out)
	}
	if status, _, _ := g.admin.request(http.MethodGet, "/api/v1/stats?window=2h", g.token, nil); status != 400 {
		t.Fatalf("a window over an hour: %d, want 400", status)
	}
}

// TestAccessLogFields: every field of a line is present and true for a
// success, a 404, a 401, a 429, a 502 and a 504.
func TestAccessLogFields(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "access.log")
	be := newBackend(t, "logged")
	slow := newHandlerBackend(t, "slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
	}))
	dead := freeAddr(t)
	g := startGateway(t, "--access-log", path)
	ch := g.admin.createChannel(httpChannel(be.node(1)))
	slowCh := g.admin.createChannel(httpChannel(slow.node(1)))
	host, port, _ := strings.Cut(dead, ":")
	p, _ := strconv.Atoi(port)
	deadCh := g.admin.createChannel(httpChannel(node{Host: host, Port: p, Weight: 1}))
	slowAPI := channelAPI("slow", "GET", "/slow", slowCh.ID, "/slow")
	slowAPI.Backend.Timeout = 1
	sid, _ := g.admin.publishedService("fields",
		channelAPI("ok", "POST", "/ok", ch.ID, "/ok"),
		api{Name: "keyed", Frontend: frontend{Method: "GET", Path: "/keyed"}, Backend: backendCfg{Type: "mock", Mock: &mock{Body: "x"}}, Auth: &authCfg{Type: "key"}},
		mockAPI("limited", "GET", "/limited", mock{Body: "x"}),
		channelAPI("dead", "GET", "/dead", deadCh.ID, "/dead"),
		slowAPI)
	lim := g.admin.createPlugin("one_a_minute", "traffic_control", `{"window":"minute","api_limit":1}`)
	var svc struct {
		APIs []api `json:"items"`
	}
	g.admin.do(http.MethodGet, "/services/"+sid+"/apis", nil, http.StatusOK, &svc)
	var limitedID string
	for _, a := range svc.APIs {
		if a.Name == "limited" {
			limitedID = a.ID
		}
	}
	g.admin.bindPlugin(lim.ID, binding{ServiceID: sid, Environment: "release", APIIDs: []string{limitedID}})

	g.call("POST", "/ok", strings.NewReader("12345"), "X-Request-Id", "f-200")
	g.get("/nowhere", "X-Request-Id", "f-404")
	g.get("/keyed", "X-Request-Id", "f-401")
	g.get("/limited", "X-Request-Id", "f-limited-ok")
	g.get("/limited", "X-Request-Id", "f-429")
	g.get("/dead", "X-Request-Id", "f-502")
	g.get("/slow", "X-Request-Id", "f-504")
	g.Stop()

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		lines[m["request_id"].(string)] = m
	}
	fields := []string{"time", "request_id", "service_id", "environment", "api_id", "host", "method", "uri", "scheme",
		"status", "upstream_status", "upstream_addr", "client_ip", "request_length", "response_length", "request_time",
		"upstream_connect_time", "upstream_header_time", "upstream_response_time", "app_id", "error"}
	for _, c := range []struct {
		id       string
		status   float64
		upstream bool
		errWant  string
	}{
		{"f-200", 200, true, ""},
		{"f-404", 404, false, "no API matches"},
		{"f-401", 401, false, "auth:"},
		{"f-429", 429, false, "traffic_control: api_limit"},
		{"f-502", 502, false, "connect"},
		{"f-504", 504, false, "receive"},
	} {
		m := lines[c.id]
		if m == nil {
			t.Errorf("%s: no access-log line", c.id)
			continue
		}
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("%s: field %s missing", c.id, f)
			}
		}
		if m["status"] != c.status || m["client_ip"] != "127.0.0.1" || m["method"] == "" {
			t.Errorf("%s: status %v client %v", c.id, m["status"], m["client_ip"])
		}
		if c.errWant == "" && m["error"] != "" || c.errWant != "" && !strings.Contains(m["error"].(string), c.errWant) {
			t.Errorf("%s: error %q, want %q", c.id, m["error"], c.errWant)
		}
		if c.upstream {
			if m["upstream_status"] != float64(200) || m["upstream_addr"] != be.addr() || m["request_length"] != float64(5) ||
				m["upstream_connect_time"].(float64) < 0 || m["request_time"].(float64) < m["upstream_header_time"].(float64) {
				t.Errorf("%s: upstream fields %v", c.id, m)
			}
		}
	}
	if m := lines["f-404"]; m != nil && (m["service_id"] != "" || m["upstream_addr"] != "") {
		t.Errorf("a 404 names no service or node: %v", m)
	}
	if m := lines["f-504"]; m != nil && m["request_time"].(float64) < 0.9 {
		t.Errorf("a 504 after a 1 s timeout took %v s", m["request_time"])
	}
}
