package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a leaf for hosts valid until notAfter, and its key, as PEM.
func (ca *testCA) issue(t *testing.T, serial int64, notAfter time.Time, hosts ...string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, DNSNames: hosts,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

type certificate struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	CertPEM  string   `json:"cert_pem"`
	KeyPEM   string   `json:"key_pem"`
	Hosts    []string `json:"hosts"`
	Warnings []string `json:"warnings"`
}

func (a *adminClient) createCertificate(name, certPEM, keyPEM string) certificate {
	a.g.t.Helper()
	var out certificate
	a.write(http.MethodPost, "/certificates", map[string]string{"name": name, "cert_pem": certPEM, "key_pem": keyPEM}, http.StatusCreated, &out)
	return out
}

// serialBySNI dials the TLS port with serverName and returns the serial of
// the leaf the gateway chose.
func (g *gateway) serialBySNI(serverName string) int64 {
	g.t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.tlsAddr,
		&tls.Config{ServerName: serverName, InsecureSkipVerify: true}) //nolint:gosec // the test reads the chosen certificate
	if err != nil {
		g.t.Fatalf("TLS handshake for %q: %v", serverName, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestCertificatesAndSNI: certificates are validated, their keys never
// shown, chosen by SNI (domain, exact, wildcard, default), replaced at once,
// and protected from deletion while a domain uses them.
func TestCertificatesAndSNI(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	g := startGateway(t)
	a := g.admin
	year := time.Now().Add(365 * 24 * time.Hour)

	exactPEM, exactKey := ca.issue(t, 101, year, "api.example.com")
	exact := a.createCertificate("exact", exactPEM, exactKey)
	if exact.KeyPEM != "" || !strings.HasPrefix(exact.ID, "cert-") || len(exact.Hosts) != 1 || exact.Hosts[0] != "api.example.com" {
		t.Fatalf("created certificate: %+v", exact)
	}
	wildPEM, wildKey := ca.issue(t, 102, time.Now().Add(10*24*time.Hour), "*.example.com")
	wild := a.createCertificate("wild", wildPEM, wildKey)
	if len(wild.Warnings) != 1 || !strings.Contains(wild.Warnings[0], "expires on") {
		t.Errorf("a certificate expiring in 10 days: warnings %q", wild.Warnings)
	}
	pinnedPEM, pinnedKey := ca.issue(t, 103, year, "other.example.net")
	pinned := a.createCertificate("pinned", pinnedPEM, pinnedKey)

	// Bad input: 400 naming the field, nothing saved.
	_, otherKey := ca.issue(t, 104, year, "x.example.com")
	for _, tc := range []struct {
		body  map[string]string
		field string
	}{
		{map[string]string{"name": "bad", "cert_pem": "not pem", "key_pem": exactKey}, "cert_pem"},
		{map[string]string{"name": "bad", "cert_pem": exactPEM, "key_pem": otherKey}, "key_pem"},
		{map[string]string{"name": "bad", "cert_pem": exactPEM, "key_pem": ""}, "key_pem"},
		{map[string]string{"cert_pem": exactPEM, "key_pem": exactKey}, "name"},
	} {
		status, _, body := a.request(http.MethodPost, "/api/v1/certificates", g.token, tc.body)
		var e struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if status != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("bad certificate (%s): %d %s, want 400 on %s", tc.field, status, body, tc.field)
		}
	}
	var list struct {
		Items []certificate `json:"items"`
		Total int           `json:"total"`
	}
	a.do(http.MethodGet, "/certificates", nil, http.StatusOK, &list)
	if list.Total != 3 {
		t.Errorf("%d certificates after refused writes, want 3", list.Total)
	}
	for _, c := range list.Items {
		if c.KeyPEM != "" {
			t.Errorf("the list shows the key of %s", c.ID)
		}
	}

	// A domain pins a certificate; an unknown id is refused.
	status, _, body := a.request(http.MethodPost, "/api/v1/services", g.token, map[string]any{
		"name": "nocert", "domains": []map[string]any{{"host": "shop.example.com", "certificate_id": "cert-nope"}}})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "domains[0].certificate_id") {
		t.Errorf("a domain naming an unknown certificate: %d %s", status, body)
	}
	var svc struct {
		ID string `json:"id"`
	}
	a.write(http.MethodPost, "/services", map[string]any{"name": "shop",
		"domains": []map[string]any{{"host": "shop.example.com", "certificate_id": pinned.ID}}}, http.StatusCreated, &svc)
	mock := mockAPI("hello", "GET", "/hello", mock{Status: 200, Body: "hello"})
	a.createAPI(svc.ID, mock)
	a.publish(svc.ID, "release")

	for _, tc := range []struct {
		sni  string
		want int64
	}{
		{"api.example.com", 101},
		{"API.Example.COM", 101},
		{"www.example.com", 102},
		{"shop.example.com", 103}, // the domain's certificate beats the wildcard
	} {
		if got := g.serialBySNI(tc.sni); got != tc.want {
			t.Errorf("SNI %s: certificate serial %d, want %d", tc.sni, got, tc.want)
		}
	}
	// No match: the self-signed default, kept in the data directory.
	def := g.serialBySNI("unknown.example.org")
	if def == 101 || def == 102 || def == 103 {
		t.Errorf("an unknown name got an uploaded certificate (serial %d)", def)
	}

	// Replacing a certificate applies to the next handshake.
	newPEM, newKey := ca.issue(t, 201, year, "api.example.com")
	a.write(http.MethodPut, "/certificates/"+exact.ID, map[string]string{"name": "exact", "cert_pem": newPEM, "key_pem": newKey}, http.StatusOK, nil)
	if got := g.serialBySNI("api.example.com"); got != 201 {
		t.Errorf("after replacing the certificate the handshake gets serial %d, want 201", got)
	}

	// In use: 409 naming the domain, nothing deleted.
	status, _, body = a.request(http.MethodDelete, "/api/v1/certificates/"+pinned.ID, g.token, nil)
	if status != http.StatusConflict || !strings.Contains(string(body), "shop.example.com") {
		t.Errorf("deleting a certificate a domain uses: %d %s, want 409 naming the domain", status, body)
	}
	a.write(http.MethodDelete, "/certificates/"+wild.ID, nil, http.StatusNoContent, nil)
	if got := g.serialBySNI("www.example.com"); got != def {
		t.Errorf("after deleting the wildcard, www gets serial %d, want the default %d", got, def)
	}
}

// httpsClient trusts ca and speaks HTTP/2 when h2, HTTP/1.1 otherwise.
func httpsClient(ca *testCA, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: h2, DisableCompression: true}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestHTTPSBothProtocols: over TLS, HTTP/1.1 and HTTP/2 clients get what
// plain clients get: routing, forwarded fields, request ids, large bodies
// both ways, the body limit, gateway errors, IP control on the real client
// address, and 426 by the service's protocols.
func TestHTTPSBothProtocols(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	be := newBackend(t, "tls-be")
	g := startGateway(t, "--max-body", "4MiB")
	a := g.admin
	certPEM, keyPEM := ca.issue(t, 7, time.Now().Add(24*time.Hour), "gw.example.com")
	a.createCertificate("gw", certPEM, keyPEM)
	ch := a.createChannel(httpChannel(be.node(1)))
	a.publishedService("both", channelAPI("echo", "ANY", "/echo", ch.ID, "/"))
	plainSID := a.createService("plainonly")
	a.write(http.MethodPut, "/services/"+plainSID, map[string]any{"name": "plainonly", "protocols": []string{"http"}}, http.StatusOK, nil)
	a.createAPI(plainSID, mockAPI("p", "GET", "/plain-only", mock{Status: 200, Body: "plain"}))
	a.publish(plainSID, "release")
	tlsSID := a.createService("tlsonly")
	a.write(http.MethodPut, "/services/"+tlsSID, map[string]any{"name": "tlsonly", "protocols": []string{"https"}}, http.StatusOK, nil)
	a.createAPI(tlsSID, mockAPI("s", "GET", "/tls-only", mock{Status: 200, Body: "secure"}))
	a.publish(tlsSID, "release")

	_, port, _ := net.SplitHostPort(g.tlsAddr)
	base := "https://gw.example.com:" + port
	for _, h2 := range []bool{false, true} {
		name, wantProto, reqID := "HTTP/1.1", "HTTP/1.1", "req-h1"
		if h2 {
			name, wantProto, reqID = "HTTP/2", "HTTP/2.0", "req-h2"
		}
		t.Run(name, func(t *testing.T) {
			c := httpsClient(ca, h2)
			tr := c.Transport.(*http.Transport)
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, g.tlsAddr)
			}
			do := func(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, body)
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%s %s: reading: %v", method, path, err)
				}
				if resp.Proto != wantProto {
					t.Errorf("%s %s answered over %s, want %s", method, path, resp.Proto, wantProto)
				}
				return resp, b
			}
			resp, b := do("GET", "/echo/x?q=1", nil, "X-Request-Id", reqID, "Portico-Relay-Peer", "203.0.113.9:1")
			var e echoed
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET /echo: %d %s", resp.StatusCode, b)
			}
			if e.Path != "/x" || e.RawQuery != "q=1" || e.Header.Get("X-Forwarded-Proto") != "https" ||
				!strings.HasPrefix(e.Header.Get("X-Forwarded-For"), "127.0.0.1") || e.Host != be.addr() {
				t.Errorf("the node saw %+v", e)
			}
			if v := e.Header.Get("Portico-Relay-Peer"); v != "" {
				t.Errorf("the bridge's field reached the node: %q", v)
			}
			if got := resp.Header.Get("X-Request-Id"); got != reqID {
				t.Errorf("X-Request-Id %q", got)
			}
			// A 3 MiB upload streams through; 5 MiB is over --max-body.
			big := bytes.Repeat([]byte("z"), 3<<20)
			_, b = do("POST", "/echo/up", bytes.NewReader(big))
			if err := json.Unmarshal(b, &e); err != nil || e.BodyLen != int64(len(big)) {
				t.Errorf("3 MiB upload: the node got %d bytes (%s)", e.BodyLen, b)
			}
			resp, b = do("POST", "/echo/up", io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("z"), 5<<20))))
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(b, []byte(`"request_id"`)) {
				t.Errorf("5 MiB upload: %d %s, want 413 with a JSON error", resp.StatusCode, b)
			}
			resp, b = do("GET", "/nothing-here", nil)
			if resp.StatusCode != 404 || !bytes.Contains(b, []byte(`"message"`)) {
				t.Errorf("no route: %d %s", resp.StatusCode, b)
			}
			resp, _ = do("GET", "/plain-only", nil)
			if resp.StatusCode != http.StatusUpgradeRequired {
				t.Errorf("an http-only service on the TLS port: %d, want 426", resp.StatusCode)
			}
			resp, b = do("GET", "/tls-only", nil)
			if resp.StatusCode != 200 || string(b) != "secure" {
				t.Errorf("an https-only service on the TLS port: %d %s", resp.StatusCode, b)
			}
		})
	}
	if r := g.get("/tls-only"); r.status != http.StatusUpgradeRequired {
		t.Errorf("an https-only service on the plain port: %s, want 426", r)
	}
}

// TestForceHTTPS: a plain request for a force_https domain is redirected
// with 308 to the same target on the TLS port; other hosts are not.
func TestForceHTTPS(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	a := g.admin
	var svc struct {
		ID string `json:"id"`
	}
	a.write(http.MethodPost, "/services", map[string]any{"name": "forced",
		"domains": []map[string]any{{"host": "secure.example.com", "force_https": true}}}, http.StatusCreated, &svc)
	a.createAPI(svc.ID, mockAPI("m", "ANY", "/m", mock{Status: 200, Body: "ok"}))
	a.publish(svc.ID, "release")

	_, port, _ := net.SplitHostPort(g.tlsAddr)
	noFollow := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, g.url("/m/a%20b?x=1&y=2"), strings.NewReader("body"))
	req.Host = "secure.example.com:8080"
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "https://secure.example.com:" + port + "/m/a%20b?x=1&y=2"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain request for a force_https domain: %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if r := g.get("/m"); r.status != 200 {
		t.Errorf("the same API by the default host: %s, want 200 (no redirect)", r)
	}
	// Over TLS the domain is served.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the default certificate
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, g.tlsAddr)
		}}}
	resp, err = c.Get("https://secure.example.com:" + port + "/m")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the force_https domain over TLS: %d", resp.StatusCode)
	}
}

// TestHTTP2Streams: over HTTP/2 an answer streams (its first part reaches
// the client before the backend writes the rest) and an API timeout answers
// 504, as on HTTP/1.1.
func TestHTTP2Streams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	be := newHandlerBackend(t, "h2stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write([]byte("first\n"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = w.Write([]byte("second\n"))
	}))
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(be.node(1)))
	x := channelAPI("s", "GET", "/s", ch.ID, "/")
	x.Backend.Timeout = 1
	g.admin.publishedService("h2s", x)

	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the default certificate
	resp, err := c.Get("https://" + g.tlsAddr + "/s/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first part: %q %v", buf, err)
	}
	once.Do(func() { close(release) }) // only now does the backend write the rest
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest: %q %v", rest, err)
	}

	resp, err = c.Get("https://" + g.tlsAddr + "/s/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || !bytes.Contains(body, []byte(`"request_id"`)) {
		t.Errorf("a backend slower than the API timeout over HTTP/2: %d %s, want 504", resp.StatusCode, body)
	}
}
