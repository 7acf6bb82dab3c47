package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"unicode/utf8"

	"github.com/portico-gw/portico/internal/plugin/jwtauth"
)

// Methods an API may declare; ANY matches all of them.
var Methods = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}

// MethodAny is the frontend method that matches every method.
const MethodAny = "ANY"

// ValidateChannel checks a channel and fills its defaults. It does not check
// the network against the instance's networks: that is a warning, not an error
// (see ChannelWarnings).
func ValidateChannel(c *Channel) error {
	if c.Name != "" {
		if err := checkWordName("name", c.Name, 50); err != nil {
			return err
		}
	}
	if c.Network == "" {
		return fieldErr("network", "is required")
	}
	if !isNetworkName(c.Network) {
		return fieldErr("network", "must be 1-64 characters of a-z A-Z 0-9 _ . -")
	}
	if err := checkLen("description", c.Description, 200); err != nil {
		return err
	}
	switch c.Algorithm {
	case "":
		c.Algorithm = DefaultAlgo
	case DefaultAlgo:
	default:
		return fieldErr("algorithm", "must be %s", DefaultAlgo)
	}
	switch c.Scheme {
	case "http", "https", "grpc", "grpcs":
	case "":
		return fieldErr("scheme", "is required (http, https, grpc or grpcs)")
	default:
		return fieldErr("scheme", "must be http, https, grpc (gRPC over HTTP/2 without TLS) or grpcs (gRPC over HTTP/2 with TLS)")
	}
	if c.HostHeader != "" && !isHostPort(c.HostHeader) {
		return fieldErr("host_header", "must be a host name or IP, optionally with :port")
	}
	if len(c.Nodes) == 0 {
		return fieldErr("nodes", "is required: 1 to %d nodes", MaxNodes)
	}
	if len(c.Nodes) > MaxNodes {
		return fieldErr("nodes", "must have at most %d nodes", MaxNodes)
	}
	seen := make(map[string]int, len(c.Nodes))
	for i, n := range c.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		if n.Host == "" {
			return fieldErr(f+".host", "is required")
		}
		if !isHost(n.Host) {
			return fieldErr(f+".host", "must be an IP address or a DNS name")
		}
		if n.Port == 0 {
			return fieldErr(f+".port", "is required (1-65535)")
		}
		if n.Port < 1 || n.Port > 65535 {
			return fieldErr(f+".port", "must be 1-65535")
		}
		if n.Weight == nil {
			return fieldErr(f+".weight", "is required (0-%d)", MaxWeight)
		}
		if *n.Weight < 0 || *n.Weight > MaxWeight {
			return fieldErr(f+".weight", "must be 0-%d", MaxWeight)
		}
		key := strings.ToLower(net.JoinHostPort(n.Host, strconv.Itoa(n.Port)))
		if j, dup := seen[key]; dup {
			return fieldErr(f, "duplicates nodes[%d] (%s)", j, key)
		}
		seen[key] = i
		c.Nodes[i].Health = nil // read-only
	}
	if c.Retries == nil {
		r := DefaultRetries
		c.Retries = &r
	} else if *c.Retries < 1 || *c.Retries > MaxRetries {
		return fieldErr("retries", "must be 1-%d", MaxRetries)
	}
	if c.TLS != nil {
		if c.Scheme != "https" && c.Scheme != "grpcs" {
			return fieldErr("tls", "applies to https and grpcs channels only")
		}
		if err := checkTLS("tls", c.TLS); err != nil {
			return err
		}
	}
	if c.HealthCheck != nil {
		if err := validateHealthCheck(c.HealthCheck); err != nil {
			return err
		}
	}
	return nil
}

// checkTLS validates the gateway-to-backend TLS settings at field f.
func checkTLS(f string, t *ChannelTLS) error {
	if t.ServerName != "" && !isHost(t.ServerName) {
		return fieldErr(f+".server_name", "must be a DNS name or IP address")
	}
	if t.CAPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(t.CAPEM)) {
		return fieldErr(f+".ca_pem", "holds no PEM certificate")
	}
	return nil
}

// ChannelWarnings lists what is saved but will not work yet, given the
// networks this instance reaches.
func ChannelWarnings(c *Channel, networks []string) []string {
	for _, n := range networks {
		if n == c.Network {
			return nil
		}
	}
	return []string{fmt.Sprintf("network %q is not among this instance's networks (%s): this gateway node still sends the channel's calls to its nodes, and they answer 502 while the nodes cannot be reached from here; connect the networks (a private link, VPN or cloud interconnect) and add %q to --networks",
		c.Network, strings.Join(networks, ", "), c.Network)}
}

// ValidateService checks a service and fills its defaults.
func ValidateService(s *Service) error {
	if s.Name == "" {
		return fieldErr("name", "is required")
	}
	if err := checkLen("name", s.Name, 50); err != nil {
		return err
	}
	if err := checkLen("description", s.Description, 200); err != nil {
		return err
	}
	if s.Protocols == nil {
		s.Protocols = []string{"http", "https"}
	}
	if len(s.Protocols) == 0 {
		return fieldErr("protocols", "must name http, https or both")
	}
	seenProto := map[string]bool{}
	for i, p := range s.Protocols {
		if p != "http" && p != "https" {
			return fieldErr(fmt.Sprintf("protocols[%d]", i), "must be http or https")
		}
		if seenProto[p] {
			return fieldErr(fmt.Sprintf("protocols[%d]", i), "repeats %s", p)
		}
		seenProto[p] = true
	}
	if s.Domains == nil {
		s.Domains = []Domain{}
	}
	seenHost := map[string]bool{}
	for i, d := range s.Domains {
		f := fmt.Sprintf("domains[%d]", i)
		// A trailing dot names the same host; dropping it keeps
		// "api.example.com." from slipping past the duplicate checks.
		host := strings.TrimSuffix(strings.ToLower(d.Host), ".")
		if host == "" {
			return fieldErr(f+".host", "is required")
		}
		if net.ParseIP(host) != nil || !isDNSName(host) {
			return fieldErr(f+".host", "must be a DNS name such as api.example.com")
		}
		if d.Environment != "" && !IsEnvironment(d.Environment) {
			return fieldErr(f+".environment", "must be one of %s, or empty", strings.Join(Environments, ", "))
		}
		if seenHost[host] {
			return fieldErr(f+".host", "repeats %s", host)
		}
		if d.CertificateID != "" && !isCertificateID(d.CertificateID) {
			return fieldErr(f+".certificate_id", "must be a certificate id (cert-…)")
		}
		seenHost[host] = true
		s.Domains[i].Host = host
	}
	return nil
}

// ValidateAPI checks an API and fills its defaults. Whether a referenced
// channel exists is the caller's check: it needs the store.
func ValidateAPI(a *API) error {
	if a.Name == "" {
		return fieldErr("name", "is required")
	}
	if err := checkLen("name", a.Name, 60); err != nil {
		return err
	}
	if err := checkLen("description", a.Description, 200); err != nil {
		return err
	}
	switch a.Protocol {
	case "":
		a.Protocol = DefaultProtocol
	case "http", "websocket":
	default:
		return fieldErr("protocol", "must be http or websocket")
	}
	if a.Frontend.Path == "" {
		return fieldErr("frontend.path", "is required")
	}
	pat, err := ParsePath(a.Frontend.Path)
	if err != nil {
		return fieldErr("frontend.path", "%v", err)
	}
	if a.Frontend.Method == "" {
		return fieldErr("frontend.method", "is required")
	}
	a.Frontend.Method = strings.ToUpper(a.Frontend.Method)
	if !isMethod(a.Frontend.Method) {
		return fieldErr("frontend.method", "must be one of %s or %s", strings.Join(Methods, " "), MethodAny)
	}
	if err := validateBackend(&a.Backend, pat); err != nil {
		return err
	}
	switch a.Auth.Type {
	case "":
		a.Auth.Type = AuthNone
	case AuthNone, AuthKey, AuthApp:
	case AuthJWT:
		if a.Auth.JWT == nil {
			return fieldErr("auth.jwt", "is required for auth type jwt: {\"public_key_pem\" or \"jwks_url\", \"issuer\", \"audience\", \"claim_headers\"}")
		}
		if err := a.Auth.JWT.Validate(); err != nil {
			var fe *jwtauth.FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: fe.Field, Message: fe.Error()}
			}
			return &FieldError{Field: "auth.jwt", Message: err.Error()}
		}
		return nil
	default:
		return fieldErr("auth.type", "must be none, key, app or jwt")
	}
	if a.Auth.JWT != nil {
		return fieldErr("auth.jwt", "is only for auth type jwt")
	}
	return nil
}

func validateBackend(b *Backend, pat PathPattern) error {
	switch b.Type {
	case "":
		return fieldErr("backend.type", "is required (channel, url or mock)")
	case BackendChannel:
		if b.ChannelID == "" {
			return fieldErr("backend.channel_id", "is required for a channel backend")
		}
		if b.URL != "" || b.Mock != nil {
			return fieldErr("backend.type", "channel backends take channel_id only, not url or mock")
		}
	case BackendURL:
		if b.URL == "" {
			return fieldErr("backend.url", "is required for a url backend")
		}
		if err := checkBackendURL(b.URL); err != nil {
			return fieldErr("backend.url", "%v", err)
		}
		if b.ChannelID != "" || b.Mock != nil {
			return fieldErr("backend.type", "url backends take url only, not channel_id or mock")
		}
		if b.TLS != nil {
			if !strings.HasPrefix(b.URL, "https://") {
				return fieldErr("backend.tls", "applies to https:// urls only")
			}
			if err := checkTLS("backend.tls", b.TLS); err != nil {
				return err
			}
		}
	case BackendMock:
		if b.Mock == nil {
			return fieldErr("backend.mock", "is required for a mock backend")
		}
		if b.ChannelID != "" || b.URL != "" {
			return fieldErr("backend.type", "mock backends take mock only, not channel_id or url")
		}
		if b.Mock.Status == 0 {
			b.Mock.Status = 200
		}
		if b.Mock.Status < 200 || b.Mock.Status > 599 {
			return fieldErr("backend.mock.status", "must be 200-599")
		}
		for name, v := range b.Mock.Headers {
			if !isToken(name) {
				return fieldErr("backend.mock.headers", "has an invalid header name %q", name)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return fieldErr("backend.mock.headers", "header %q has a line break in its value", name)
			}
		}
	default:
		return fieldErr("backend.type", "must be channel, url or mock")
	}
	if b.Path == "" {
		b.Path = "/"
	}
	if err := checkPathChars(b.Path); err != nil {
		return fieldErr("backend.path", "%v", err)
	}
	refs, err := BackendPathParams(b.Path)
	if err != nil {
		return fieldErr("backend.path", "%v", err)
	}
	have := map[string]bool{}
	for _, n := range pat.Params() {
		have[n] = true
	}
	for _, r := range refs {
		if !have[r] {
			return fieldErr("backend.path", "uses {%s}, which frontend.path does not define", r)
		}
	}
	if b.Timeout == nil {
		t := DefaultTimeout
		b.Timeout = &t
	} else if *b.Timeout < 1 || *b.Timeout > MaxTimeout {
		return fieldErr("backend.timeout", "must be 1-%d seconds", MaxTimeout)
	}
	return nil
}

func checkBackendURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must start with http:// or https://")
	}
	if u.User != nil {
		return fmt.Errorf("must not carry user information")
	}
	if u.Host == "" || !isHostPort(u.Host) {
		return fmt.Errorf("must name a host: http(s)://host[:port]")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must be http(s)://host[:port] only; put the path in backend.path")
	}
	return nil
}

func isMethod(m string) bool {
	if m == MethodAny {
		return true
	}
	for _, x := range Methods {
		if x == m {
			return true
		}
	}
	return false
}

func checkLen(field, s string, max int) error {
	if utf8.RuneCountInString(s) > max {
		return fieldErr(field, "must be at most %d characters", max)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "must be valid UTF-8")
	}
	return nil
}

func checkWordName(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, "must be at most %d characters", max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			continue
		}
		return fieldErr(field, "must be characters of a-z A-Z 0-9 _")
	}
	return nil
}

func isNetworkName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c == '-' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// isHost reports whether s is an IP address or a DNS name.
func isHost(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	return isDNSName(s)
}

// isHostPort reports whether s is a host as URLs and Host headers write it,
// optionally with ":port": a DNS name, an IPv4 address, or an IPv6 address
// in brackets. net.SplitHostPort alone is not enough: it refuses "[::1]"
// without a port, and accepts "[name]:80" and, through the fallback to a bare
// host, an unbracketed "fd00::1" that is ambiguous next to a port.
func isHostPort(s string) bool {
	host, port, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port, hasPort = port[1:], true
		}
		if !strings.Contains(host, ":") || net.ParseIP(host) == nil {
			return false
		}
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port, hasPort = s[:i], s[i+1:], true
		}
		if !isHost(host) {
			return false
		}
	}
	return !hasPort || isPort(port)
}

// isPort reports whether s is a decimal port 1-65535, digits only: Atoi
// alone would take "+80".
func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	p, err := strconv.Atoi(s)
	return err == nil && p >= 1 && p <= 65535
}

func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	numeric := false
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		numeric = true
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c >= '0' && c <= '9' {
				continue
			}
			numeric = false
			if c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
				continue
			}
			return false
		}
	}
	// An all-digit last label is no DNS name (RFC 3696 section 2) but a
	// mistyped IPv4 address such as 10.0.0.256, which would otherwise pass
	// here and fail only when dialled.
	return !numeric
}

// isCertificateID reports whether s has the shape of a certificate id.
func isCertificateID(s string) bool {
	if !strings.HasPrefix(s, "cert-") || len(s) > 64 {
		return false
	}
	for _, r := range s[5:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return len(s) > 5
}

// isToken reports whether s is a valid HTTP header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= utf8.RuneSelf || !strings.ContainsRune("!#$%&'*+-.^_`|~", r) && !(r >= '0' && r <= '9') && !(r >= 'a' && r <= 'z') && !(r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return http.CanonicalHeaderKey(s) != ""
}

// RoutesCollide reports whether two APIs would serve the same method and path
// (the same pattern shape, and methods that overlap).
func RoutesCollide(a, b *API) bool {
	pa, err1 := ParsePath(a.Frontend.Path)
	pb, err2 := ParsePath(b.Frontend.Path)
	if err1 != nil || err2 != nil || pa.Shape() != pb.Shape() {
		return false
	}
	ma, mb := a.Frontend.Method, b.Frontend.Method
	return ma == mb || ma == MethodAny || mb == MethodAny
}
