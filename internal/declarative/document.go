package declarative

import (
	"encoding/json"

	"github.com/portico-gw/portico/internal/config"
)

// Document is a whole gateway configuration. Every field has the name it has
// in the admin API, except that objects refer to each other by name, never
// by id: backend.channel instead of backend.channel_id, a domain's
// certificate instead of certificate_id, a binding's service and apis
// instead of service_id and api_ids, a plan's keys instead of key_ids, a
// traffic_control plugin's special_apps[].app instead of app_id.
//
// Sections are in reference order: each object refers only to objects of
// the sections above it (or, for bindings, to services and APIs).
//
// A Document returned by Parse or Export is canonical: validated, with the
// defaults of the admin API filled in, and sorted by name (see Parse).
type Document struct {
	Channels     []Channel     `json:"channels,omitempty"`
	Certificates []Certificate `json:"certificates,omitempty"`
	Services     []Service     `json:"services,omitempty"`
	Keys         []Key         `json:"keys,omitempty"`
	UsagePlans   []UsagePlan   `json:"usage_plans,omitempty"`
	Applications []Application `json:"applications,omitempty"`
	Plugins      []Plugin      `json:"plugins,omitempty"`

	// Notes, set by Export, say what of the gateway the document does not
	// hold, or holds differently (a served version older than the draft,
	// a binding to a deleted API). They are not part of the document.
	Notes []string `json:"-"`
}

// Channel is a load-balanced pool of backend nodes (admin API: channels).
// In a document a channel must have a name: it is how APIs refer to it.
type Channel struct {
	Name        string              `json:"name"`
	Network     string              `json:"network"`
	Description string              `json:"description,omitempty"`
	Algorithm   string              `json:"algorithm,omitempty"`
	Scheme      string              `json:"scheme"`
	HostHeader  string              `json:"host_header,omitempty"`
	Nodes       []Node              `json:"nodes"`
	Retries     *int                `json:"retries,omitempty"`
	TLS         *config.ChannelTLS  `json:"tls,omitempty"`
	HealthCheck *config.HealthCheck `json:"health_check,omitempty"`
}

// Node is one backend node of a channel.
type Node struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Weight *int   `json:"weight"`
}

// Certificate is a TLS certificate and its key. The PEM text is given
// inline (cert_pem, key_pem) or read from a file (cert_file, key_file,
// relative to the document's directory); Parse reads the files, so a parsed
// document holds the PEM text only.
type Certificate struct {
	Name     string `json:"name"`
	CertPEM  string `json:"cert_pem,omitempty"`
	KeyPEM   string `json:"key_pem,omitempty"`
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// Service is a service with its draft APIs and the environments that serve
// them.
type Service struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Protocols   []string `json:"protocols,omitempty"`
	Domains     []Domain `json:"domains,omitempty"`
	// Environments lists where the draft is served: applying publishes
	// the draft to each one whose served APIs differ from it.
	Environments []string `json:"environments,omitempty"`
	APIs         []API    `json:"apis,omitempty"`
}

// Domain is a custom host name of a service.
type Domain struct {
	Host        string `json:"host"`
	Environment string `json:"environment,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	ForceHTTPS  bool   `json:"force_https,omitempty"`
}

// API is one draft API of a service.
type API struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Protocol    string          `json:"protocol,omitempty"`
	Frontend    config.Frontend `json:"frontend"`
	Backend     Backend         `json:"backend"`
	Auth        config.Auth     `json:"auth,omitzero"`
}

// Backend is where an API's requests go. Channel names a channel of the
// document.
type Backend struct {
	Type    string             `json:"type"`
	Channel string             `json:"channel,omitempty"`
	URL     string             `json:"url,omitempty"`
	Path    string             `json:"path,omitempty"`
	Timeout *int               `json:"timeout,omitempty"`
	Mock    *config.Mock       `json:"mock,omitempty"`
	TLS     *config.ChannelTLS `json:"tls,omitempty"`
}

// Key is a key pair. SecretID and SecretKey may be left out: the gateway
// generates them when it creates the key, and keeps the ones it has when
// the document does not give them.
type Key struct {
	Name      string `json:"name"`
	SecretID  string `json:"secret_id,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
}

// UsagePlan is a usage plan with the keys it holds and its bindings.
type UsagePlan struct {
	Name                 string    `json:"name"`
	MaxRequestsPerSecond *int64    `json:"max_requests_per_second,omitempty"`
	Quota                *int64    `json:"quota,omitempty"`
	Keys                 []string  `json:"keys,omitempty"`
	Bindings             []Binding `json:"bindings,omitempty"`
}

// Binding binds a usage plan or a plugin to a service in one environment:
// to all its APIs, or to the ones listed.
type Binding struct {
	Service     string   `json:"service"`
	Environment string   `json:"environment"`
	APIs        []string `json:"apis,omitempty"`
}

// Application is an application with the APIs it may call. Its app_key
// and app_secret are generated by the gateway and are not part of a
// document (see the package documentation).
type Application struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Bindings    []AppBinding `json:"bindings,omitempty"`
}

// AppBinding lets an application call one API in one environment.
type AppBinding struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	API         string `json:"api"`
}

// Plugin is a plugin with its bindings. Config is the admin API's config
// for the type, except that a traffic_control plugin's special_apps name
// applications: {"app": "mobile", "limit": 10}.
type Plugin struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Config   json.RawMessage `json:"config"`
	Bindings []Binding       `json:"bindings,omitempty"`
}

// trafficControl is a traffic_control config as a document writes it.
type trafficControl struct {
	Window      string             `json:"window"`
	APILimit    *int64             `json:"api_limit,omitempty"`
	AppLimit    *int64             `json:"app_limit,omitempty"`
	IPLimit     *int64             `json:"ip_limit,omitempty"`
	SpecialApps []specialApp       `json:"special_apps,omitempty"`
	SpecialIPs  []config.SpecialIP `json:"special_ips,omitempty"`
}

// specialApp gives one application, by name, its own limit.
type specialApp struct {
	App   string `json:"app"`
	Limit int64  `json:"limit"`
}
