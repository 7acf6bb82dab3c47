package config

import (
	"fmt"
	"sort"
	"strings"
)

// Health-check limits and defaults. Times are in seconds.
const (
	MaxThreshold            = 254
	DefaultTCPThreshold     = 1
	DefaultTimeoutThreshold = 3
	DefaultHTTPThreshold    = 0
	DefaultCheckTimeout     = 5
	MaxCheckTimeout         = 60
	DefaultCheckInterval    = 5
	MaxCheckInterval        = 3600
	DefaultUnhealthyTimeout = 30
	MaxUnhealthyTimeout     = 86400
	MaxCheckHeaders         = 20
	MaxStatusList           = 64
	// ImplicitUnhealthyTimeout is how long a node that refused a
	// connection is skipped on a channel without health_check.
	ImplicitUnhealthyTimeout = 10
)

// DefaultHealthyStatus is what an active check must answer by default;
// DefaultUnhealthyStatus is what a passive check counts as a failure by
// default.
var (
	DefaultHealthyStatus   = []int{200, 201, 202, 204, 301, 302, 303, 304, 307, 308}
	DefaultUnhealthyStatus = []int{500, 502, 503, 504}
)

// HealthCheck configures how a channel judges its nodes. Active checks
// request active_check_http_path on every node every interval; passive
// checks judge the answers of real traffic. A threshold is a count of
// consecutive failures of one kind that marks a node unhealthy; 0 turns that
// kind of check off. Pointers tell an absent field (default) from 0 (off).
type HealthCheck struct {
	EnableActiveCheck    bool              `json:"enable_active_check"`
	EnablePassiveCheck   bool              `json:"enable_passive_check"`
	HealthyHTTPStatus    []int             `json:"healthy_http_status"`
	UnhealthyHTTPStatus  []int             `json:"unhealthy_http_status"`
	TCPFailureThreshold  *int              `json:"tcp_failure_threshold"`
	TimeoutThreshold     *int              `json:"timeout_threshold"`
	HTTPFailureThreshold *int              `json:"http_failure_threshold"`
	ActiveCheckHTTPPath  string            `json:"active_check_http_path"`
	ActiveCheckTimeout   int               `json:"active_check_timeout"`
	ActiveCheckInterval  int               `json:"active_check_interval"`
	ActiveRequestHeaders map[string]string `json:"active_request_headers"`
	UnhealthyTimeout     *int              `json:"unhealthy_timeout"`
}

// Thresholds returns the tcp, timeout and http failure thresholds with
// their defaults applied.
func (h *HealthCheck) Thresholds() (tcp, timeout, http int) {
	return intOr(h.TCPFailureThreshold, DefaultTCPThreshold),
		intOr(h.TimeoutThreshold, DefaultTimeoutThreshold),
		intOr(h.HTTPFailureThreshold, DefaultHTTPThreshold)
}

// UnhealthySeconds returns unhealthy_timeout with its default applied.
func (h *HealthCheck) UnhealthySeconds() int {
	return intOr(h.UnhealthyTimeout, DefaultUnhealthyTimeout)
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func intPtr(v int) *int { return &v }

// validateHealthCheck checks a channel's health_check and fills its
// defaults, so that what is stored and shown is what applies.
func validateHealthCheck(h *HealthCheck) error {
	const f = "health_check."
	for _, t := range []struct {
		name string
		p    **int
		def  int
	}{
		{"tcp_failure_threshold", &h.TCPFailureThreshold, DefaultTCPThreshold},
		{"timeout_threshold", &h.TimeoutThreshold, DefaultTimeoutThreshold},
		{"http_failure_threshold", &h.HTTPFailureThreshold, DefaultHTTPThreshold},
	} {
		if *t.p == nil {
			*t.p = intPtr(t.def)
		} else if v := **t.p; v < 0 || v > MaxThreshold {
			return fieldErr(f+t.name, "must be 0-%d (0 turns this check off)", MaxThreshold)
		}
	}
	if h.UnhealthyTimeout == nil {
		h.UnhealthyTimeout = intPtr(DefaultUnhealthyTimeout)
	} else if v := *h.UnhealthyTimeout; v < 0 || v > MaxUnhealthyTimeout {
		return fieldErr(f+"unhealthy_timeout", "must be 0-%d seconds", MaxUnhealthyTimeout)
	}
	if h.EnablePassiveCheck && !h.EnableActiveCheck && *h.UnhealthyTimeout == 0 {
		return fieldErr(f+"unhealthy_timeout", "must be above 0 when only passive checks are on: nothing else would bring an ejected node back")
	}
	if h.ActiveCheckTimeout == 0 {
		h.ActiveCheckTimeout = DefaultCheckTimeout
	} else if h.ActiveCheckTimeout < 1 || h.ActiveCheckTimeout > MaxCheckTimeout {
		return fieldErr(f+"active_check_timeout", "must be 1-%d seconds", MaxCheckTimeout)
	}
	if h.ActiveCheckInterval == 0 {
		h.ActiveCheckInterval = DefaultCheckInterval
	} else if h.ActiveCheckInterval < 1 || h.ActiveCheckInterval > MaxCheckInterval {
		return fieldErr(f+"active_check_interval", "must be 1-%d seconds", MaxCheckInterval)
	}
	if h.ActiveCheckHTTPPath == "" {
		h.ActiveCheckHTTPPath = "/"
	}
	if err := checkCheckPath(h.ActiveCheckHTTPPath); err != nil {
		return fieldErr(f+"active_check_http_path", "%v", err)
	}
	var err error
	if h.HealthyHTTPStatus, err = checkStatusList(f+"healthy_http_status", h.HealthyHTTPStatus, DefaultHealthyStatus); err != nil {
		return err
	}
	if h.UnhealthyHTTPStatus, err = checkStatusList(f+"unhealthy_http_status", h.UnhealthyHTTPStatus, DefaultUnhealthyStatus); err != nil {
		return err
	}
	for _, s := range h.HealthyHTTPStatus {
		for _, u := range h.UnhealthyHTTPStatus {
			if s == u {
				return fieldErr(f+"unhealthy_http_status", "lists %d, which healthy_http_status lists too", s)
			}
		}
	}
	if h.ActiveRequestHeaders == nil {
		h.ActiveRequestHeaders = map[string]string{}
	}
	if len(h.ActiveRequestHeaders) > MaxCheckHeaders {
		return fieldErr(f+"active_request_headers", "must have at most %d headers", MaxCheckHeaders)
	}
	names := make([]string, 0, len(h.ActiveRequestHeaders))
	for name := range h.ActiveRequestHeaders {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := h.ActiveRequestHeaders[name]
		if !isToken(name) {
			return fieldErr(f+"active_request_headers", "has an invalid header name %q", name)
		}
		switch strings.ToLower(name) {
		case "host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer", "keep-alive":
			return fieldErr(f+"active_request_headers", "cannot set %s: the gateway sets it", name)
		}
		if len(v) > 1024 {
			return fieldErr(f+"active_request_headers", "header %q is over 1024 characters", name)
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
				return fieldErr(f+"active_request_headers", "header %q has a control character in its value", name)
			}
		}
	}
	return nil
}

// checkStatusList validates a list of HTTP status codes, sorted and
// deduplicated; an empty list takes def.
func checkStatusList(field string, list, def []int) ([]int, error) {
	if len(list) == 0 {
		return append([]int(nil), def...), nil
	}
	if len(list) > MaxStatusList {
		return nil, fieldErr(field, "must have at most %d codes", MaxStatusList)
	}
	out := make([]int, 0, len(list))
	for i, s := range list {
		if s < 100 || s > 599 {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "must be an HTTP status code, 100-599")
		}
		out = append(out, s)
	}
	sort.Ints(out)
	n := 0
	for i, s := range out {
		if i == 0 || s != out[n-1] {
			out[n] = s
			n++
		}
	}
	return out[:n], nil
}

// checkCheckPath accepts an origin-form request target: a path starting
// with "/", an optional query, printable ASCII without spaces.
func checkCheckPath(p string) error {
	if p[0] != '/' {
		return fmt.Errorf("must start with /")
	}
	if len(p) > 1024 {
		return fmt.Errorf("must be at most 1024 characters")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return fmt.Errorf("has a character that cannot be sent in a request line at offset %d", i)
		}
	}
	return nil
}
