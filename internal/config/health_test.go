package config_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

func hcInt(v int) *int { return &v }

// hcChannel is a valid channel carrying hc, so that every error
// ValidateChannel answers is about the health check.
func hcChannel(hc *config.HealthCheck) *config.Channel {
	return &config.Channel{
		Network:     "vpc-prod",
		Scheme:      "http",
		Nodes:       []config.Node{{Host: "10.0.0.1", Port: 8080, Weight: hcInt(10)}},
		HealthCheck: hc,
	}
}

// hcFieldErr fails unless err is a *config.FieldError naming field, whose
// message starts with the field.
func hcFieldErr(t *testing.T, err error, field string) {
	t.Helper()
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want a *config.FieldError for %s", err, err, field)
	}
	if fe.Field != field {
		t.Fatalf("error field = %q (%s), want %q", fe.Field, fe.Message, field)
	}
	if !strings.HasPrefix(fe.Message, field+" ") {
		t.Errorf("message %q does not start with %q", fe.Message, field)
	}
}

func hcHeaders(n int) map[string]string {
	h := make(map[string]string, n)
	for i := 0; i < n; i++ {
		h[fmt.Sprintf("X-H%d", i)] = "v"
	}
	return h
}

func TestHealthCheckDefaults(t *testing.T) {
	for _, hc := range []*config.HealthCheck{
		{EnableActiveCheck: true},
		{EnablePassiveCheck: true},
		{EnableActiveCheck: true, EnablePassiveCheck: true},
		{},
	} {
		name := fmt.Sprintf("active=%t,passive=%t", hc.EnableActiveCheck, hc.EnablePassiveCheck)
		t.Run(name, func(t *testing.T) {
			if err := config.ValidateChannel(hcChannel(hc)); err != nil {
				t.Fatalf("ValidateChannel: %v", err)
			}
			for _, f := range []struct {
				name string
				p    *int
				want int
			}{
				{"tcp_failure_threshold", hc.TCPFailureThreshold, 1},
				{"timeout_threshold", hc.TimeoutThreshold, 3},
				{"http_failure_threshold", hc.HTTPFailureThreshold, 0},
				{"unhealthy_timeout", hc.UnhealthyTimeout, 30},
			} {
				if f.p == nil || *f.p != f.want {
					t.Errorf("%s = %v, want %d filled in", f.name, f.p, f.want)
				}
			}
			if hc.ActiveCheckHTTPPath != "/" {
				t.Errorf("active_check_http_path = %q, want /", hc.ActiveCheckHTTPPath)
			}
			if hc.ActiveCheckTimeout != 5 || hc.ActiveCheckInterval != 5 {
				t.Errorf("active_check_timeout, interval = %d, %d, want 5, 5", hc.ActiveCheckTimeout, hc.ActiveCheckInterval)
			}
			if !slices.Equal(hc.HealthyHTTPStatus, config.DefaultHealthyStatus) {
				t.Errorf("healthy_http_status = %v, want %v", hc.HealthyHTTPStatus, config.DefaultHealthyStatus)
			}
			if !slices.Equal(hc.UnhealthyHTTPStatus, config.DefaultUnhealthyStatus) {
				t.Errorf("unhealthy_http_status = %v, want %v", hc.UnhealthyHTTPStatus, config.DefaultUnhealthyStatus)
			}
			if tcp, to, h := hc.Thresholds(); tcp != 1 || to != 3 || h != 0 {
				t.Errorf("Thresholds() = %d, %d, %d, want 1, 3, 0", tcp, to, h)
			}
			if hc.UnhealthySeconds() != 30 {
				t.Errorf("UnhealthySeconds() = %d, want 30", hc.UnhealthySeconds())
			}
		})
	}
	// The filled defaults are copies: editing a channel's list must not
	// edit the package's defaults.
	hc := &config.HealthCheck{EnableActiveCheck: true}
	if err := config.ValidateChannel(hcChannel(hc)); err != nil {
		t.Fatal(err)
	}
	hc.HealthyHTTPStatus[0], hc.UnhealthyHTTPStatus[0] = 599, 599
	if config.DefaultHealthyStatus[0] != 200 || config.DefaultUnhealthyStatus[0] != 500 {
		t.Fatalf("the defaults share their backing array with a validated channel: %v %v", config.DefaultHealthyStatus, config.DefaultUnhealthyStatus)
	}
}

func TestHealthCheckExplicitValuesKept(t *testing.T) {
	hc := &config.HealthCheck{
		EnableActiveCheck:    true,
		EnablePassiveCheck:   true,
		TCPFailureThreshold:  hcInt(0),
		TimeoutThreshold:     hcInt(0),
		HTTPFailureThreshold: hcInt(0),
		UnhealthyTimeout:     hcInt(0), // allowed: active checks bring nodes back
	}
	if err := config.ValidateChannel(hcChannel(hc)); err != nil {
		t.Fatalf("ValidateChannel: %v", err)
	}
	if tcp, to, h := hc.Thresholds(); tcp != 0 || to != 0 || h != 0 {
		t.Errorf("explicit 0 thresholds became %d, %d, %d: 0 means off and must stay", tcp, to, h)
	}
	if hc.UnhealthySeconds() != 0 {
		t.Errorf("explicit unhealthy_timeout 0 became %d", hc.UnhealthySeconds())
	}

	hc = &config.HealthCheck{
		EnableActiveCheck:    true,
		TCPFailureThreshold:  hcInt(254),
		TimeoutThreshold:     hcInt(7),
		HTTPFailureThreshold: hcInt(254),
		UnhealthyTimeout:     hcInt(86400),
		ActiveCheckHTTPPath:  "/healthz?deep=1&x=%20",
		ActiveCheckTimeout:   60,
		ActiveCheckInterval:  3600,
		HealthyHTTPStatus:    []int{204, 200, 204, 100, 599, 200},
		UnhealthyHTTPStatus:  []int{503, 500, 503},
		ActiveRequestHeaders: map[string]string{"X-Check": "portico\tgateway", "Accept": strings.Repeat("a", 1024)},
	}
	if err := config.ValidateChannel(hcChannel(hc)); err != nil {
		t.Fatalf("ValidateChannel: %v", err)
	}
	if tcp, to, h := hc.Thresholds(); tcp != 254 || to != 7 || h != 254 {
		t.Errorf("Thresholds() = %d, %d, %d, want 254, 7, 254", tcp, to, h)
	}
	if hc.UnhealthySeconds() != 86400 || hc.ActiveCheckTimeout != 60 || hc.ActiveCheckInterval != 3600 {
		t.Errorf("unhealthy_timeout, active_check_timeout, interval = %d, %d, %d", hc.UnhealthySeconds(), hc.ActiveCheckTimeout, hc.ActiveCheckInterval)
	}
	if hc.ActiveCheckHTTPPath != "/healthz?deep=1&x=%20" {
		t.Errorf("path = %q", hc.ActiveCheckHTTPPath)
	}
	if want := []int{100, 200, 204, 599}; !slices.Equal(hc.HealthyHTTPStatus, want) {
		t.Errorf("healthy_http_status = %v, want %v (sorted, deduplicated)", hc.HealthyHTTPStatus, want)
	}
	if want := []int{500, 503}; !slices.Equal(hc.UnhealthyHTTPStatus, want) {
		t.Errorf("unhealthy_http_status = %v, want %v (sorted, deduplicated)", hc.UnhealthyHTTPStatus, want)
	}

	// 20 headers is the limit, not over it.
	hc = &config.HealthCheck{EnableActiveCheck: true, ActiveRequestHeaders: hcHeaders(20)}
	if err := config.ValidateChannel(hcChannel(hc)); err != nil {
		t.Fatalf("20 headers: %v", err)
	}
	// A channel without health_check keeps none (the implicit policy).
	c := hcChannel(nil)
	if err := config.ValidateChannel(c); err != nil || c.HealthCheck != nil {
		t.Fatalf("channel without health_check: err %v, health_check %+v", err, c.HealthCheck)
	}
}

func TestHealthCheckErrors(t *testing.T) {
	const f = "health_check."
	tests := []struct {
		name  string
		hc    config.HealthCheck
		field string
	}{
		{"tcp threshold 255", config.HealthCheck{TCPFailureThreshold: hcInt(255)}, f + "tcp_failure_threshold"},
		{"tcp threshold -1", config.HealthCheck{TCPFailureThreshold: hcInt(-1)}, f + "tcp_failure_threshold"},
		{"timeout threshold 255", config.HealthCheck{TimeoutThreshold: hcInt(255)}, f + "timeout_threshold"},
		{"timeout threshold -1", config.HealthCheck{TimeoutThreshold: hcInt(-1)}, f + "timeout_threshold"},
		{"http threshold 255", config.HealthCheck{HTTPFailureThreshold: hcInt(255)}, f + "http_failure_threshold"},
		{"http threshold -1", config.HealthCheck{HTTPFailureThreshold: hcInt(-1)}, f + "http_failure_threshold"},

		{"unhealthy_timeout -1", config.HealthCheck{UnhealthyTimeout: hcInt(-1)}, f + "unhealthy_timeout"},
		{"unhealthy_timeout 86401", config.HealthCheck{UnhealthyTimeout: hcInt(86401)}, f + "unhealthy_timeout"},
		{"unhealthy_timeout 0 with passive only", config.HealthCheck{EnablePassiveCheck: true, UnhealthyTimeout: hcInt(0)}, f + "unhealthy_timeout"},

		{"path without slash", config.HealthCheck{ActiveCheckHTTPPath: "x"}, f + "active_check_http_path"},
		{"path with space", config.HealthCheck{ActiveCheckHTTPPath: "/a b"}, f + "active_check_http_path"},
		{"path with fragment", config.HealthCheck{ActiveCheckHTTPPath: "/a#b"}, f + "active_check_http_path"},
		{"path with CRLF", config.HealthCheck{ActiveCheckHTTPPath: "/a\r\nX: y"}, f + "active_check_http_path"},
		{"path with DEL", config.HealthCheck{ActiveCheckHTTPPath: "/a\x7f"}, f + "active_check_http_path"},
		{"path non-ASCII", config.HealthCheck{ActiveCheckHTTPPath: "/é"}, f + "active_check_http_path"},
		{"path absolute URL", config.HealthCheck{ActiveCheckHTTPPath: "http://x/"}, f + "active_check_http_path"},
		{"path 1025", config.HealthCheck{ActiveCheckHTTPPath: "/" + strings.Repeat("a", 1024)}, f + "active_check_http_path"},

		{"healthy status 99", config.HealthCheck{HealthyHTTPStatus: []int{200, 99}}, f + "healthy_http_status[1]"},
		{"healthy status 600", config.HealthCheck{HealthyHTTPStatus: []int{200, 600}}, f + "healthy_http_status[1]"},
		{"healthy status first", config.HealthCheck{HealthyHTTPStatus: []int{0}}, f + "healthy_http_status[0]"},
		{"unhealthy status 600", config.HealthCheck{UnhealthyHTTPStatus: []int{500, 503, 600}}, f + "unhealthy_http_status[2]"},
		{"unhealthy status -500", config.HealthCheck{UnhealthyHTTPStatus: []int{-500}}, f + "unhealthy_http_status[0]"},
		{"healthy list too long", config.HealthCheck{HealthyHTTPStatus: slices.Repeat([]int{200}, config.MaxStatusList+1)}, f + "healthy_http_status"},
		{"code in both lists", config.HealthCheck{HealthyHTTPStatus: []int{200, 503}, UnhealthyHTTPStatus: []int{503}}, f + "unhealthy_http_status"},
		{"code in both lists, unhealthy by default", config.HealthCheck{HealthyHTTPStatus: []int{200, 500}}, f + "unhealthy_http_status"},

		{"header name with space", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X Bad": "v"}}, f + "active_request_headers"},
		{"header name with colon", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X:Bad": "v"}}, f + "active_request_headers"},
		{"header name empty", config.HealthCheck{ActiveRequestHeaders: map[string]string{"": "v"}}, f + "active_request_headers"},
		{"header name non-ASCII", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X-é": "v"}}, f + "active_request_headers"},
		{"header Host", config.HealthCheck{ActiveRequestHeaders: map[string]string{"Host": "x"}}, f + "active_request_headers"},
		{"header host lower case", config.HealthCheck{ActiveRequestHeaders: map[string]string{"host": "x"}}, f + "active_request_headers"},
		{"header Content-Length", config.HealthCheck{ActiveRequestHeaders: map[string]string{"Content-Length": "0"}}, f + "active_request_headers"},
		{"header Transfer-Encoding", config.HealthCheck{ActiveRequestHeaders: map[string]string{"Transfer-Encoding": "chunked"}}, f + "active_request_headers"},
		{"header Connection", config.HealthCheck{ActiveRequestHeaders: map[string]string{"CONNECTION": "keep-alive"}}, f + "active_request_headers"},
		{"header Upgrade", config.HealthCheck{ActiveRequestHeaders: map[string]string{"Upgrade": "h2c"}}, f + "active_request_headers"},
		{"header value CRLF", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X-A": "a\r\nX-Injected: 1"}}, f + "active_request_headers"},
		{"header value LF", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X-A": "a\nb"}}, f + "active_request_headers"},
		{"header value CR", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X-A": "a\rb"}}, f + "active_request_headers"},
		{"header value NUL", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X-A": "a\x00b"}}, f + "active_request_headers"},
		{"header value DEL", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X-A": "a\x7f"}}, f + "active_request_headers"},
		{"header value 1025", config.HealthCheck{ActiveRequestHeaders: map[string]string{"X-A": strings.Repeat("a", 1025)}}, f + "active_request_headers"},
		{"21 headers", config.HealthCheck{ActiveRequestHeaders: hcHeaders(21)}, f + "active_request_headers"},

		{"check timeout 61", config.HealthCheck{ActiveCheckTimeout: 61}, f + "active_check_timeout"},
		{"check timeout -1", config.HealthCheck{ActiveCheckTimeout: -1}, f + "active_check_timeout"},
		{"check interval 3601", config.HealthCheck{ActiveCheckInterval: 3601}, f + "active_check_interval"},
		{"check interval -1", config.HealthCheck{ActiveCheckInterval: -1}, f + "active_check_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, on := range [][2]bool{{true, false}, {true, true}, {false, true}} {
				hc := tt.hc
				hc.EnableActiveCheck, hc.EnablePassiveCheck = on[0], on[1]
				if tt.name == "unhealthy_timeout 0 with passive only" && on[0] {
					continue // with active checks on, 0 is allowed
				}
				hcFieldErr(t, config.ValidateChannel(hcChannel(&hc)), tt.field)
			}
		})
	}
}

// FuzzValidateHealthCheck checks that validation never panics and that what
// it accepts is within the limits, normalized, and stable: validating the
// result again succeeds and changes nothing, so that what is stored is what
// applies.
func FuzzValidateHealthCheck(f *testing.F) {
	f.Add(true, false, uint8(0), 1, 3, 0, 30, 5, 5, "/", []byte{}, []byte{}, "X-A", "v", "", "")
	f.Add(true, true, uint8(15), 0, 0, 0, 0, 60, 3600, "/healthz?x=1", []byte{0, 200, 1, 4}, []byte{1, 244}, "Accept", "*/*", "X-B", "a\tb")
	f.Add(false, true, uint8(15), 254, 255, -1, 0, 61, 3601, "x", []byte{0, 99, 2, 88}, []byte{0, 200}, "Host", "x", "X-C", "a\r\n")
	f.Add(false, false, uint8(7), -1, 1000, 7, 86401, -1, 0, "/a b", []byte{1, 244, 1, 244}, []byte{1, 244}, "", "", "x y", "")
	f.Fuzz(func(t *testing.T, active, passive bool, present uint8, tcp, timeout, httpT, unhealthy, checkTimeout, interval int,
		path string, healthy, unhealthyList []byte, h1, v1, h2, v2 string) {
		codes := func(b []byte) []int {
			var out []int
			for i := 0; i+1 < len(b); i += 2 {
				out = append(out, int(b[i])<<8|int(b[i+1]))
			}
			return out
		}
		hc := &config.HealthCheck{
			EnableActiveCheck:   active,
			EnablePassiveCheck:  passive,
			HealthyHTTPStatus:   codes(healthy),
			UnhealthyHTTPStatus: codes(unhealthyList),
			ActiveCheckHTTPPath: path,
			ActiveCheckTimeout:  checkTimeout,
			ActiveCheckInterval: interval,
		}
		for i, p := range []struct {
			dst **int
			v   int
		}{{&hc.TCPFailureThreshold, tcp}, {&hc.TimeoutThreshold, timeout}, {&hc.HTTPFailureThreshold, httpT}, {&hc.UnhealthyTimeout, unhealthy}} {
			if present&(1<<i) != 0 {
				*p.dst = hcInt(p.v)
			}
		}
		if h1 != "" || h2 != "" {
			hc.ActiveRequestHeaders = map[string]string{h1: v1, h2: v2}
		}

		err := config.ValidateChannel(hcChannel(hc))
		if err != nil {
			var fe *config.FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "health_check.") {
				t.Fatalf("error %v (%T) is not a FieldError of health_check", err, err)
			}
			return
		}
		for name, p := range map[string]*int{"tcp_failure_threshold": hc.TCPFailureThreshold,
			"timeout_threshold": hc.TimeoutThreshold, "http_failure_threshold": hc.HTTPFailureThreshold} {
			if p == nil || *p < 0 || *p > 254 {
				t.Fatalf("accepted %s = %v", name, p)
			}
		}
		if hc.UnhealthyTimeout == nil || *hc.UnhealthyTimeout < 0 || *hc.UnhealthyTimeout > config.MaxUnhealthyTimeout {
			t.Fatalf("accepted unhealthy_timeout = %v", hc.UnhealthyTimeout)
		}
		if passive && !active && *hc.UnhealthyTimeout == 0 {
			t.Fatalf("accepted unhealthy_timeout 0 with passive checks only")
		}
		if hc.ActiveCheckTimeout < 1 || hc.ActiveCheckTimeout > 60 || hc.ActiveCheckInterval < 1 || hc.ActiveCheckInterval > 3600 {
			t.Fatalf("accepted active_check_timeout %d, interval %d", hc.ActiveCheckTimeout, hc.ActiveCheckInterval)
		}
		if !strings.HasPrefix(hc.ActiveCheckHTTPPath, "/") || strings.ContainsAny(hc.ActiveCheckHTTPPath, " \r\n#") {
			t.Fatalf("accepted path %q", hc.ActiveCheckHTTPPath)
		}
		for _, l := range [][]int{hc.HealthyHTTPStatus, hc.UnhealthyHTTPStatus} {
			if len(l) == 0 || !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) || l[0] < 100 || l[len(l)-1] > 599 {
				t.Fatalf("accepted status list %v: want non-empty, sorted, unique, 100-599", l)
			}
		}
		for _, c := range hc.HealthyHTTPStatus {
			if slices.Contains(hc.UnhealthyHTTPStatus, c) {
				t.Fatalf("accepted %d in both healthy %v and unhealthy %v", c, hc.HealthyHTTPStatus, hc.UnhealthyHTTPStatus)
			}
		}
		if len(hc.ActiveRequestHeaders) > config.MaxCheckHeaders {
			t.Fatalf("accepted %d headers", len(hc.ActiveRequestHeaders))
		}
		for name, v := range hc.ActiveRequestHeaders {
			if name == "" || strings.ContainsAny(name, " :\r\n") || strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("accepted header %q: %q", name, v)
			}
		}

		// Idempotent: the stored form validates again, unchanged.
		again := hcClone(hc)
		if err := config.ValidateChannel(hcChannel(again)); err != nil {
			t.Fatalf("validating the result again: %v (first result %+v)", err, hc)
		}
		if !reflect.DeepEqual(again, hc) {
			t.Fatalf("validating again changed %+v into %+v", hc, again)
		}
	})
}

func hcClone(h *config.HealthCheck) *config.HealthCheck {
	c := *h
	c.HealthyHTTPStatus = slices.Clone(h.HealthyHTTPStatus)
	c.UnhealthyHTTPStatus = slices.Clone(h.UnhealthyHTTPStatus)
	for _, p := range []**int{&c.TCPFailureThreshold, &c.TimeoutThreshold, &c.HTTPFailureThreshold, &c.UnhealthyTimeout} {
		if *p != nil {
			*p = hcInt(**p)
		}
	}
	if h.ActiveRequestHeaders != nil {
		c.ActiveRequestHeaders = make(map[string]string, len(h.ActiveRequestHeaders))
		for k, v := range h.ActiveRequestHeaders {
			c.ActiveRequestHeaders[k] = v
		}
	}
	return &c
}
