// Package config is Portico's resource model: the types the admin API reads and
// writes, their validation rules and defaults. It does no I/O.
package config

import (
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
)

// Limits and defaults of the resource model (SPEC section 2).
const (
	MaxNodes        = 200
	DefaultRetries  = 5
	MaxRetries      = 100
	DefaultTimeout  = 15
	MaxTimeout      = 1800
	MaxWeight       = 100
	DefaultAlgo     = "weighted_round_robin"
	DraftEnv        = "draft"
	DefaultEnv      = "release"
	DefaultProtocol = "http"
)

// Environments a service can be published to, in display order.
var Environments = []string{"test", "prepub", "release"}

// IsEnvironment reports whether s names a publish environment.
func IsEnvironment(s string) bool {
	for _, e := range Environments {
		if e == s {
			return true
		}
	}
	return false
}

// Channel is a load-balanced pool of backend nodes in one network (the "VPC
// channel"). Edits apply at once, with no publishing.
type Channel struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Network     string      `json:"network"`
	Description string      `json:"description"`
	Algorithm   string      `json:"algorithm"`
	Scheme      string      `json:"scheme"`
	HostHeader  string      `json:"host_header"`
	Nodes       []Node      `json:"nodes"`
	Retries     *int        `json:"retries"`
	TLS         *ChannelTLS `json:"tls,omitempty"`
	// HealthCheck is nil when the channel has none: the implicit passive
	// check applies (see HealthCheck).
	HealthCheck *HealthCheck `json:"health_check,omitempty"`
	CreatedAt   Time         `json:"created_at"`
	UpdatedAt   Time         `json:"updated_at"`
	Warnings    []string     `json:"warnings,omitempty"`
}

// Node is one backend of a channel. Weight is a pointer because it is
// required and 0 is a meaningful value (drain).
type Node struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Weight *int   `json:"weight"`
	// Health is read-only: the node's state as the answering gateway node
	// sees it. It is never stored.
	Health *NodeHealth `json:"health,omitempty"`
}

// Node health states.
const (
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
	HealthNoData    = "NO_DATA"
	HealthOff       = "OFF"
)

// NodeHealth is a node's health state, why it is in it, and since when.
type NodeHealth struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Since  *Time  `json:"since,omitempty"`
}

// OffReason says why a node is OFF (not judged by health checks), "" when
// it is not: drained by weight 0, or on a channel whose checks are all off.
// The admin API and the data plane's status both show it, from the stored
// channel and from the built one.
func OffReason(weight int, checksOff bool) string {
	switch {
	case weight == 0:
		return "weight 0: the node is drained"
	case checksOff:
		return "health checks are off"
	}
	return ""
}

// W returns the node's weight (0 when unset).
func (n Node) W() int {
	if n.Weight == nil {
		return 0
	}
	return *n.Weight
}

// ChannelTLS configures the gateway-to-node TLS of an https channel.
type ChannelTLS struct {
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	CAPEM              string `json:"ca_pem"`
	ServerName         string `json:"server_name"`
}

// RetryCount returns the channel's retries with the default applied.
func (c *Channel) RetryCount() int {
	if c.Retries == nil {
		return DefaultRetries
	}
	return *c.Retries
}

// Service groups APIs that are published together.
type Service struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Protocols   []string `json:"protocols"`
	Domains     []Domain `json:"domains"`
	CreatedAt   Time     `json:"created_at"`
	UpdatedAt   Time     `json:"updated_at"`
}

// Domain is a custom host name of a service, optionally pinned to one
// environment.
type Domain struct {
	Host        string `json:"host"`
	Environment string `json:"environment,omitempty"`
	// CertificateID names the certificate the TLS port serves for the
	// host (empty: chosen by the host's name, see Certificate).
	CertificateID string `json:"certificate_id,omitempty"`
	// ForceHTTPS redirects plain-HTTP requests for the host to https
	// with 308.
	ForceHTTPS bool `json:"force_https,omitempty"`
}

// API is one operation of a service: how it is called (frontend) and where it
// goes (backend).
type API struct {
	ID          string   `json:"id"`
	ServiceID   string   `json:"service_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Protocol    string   `json:"protocol"`
	Frontend    Frontend `json:"frontend"`
	Backend     Backend  `json:"backend"`
	Auth        Auth     `json:"auth"`
	CreatedAt   Time     `json:"created_at"`
	UpdatedAt   Time     `json:"updated_at"`
}

// Frontend is what a caller sends: method and path pattern.
type Frontend struct {
	Path   string `json:"path"`
	Method string `json:"method"`
}

// Backend is where a matched request goes.
type Backend struct {
	Type      string `json:"type"`
	ChannelID string `json:"channel_id,omitempty"`
	URL       string `json:"url,omitempty"`
	Path      string `json:"path"`
	Timeout   *int   `json:"timeout"`
	Mock      *Mock  `json:"mock,omitempty"`
	// TLS configures the gateway-to-backend TLS of an https url backend
	// (a service behind a private CA), as a channel's tls does.
	TLS *ChannelTLS `json:"tls,omitempty"`
}

// TimeoutSeconds returns the backend timeout with the default applied.
func (b *Backend) TimeoutSeconds() int {
	if b.Timeout == nil {
		return DefaultTimeout
	}
	return *b.Timeout
}

// Mock is a fixed answer returned by the gateway itself.
type Mock struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
}

// Auth selects how callers of an API authenticate.
type Auth struct {
	Type string `json:"type"`
	// JWT configures auth type "jwt": the key source and the claims
	// checked and passed on.
	JWT *jwtauth.Config `json:"jwt,omitempty"`
}

// Backend types.
const (
	BackendChannel = "channel"
	BackendURL     = "url"
	BackendMock    = "mock"
)

// Release is an immutable published version of a service: a copy of its APIs
// as they were when published.
type Release struct {
	Version     string `json:"version"`
	ServiceID   string `json:"service_id"`
	Environment string `json:"environment"`
	Description string `json:"description"`
	CreatedAt   Time   `json:"created_at"`
	APIs        []API  `json:"-"`
}

// Actions of the release history.
const (
	ActionPublish   = "publish"   // a new version, made from the draft
	ActionPromote   = "promote"   // a version first published to another environment
	ActionRollback  = "rollback"  // a version published to this environment before
	ActionUnpublish = "unpublish" // the environment stops serving the service
)

// ReleaseEvent is one change of what a service serves in an environment.
type ReleaseEvent struct {
	Action      string `json:"action"`
	Environment string `json:"environment"`
	// Version is what the environment serves after the change, "" after
	// an unpublish.
	Version string `json:"version"`
	// PreviousVersion is what it served before, "" for nothing.
	PreviousVersion string `json:"previous_version"`
	Description     string `json:"description"`
	CreatedAt       Time   `json:"created_at"`
}

// EnvironmentState says which version a service serves in one environment.
type EnvironmentState struct {
	Environment string `json:"environment"`
	Version     string `json:"version"`
	PublishedAt Time   `json:"published_at"`
}

// ChannelBinding is one API bound to a channel, in the draft or in an
// environment that serves it.
type ChannelBinding struct {
	ServiceID   string `json:"service_id"`
	ServiceName string `json:"service_name"`
	APIID       string `json:"api_id"`
	APIName     string `json:"api_name"`
	Environment string `json:"environment"`
}

// Published is one environment of one service as served: the service's live
// settings and the APIs of the version it serves.
type Published struct {
	Service     Service
	Environment string
	Version     string
	APIs        []API
}

// State is everything the data plane serves, read at one revision.
type State struct {
	Revision  int64
	Channels  []Channel
	Published []Published
	// Plugins with their bindings; they apply at once, unpublished.
	Plugins []Plugin
	// Keys and usage plans (with their keys and bindings), likewise.
	Keys  []Key
	Plans []UsagePlan
	// Applications and the APIs they may call.
	Apps        []App
	AppBindings []AppBinding
	// Certificates, keys included, served on the TLS port.
	Certificates []Certificate
}
