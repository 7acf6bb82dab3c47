package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveTLS accepts TLS connections on 127.0.0.1 with cfg until the test
// ends; each connection completes the handshake, gets "ok" and is closed.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial connects with cfg, reads the server's reply (so that TLS 1.3 session
// tickets are received) and returns the connection state.
func dial(t *testing.T, addr string, cfg *tls.Config) tls.ConnectionState {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial with server name %q: %v", cfg.ServerName, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "ok" {
		t.Fatalf("read %q, %v", b, err)
	}
	return c.ConnectionState()
}

// tlsWorld is a listener with a CA-issued chain per certificate and a
// self-signed default.
type tlsWorld struct {
	sel   *Selector
	addr  string
	roots *x509.CertPool
	certs map[string]*Parsed
	def   *tls.Certificate
}

func newTLSWorld(t *testing.T) *tlsWorld {
	f := getFixtures(t)
	leaf := func(key crypto.Signer, dns ...string) *Parsed {
		c := issue(t, spec{cn: dns[0], dns: dns, key: key, parent: f.inter})
		return mustParse(t, chainPEM(c, f.inter), pkcs8(t, c.key))
	}
	w := &tlsWorld{
		roots: x509.NewCertPool(),
		certs: map[string]*Parsed{
			"api":    leaf(nil, "api.example.com"),
			"wild":   leaf(nil, "*.example.com"),
			"rsa":    leaf(f.rsa2048, "rsa.example.com"),
			"ed":     leaf(f.ed, "ed.example.com"),
			"custom": leaf(nil, "shop.customer.test"),
		},
	}
	w.roots.AddCert(f.root.cert)
	d := issue(t, spec{cn: "portico default", dns: []string{"portico.invalid"}})
	w.def = &mustParse(t, chainPEM(d), pkcs8(t, d.key)).Certificate
	w.sel = NewSelector(NewIndex(w.certs, map[string]string{"shop.customer.test": "custom"}, w.def))
	cfg := ServerConfig(w.sel.GetCertificate)
	cfg.NextProtos = []string{"http/1.1"}
	w.addr = serveTLS(t, cfg)
	return w
}

// client verifies the server's chain against the test root.
func (w *tlsWorld) client(serverName string) *tls.Config {
	return &tls.Config{ServerName: serverName, RootCAs: w.roots, NextProtos: []string{"http/1.1"}}
}

func TestHandshakeSelectsBySNI(t *testing.T) {
	w := newTLSWorld(t)
	tests := []struct{ sni, want string }{
		{"api.example.com", "api"},
		{"API.Example.COM", "api"},
		{"www.example.com", "wild"},
		{"rsa.example.com", "rsa"},
		{"ed.example.com", "ed"},
		{"shop.customer.test", "custom"},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			st := dial(t, w.addr, w.client(tt.sni)) // verifies the chain: leaf and intermediate are sent
			if got, want := st.PeerCertificates[0].Raw, w.certs[tt.want].Certificate.Certificate[0]; string(got) != string(want) {
				t.Errorf("server name %q: got certificate %q, want %q", tt.sni, st.PeerCertificates[0].Subject.CommonName, tt.want)
			}
			if len(st.PeerCertificates) != 2 {
				t.Errorf("%d certificates sent, want leaf and intermediate", len(st.PeerCertificates))
			}
			if st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN %q", st.NegotiatedProtocol)
			}
		})
	}
	// Not covered by any certificate, or no SNI at all (an IP address as
	// the server name is not sent): the self-signed default.
	for _, sni := range []string{"a.b.example.com", "example.com", "unknown.test", ""} {
		st := dial(t, w.addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if got := st.PeerCertificates[0].Raw; string(got) != string(w.def.Certificate[0]) {
			t.Errorf("server name %q: got %q, want the default", sni, st.PeerCertificates[0].Subject.CommonName)
		}
	}
}

func TestHandshakeSwapIndex(t *testing.T) {
	w := newTLSWorld(t)
	f := getFixtures(t)
	st := dial(t, w.addr, w.client("api.example.com"))
	if string(st.PeerCertificates[0].Raw) != string(w.certs["api"].Certificate.Certificate[0]) {
		t.Fatal("not the api certificate before the swap")
	}

	c := issue(t, spec{cn: "api v2", dns: []string{"api.example.com"}, parent: f.inter})
	v2 := mustParse(t, chainPEM(c, f.inter), pkcs8(t, c.key))
	w.sel.Store(NewIndex(map[string]*Parsed{"api-v2": v2}, nil, w.def))

	st = dial(t, w.addr, w.client("api.example.com"))
	if got := st.PeerCertificates[0]; string(got.Raw) != string(v2.Certificate.Certificate[0]) {
		t.Errorf("after the swap got %q, want %q", got.Subject.CommonName, "api v2")
	}
	// The wildcard is gone with the old index: the default now.
	st = dial(t, w.addr, &tls.Config{ServerName: "www.example.com", InsecureSkipVerify: true})
	if got := st.PeerCertificates[0]; string(got.Raw) != string(w.def.Certificate[0]) {
		t.Errorf("www.example.com after the swap got %q, want the default", got.Subject.CommonName)
	}
}

func TestHandshakeResumption(t *testing.T) {
	w := newTLSWorld(t)
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := w.client("api.example.com")
			cfg.MinVersion, cfg.MaxVersion = v.version, v.version
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			first := dial(t, w.addr, cfg)
			if first.DidResume || first.Version != v.version {
				t.Fatalf("first connection: resumed %v, version %x", first.DidResume, first.Version)
			}
			second := dial(t, w.addr, cfg)
			if !second.DidResume {
				t.Error("second connection did not resume the session")
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	w := newTLSWorld(t)
	cfg := ServerConfig(w.sel.GetCertificate)
	if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != 0 {
		t.Errorf("versions %x..%x, want TLS 1.2 to the newest", cfg.MinVersion, cfg.MaxVersion)
	}
	if cfg.SessionTicketsDisabled || cfg.NextProtos != nil || cfg.GetCertificate == nil {
		t.Errorf("tickets disabled %v, NextProtos %q", cfg.SessionTicketsDisabled, cfg.NextProtos)
	}
	for _, id := range cfg.CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.HasSuffix(name, "_GCM_SHA256") ||
			strings.HasSuffix(name, "_GCM_SHA384") || strings.HasSuffix(name, "_CHACHA20_POLY1305_SHA256")) {
			t.Errorf("cipher suite %s is not ECDHE with an AEAD", name)
		}
	}

	// Refused: TLS 1.1, and a TLS 1.2 client offering only CBC or RSA key
	// exchange suites.
	refused := []*tls.Config{
		{ServerName: "api.example.com", RootCAs: w.roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
		{ServerName: "api.example.com", RootCAs: w.roots, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}},
		{ServerName: "rsa.example.com", RootCAs: w.roots, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
	}
	for i, cc := range refused {
		c, err := tls.Dial("tcp", w.addr, cc)
		if err == nil {
			st := c.ConnectionState()
			c.Close()
			t.Errorf("client %d: handshake succeeded with %s %s", i, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		} else if !strings.Contains(err.Error(), "remote error") {
			t.Errorf("client %d: %v; want the server to refuse", i, err) // not the client refusing itself
		}
	}
}
