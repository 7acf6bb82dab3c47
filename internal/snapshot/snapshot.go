// Package snapshot compiles the stored configuration into an immutable,
// ready-to-serve table: routing tables per host and environment, channels with
// their balancers and connection pools, backend path templates and mock
// answers, all parsed and validated once. The data plane reads the current
// snapshot through an atomic pointer and never takes a lock.
package snapshot

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/balancer"
	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/observe"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
	"github.com/portico-gw/portico/internal/router"
	"github.com/portico-gw/portico/internal/upstream"
)

// Protocol bits of a service.
const (
	ProtoHTTP uint8 = 1 << iota
	ProtoHTTPS
)

// Snapshot is one compiled configuration. It is never modified after Build.
type Snapshot struct {
	Revision int64
	BuiltAt  time.Time
	// APIs holds every served API; router matches carry indexes into it.
	APIs []*API
	// Problems lists the APIs that could not be compiled and are not served.
	Problems []Problem
	// Channels holds every compiled channel, by id.
	Channels map[string]*Channel
	// Keys holds the key pairs by secret_id.
	Keys map[string]*KeyPair
	// Apps holds the applications by app_key.
	Apps map[string]*AppKey
	// Certs chooses the certificate of a TLS handshake by SNI.
	Certs *certs.Index

	envs    map[string]*router.Table // default host, by environment
	domains map[string]*domain       // custom domains, lower-case host
	// forceHTTPS: some domain redirects plain HTTP (without one, the
	// check costs the plain path nothing).
	forceHTTPS bool
}

// Problem is an API that is disabled because it failed to compile.
type Problem struct {
	ServiceID   string `json:"service_id"`
	APIID       string `json:"api_id"`
	Environment string `json:"environment"`
	Version     string `json:"version"`
	Message     string `json:"message"`
}

type domain struct {
	env    string                   // "" when the path names the environment
	tables map[string]*router.Table // by environment
	// forceHTTPS: plain-HTTP requests are redirected to https.
	forceHTTPS bool
}

// ForceHTTPS reports whether plain-HTTP requests for host (lower case,
// without port) are redirected to https.
func (s *Snapshot) ForceHTTPS(host string) bool {
	if !s.forceHTTPS {
		return false
	}
	d, ok := s.domains[host]
	return ok && d.forceHTTPS
}

// API is one served API, compiled.
type API struct {
	ID          string
	Name        string
	ServiceID   string
	Environment string
	// EnvPrefix is "/<environment>", the path prefix that can choose it.
	EnvPrefix string
	Version   string
	Protocols uint8
	WebSocket bool
	Timeout   time.Duration

	// Policies are the plugins bound to the API or its service
	// environment, compiled.
	Policies Policies
	// Metrics counts the API's requests (nil when metrics are off).
	Metrics *observe.APIMetrics
	// Stats keeps the API's per-minute statistics (nil when off).
	Stats *observe.APIStats

	Backend string // config.BackendChannel, BackendURL or BackendMock
	Channel *Channel
	URL     *Node
	Mock    *Mock

	path []pathPart
}

// Channel is a compiled channel: its nodes, their pools and the balancer.
type Channel struct {
	ID       string
	Retries  int
	Nodes    []Node
	Balancer *balancer.WRR
	// Health is the channel's health_check, compiled.
	Health *health.Policy
	// H2: the nodes speak HTTP/2 (gRPC channels, scheme grpc or grpcs).
	H2 bool
	// fingerprint identifies the node list and weights: a balancer is carried
	// to the next snapshot only when it is unchanged.
	fingerprint string
}

// Node is one backend endpoint with its keep-alive pool.
type Node struct {
	Addr   string // host:port
	Host   string // the Host header sent
	HTTPS  bool
	Weight int
	Client *upstream.Client
	// Health is shared with the node of the same address in the previous
	// snapshot of the channel, so a configuration change keeps what is
	// known about the node. It is nil for url backends, which are not
	// judged.
	Health *health.Node
}

// Pick chooses the node for the next try: the balancer's next node that is
// neither tried for this request nor out of the rotation. When every node is
// out it answers -1, unless the channel's policy fails open (a channel with
// no health_check, as nginx does: nothing says for sure that the nodes are
// down, and failing without a try helps no one).
func (c *Channel) Pick(tried *balancer.Tried, now int64) int {
	first := -1
	for range len(c.Nodes) {
		i := c.Balancer.Next(tried)
		if i < 0 {
			return -1
		}
		if c.Nodes[i].Health.Available(now, c.Health) {
			return i
		}
		if first < 0 {
			first = i
		}
		tried.Add(i) // out: not again for this request while others remain
	}
	if c.Health.FailOpen {
		return first
	}
	return -1
}

// Mock is a fixed answer.
type Mock struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

type pathPart struct {
	literal string
	param   int // index into the match's params, or -1 for a literal
}

// AppendBackendPath writes the backend path for a request matched with
// params (values in path) and rest (the part below a prefix or plain match)
// to dst. The rest is joined with exactly one "/".
func (a *API) AppendBackendPath(dst []byte, path string, m *router.Match) []byte {
	for _, p := range a.path {
		if p.param < 0 {
			dst = append(dst, p.literal...)
			continue
		}
		if p.param < m.NParams {
			s := m.Params[p.param]
			dst = append(dst, path[s.Start:s.End]...)
		}
	}
	rest := m.Rest
	if rest == "" {
		return dst
	}
	if len(dst) > 0 && dst[len(dst)-1] == '/' {
		dst = dst[:len(dst)-1]
	}
	if rest[0] != '/' {
		dst = append(dst, '/')
	}
	return append(dst, rest...)
}

// Lookup finds the API for a request. host must be lower case without a port.
// It returns the API (nil unless Found), the path with the environment prefix
// removed, and the router's result. It does not allocate unless the result is
// MethodNotAllowed.
func (s *Snapshot) Lookup(host, method, path string, m *router.Match) (*API, string, router.Result) {
	var table *router.Table
	if d, ok := s.domains[host]; ok {
		env := d.env
		if env == "" {
			env, path = splitEnv(path)
		}
		table = d.tables[env]
	} else {
		var env string
		env, path = splitEnv(path)
		table = s.envs[env]
	}
	if table == nil {
		return nil, path, router.NotFound
	}
	res := table.Lookup(method, path, m)
	if res != router.Found {
		return nil, path, res
	}
	return s.APIs[m.ID], path, res
}

// EnvironmentOf returns the environment a request for host and path is
// routed in, and whether any API is served there (for the message of a
// 404: an environment that serves nothing is told apart from a path that
// matches no API).
func (s *Snapshot) EnvironmentOf(host, path string) (string, bool) {
	if d, ok := s.domains[host]; ok {
		env := d.env
		if env == "" {
			env, _ = splitEnv(path)
		}
		return env, d.tables[env] != nil
	}
	env, _ := splitEnv(path)
	return env, s.envs[env] != nil
}

// splitEnv takes the environment named by the first path segment, or
// "release" when the first segment names none.
func splitEnv(path string) (string, string) {
	if len(path) > 1 {
		seg, rest := path[1:], "/"
		if i := strings.IndexByte(seg, '/'); i >= 0 {
			seg, rest = seg[:i], seg[i:]
		}
		switch seg {
		case "test", "prepub", "release":
			return seg, rest
		}
	}
	return config.DefaultEnv, path
}

// Builder compiles states into snapshots, carrying balancer positions of
// unchanged channels from one snapshot to the next.
type Builder struct {
	Pool *upstream.Pool
	// JWTKeys holds the JWKS documents of jwt APIs across snapshots (nil:
	// an API with a jwks_url cannot be served).
	JWTKeys *jwtauth.Keys
	// Metrics resolves each API's metric children (nil: none counted).
	Metrics *observe.Metrics
	// Stats resolves each API's per-minute statistics (nil: none kept).
	Stats *observe.Stats
	// Health owns the nodes' active checkers (nil: none run).
	Health *health.Monitor
	// DefaultCert is served to TLS clients whose SNI matches no
	// certificate (nil: such handshakes fail).
	DefaultCert *tls.Certificate
	prev        *Snapshot
	// parsed caches certificates parsed by earlier builds, by id.
	parsed map[string]parsedCert
}

// Build compiles st. An API that fails to compile is left out and listed in
// Problems; it never fails the whole snapshot.
func (b *Builder) Build(st *config.State) *Snapshot {
	s := &Snapshot{
		Revision: st.Revision,
		Channels: map[string]*Channel{},
		BuiltAt:  time.Now().UTC(),
		envs:     map[string]*router.Table{},
		domains:  map[string]*domain{},
	}
	var prevChannels map[string]*Channel
	if b.prev != nil {
		prevChannels = b.prev.Channels
	}
	channels := map[string]*Channel{}
	channelErr := map[string]error{}
	for i := range st.Channels {
		c := &st.Channels[i]
		ch, err := b.compileChannel(c, prevChannels[c.ID])
		if err != nil {
			channelErr[c.ID] = err
			continue
		}
		channels[c.ID] = ch
	}
	s.Channels = channels

	plugins := newPluginIndex(st.Plugins)
	plans := newPlanIndex(st.Plans)
	s.Keys = compileKeys(st.Keys)
	s.Apps = compileApps(st.Apps)
	appsBound := appIndex(st.AppBindings)
	defaultRoutes := map[string][]router.Route{}
	domainRoutes := map[string]map[string][]router.Route{} // host -> env -> routes
	for _, p := range st.Published {
		proto := protocols(p.Service.Protocols)
		for i := range p.APIs {
			cfg := &p.APIs[i]
			api, pat, err := b.compileAPI(cfg, channels, channelErr)
			if err == nil {
				api.Policies, err = plugins.policies(p.Service.ID, p.Environment, cfg.ID)
				api.Policies.AuthKey = cfg.Auth.Type == config.AuthKey
				api.Policies.Plan = plans.plan(p.Service.ID, p.Environment, cfg.ID)
				api.Policies.AuthApp = cfg.Auth.Type == config.AuthApp
				api.Policies.Apps = appsBound[bindingTarget{p.Service.ID, p.Environment, cfg.ID}]
			}
			if err == nil && cfg.Auth.Type == config.AuthJWT {
				if api.Policies.JWT, err = jwtauth.New(*cfg.Auth.JWT, b.JWTKeys); err == nil {
					api.Policies.JWTHeaders = api.Policies.JWT.ClaimHeaderNames()
				}
			}
			if err != nil {
				s.Problems = append(s.Problems, Problem{
					ServiceID: p.Service.ID, APIID: cfg.ID, Environment: p.Environment,
					Version: p.Version, Message: err.Error(),
				})
				continue
			}
			api.ServiceID, api.Environment, api.Version, api.Protocols = p.Service.ID, p.Environment, p.Version, proto
			api.EnvPrefix = "/" + p.Environment
			if b.Metrics != nil {
				api.Metrics = b.Metrics.ForAPI(p.Service.ID, p.Environment, cfg.ID)
			}
			if b.Stats != nil {
				api.Stats = b.Stats.ForAPI(p.Service.ID, p.Environment, cfg.ID)
			}
			r := router.Route{Pattern: pat, Method: cfg.Frontend.Method, ID: len(s.APIs)}
			s.APIs = append(s.APIs, api)
			defaultRoutes[p.Environment] = append(defaultRoutes[p.Environment], r)
			for _, d := range p.Service.Domains {
				if d.Environment != "" && d.Environment != p.Environment {
					continue
				}
				host := strings.ToLower(d.Host)
				if domainRoutes[host] == nil {
					domainRoutes[host] = map[string][]router.Route{}
					s.domains[host] = &domain{env: d.Environment, tables: map[string]*router.Table{}, forceHTTPS: d.ForceHTTPS}
				}
				domainRoutes[host][p.Environment] = append(domainRoutes[host][p.Environment], r)
			}
		}
	}
	// A domain is known even before its service serves anything, so that
	// its requests answer 404 instead of reaching another service.
	for _, p := range st.Published {
		for _, d := range p.Service.Domains {
			host := strings.ToLower(d.Host)
			if s.domains[host] == nil {
				s.domains[host] = &domain{env: d.Environment, tables: map[string]*router.Table{}, forceHTTPS: d.ForceHTTPS}
			}
		}
	}
	for _, d := range s.domains {
		s.forceHTTPS = s.forceHTTPS || d.forceHTTPS
	}
	for env, routes := range defaultRoutes {
		s.envs[env] = router.New(routes)
	}
	for host, byEnv := range domainRoutes {
		for env, routes := range byEnv {
			s.domains[host].tables[env] = router.New(routes)
		}
	}
	sort.Slice(s.Problems, func(i, j int) bool { return s.Problems[i].APIID < s.Problems[j].APIID })
	s.Certs = b.certIndex(st)

	// Every channel keeps its clients, used by an API or not: its active
	// checks probe through them.
	keep := map[*upstream.Client]bool{}
	var checks []health.Check
	for _, ch := range s.Channels {
		for i := range ch.Nodes {
			n := &ch.Nodes[i]
			keep[n.Client] = true
			if ch.Health.Active && n.Weight > 0 {
				checks = append(checks, health.Check{
					Node: n.Health, Policy: ch.Health, Probe: probe(n, ch.Health),
					Target: n.Client.Target.Key() + "|" + n.Host,
				})
			}
		}
	}
	for _, a := range s.APIs {
		if a.URL != nil {
			keep[a.URL.Client] = true
		}
	}
	b.Pool.Retain(keep)
	b.Health.Sync(checks)
	b.prev = s
	return s
}

// parsedCert is a certificate parsed by an earlier build; it is used again
// while the stored row is unchanged.
type parsedCert struct {
	updated time.Time
	p       *certs.Parsed
}

// certIndex compiles the certificates and the custom domains that name
// one. A stored certificate that no longer parses (it was validated when
// saved) is left out, and its hosts get another certificate or the default.
func (b *Builder) certIndex(st *config.State) *certs.Index {
	parsed := make(map[string]parsedCert, len(st.Certificates))
	byID := make(map[string]*certs.Parsed, len(st.Certificates))
	for i := range st.Certificates {
		c := &st.Certificates[i]
		pc, ok := b.parsed[c.ID]
		if !ok || !pc.updated.Equal(c.UpdatedAt.Time) {
			p, err := certs.Parse(c.CertPEM, c.KeyPEM)
			if err != nil {
				continue
			}
			pc = parsedCert{updated: c.UpdatedAt.Time, p: p}
		}
		parsed[c.ID] = pc
		byID[c.ID] = pc.p
	}
	b.parsed = parsed
	domains := map[string]string{}
	for _, p := range st.Published {
		for _, d := range p.Service.Domains {
			if d.CertificateID != "" {
				domains[strings.ToLower(d.Host)] = d.CertificateID
			}
		}
	}
	return certs.NewIndex(byID, domains, b.DefaultCert)
}

// probe returns the active check of node n: a GET of the policy's path
// with the channel's Host header and the configured headers, on a new
// connection with the channel's TLS settings.
func probe(n *Node, p *health.Policy) health.Probe {
	if n.Client.Target.H2 {
		return h2Probe(n, p)
	}
	head := make([]byte, 0, 128)
	head = append(head, "GET "...)
	head = append(head, p.Path...)
	head = append(head, " HTTP/1.1\r\nHost: "...)
	head = append(head, n.Host...)
	head = append(head, "\r\nUser-Agent: portico-health-check\r\n"...)
	for _, h := range p.Headers {
		head = append(head, h[0]...)
		head = append(head, ": "...)
		head = append(head, h[1]...)
		head = append(head, "\r\n"...)
	}
	head = append(head, "Connection: close\r\n\r\n"...)
	client := n.Client
	return func(deadline time.Time) (int, error) { return client.Probe(head, deadline) }
}

// h2Probe is the active check of an HTTP/2 (gRPC) node: the same GET, as
// an HTTP/2 stream on the node's transport.
func h2Probe(n *Node, p *health.Policy) health.Probe {
	scheme := "http://"
	if n.HTTPS {
		scheme = "https://"
	}
	url, host, client := scheme+n.Addr+p.Path, n.Host, n.Client
	headers := p.Headers
	return func(deadline time.Time) (int, error) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		req.Host = host
		req.Header.Set("User-Agent", "portico-health-check")
		for _, h := range headers {
			req.Header.Set(h[0], h[1])
		}
		resp, err := client.RoundTrip(req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, &timeoutError{err}
			}
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
}

// timeoutError marks a probe that ran out of time.
type timeoutError struct{ error }

func (e *timeoutError) Timeout() bool { return true }
func (e *timeoutError) Unwrap() error { return e.error }

func protocols(ps []string) uint8 {
	if len(ps) == 0 {
		return ProtoHTTP | ProtoHTTPS
	}
	var p uint8
	for _, s := range ps {
		switch s {
		case "http":
			p |= ProtoHTTP
		case "https":
			p |= ProtoHTTPS
		}
	}
	return p
}

func (b *Builder) compileChannel(c *config.Channel, prev *Channel) (*Channel, error) {
	https := c.Scheme == "https" || c.Scheme == "grpcs"
	h2 := c.Scheme == "grpc" || c.Scheme == "grpcs"
	ch := &Channel{ID: c.ID, Retries: c.RetryCount(), Health: health.Compile(c.HealthCheck), H2: h2}
	weights := make([]int, len(c.Nodes))
	var fp strings.Builder
	for i, n := range c.Nodes {
		addr := net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
		host := c.HostHeader
		if host == "" {
			host = addr
		}
		t := upstream.Target{HTTPS: https, H2: h2, Addr: addr}
		if https {
			t.TLS.ServerName = sniName(c, n.Host)
			if c.TLS != nil {
				t.TLS.CAPEM, t.TLS.InsecureSkipVerify = c.TLS.CAPEM, c.TLS.InsecureSkipVerify
			}
		}
		client, err := b.Pool.Client(t)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %v", c.ID, err)
		}
		var hn *health.Node
		if prev != nil {
			for _, pn := range prev.Nodes {
				if pn.Addr == addr {
					hn = pn.Health
				}
			}
		}
		if hn == nil {
			hn = b.Health.Node(c.ID, addr)
		}
		hn.Configure(ch.Health)
		ch.Nodes = append(ch.Nodes, Node{Addr: addr, Host: host, HTTPS: https, Weight: n.W(), Client: client, Health: hn})
		weights[i] = n.W()
		fmt.Fprintf(&fp, "%s=%d;", addr, n.W())
	}
	ch.fingerprint = fp.String()
	if prev != nil && prev.fingerprint == ch.fingerprint {
		ch.Balancer = prev.Balancer
	} else {
		wrr, err := balancer.New(weights)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %v", c.ID, err)
		}
		ch.Balancer = wrr
	}
	return ch, nil
}

// sniName is the TLS server name for a node: the configured one, else the
// host of host_header (the backend's domain), else the node's host.
func sniName(c *config.Channel, nodeHost string) string {
	if c.TLS != nil && c.TLS.ServerName != "" {
		return c.TLS.ServerName
	}
	if c.HostHeader != "" {
		if h, _, err := net.SplitHostPort(c.HostHeader); err == nil {
			return h
		}
		return c.HostHeader
	}
	return nodeHost
}

func (b *Builder) compileAPI(c *config.API, channels map[string]*Channel, channelErr map[string]error) (*API, config.PathPattern, error) {
	// Published copies were validated when saved; validating again catches
	// rows written by an older version with other rules.
	cp := *c
	if err := config.ValidateAPI(&cp); err != nil {
		return nil, config.PathPattern{}, err
	}
	pat, err := config.ParsePath(cp.Frontend.Path)
	if err != nil {
		return nil, pat, err
	}
	a := &API{
		ID: cp.ID, Name: cp.Name,
		WebSocket: cp.Protocol == "websocket",
		Timeout:   time.Duration(cp.Backend.TimeoutSeconds()) * time.Second,
		Backend:   cp.Backend.Type,
	}
	if a.path, err = compileBackendPath(cp.Backend.Path, pat); err != nil {
		return nil, pat, err
	}
	switch cp.Backend.Type {
	case config.BackendChannel:
		ch := channels[cp.Backend.ChannelID]
		if ch == nil {
			if err := channelErr[cp.Backend.ChannelID]; err != nil {
				return nil, pat, err
			}
			return nil, pat, fmt.Errorf("backend.channel_id %s does not exist", cp.Backend.ChannelID)
		}
		a.Channel = ch
	case config.BackendURL:
		n, err := b.urlNode(cp.Backend.URL, cp.Backend.TLS)
		if err != nil {
			return nil, pat, err
		}
		a.URL = n
	case config.BackendMock:
		m := &Mock{Status: cp.Backend.Mock.Status, Body: []byte(cp.Backend.Mock.Body)}
		for k, v := range cp.Backend.Mock.Headers {
			m.Headers = append(m.Headers, [2]string{k, v})
		}
		sort.Slice(m.Headers, func(i, j int) bool { return m.Headers[i][0] < m.Headers[j][0] })
		a.Mock = m
	}
	return a, pat, nil
}

func (b *Builder) urlNode(raw string, tlsCfg *config.ChannelTLS) (*Node, error) {
	https := strings.HasPrefix(raw, "https://")
	hostport := strings.TrimPrefix(strings.TrimPrefix(raw, "https://"), "http://")
	hostport = strings.TrimSuffix(hostport, "/")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "80"
		if https {
			port = "443"
		}
	}
	host = strings.Trim(host, "[]")
	addr := net.JoinHostPort(host, port)
	t := upstream.Target{HTTPS: https, Addr: addr}
	if https {
		t.TLS.ServerName = host
		if tlsCfg != nil {
			t.TLS.CAPEM, t.TLS.InsecureSkipVerify = tlsCfg.CAPEM, tlsCfg.InsecureSkipVerify
			if tlsCfg.ServerName != "" {
				t.TLS.ServerName = tlsCfg.ServerName
			}
		}
	}
	client, err := b.Pool.Client(t)
	if err != nil {
		return nil, err
	}
	return &Node{Addr: addr, Host: hostport, HTTPS: https, Client: client}, nil
}

func compileBackendPath(p string, pat config.PathPattern) ([]pathPart, error) {
	index := map[string]int{}
	for i, name := range pat.Params() {
		index[name] = i
	}
	segs, err := config.ParseBackendPath(p)
	if err != nil {
		return nil, fmt.Errorf("backend.path %v", err)
	}
	parts := make([]pathPart, 0, len(segs))
	for _, seg := range segs {
		if seg.Param == "" {
			parts = append(parts, pathPart{literal: seg.Literal, param: -1})
			continue
		}
		k, ok := index[seg.Param]
		if !ok {
			return nil, fmt.Errorf("backend.path uses {%s}, which frontend.path does not define", seg.Param)
		}
		parts = append(parts, pathPart{param: k})
	}
	return parts, nil
}
