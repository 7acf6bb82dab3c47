package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

func intp(i int) *int { return &i }

// checkErr fails unless err is a *FieldError for wantField ("" means no
// error), whose message starts with the field so that it reads alone.
func checkErr(t *testing.T, err error, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want a *FieldError for %s", err, err, wantField)
	}
	if fe.Field != wantField {
		t.Fatalf("error field = %q (%s), want %q", fe.Field, fe.Message, wantField)
	}
	if !strings.HasPrefix(fe.Message, wantField+" ") || fe.Error() != fe.Message {
		t.Errorf("message %q does not start with the field %q", fe.Message, wantField)
	}
}

func validChannel() Channel {
	return Channel{
		Network: "vpc-prod",
		Scheme:  "http",
		Nodes:   []Node{{Host: "10.0.0.1", Port: 8080, Weight: intp(10)}},
	}
}

func nodes(n int) []Node {
	ns := make([]Node, n)
	for i := range ns {
		ns[i] = Node{Host: "10.0.0.1", Port: 1 + i, Weight: intp(1)}
	}
	return ns
}

// testCAPEM is a freshly generated self-signed certificate, so that the test
// holds no key material and never expires.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "portico test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestValidateChannel(t *testing.T) {
	caPEM := testCAPEM(t)
	tests := []struct {
		name   string
		edit   func(c *Channel)
		field  string              // "" when valid
		check  func(*Channel) bool // defaults and normalization, when valid
		detail string
	}{
		{name: "minimal", edit: func(c *Channel) {},
			check: func(c *Channel) bool {
				return c.Algorithm == DefaultAlgo && c.Retries != nil && *c.Retries == DefaultRetries && c.RetryCount() == DefaultRetries
			}, detail: "algorithm and retries get their defaults"},

		{name: "name word chars", edit: func(c *Channel) { c.Name = "pool_A9" }},
		{name: "name 50", edit: func(c *Channel) { c.Name = strings.Repeat("a", 50) }},
		{name: "name 51", edit: func(c *Channel) { c.Name = strings.Repeat("a", 51) }, field: "name"},
		{name: "name dash", edit: func(c *Channel) { c.Name = "my-pool" }, field: "name"},
		{name: "name space", edit: func(c *Channel) { c.Name = "my pool" }, field: "name"},
		{name: "name non-ASCII", edit: func(c *Channel) { c.Name = "池" }, field: "name"},

		{name: "network missing", edit: func(c *Channel) { c.Network = "" }, field: "network"},
		{name: "network chars", edit: func(c *Channel) { c.Network = "vpc prod" }, field: "network"},
		{name: "network slash", edit: func(c *Channel) { c.Network = "vpc/prod" }, field: "network"},
		{name: "network dots and underscores", edit: func(c *Channel) { c.Network = "idc_sh.1-a" }},
		{name: "network 64", edit: func(c *Channel) { c.Network = strings.Repeat("n", 64) }},
		{name: "network 65", edit: func(c *Channel) { c.Network = strings.Repeat("n", 65) }, field: "network"},

		{name: "description 200 runes", edit: func(c *Channel) { c.Description = strings.Repeat("é", 200) }},
		{name: "description 201 runes", edit: func(c *Channel) { c.Description = strings.Repeat("é", 201) }, field: "description"},
		{name: "description bad UTF-8", edit: func(c *Channel) { c.Description = "a\xffb" }, field: "description"},

		{name: "algorithm given", edit: func(c *Channel) { c.Algorithm = DefaultAlgo }},
		{name: "algorithm other", edit: func(c *Channel) { c.Algorithm = "least_conn" }, field: "algorithm"},

		{name: "scheme missing", edit: func(c *Channel) { c.Scheme = "" }, field: "scheme"},
		{name: "scheme https", edit: func(c *Channel) { c.Scheme = "https" }},
		{name: "scheme upper case", edit: func(c *Channel) { c.Scheme = "HTTP" }, field: "scheme"},
		{name: "scheme other", edit: func(c *Channel) { c.Scheme = "ftp" }, field: "scheme"},

		{name: "host_header name", edit: func(c *Channel) { c.HostHeader = "api.example.com" }},
		{name: "host_header name and port", edit: func(c *Channel) { c.HostHeader = "api.example.com:8443" }},
		{name: "host_header IPv4 and port", edit: func(c *Channel) { c.HostHeader = "10.0.0.1:80" }},
		{name: "host_header IPv6 and port", edit: func(c *Channel) { c.HostHeader = "[fd00::1]:8080" }},
		{name: "host_header IPv6", edit: func(c *Channel) { c.HostHeader = "[fd00::1]" }},
		{name: "host_header IPv6 without brackets", edit: func(c *Channel) { c.HostHeader = "fd00::1" }, field: "host_header"},
		{name: "host_header name in brackets", edit: func(c *Channel) { c.HostHeader = "[api.example.com]:80" }, field: "host_header"},
		{name: "host_header space", edit: func(c *Channel) { c.HostHeader = "api example.com" }, field: "host_header"},
		{name: "host_header port 0", edit: func(c *Channel) { c.HostHeader = "api.example.com:0" }, field: "host_header"},
		{name: "host_header port 65536", edit: func(c *Channel) { c.HostHeader = "api.example.com:65536" }, field: "host_header"},
		{name: "host_header empty port", edit: func(c *Channel) { c.HostHeader = "api.example.com:" }, field: "host_header"},
		{name: "host_header signed port", edit: func(c *Channel) { c.HostHeader = "api.example.com:+80" }, field: "host_header"},
		{name: "host_header path", edit: func(c *Channel) { c.HostHeader = "api.example.com/x" }, field: "host_header"},

		{name: "nodes missing", edit: func(c *Channel) { c.Nodes = nil }, field: "nodes"},
		{name: "nodes empty", edit: func(c *Channel) { c.Nodes = []Node{} }, field: "nodes"},
		{name: "nodes 200", edit: func(c *Channel) { c.Nodes = nodes(200) }},
		{name: "nodes 201", edit: func(c *Channel) { c.Nodes = nodes(201) }, field: "nodes"},

		{name: "node host missing", edit: func(c *Channel) { c.Nodes[0].Host = "" }, field: "nodes[0].host"},
		{name: "node host DNS", edit: func(c *Channel) { c.Nodes[0].Host = "backend-1.svc.cluster.local" }},
		{name: "node host IPv6", edit: func(c *Channel) { c.Nodes[0].Host = "fd00::1" }},
		{name: "node host bad chars", edit: func(c *Channel) { c.Nodes[0].Host = "back end" }, field: "nodes[0].host"},
		{name: "node host with port", edit: func(c *Channel) { c.Nodes[0].Host = "10.0.0.1:80" }, field: "nodes[0].host"},
		{name: "node host empty label", edit: func(c *Channel) { c.Nodes[0].Host = "a..b" }, field: "nodes[0].host"},
		{name: "node host leading hyphen", edit: func(c *Channel) { c.Nodes[0].Host = "-a.com" }, field: "nodes[0].host"},
		{name: "node host label 64", edit: func(c *Channel) { c.Nodes[0].Host = strings.Repeat("a", 64) + ".com" }, field: "nodes[0].host"},
		{name: "node host bad IPv4", edit: func(c *Channel) { c.Nodes[0].Host = "10.0.0.256" }, field: "nodes[0].host"},
		{name: "node host IPv6 in brackets", edit: func(c *Channel) { c.Nodes[0].Host = "[fd00::1]" }, field: "nodes[0].host"},

		{name: "node port missing", edit: func(c *Channel) { c.Nodes[0].Port = 0 }, field: "nodes[0].port"},
		{name: "node port negative", edit: func(c *Channel) { c.Nodes[0].Port = -1 }, field: "nodes[0].port"},
		{name: "node port 65536", edit: func(c *Channel) { c.Nodes[0].Port = 65536 }, field: "nodes[0].port"},
		{name: "node port 1", edit: func(c *Channel) { c.Nodes[0].Port = 1 }},
		{name: "node port 65535", edit: func(c *Channel) { c.Nodes[0].Port = 65535 }},

		{name: "node weight missing", edit: func(c *Channel) { c.Nodes[0].Weight = nil }, field: "nodes[0].weight"},
		{name: "node weight negative", edit: func(c *Channel) { c.Nodes[0].Weight = intp(-1) }, field: "nodes[0].weight"},
		{name: "node weight 101", edit: func(c *Channel) { c.Nodes[0].Weight = intp(101) }, field: "nodes[0].weight"},
		{name: "node weight 100", edit: func(c *Channel) { c.Nodes[0].Weight = intp(100) }},
		{name: "all weights 0", edit: func(c *Channel) {
			c.Nodes = []Node{{Host: "a", Port: 1, Weight: intp(0)}, {Host: "b", Port: 1, Weight: intp(0)}}
		}, check: func(c *Channel) bool { return c.Nodes[0].W() == 0 && c.Nodes[1].W() == 0 }},

		{name: "second node reported by index", edit: func(c *Channel) { c.Nodes = append(c.Nodes, Node{Host: "b", Port: 99999, Weight: intp(1)}) }, field: "nodes[1].port"},
		{name: "duplicate node", edit: func(c *Channel) { c.Nodes = append(c.Nodes, c.Nodes[0]) }, field: "nodes[1]"},
		{name: "duplicate node case", edit: func(c *Channel) {
			c.Nodes = []Node{{Host: "Backend.local", Port: 80, Weight: intp(1)}, {Host: "backend.LOCAL", Port: 80, Weight: intp(1)}}
		}, field: "nodes[1]"},
		{name: "same host other port", edit: func(c *Channel) { c.Nodes = append(c.Nodes, Node{Host: "10.0.0.1", Port: 8081, Weight: intp(1)}) }},
		{name: "same port other host", edit: func(c *Channel) { c.Nodes = append(c.Nodes, Node{Host: "10.0.0.2", Port: 8080, Weight: intp(1)}) }},

		{name: "retries 1", edit: func(c *Channel) { c.Retries = intp(1) }, check: func(c *Channel) bool { return c.RetryCount() == 1 }},
		{name: "retries 100", edit: func(c *Channel) { c.Retries = intp(100) }, check: func(c *Channel) bool { return c.RetryCount() == 100 }},
		{name: "retries 0", edit: func(c *Channel) { c.Retries = intp(0) }, field: "retries"},
		{name: "retries 101", edit: func(c *Channel) { c.Retries = intp(101) }, field: "retries"},

		{name: "tls on http", edit: func(c *Channel) { c.TLS = &ChannelTLS{} }, field: "tls"},
		{name: "tls empty on https", edit: func(c *Channel) { c.Scheme = "https"; c.TLS = &ChannelTLS{} }},
		{name: "tls full", edit: func(c *Channel) {
			c.Scheme = "https"
			c.TLS = &ChannelTLS{InsecureSkipVerify: true, CAPEM: caPEM, ServerName: "api.internal"}
		}},
		{name: "tls bad server_name", edit: func(c *Channel) { c.Scheme = "https"; c.TLS = &ChannelTLS{ServerName: "bad name"} }, field: "tls.server_name"},
		{name: "tls bad ca_pem", edit: func(c *Channel) { c.Scheme = "https"; c.TLS = &ChannelTLS{CAPEM: "not a certificate"} }, field: "tls.ca_pem"},
		{name: "tls ca_pem wrong block", edit: func(c *Channel) {
			c.Scheme = "https"
			c.TLS = &ChannelTLS{CAPEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
		}, field: "tls.ca_pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validChannel()
			tt.edit(&c)
			checkErr(t, ValidateChannel(&c), tt.field)
			if tt.field == "" && tt.check != nil && !tt.check(&c) {
				t.Errorf("after validation %+v: %s", c, tt.detail)
			}
		})
	}
}

func TestValidateChannelKeepsGivenValues(t *testing.T) {
	c := validChannel()
	c.Retries = intp(7)
	c.Algorithm = DefaultAlgo
	if err := ValidateChannel(&c); err != nil {
		t.Fatal(err)
	}
	if *c.Retries != 7 {
		t.Errorf("retries = %d, want 7", *c.Retries)
	}
}

func TestChannelWarnings(t *testing.T) {
	c := validChannel()
	if w := ChannelWarnings(&c, []string{"default", "vpc-prod"}); w != nil {
		t.Errorf("warnings = %q for a reachable network", w)
	}
	w := ChannelWarnings(&c, []string{"default", "idc-sh"})
	if len(w) != 1 || !strings.Contains(w[0], `"vpc-prod"`) || !strings.Contains(w[0], "default, idc-sh") {
		t.Errorf("warnings = %q, want one naming the network and the instance's networks", w)
	}
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(s *Service)
		field string
		check func(*Service) bool
	}{
		{name: "minimal", edit: func(s *Service) {}, check: func(s *Service) bool {
			return slices.Equal(s.Protocols, []string{"http", "https"}) && s.Domains != nil && len(s.Domains) == 0
		}},
		{name: "name missing", edit: func(s *Service) { s.Name = "" }, field: "name"},
		{name: "name any characters", edit: func(s *Service) { s.Name = "用户 服务-1" }},
		{name: "name 50 runes", edit: func(s *Service) { s.Name = strings.Repeat("服", 50) }},
		{name: "name 51 runes", edit: func(s *Service) { s.Name = strings.Repeat("服", 51) }, field: "name"},
		{name: "name bad UTF-8", edit: func(s *Service) { s.Name = "\xc3" }, field: "name"},
		{name: "description 200", edit: func(s *Service) { s.Description = strings.Repeat("d", 200) }},
		{name: "description 201", edit: func(s *Service) { s.Description = strings.Repeat("d", 201) }, field: "description"},

		{name: "protocols http", edit: func(s *Service) { s.Protocols = []string{"http"} },
			check: func(s *Service) bool { return slices.Equal(s.Protocols, []string{"http"}) }},
		{name: "protocols https", edit: func(s *Service) { s.Protocols = []string{"https"} }},
		{name: "protocols both reversed", edit: func(s *Service) { s.Protocols = []string{"https", "http"} }},
		{name: "protocols empty", edit: func(s *Service) { s.Protocols = []string{} }, field: "protocols"},
		{name: "protocols other", edit: func(s *Service) { s.Protocols = []string{"http", "ws"} }, field: "protocols[1]"},
		{name: "protocols upper case", edit: func(s *Service) { s.Protocols = []string{"HTTP"} }, field: "protocols[0]"},
		{name: "protocols repeated", edit: func(s *Service) { s.Protocols = []string{"http", "http"} }, field: "protocols[1]"},

		{name: "domain", edit: func(s *Service) { s.Domains = []Domain{{Host: "api.example.com", Environment: "release"}} }},
		{name: "domain without environment", edit: func(s *Service) { s.Domains = []Domain{{Host: "api.example.com"}} }},
		{name: "domain lower-cased", edit: func(s *Service) { s.Domains = []Domain{{Host: "API.Example.COM", Environment: "test"}} },
			check: func(s *Service) bool {
				return s.Domains[0].Host == "api.example.com" && s.Domains[0].Environment == "test"
			}},
		{name: "domain host missing", edit: func(s *Service) { s.Domains = []Domain{{Environment: "test"}} }, field: "domains[0].host"},
		{name: "domain IP", edit: func(s *Service) { s.Domains = []Domain{{Host: "10.0.0.1"}} }, field: "domains[0].host"},
		{name: "domain IPv6", edit: func(s *Service) { s.Domains = []Domain{{Host: "fd00::1"}} }, field: "domains[0].host"},
		{name: "domain with port", edit: func(s *Service) { s.Domains = []Domain{{Host: "api.example.com:8080"}} }, field: "domains[0].host"},
		{name: "domain bad chars", edit: func(s *Service) { s.Domains = []Domain{{Host: "api example.com"}} }, field: "domains[0].host"},
		{name: "domain bad environment", edit: func(s *Service) { s.Domains = []Domain{{Host: "a.example.com", Environment: "prod"}} }, field: "domains[0].environment"},
		{name: "domain draft environment", edit: func(s *Service) { s.Domains = []Domain{{Host: "a.example.com", Environment: DraftEnv}} }, field: "domains[0].environment"},
		{name: "domain repeated", edit: func(s *Service) {
			s.Domains = []Domain{{Host: "a.example.com"}, {Host: "b.example.com"}, {Host: "A.example.com", Environment: "test"}}
		}, field: "domains[2].host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Service{Name: "users"}
			tt.edit(&s)
			checkErr(t, ValidateService(&s), tt.field)
			if tt.field == "" && tt.check != nil && !tt.check(&s) {
				t.Errorf("after validation: %+v", s)
			}
		})
	}
}

func validAPI() API {
	return API{
		Name:     "get-user",
		Frontend: Frontend{Path: "/user/{id}", Method: "GET"},
		Backend:  Backend{Type: BackendChannel, ChannelID: "ch-1"},
	}
}

func TestValidateAPI(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(a *API)
		field string
		check func(*API) bool
	}{
		{name: "minimal", edit: func(a *API) {}, check: func(a *API) bool {
			return a.Protocol == "http" && a.Auth.Type == "none" && a.Backend.Path == "/" &&
				a.Backend.Timeout != nil && *a.Backend.Timeout == DefaultTimeout && a.Backend.TimeoutSeconds() == DefaultTimeout
		}},
		{name: "name missing", edit: func(a *API) { a.Name = "" }, field: "name"},
		{name: "name 60 runes", edit: func(a *API) { a.Name = strings.Repeat("接", 60) }},
		{name: "name 61 runes", edit: func(a *API) { a.Name = strings.Repeat("接", 61) }, field: "name"},
		{name: "description 201", edit: func(a *API) { a.Description = strings.Repeat("d", 201) }, field: "description"},
		{name: "description bad UTF-8", edit: func(a *API) { a.Description = "\xff" }, field: "description"},

		{name: "protocol websocket", edit: func(a *API) { a.Protocol = "websocket" }},
		{name: "protocol http", edit: func(a *API) { a.Protocol = "http" }},
		{name: "protocol other", edit: func(a *API) { a.Protocol = "grpc" }, field: "protocol"},

		{name: "path missing", edit: func(a *API) { a.Frontend.Path = "" }, field: "frontend.path"},
		{name: "path relative", edit: func(a *API) { a.Frontend.Path = "user" }, field: "frontend.path"},
		{name: "path exact", edit: func(a *API) { a.Frontend.Path = "=/user" }},
		{name: "path prefix", edit: func(a *API) { a.Frontend.Path = "^~/static/" }},
		{name: "path plain", edit: func(a *API) { a.Frontend.Path = "/user" }},
		{name: "path bad param", edit: func(a *API) { a.Frontend.Path = "/user/{id" }, field: "frontend.path"},
		{name: "path exact with param", edit: func(a *API) { a.Frontend.Path = "=/user/{id}" }, field: "frontend.path"},

		{name: "method missing", edit: func(a *API) { a.Frontend.Method = "" }, field: "frontend.method"},
		{name: "method lower case", edit: func(a *API) { a.Frontend.Method = "post" },
			check: func(a *API) bool { return a.Frontend.Method == "POST" }},
		{name: "method any", edit: func(a *API) { a.Frontend.Method = "any" },
			check: func(a *API) bool { return a.Frontend.Method == MethodAny }},
		{name: "method TRACE", edit: func(a *API) { a.Frontend.Method = "TRACE" }, field: "frontend.method"},
		{name: "method CONNECT", edit: func(a *API) { a.Frontend.Method = "CONNECT" }, field: "frontend.method"},

		{name: "backend type missing", edit: func(a *API) { a.Backend.Type = "" }, field: "backend.type"},
		{name: "backend type other", edit: func(a *API) { a.Backend.Type = "lambda" }, field: "backend.type"},
		{name: "channel without id", edit: func(a *API) { a.Backend.ChannelID = "" }, field: "backend.channel_id"},
		{name: "channel with url", edit: func(a *API) { a.Backend.URL = "http://x" }, field: "backend.type"},
		{name: "url tls", edit: func(a *API) {
			a.Backend = Backend{Type: BackendURL, URL: "https://idc.example.com", TLS: &ChannelTLS{ServerName: "svc.corp"}}
		}},
		{name: "url tls on http", edit: func(a *API) {
			a.Backend = Backend{Type: BackendURL, URL: "http://idc.example.com", TLS: &ChannelTLS{}}
		}, field: "backend.tls"},
		{name: "url tls bad ca", edit: func(a *API) {
			a.Backend = Backend{Type: BackendURL, URL: "https://idc.example.com", TLS: &ChannelTLS{CAPEM: "nope"}}
		}, field: "backend.tls.ca_pem"},
		{name: "channel with mock", edit: func(a *API) { a.Backend.Mock = &Mock{} }, field: "backend.type"},

		{name: "url", edit: urlBackend("http://10.0.0.1:8080")},
		{name: "url https name", edit: urlBackend("https://api.example.com")},
		{name: "url trailing slash", edit: urlBackend("https://api.example.com/")},
		{name: "url IPv6 and port", edit: urlBackend("http://[fd00::1]:8080")},
		{name: "url IPv6", edit: urlBackend("http://[fd00::1]")},
		{name: "url missing", edit: urlBackend(""), field: "backend.url"},
		{name: "url no scheme", edit: urlBackend("api.example.com"), field: "backend.url"},
		{name: "url ftp", edit: urlBackend("ftp://api.example.com"), field: "backend.url"},
		{name: "url user info", edit: urlBackend("http://u:p@api.example.com"), field: "backend.url"},
		{name: "url no host", edit: urlBackend("http://"), field: "backend.url"},
		{name: "url opaque", edit: urlBackend("http:api.example.com"), field: "backend.url"},
		{name: "url path", edit: urlBackend("http://api.example.com/v1"), field: "backend.url"},
		{name: "url query", edit: urlBackend("http://api.example.com?x=1"), field: "backend.url"},
		{name: "url fragment", edit: urlBackend("http://api.example.com#x"), field: "backend.url"},
		{name: "url port 0", edit: urlBackend("http://api.example.com:0"), field: "backend.url"},
		{name: "url port 65536", edit: urlBackend("http://api.example.com:65536"), field: "backend.url"},
		{name: "url bad IPv4", edit: urlBackend("http://10.0.0.256"), field: "backend.url"},
		{name: "url unparsable", edit: urlBackend("http://[::1"), field: "backend.url"},
		{name: "url with channel_id", edit: func(a *API) { urlBackend("http://x")(a); a.Backend.ChannelID = "ch-1" }, field: "backend.type"},
		{name: "url with mock", edit: func(a *API) { urlBackend("http://x")(a); a.Backend.Mock = &Mock{} }, field: "backend.type"},

		{name: "mock", edit: mockBackend(&Mock{Status: 201, Headers: map[string]string{"Content-Type": "application/json"}, Body: "{}"}),
			check: func(a *API) bool { return a.Backend.Mock.Status == 201 }},
		{name: "mock default status", edit: mockBackend(&Mock{}),
			check: func(a *API) bool { return a.Backend.Mock.Status == 200 }},
		{name: "mock missing", edit: mockBackend(nil), field: "backend.mock"},
		{name: "mock status 199", edit: mockBackend(&Mock{Status: 199}), field: "backend.mock.status"},
		{name: "mock status 599", edit: mockBackend(&Mock{Status: 599})},
		{name: "mock status 600", edit: mockBackend(&Mock{Status: 600}), field: "backend.mock.status"},
		{name: "mock header name", edit: mockBackend(&Mock{Headers: map[string]string{"Bad Name": "x"}}), field: "backend.mock.headers"},
		{name: "mock header name non-ASCII", edit: mockBackend(&Mock{Headers: map[string]string{"Ä": "x"}}), field: "backend.mock.headers"},
		{name: "mock header empty name", edit: mockBackend(&Mock{Headers: map[string]string{"": "x"}}), field: "backend.mock.headers"},
		{name: "mock header line break", edit: mockBackend(&Mock{Headers: map[string]string{"X-A": "a\r\nSet-Cookie: x"}}), field: "backend.mock.headers"},
		{name: "mock header NUL", edit: mockBackend(&Mock{Headers: map[string]string{"X-A": "a\x00"}}), field: "backend.mock.headers"},
		{name: "mock with channel_id", edit: func(a *API) { mockBackend(&Mock{})(a); a.Backend.ChannelID = "ch-1" }, field: "backend.type"},
		{name: "mock with url", edit: func(a *API) { mockBackend(&Mock{})(a); a.Backend.URL = "http://x" }, field: "backend.type"},

		{name: "backend path", edit: func(a *API) { a.Backend.Path = "/v1/users/" }},
		{name: "backend path relative", edit: func(a *API) { a.Backend.Path = "v1" }, field: "backend.path"},
		{name: "backend path empty segment", edit: func(a *API) { a.Backend.Path = "/a//b" }, field: "backend.path"},
		{name: "backend path query", edit: func(a *API) { a.Backend.Path = "/a?x=1" }, field: "backend.path"},
		{name: "backend path too long", edit: func(a *API) { a.Backend.Path = "/" + strings.Repeat("a", MaxPathLen) }, field: "backend.path"},
		{name: "backend path param", edit: func(a *API) { a.Backend.Path = "/users/{id}/profile" }},
		{name: "backend path param twice", edit: func(a *API) { a.Backend.Path = "/users/{id}/{id}" }},
		{name: "backend path params in a segment", edit: func(a *API) {
			a.Frontend.Path = "/{a}/{b}"
			a.Backend.Path = "/x-{b}.{a}"
		}},
		{name: "backend path unknown param", edit: func(a *API) { a.Backend.Path = "/users/{uid}" }, field: "backend.path"},
		{name: "backend path param without frontend params", edit: func(a *API) {
			a.Frontend.Path = "/users"
			a.Backend.Path = "/users/{id}"
		}, field: "backend.path"},
		{name: "backend path unclosed", edit: func(a *API) { a.Backend.Path = "/users/{id" }, field: "backend.path"},
		{name: "backend path stray brace", edit: func(a *API) { a.Backend.Path = "/users/id}" }, field: "backend.path"},
		{name: "backend path empty param", edit: func(a *API) { a.Backend.Path = "/users/{}" }, field: "backend.path"},

		{name: "timeout 1", edit: func(a *API) { a.Backend.Timeout = intp(1) }, check: func(a *API) bool { return a.Backend.TimeoutSeconds() == 1 }},
		{name: "timeout 1800", edit: func(a *API) { a.Backend.Timeout = intp(1800) }},
		{name: "timeout 0", edit: func(a *API) { a.Backend.Timeout = intp(0) }, field: "backend.timeout"},
		{name: "timeout 1801", edit: func(a *API) { a.Backend.Timeout = intp(1801) }, field: "backend.timeout"},

		{name: "auth none", edit: func(a *API) { a.Auth.Type = "none" }},
		{name: "auth jwt without config", edit: func(a *API) { a.Auth.Type = "jwt" }, field: "auth.jwt"},
		{name: "auth other", edit: func(a *API) { a.Auth.Type = "basic" }, field: "auth.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := validAPI()
			tt.edit(&a)
			checkErr(t, ValidateAPI(&a), tt.field)
			if tt.field == "" && tt.check != nil && !tt.check(&a) {
				t.Errorf("after validation: %+v", a)
			}
		})
	}
}

func urlBackend(u string) func(*API) {
	return func(a *API) { a.Backend = Backend{Type: BackendURL, URL: u} }
}

func mockBackend(m *Mock) func(*API) {
	return func(a *API) { a.Backend = Backend{Type: BackendMock, Mock: m} }
}

func TestTimeoutAndRetryDefaultsWithoutValidation(t *testing.T) {
	var b Backend
	var c Channel
	if b.TimeoutSeconds() != DefaultTimeout || c.RetryCount() != DefaultRetries {
		t.Errorf("TimeoutSeconds() = %d, RetryCount() = %d, want the defaults", b.TimeoutSeconds(), c.RetryCount())
	}
	if (Node{}).W() != 0 {
		t.Error("W() of a node without weight is not 0")
	}
}

func TestIsEnvironment(t *testing.T) {
	for _, e := range Environments {
		if !IsEnvironment(e) {
			t.Errorf("IsEnvironment(%q) = false", e)
		}
	}
	for _, e := range []string{"", DraftEnv, "Release", "prod"} {
		if IsEnvironment(e) {
			t.Errorf("IsEnvironment(%q) = true", e)
		}
	}
}

func TestRoutesCollide(t *testing.T) {
	tests := []struct {
		a, b string // "METHOD path"
		want bool
	}{
		{"GET /user", "GET /user", true},
		{"GET /user", "POST /user", false},
		{"GET /user", "HEAD /user", false},
		{"ANY /user", "POST /user", true},
		{"GET /user", "ANY /user", true},
		{"ANY /user", "ANY /user", true},
		{"GET /user/{id}", "GET /user/{uid}", true},
		{"GET /user/{id}/x", "GET /user/{uid}/y", false},
		{"GET /user/{id}", "GET /user/me", false},
		{"GET =/user", "GET /user", false},
		{"GET ^~/user", "GET /user", false},
		{"GET ^~/user", "GET ^~/user", true},
		{"GET =/user", "GET =/user/", false},
		{"GET /user", "GET /user/", false},
		{"GET /user/{id", "GET /user/{id", false}, // invalid paths never collide
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			mk := func(s string) *API {
				m, p, _ := strings.Cut(s, " ")
				return &API{Frontend: Frontend{Method: m, Path: p}}
			}
			if got := RoutesCollide(mk(tt.a), mk(tt.b)); got != tt.want {
				t.Errorf("RoutesCollide = %v, want %v", got, tt.want)
			}
			if got := RoutesCollide(mk(tt.b), mk(tt.a)); got != tt.want {
				t.Errorf("RoutesCollide reversed = %v, want %v", got, tt.want)
			}
		})
	}
}
