package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// Plugin types.
const (
	PluginIPControl      = "ip_control"
	PluginTrafficControl = "traffic_control"
)

// Limits of plugins.
const (
	MaxPluginBlocks  = 200 // ip_control blocks
	MaxSpecials      = 30  // traffic_control special_apps and special_ips, each
	MaxPluginAPIIDs  = 100 // api_ids of one binding
	MaxTrafficLimit  = 1_000_000_000
	pluginNameLength = 50
)

// Plugin is a policy (IP access control, traffic control) that applies to
// the APIs it is bound to. Edits and bindings take effect at once on every
// gateway node, with no publishing.
type Plugin struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Config json.RawMessage `json:"config"`
	// Bindings is read-only: bindings are made under /plugins/{id}/bindings.
	Bindings  []PluginBinding `json:"bindings"`
	CreatedAt Time            `json:"created_at"`
	UpdatedAt Time            `json:"updated_at"`
}

// PluginBinding applies a plugin to a service in one environment: to all of
// its APIs, or to the listed ones.
type PluginBinding struct {
	ID          string   `json:"id"`
	PluginID    string   `json:"plugin_id"`
	ServiceID   string   `json:"service_id"`
	Environment string   `json:"environment"`
	APIIDs      []string `json:"api_ids,omitempty"`
	CreatedAt   Time     `json:"created_at"`
}

// IPControl is the config of an ip_control plugin.
type IPControl struct {
	Type   string   `json:"type"`
	Blocks []string `json:"blocks"`
}

// TrafficControl is the config of a traffic_control plugin. A nil limit
// does not apply.
type TrafficControl struct {
	Window      string       `json:"window"`
	APILimit    *int64       `json:"api_limit,omitempty"`
	AppLimit    *int64       `json:"app_limit,omitempty"`
	IPLimit     *int64       `json:"ip_limit,omitempty"`
	SpecialApps []SpecialApp `json:"special_apps,omitempty"`
	SpecialIPs  []SpecialIP  `json:"special_ips,omitempty"`
}

// SpecialApp gives one application its own limit instead of app_limit.
type SpecialApp struct {
	AppID string `json:"app_id"`
	Limit int64  `json:"limit"`
}

// SpecialIP gives one client address its own limit instead of ip_limit.
type SpecialIP struct {
	IP    string `json:"ip"`
	Limit int64  `json:"limit"`
}

// WindowDuration is the length of a traffic_control window.
func (t *TrafficControl) WindowDuration() time.Duration {
	switch t.Window {
	case "second":
		return time.Second
	case "minute":
		return time.Minute
	case "hour":
		return time.Hour
	case "day":
		return 24 * time.Hour
	}
	return 0
}

var pluginName = regexp.MustCompile(`^[A-Za-z0-9_]{1,50}$`)

// ValidatePlugin checks the fields of a plugin other than its config, which
// ValidateIPControl and ValidateTrafficControl check once decoded.
func ValidatePlugin(p *Plugin) error {
	if !pluginName.MatchString(p.Name) {
		return fieldErr("name", "must be 1-%d of A-Z a-z 0-9 _", pluginNameLength)
	}
	switch p.Type {
	case PluginIPControl, PluginTrafficControl:
	case "":
		return fieldErr("type", "is required: %q or %q", PluginIPControl, PluginTrafficControl)
	default:
		return fieldErr("type", "must be %q or %q", PluginIPControl, PluginTrafficControl)
	}
	if len(p.Config) == 0 || string(p.Config) == "null" {
		return fieldErr("config", "is required")
	}
	return nil
}

// ValidateIPControl checks an ip_control config; blocks are parsed as
// addresses or CIDRs (the data plane compiles them again into its lookup
// structure).
func ValidateIPControl(c *IPControl) error {
	switch c.Type {
	case "white_list", "black_list":
	default:
		return fieldErr("config.type", `must be "white_list" or "black_list"`)
	}
	if len(c.Blocks) == 0 {
		return fieldErr("config.blocks", "must list at least one address or CIDR")
	}
	if len(c.Blocks) > MaxPluginBlocks {
		return fieldErr("config.blocks", "may list at most %d entries", MaxPluginBlocks)
	}
	for i, b := range c.Blocks {
		if _, err := netip.ParsePrefix(b); err == nil {
			continue
		}
		if a, err := netip.ParseAddr(b); err == nil && a.Zone() == "" {
			continue
		}
		return fieldErr(fmt.Sprintf("config.blocks[%d]", i), "%q is neither an IP address nor a CIDR", b)
	}
	return nil
}

// ValidateTrafficControl checks a traffic_control config.
func ValidateTrafficControl(c *TrafficControl) error {
	if c.WindowDuration() == 0 {
		return fieldErr("config.window", `must be "second", "minute", "hour" or "day"`)
	}
	if c.APILimit == nil && c.AppLimit == nil && c.IPLimit == nil && len(c.SpecialApps) == 0 && len(c.SpecialIPs) == 0 {
		return fieldErr("config", "sets no limit: give api_limit, app_limit, ip_limit, special_apps or special_ips")
	}
	for _, l := range []struct {
		name string
		v    *int64
	}{{"api_limit", c.APILimit}, {"app_limit", c.AppLimit}, {"ip_limit", c.IPLimit}} {
		if l.v != nil && (*l.v < 1 || *l.v > MaxTrafficLimit) {
			return fieldErr("config."+l.name, "must be 1-%d", MaxTrafficLimit)
		}
	}
	if len(c.SpecialApps) > MaxSpecials {
		return fieldErr("config.special_apps", "may list at most %d entries", MaxSpecials)
	}
	if len(c.SpecialIPs) > MaxSpecials {
		return fieldErr("config.special_ips", "may list at most %d entries", MaxSpecials)
	}
	seen := map[string]bool{}
	for i, s := range c.SpecialApps {
		f := fmt.Sprintf("config.special_apps[%d]", i)
		if s.AppID == "" {
			return fieldErr(f+".app_id", "is required")
		}
		if seen[s.AppID] {
			return fieldErr(f+".app_id", "%q is listed twice", s.AppID)
		}
		seen[s.AppID] = true
		if s.Limit < 1 || s.Limit > MaxTrafficLimit {
			return fieldErr(f+".limit", "must be 1-%d", MaxTrafficLimit)
		}
	}
	seen = map[string]bool{}
	for i, s := range c.SpecialIPs {
		f := fmt.Sprintf("config.special_ips[%d]", i)
		a, err := netip.ParseAddr(s.IP)
		if err != nil {
			return fieldErr(f+".ip", "%q is not an IP address", s.IP)
		}
		k := a.Unmap().String()
		if seen[k] {
			return fieldErr(f+".ip", "%q is listed twice", s.IP)
		}
		seen[k] = true
		if s.Limit < 1 || s.Limit > MaxTrafficLimit {
			return fieldErr(f+".limit", "must be 1-%d", MaxTrafficLimit)
		}
	}
	return nil
}

// ValidatePluginBinding checks a binding's own fields; whether the service
// and APIs exist is checked by the store.
func ValidatePluginBinding(b *PluginBinding) error {
	if b.ServiceID == "" {
		return fieldErr("service_id", "is required")
	}
	if !IsEnvironment(b.Environment) {
		return fieldErr("environment", "must be one of test, prepub, release")
	}
	if len(b.APIIDs) > MaxPluginAPIIDs {
		return fieldErr("api_ids", "may list at most %d APIs", MaxPluginAPIIDs)
	}
	seen := map[string]bool{}
	for i, id := range b.APIIDs {
		if id == "" || seen[id] {
			return fieldErr(fmt.Sprintf("api_ids[%d]", i), "must be a distinct API id")
		}
		seen[id] = true
	}
	return nil
}

// PluginBindingConflict is a binding in the way of another: a plugin of the
// same type already bound to the same service, environment and APIs.
type PluginBindingConflict struct {
	PluginID  string `json:"plugin_id"`
	BindingID string `json:"binding_id"`
	APIID     string `json:"api_id,omitempty"`
}
