package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestAccessLogLine(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	defer be.Close()
	p := newProxy(t, []config.Channel{channel(t, "ch-1", node(t, be.URL, 1))},
		api(t, "api-1", "GET", "/m", config.Backend{Type: "mock", Mock: &config.Mock{Status: 201, Body: "x"}}),
		api(t, "api-2", "GET", "/up", config.Backend{Type: "channel", ChannelID: "ch-1", Path: "/elsewhere"}))
	var out lockedBuffer
	acc := NewAccessLog(&out)
	p = New(Options{Source: p.src, Log: slog.New(slog.DiscardHandler), AccessLog: acc})

	doHost(p, "10.9.8.7:1", "Shop.Example.com", "GET", "/release/m?q=\"1\"", map[string]string{"X-Request-Id": "req-7"})
	do(p, "GET", "/nowhere", nil)
	do(p, "GET", "/up/x?y=1", nil)
	if err := acc.Close(); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSpace(out.b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %q", out.b.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, lines[0])
	}
	for _, k := range []string{"time", "request_id", "service_id", "environment", "api_id", "host", "method", "uri",
		"scheme", "status", "upstream_status", "upstream_addr", "client_ip", "request_length", "response_length",
		"request_time", "upstream_connect_time", "upstream_header_time", "upstream_response_time", "app_id", "error"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("field %q missing from %s", k, lines[0])
		}
	}
	want := map[string]any{"request_length": float64(0), "response_length": float64(1), "request_id": "req-7", "service_id": "svc-1", "environment": "release", "api_id": "api-1",
		"host": "shop.example.com", "method": "GET", "uri": "/release/m?q=\"1\"", "status": float64(201), "client_ip": "10.9.8.7"}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
	var miss map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &miss); err != nil || miss["status"] != float64(404) || miss["error"] == "" {
		t.Errorf("404 line: %v %s", err, lines[1])
	}
	var up map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &up); err != nil {
		t.Fatal(err)
	}
	if up["uri"] != "/up/x?y=1" || up["status"] != float64(202) || up["upstream_status"] != float64(202) ||
		up["upstream_addr"] != be.Listener.Addr().String() {
		t.Errorf("proxied line must show the client's URI and the node: %s", lines[2])
	}
}

// TestAccessLogAfterTheBody: the line is written when the body is done, so
// a node that breaks off its body is logged with the error and the bytes
// that really reached the client, not as a clean answer.
func TestAccessLogAfterTheBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
			}()
		}
	}()
	p := newProxy(t, []config.Channel{channel(t, "ch-1", node(t, ln.Addr().String(), 1))},
		api(t, "api-1", "GET", "/cut", config.Backend{Type: "channel", ChannelID: "ch-1"}))
	var out lockedBuffer
	acc := NewAccessLog(&out)
	p = New(Options{Source: p.src, Log: slog.New(slog.DiscardHandler), AccessLog: acc})
	r := do(p, "GET", "/cut", nil)
	if r.status != -1 && len(r.body) == 100 {
		t.Fatalf("a body cut at 10 of 100 bytes reached the client whole: %d %q", r.status, r.body)
	}
	if err := acc.Close(); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(out.b.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, out.b.String())
	}
	if rec["response_length"] != float64(10) || !strings.Contains(rec["error"].(string), "response body") {
		t.Errorf("a broken body must be logged with its error and the 10 bytes sent: %s", out.b.String())
	}
}

func TestLogTimeAndSeconds(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.FixedZone("x", 3600)),
		time.Unix(1, 123456789),
	} {
		got := string(appendTime(nil, tm))
		back, err := time.Parse(time.RFC3339Nano, got)
		if err != nil || !back.Equal(tm.Truncate(time.Millisecond)) || got != tm.UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("appendTime(%v) = %q (%v)", tm, got, err)
		}
	}
	if got := string(appendTime(nil, time.Date(2026, 11, 30, 15, 4, 5, 120_999_999, time.UTC))); got != "2026-11-30T15:04:05.120Z" {
		t.Errorf("appendTime = %q, want exactly three fraction digits, truncated", got)
	}
	for d, want := range map[time.Duration]string{
		0: "0.000", 1500 * time.Microsecond: "0.002", 999 * time.Millisecond: "0.999",
		61*time.Second + 5*time.Millisecond: "61.005", -time.Second: "0.000",
	} {
		if got := string(appendSeconds(nil, `,"k":`, d)); got != `,"k":`+want {
			t.Errorf("appendSeconds(%v) = %s, want %s", d, got, want)
		}
	}
}

// blockedWriter never returns until released: a disk that stopped.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestAccessLogNeverBlocksRequests: with the writer stuck, logging returns
// at once and the lines that do not fit are counted as dropped.
func TestAccessLogNeverBlocksRequests(t *testing.T) {
	w := blockedWriter{release: make(chan struct{})}
	l := NewAccessLog(w)
	line := []byte(strings.Repeat("x", 70<<10) + "\n") // fills the 64 KiB buffer: the writer blocks
	const n = queueLines * 2
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			l.send(&logLine{b: line})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a liveness bound, not a speed check
		t.Fatal("logging blocked behind a stuck writer")
	}
	if l.Dropped() < queueLines/2 {
		t.Fatalf("dropped %d of %d lines with a stuck writer, want them counted", l.Dropped(), n)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAppendJSONString holds the run-copying escaper to the byte-by-byte
// rule it replaced, on every byte value and on mixed strings.
func TestAppendJSONString(t *testing.T) {
	ref := func(s string) string {
		dst := []byte{'"'}
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				const hex = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
		}
		return string(append(dst, '"'))
	}
	cases := []string{"", "plain", `a"b\c`, "\x00\x1f\x7f\xff", "end\n", "\"", "ünïcode", "x\ty\rz"}
	for c := range 256 {
		cases = append(cases, string([]byte{byte(c)}), "ab"+string([]byte{byte(c)})+"cd")
	}
	for _, s := range cases {
		if got, want := string(appendJSONString([]byte("k:"), s)), "k:"+ref(s); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}
