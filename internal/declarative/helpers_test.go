package declarative

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/plugin/jwtauth"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newCert returns a self-signed certificate for hosts and its key, in PEM.
func newCert(t testing.TB, hosts ...string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: hosts[0]},
		DNSNames:              hosts,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func intp(v int) *int       { return &v }
func int64p(v int64) *int64 { return &v }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fixture holds the ids of what fill created.
type fixture struct {
	shop, admin, drafts string
	apis                map[string]string
	mobile              string
}

// fill stores one of each kind through the store interface, validated
// first as the admin API validates: channels with and without
// health_check and tls (and one without a name), services with domains
// and a certificate, APIs of every backend and auth type, releases in two
// environments, keys, plans with keys and bindings, applications with
// bindings, plugins of both types with bindings, certificates.
func fill(t *testing.T, s store.Store) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{apis: map[string]string{}}
	caPEM, _ := newCert(t, "ca.internal")

	orders := &config.Channel{Name: "orders_pool", Network: "vpc-prod", Scheme: "http", HostHeader: "orders.internal",
		Retries: intp(3), Description: "order backends",
		Nodes: []config.Node{{Host: "10.0.0.11", Port: 8080, Weight: intp(10)}, {Host: "10.0.0.12", Port: 8080, Weight: intp(0)}},
		HealthCheck: &config.HealthCheck{EnableActiveCheck: true, EnablePassiveCheck: true, ActiveCheckHTTPPath: "/healthz",
			HTTPFailureThreshold: intp(3), ActiveRequestHeaders: map[string]string{"X-Check": "1"}}}
	secure := &config.Channel{Name: "secure_pool", Network: "idc-sh", Scheme: "https",
		Nodes: []config.Node{{Host: "legacy.corp.example", Port: 443, Weight: intp(1)}},
		TLS:   &config.ChannelTLS{ServerName: "legacy.corp.example", CAPEM: caPEM}}
	unnamed := &config.Channel{Network: "default", Scheme: "grpc", Nodes: []config.Node{{Host: "10.9.9.9", Port: 9000, Weight: intp(5)}}}
	for _, c := range []*config.Channel{orders, secure, unnamed} {
		must(t, config.ValidateChannel(c))
		must(t, s.CreateChannel(ctx, c))
	}

	certPEM, keyPEM := newCert(t, "api.example.com")
	cert := &config.Certificate{Name: "api_cert", CertPEM: certPEM, KeyPEM: keyPEM}
	spareCert, spareKey := newCert(t, "spare.example.com", "*.spare.example.com")
	spare := &config.Certificate{Name: "spare_cert", CertPEM: spareCert, KeyPEM: spareKey}
	for _, c := range []*config.Certificate{cert, spare} {
		must(t, config.ValidateCertificate(c))
		must(t, s.CreateCertificate(ctx, c))
	}

	shop := &config.Service{Name: "shop", Description: "the shop", Protocols: []string{"https", "http"},
		Domains: []config.Domain{{Host: "API.example.com", Environment: "release", CertificateID: cert.ID, ForceHTTPS: true},
			{Host: "shop-test.example.com", Environment: "test"}}}
	admin := &config.Service{Name: "admin"}
	drafts := &config.Service{Name: "drafts only", Protocols: []string{"https"}}
	for _, svc := range []*config.Service{shop, admin, drafts} {
		must(t, config.ValidateService(svc))
		must(t, s.CreateService(ctx, svc))
	}
	f.shop, f.admin, f.drafts = shop.ID, admin.ID, drafts.ID

	apis := []*config.API{
		{ServiceID: shop.ID, Name: "get_order", Description: "one order", Frontend: config.Frontend{Path: "/orders/{id}", Method: "get"},
			Backend: config.Backend{Type: "channel", ChannelID: orders.ID, Path: "/v1/orders/{id}", Timeout: intp(10)},
			Auth:    config.Auth{Type: "key"}},
		{ServiceID: shop.ID, Name: "list_orders", Frontend: config.Frontend{Path: "^~/orders", Method: "GET"},
			Backend: config.Backend{Type: "url", URL: "https://orders.example.net", Path: "/v1/orders",
				TLS: &config.ChannelTLS{InsecureSkipVerify: true}},
			Auth: config.Auth{Type: "app"}},
		{ServiceID: shop.ID, Name: "ping", Frontend: config.Frontend{Path: "=/ping", Method: "ANY"},
			Backend: config.Backend{Type: "mock", Mock: &config.Mock{Headers: map[string]string{"Content-Type": "text/plain"}, Body: "pong ${literal}"}}},
		{ServiceID: shop.ID, Name: "me", Frontend: config.Frontend{Path: "/me", Method: "GET"},
			Backend: config.Backend{Type: "mock", Mock: &config.Mock{Status: 201, Body: "me"}},
			Auth: config.Auth{Type: "jwt", JWT: &jwtauth.Config{JWKSURL: "https://id.example/.well-known/jwks.json",
				Issuer: "https://id.example", Audience: "orders", ClaimHeaders: map[string]string{"sub": "X-User-Id"}}}},
		{ServiceID: shop.ID, Name: "stream", Protocol: "websocket", Frontend: config.Frontend{Path: "/stream", Method: "GET"},
			Backend: config.Backend{Type: "channel", ChannelID: secure.ID}},
		{ServiceID: admin.ID, Name: "status", Frontend: config.Frontend{Path: "/admin/status", Method: "GET"},
			Backend: config.Backend{Type: "mock", Mock: &config.Mock{Body: "ok"}}},
		{ServiceID: drafts.ID, Name: "wip", Frontend: config.Frontend{Path: "/wip", Method: "POST"},
			Backend: config.Backend{Type: "channel", ChannelID: orders.ID}},
	}
	for _, a := range apis {
		must(t, config.ValidateAPI(a))
		must(t, s.CreateAPI(ctx, a))
		f.apis[a.Name] = a.ID
	}
	for _, env := range []string{"test", "release"} {
		_, err := s.Publish(ctx, shop.ID, env, "")
		must(t, err)
	}
	_, err := s.Publish(ctx, admin.ID, "prepub", "")
	must(t, err)

	keyA := &config.Key{Name: "partner_a", SecretID: "partner_a_id", SecretKey: "s3cret-partner-a"}
	keyB := &config.Key{Name: "partner_b"}
	for _, k := range []*config.Key{keyA, keyB} {
		must(t, config.ValidateKey(k))
		must(t, s.CreateKey(ctx, k))
	}
	gold := &config.UsagePlan{Name: "gold", MaxRequestsPerSecond: int64p(100)}
	silver := &config.UsagePlan{Name: "silver", Quota: int64p(1000)}
	for _, p := range []*config.UsagePlan{gold, silver} {
		must(t, config.ValidatePlan(p))
		must(t, s.CreatePlan(ctx, p))
	}
	must(t, s.AddPlanKeys(ctx, gold.ID, []string{keyA.ID, keyB.ID}))
	must(t, s.BindPlan(ctx, &config.PlanBinding{PlanID: gold.ID, ServiceID: shop.ID, Environment: "release", APIIDs: []string{f.apis["get_order"]}}))
	must(t, s.BindPlan(ctx, &config.PlanBinding{PlanID: silver.ID, ServiceID: shop.ID, Environment: "test"}))

	mobile := &config.App{Name: "mobile", Description: "the app"}
	web := &config.App{Name: "web"}
	for _, a := range []*config.App{mobile, web} {
		must(t, config.ValidateApp(a))
		must(t, s.CreateApp(ctx, a))
	}
	f.mobile = mobile.ID
	for _, env := range []string{"release", "test"} {
		must(t, s.BindApp(ctx, &config.AppBinding{AppID: mobile.ID, ServiceID: shop.ID, APIID: f.apis["list_orders"], Environment: env}))
	}

	ip, err := json.Marshal(config.IPControl{Type: "white_list", Blocks: []string{"10.0.0.0/8", "192.0.2.7"}})
	must(t, err)
	tc, err := json.Marshal(config.TrafficControl{Window: "minute", APILimit: int64p(1000), IPLimit: int64p(10),
		SpecialApps: []config.SpecialApp{{AppID: mobile.ID, Limit: 500}},
		SpecialIPs:  []config.SpecialIP{{IP: "192.0.2.8", Limit: 50}}})
	must(t, err)
	office := &config.Plugin{Name: "office_only", Type: "ip_control", Config: ip}
	limits := &config.Plugin{Name: "limits", Type: "traffic_control", Config: tc}
	for _, p := range []*config.Plugin{office, limits} {
		must(t, config.ValidatePlugin(p))
		must(t, s.CreatePlugin(ctx, p))
	}
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: office.ID, ServiceID: shop.ID, Environment: "release",
		APIIDs: []string{f.apis["ping"], f.apis["get_order"]}}))
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: limits.ID, ServiceID: shop.ID, Environment: "release"}))
	must(t, s.BindPlugin(ctx, &config.PluginBinding{PluginID: limits.ID, ServiceID: admin.ID, Environment: "prepub"}))
	return f
}

// plan plans doc against s and fails the test on an error.
func plan(t *testing.T, s store.Store, doc *Document, opts Options) *Plan {
	t.Helper()
	p, err := NewPlan(context.Background(), s, doc, opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

func apply(t *testing.T, s store.Store, doc *Document, opts Options) *Plan {
	t.Helper()
	p := plan(t, s, doc, opts)
	if err := p.Apply(context.Background(), s); err != nil {
		t.Fatalf("apply: %v\nplan:\n%s", err, p)
	}
	return p
}

func export(t *testing.T, s store.Store) *Document {
	t.Helper()
	d, err := Export(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func marshalT(t testing.TB, doc *Document, f Format) string {
	t.Helper()
	b, err := Marshal(doc, f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseT parses a document written in the test, with env as the
// environment.
func parseT(t testing.TB, text string, env map[string]string) *Document {
	t.Helper()
	d, err := Parse([]byte(text), "", envLookup(env))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return d
}

func envLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func texts(p *Plan) []string {
	out := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = c.Text
	}
	return out
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	r, err := s.Revision(context.Background())
	must(t, err)
	return r
}

// indent is text with each line indented, for test messages.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ")
}
